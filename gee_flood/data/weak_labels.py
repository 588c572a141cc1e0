"""Weak water labels as Sen1Floods11 makes them: Otsu on SAR backscatter, water indices on Sentinel-2.

- :func:`s1_otsu_label`: water where backscatter is below an Otsu threshold. ``method="global"`` thresholds the
  histogram of the whole chip; ``method="tiled"`` computes Otsu thresholds only on tiles whose histogram is
  clearly bimodal (enough pixels on both sides and a large between-class separation, in the spirit of split-based
  approaches for SAR flood mapping), then applies their median to the whole chip, which stays robust when water
  is a small fraction of the chip. Works in any units where water is darker (dB, or OMBRIA's 8-bit DN).
- :func:`s2_index_label`: NDWI (McFeeters: B3, B8) or MNDWI (Xu: B3, B11) above a threshold (0 by default); pixels
  flagged cloudy, or without optical data, get -1 (no data).

Thresholding uses scikit-image's Otsu.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from skimage.filters import threshold_otsu

from gee_flood.data.chip import LABEL_LAND, LABEL_NODATA, LABEL_WATER
from gee_flood.errors import DataError

OtsuMethod = Literal["global", "tiled"]
WaterIndex = Literal["ndwi", "mndwi"]


def otsu_threshold(values: np.ndarray, *, bins: int = 256) -> float:
    """Return Otsu's threshold of the finite values of ``values``.

    Raises:
        DataError: If there are fewer than two distinct finite values.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.ptp(finite) == 0:
        raise DataError("cannot threshold: the input has no finite values or only one distinct value")
    return float(threshold_otsu(finite, nbins=bins))


def tiled_otsu_threshold(
    values: np.ndarray,
    *,
    tile: int = 64,
    min_fraction: float = 0.1,
    min_separation: float = 0.75,
    bins: int = 256,
    fallback: Literal["global", "none"] = "global",
) -> float:
    """Return the median Otsu threshold of the bimodal tiles of a 2-D image.

    A tile counts as bimodal when both classes hold at least ``min_fraction`` of its finite pixels and the
    between-class variance is at least ``min_separation`` of the tile's total variance (a unimodal Gaussian split
    at its mean scores 2/pi = 0.64, so 0.75 rejects it).

    Args:
        values: ``(H, W)`` backscatter (any units; water darker). NaN is ignored.
        tile: Tile size in pixels.
        min_fraction: Smallest class share for a bimodal tile.
        min_separation: Smallest ratio of between-class to total variance for a bimodal tile.
        bins: Histogram bins.
        fallback: If no tile is bimodal: ``"global"`` thresholds the whole image anyway; ``"none"`` raises, for
            callers that prefer no label to a threshold splitting a unimodal (e.g. all-land) histogram.

    Raises:
        DataError: If no tile is bimodal and ``fallback`` is ``"none"``, or the image has no usable values.
    """
    if values.ndim != 2:
        raise DataError(f"tiled Otsu needs a 2-D image, got shape {values.shape}")
    thresholds: list[float] = []
    height, width = values.shape
    for row in range(0, height, tile):
        for col in range(0, width, tile):
            block = values[row : row + tile, col : col + tile]
            finite = block[np.isfinite(block)]
            if finite.size < tile * tile // 2 or np.ptp(finite) == 0:
                continue
            threshold = float(threshold_otsu(finite, nbins=bins))
            low, high = finite[finite <= threshold], finite[finite > threshold]
            share = low.size / finite.size
            if min(share, 1 - share) < min_fraction:
                continue
            between = share * (1 - share) * (high.mean() - low.mean()) ** 2
            if between / finite.var() >= min_separation:
                thresholds.append(threshold)
    if not thresholds:
        if fallback == "none":
            raise DataError("no bimodal tile: water and land are not both clearly present")
        return otsu_threshold(values, bins=bins)
    return float(np.median(thresholds))


def s1_otsu_label(
    backscatter: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    method: OtsuMethod = "global",
    threshold: float | None = None,
    tile: int = 64,
    fallback: Literal["global", "none"] = "global",
) -> tuple[np.ndarray, float]:
    """Label water where SAR backscatter is below an Otsu threshold.

    Args:
        backscatter: ``(H, W)`` one SAR band, e.g. ``s1_vv_db`` (dB) or OMBRIA's 8-bit SAR; water is darker.
        valid: Optional ``(H, W)`` bool; invalid pixels get -1 and are excluded from the threshold.
        method: ``"global"`` or ``"tiled"`` (bimodal tiles only).
        threshold: Use this threshold instead of computing one.
        tile: Tile size for ``"tiled"``.
        fallback: For ``"tiled"``: what to do when no tile is bimodal (see :func:`tiled_otsu_threshold`).

    Returns:
        int8 labels ``(H, W)`` (1 water, 0 not water, -1 no data) and the threshold used.
    """
    if backscatter.ndim != 2:
        raise DataError(f"SAR Otsu labels need one 2-D band, got shape {backscatter.shape}")
    usable = np.isfinite(backscatter)
    if valid is not None:
        usable &= valid
    masked = np.where(usable, backscatter, np.nan)
    if threshold is None:
        if method == "global":
            threshold = otsu_threshold(masked)
        elif method == "tiled":
            threshold = tiled_otsu_threshold(masked, tile=tile, fallback=fallback)
        else:
            raise DataError(f"unknown Otsu method {method!r}; expected 'global' or 'tiled'")
    label = np.where(masked < threshold, LABEL_WATER, LABEL_LAND).astype(np.int8)
    label[~usable] = LABEL_NODATA
    return label, float(threshold)


#: Fixed VV threshold (dB) for chips with no bimodal tile (all land, or all water), a common choice for open water.
UNIMODAL_WATER_VV_DB = -18.0


def s1_weak_label(vv_db: np.ndarray, valid: np.ndarray | None = None, *, tile: int = 64) -> np.ndarray:
    """The S1 weak label ``gee-flood fetch --weak-labels`` writes: bimodal-tile Otsu, else a fixed threshold.

    The Otsu threshold comes only from the chip's bimodal tiles. A chip without any (all land, or all water) would
    have its one mode split in two by a plain Otsu threshold, so it gets :data:`UNIMODAL_WATER_VV_DB` instead.

    Args:
        vv_db: ``(H, W)`` Sentinel-1 VV backscatter in dB.
        valid: Optional ``(H, W)`` bool; invalid pixels get -1.
        tile: Tile size in pixels.

    Returns:
        int8 labels ``(H, W)``: 1 water, 0 not water, -1 no data.
    """
    try:
        label, _ = s1_otsu_label(vv_db, valid, method="tiled", fallback="none", tile=tile)
    except DataError:
        label, _ = s1_otsu_label(vv_db, valid, threshold=UNIMODAL_WATER_VV_DB)
    return label


def water_index(
    s2_reflectance: np.ndarray, bands: tuple[str, ...] | list[str], index: WaterIndex = "ndwi"
) -> np.ndarray:
    """Return NDWI ``(B3 - B8) / (B3 + B8)`` or MNDWI ``(B3 - B11) / (B3 + B11)`` of a ``(13, H, W)`` S2 stack."""
    names = list(bands)
    other = {"ndwi": "B8", "mndwi": "B11"}.get(index)
    if other is None:
        raise DataError(f"unknown water index {index!r}; expected 'ndwi' or 'mndwi'")
    for band in ("B3", other):
        if band not in names:
            raise DataError(f"{index.upper()} needs band {band}; the S2 stack has {names}")
    green = s2_reflectance[names.index("B3")].astype(np.float32)
    second = s2_reflectance[names.index(other)].astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = (green - second) / (green + second)
    return np.where(np.isfinite(result), result, np.nan).astype(np.float32)


def s2_index_label(
    s2_reflectance: np.ndarray,
    bands: tuple[str, ...] | list[str],
    *,
    index: WaterIndex = "ndwi",
    threshold: float = 0.0,
    cloud: np.ndarray | None = None,
) -> np.ndarray:
    """Label water where a Sentinel-2 water index exceeds ``threshold``; cloudy or no-data pixels get -1.

    Args:
        s2_reflectance: ``(13, H, W)`` L1C reflectance (0-1); NaN = no data.
        bands: Band names of the stack (S2 order ``B1 ... B12``).
        index: ``"ndwi"`` or ``"mndwi"``.
        threshold: Index value above which a pixel is water.
        cloud: Optional ``(H, W)`` bool cloud mask (True = cloudy).

    Returns:
        int8 labels ``(H, W)``: 1 water, 0 not water, -1 cloudy or no data.
    """
    values = water_index(s2_reflectance, bands, index)
    label = np.where(values > threshold, LABEL_WATER, LABEL_LAND).astype(np.int8)
    unusable = ~np.isfinite(values)
    if cloud is not None:
        unusable |= cloud.astype(bool)
    label[unusable] = LABEL_NODATA
    return label

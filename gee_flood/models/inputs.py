"""Turn a :class:`~gee_flood.data.chip.Chip` into the normalised input tensor a model card describes.

Training and inference both go through :func:`normalized_inputs` so a checkpoint sees at inference exactly the
channels, order and scaling it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gee_flood.data.chip import Chip
from gee_flood.data.normalization import NormalizationStats
from gee_flood.errors import DataError


def standardize_per_chip(array: np.ndarray) -> np.ndarray:
    """Return ``(x - mean) / std`` of each band of a ``(bands, H, W)`` array over its own finite pixels.

    For images whose brightness scale differs from chip to chip (OMBRIA's 8-bit PNGs are stretched per image), this
    removes the per-image scale before the dataset-wide normalisation. NaN stays NaN.
    """
    out = array.astype(np.float32, copy=True)
    for band in out:
        finite = band[np.isfinite(band)]
        if finite.size:
            band -= finite.mean()
            band /= max(float(finite.std()), 1e-6)
    return out


def normalized_inputs(
    chip: Chip, modalities: Sequence[str], stats: NormalizationStats, *, per_chip: Sequence[str] = ()
) -> np.ndarray:
    """Return the ``(channels, H, W)`` float32 input of ``chip``: the named modalities, normalised and stacked.

    Args:
        chip: The chip to read.
        modalities: Modality names in the order the network expects them (channels concatenated in this order).
        stats: Per-band normalisation (``(clip(x) - mean) / std``); no-data (NaN) becomes 0 (the band mean).
        per_chip: Modalities first standardised over the chip itself (:func:`standardize_per_chip`).

    Raises:
        DataError: If the chip lacks a modality or the statistics do not match its bands.
    """
    arrays = []
    for name in modalities:
        array = chip.modality(name)
        if name in per_chip:
            array = standardize_per_chip(array)
        band_stats = stats.modalities.get(name)
        if band_stats is not None and list(chip.specs[name].bands) != band_stats.bands:
            raise DataError(
                f"chip {chip.chip_id}: modality {name!r} has bands {list(chip.specs[name].bands)}, the "
                f"normalisation statistics are for {band_stats.bands}"
            )
        arrays.append(stats.normalize(name, array))
    return np.concatenate(arrays, axis=0).astype(np.float32, copy=False)


def optical_valid(chip: Chip, modalities: Sequence[str]) -> np.ndarray:
    """Return a bool ``(H, W)`` mask where every *optical* modality among ``modalities`` sees the ground.

    A pixel is excluded where any optical band is NaN (no data, or cloud written as no data) or where the chip's
    ``extras["s2_cloud"]`` (or ``extras["<modality>_cloud"]``) flags a cloud. Pixels invalid for the chip's SAR
    input (``chip.valid``) are excluded too. With no optical modality the mask is ``chip.valid``.
    """
    assert chip.valid is not None
    mask = chip.valid.copy()
    for name in modalities:
        if not chip.specs[name].optical:
            continue
        mask &= np.isfinite(chip.modality(name)).all(axis=0)
        for key in (f"{name}_cloud", "s2_cloud" if name.startswith("s2") else None):
            if key is not None and key in chip.extras:
                mask &= ~chip.extras[key].astype(bool)
    return mask

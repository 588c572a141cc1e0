"""The flood product's one vocabulary: layer names, values and exclusion bits, and the per-block layer rule.

The same names are the variables of :func:`gee_flood.predict`'s Dataset, the band descriptions of the COG that
``gee-flood predict`` writes and the band names of the Earth Engine asset ``gee-flood map`` pushes
(docs/flood-product.md has the table). Every layer is uint8 and 255 means no data, except ``exclusion``, whose
"no data" is its own bit (1).

The rule, after Copernicus GFM and UN-SPIDER's recommended practice:

- ``likelihood``: the calibrated water probability in percent, 0-100 (several models: their mean).
- ``water``: 1 where ``likelihood`` reaches the threshold (all observed water), else 0.
- ``reference_water``: 1 where the reference (JRC Global Surface Water) says the pixel is normally water.
- ``exclusion``: bit flags, 0 where the pixel can be mapped (:data:`EXCLUSION_BITS`).
- ``flood``: new water: ``water`` and not ``reference_water`` and not excluded. Excluded pixels are never flood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: No data in every layer but ``exclusion``.
NODATA = 255

LIKELIHOOD = "likelihood"
WATER = "water"
FLOOD = "flood"
REFERENCE_WATER = "reference_water"
EXCLUSION = "exclusion"
#: Layer names in band order: the COG's bands, the Dataset's variables, the asset's bands.
LAYERS: tuple[str, ...] = (LIKELIHOOD, WATER, FLOOD, REFERENCE_WATER, EXCLUSION)

EXCLUDED_NODATA = 1
EXCLUDED_SHADOW_LAYOVER = 2
EXCLUDED_SLOPE = 4
EXCLUDED_HAND = 8
EXCLUDED_URBAN = 16
#: Exclusion bit -> reason (documented in docs/flood-product.md).
EXCLUSION_BITS: dict[int, str] = {
    EXCLUDED_NODATA: "no data (scene no data, outside the AOI, Sentinel-1 border noise)",
    EXCLUDED_SHADOW_LAYOVER: "radar shadow or layover (incidence angle and terrain)",
    EXCLUDED_SLOPE: "slope over the threshold",
    EXCLUDED_HAND: "height above nearest drainage over the threshold (MERIT Hydro hnd)",
    EXCLUDED_URBAN: "urban (ESA WorldCover built-up, class 50)",
}

#: Layer -> (meaning, units) as written into the COG's band tags and the Dataset's attributes.
LAYER_MEANINGS: dict[str, str] = {
    LIKELIHOOD: "calibrated water probability in percent, 0-100; 255 no data",
    WATER: "1 observed water (likelihood >= threshold), 0 not water; 255 no data",
    FLOOD: "1 flood (water, not reference water, not excluded), 0 not flood; 255 no data",
    REFERENCE_WATER: "1 normal water per the reference (JRC Global Surface Water), 0 not; 255 no data",
    EXCLUSION: "bit flags: 1 no data, 2 shadow/layover, 4 slope, 8 HAND, 16 urban; 0 mappable",
}

#: ESA WorldCover v200 classes used by the product.
WORLDCOVER_BUILT_UP = 50
WORLDCOVER_CROPLAND = 40

ReferenceKind = Literal["seasonality", "occurrence"]


class ProductSettings(BaseModel):
    """Thresholds of the flood product (defaults: UN-SPIDER's recommended practice and Copernicus GFM).

    Attributes:
        reference_kind: Which JRC Global Surface Water band the reference is: ``seasonality`` (months with water,
            0-12) or ``occurrence`` (percent of observations with water, 0-100).
        reference_threshold: Reference value at or above which a pixel is normal water (default: 10 months for
            seasonality, as UN-SPIDER; 80 % for occurrence).
        slope_max_deg: Terrain slope (degrees) above which water cannot be mapped (UN-SPIDER: 5).
        hand_max_m: Height above nearest drainage (m) above which a pixel is excluded (GFM: 15).
        incidence_deg: Radar incidence angle from the vertical (degrees; Sentinel-1 IW: 29-46, mid swath 37).
        look_azimuth_deg: Horizontal direction the radar looks, clockwise from north (degrees; Sentinel-1 is
            right-looking: about 80 ascending, 280 descending).
        min_mapping_unit: Flood regions (8-connected) of fewer pixels are removed (UN-SPIDER: 8); 0 disables.
        border_px: Pixels next to the scene's no data (the Sentinel-1 swath edge) masked as border noise; 0
            disables.

    Example:
        >>> settings = gee_flood.ProductSettings(reference_kind="occurrence", hand_max_m=20)  # doctest: +SKIP
        >>> flood = gee_flood.predict(model, scene, reference_water=jrc, settings=settings)  # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference_kind: ReferenceKind = "seasonality"
    reference_threshold: float | None = Field(None, ge=0)
    slope_max_deg: float = Field(5.0, gt=0, le=90)
    hand_max_m: float = Field(15.0, gt=0)
    incidence_deg: float = Field(37.0, gt=0, lt=90)
    look_azimuth_deg: float = Field(80.0, ge=0, lt=360)
    min_mapping_unit: int = Field(8, ge=0)
    border_px: int = Field(0, ge=0)

    @property
    def reference_cutoff(self) -> float:
        """The reference threshold in force (the kind's default when none is given)."""
        if self.reference_threshold is not None:
            return self.reference_threshold
        return 10.0 if self.reference_kind == "seasonality" else 80.0


def encode_likelihood(probability: np.ndarray) -> np.ndarray:
    """``(rows, cols)`` float probability 0-1 (NaN no data) -> uint8 percent 0-100, 255 no data."""
    nodata = ~np.isfinite(probability)
    percent = np.clip(np.rint(np.where(nodata, 0.0, probability) * 100.0), 0, 100).astype(np.uint8)
    percent[nodata] = NODATA
    return percent


def mean_probability(probabilities: list[np.ndarray]) -> np.ndarray:
    """The likelihood of several models: the mean of their probabilities (NaN where any has no data)."""
    return np.mean(np.stack(probabilities), axis=0)


def reference_rows(values: np.ndarray, settings: ProductSettings) -> np.ndarray:
    """``reference_water`` of JRC values on the output grid (float, NaN no data): uint8 0/1, 255 no data."""
    known = np.isfinite(values)
    out = (np.where(known, values, -np.inf) >= settings.reference_cutoff).astype(np.uint8)
    out[~known] = NODATA
    return out


@dataclass
class BlockLayers:
    """The layers of a row block, each ``(rows, cols)`` uint8."""

    likelihood: np.ndarray
    water: np.ndarray
    flood: np.ndarray
    reference_water: np.ndarray
    exclusion: np.ndarray

    def stack(self) -> np.ndarray:
        """``(5, rows, cols)`` uint8 in :data:`LAYERS` order."""
        return np.stack([getattr(self, name) for name in LAYERS])

    @classmethod
    def from_stack(cls, stack: np.ndarray) -> BlockLayers:
        """The inverse of :meth:`stack`."""
        return cls(*(np.asarray(stack[index], np.uint8) for index in range(len(LAYERS))))


def block_layers(
    probability: np.ndarray,
    threshold: float,
    *,
    reference: np.ndarray | None = None,
    exclusion: np.ndarray | None = None,
) -> BlockLayers:
    """Every layer of a row block from its probability, reference water and exclusion bits.

    Args:
        probability: ``(rows, cols)`` float water probability 0-1, NaN no data.
        threshold: Probability at or above which a pixel is water.
        reference: ``(rows, cols)`` uint8 ``reference_water`` (:func:`reference_rows`; 255 no data), or ``None``
            (no reference: all 255, nothing removed as normal water).
        exclusion: ``(rows, cols)`` uint8 exclusion bits from auxiliary data (:mod:`gee_flood.product.exclusion`),
            or ``None``. The no-data bit is added here wherever the probability is NaN.

    Returns:
        The five layers.
    """
    nodata = ~np.isfinite(probability)
    likelihood = encode_likelihood(probability)
    water = (np.where(nodata, 0.0, probability) >= threshold).astype(np.uint8)
    water[nodata] = NODATA
    bits = np.zeros(probability.shape, np.uint8) if exclusion is None else exclusion.astype(np.uint8, copy=True)
    bits[nodata] |= EXCLUDED_NODATA
    ref = np.full(probability.shape, NODATA, np.uint8) if reference is None else reference.astype(np.uint8)
    flood = ((water == 1) & (ref != 1) & (bits == 0)).astype(np.uint8)
    flood[nodata] = NODATA
    return BlockLayers(likelihood, water, flood, ref, bits)

"""The flood product: layers (likelihood, water, flood, reference water, exclusion), cleanup, statistics, exposure.

One vocabulary for the COG's bands, the API's variables and the Earth Engine asset's bands
(:mod:`gee_flood.product.layers`; docs/flood-product.md). Statistics: :func:`flood_areas` (km² on the ground of a
whole map) and :func:`zone_statistics` (per zone, with exposure).
"""

from gee_flood.product.layers import (
    EXCLUDED_HAND,
    EXCLUDED_NODATA,
    EXCLUDED_SHADOW_LAYOVER,
    EXCLUDED_SLOPE,
    EXCLUDED_URBAN,
    EXCLUSION,
    EXCLUSION_BITS,
    FLOOD,
    LAYER_MEANINGS,
    LAYERS,
    LIKELIHOOD,
    NODATA,
    REFERENCE_WATER,
    WATER,
    BlockLayers,
    ProductSettings,
    block_layers,
    reference_rows,
)
from gee_flood.product.stats import FloodAreas, flood_areas, pixel_area_m2, write_statistics, zone_statistics

__all__ = [
    "EXCLUDED_HAND",
    "EXCLUDED_NODATA",
    "EXCLUDED_SHADOW_LAYOVER",
    "EXCLUDED_SLOPE",
    "EXCLUDED_URBAN",
    "EXCLUSION",
    "EXCLUSION_BITS",
    "FLOOD",
    "LAYERS",
    "LAYER_MEANINGS",
    "LIKELIHOOD",
    "NODATA",
    "REFERENCE_WATER",
    "WATER",
    "BlockLayers",
    "FloodAreas",
    "ProductSettings",
    "block_layers",
    "flood_areas",
    "pixel_area_m2",
    "reference_rows",
    "write_statistics",
    "zone_statistics",
]

"""Flooded and excluded area of one per-acquisition map, in km² on the ground.

TO BE REPLACED by ``gee_flood.product``'s flood-area statistics (issue 22) once merged: this is the one place watch
computes areas, so the swap is one import. Until then "flooded" is observed water (``water`` = 1, reference water
included) and "excluded" the map's no-data area (255 in ``water``: outside the AOI, or no valid Sentinel-1 pixel);
the flood product's ``flood`` and ``exclusion`` layers are not read yet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import rasterio
from pyproj import CRS, Geod

#: ``water`` values of a gee-flood map (see docs/mapping.md).
WATER, NODATA = 1, 255


@dataclass(frozen=True)
class MapAreas:
    """Areas of one flood map, km² on the ground (WGS84 ellipsoid for geographic maps)."""

    flooded_km2: float
    excluded_km2: float


def pixel_areas_m2(crs: CRS, transform: rasterio.Affine, height: int, width: int) -> np.ndarray:
    """Ground area (m²) of each pixel row, shape ``(height, 1)``: broadcasts over columns.

    A projected CRS's pixel area is ``|det(transform)|`` times the square of its linear unit in metres (the map
    projection's scale error, well under 0.1 % in a UTM zone, is ignored); a geographic CRS's pixel area varies
    with latitude and is the geodesic area of the row's pixel on the ellipsoid (pyproj ``Geod.polygon_area_perimeter``).
    """
    if crs.is_projected:
        unit = float(crs.axis_info[0].unit_conversion_factor or 1.0)
        return np.full((height, 1), abs(transform.a * transform.e - transform.b * transform.d) * unit * unit)
    geod = Geod(ellps="WGS84")
    rows = []
    for row in range(height):
        corners = [transform * (0, row), transform * (1, row), transform * (1, row + 1), transform * (0, row + 1)]
        lons, lats = zip(*corners, strict=True)
        rows.append(abs(geod.polygon_area_perimeter(lons, lats)[0]))
    return np.asarray(rows, dtype=np.float64)[:, None]


def map_areas(path: str | os.PathLike[str]) -> MapAreas:
    """Flooded (``water`` = 1) and excluded (no data) area of a gee-flood map COG, km².

    Read block by block (the map's internal tiles), so memory stays bounded for large scenes.
    """
    flooded = excluded = 0.0
    with rasterio.open(path) as src:
        band = list(src.descriptions).index("water") + 1 if "water" in src.descriptions else 2
        areas = pixel_areas_m2(CRS.from_user_input(src.crs), src.transform, src.height, src.width)
        for _, window in src.block_windows(band):
            values = src.read(band, window=window)
            rows = areas[window.row_off : window.row_off + window.height]
            flooded += float(((values == WATER) * rows).sum())
            excluded += float(((values == NODATA) * rows).sum())
    return MapAreas(flooded_km2=flooded / 1e6, excluded_km2=excluded / 1e6)

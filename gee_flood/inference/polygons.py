"""Water / flood polygons from a flood map, as GeoJSON (RFC 7946: EPSG:4326 lon/lat, counter-clockwise shells).

The map is vectorised strip by strip with ``rasterio.features.shapes`` (4-connected pixels), so memory stays bounded;
pieces that touch an internal strip edge are held back and merged with ``shapely.unary_union`` at the end, so a
polygon crossing strips comes out whole. Each feature carries its class and its area in square metres, computed in a
Lambert azimuthal equal-area projection centred on the map (exact to well under 0.1 % over a Sentinel-1 scene).
Coordinates are transformed in bulk (shapely + pyproj), not polygon by polygon.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
import rasterio.windows
import shapely
import shapely.affinity
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.warp import transform_bounds
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from gee_flood._io import atomic_path
from gee_flood.errors import InputError
from gee_flood.product.layers import FLOOD, REFERENCE_WATER, WATER

#: Polygon classes: value of the per-strip class raster -> ``class`` property.
CLASSES = {1: FLOOD, 2: REFERENCE_WATER, 3: WATER}


def _class_bands(src: rasterio.DatasetReader) -> list[int]:
    """The ``flood``, ``reference_water`` and ``water`` band indexes of a gee-flood map."""
    names = list(src.descriptions)
    missing = [name for name in (FLOOD, REFERENCE_WATER, WATER) if name not in names]
    if missing:
        raise InputError(f"{src.name}: not a gee-flood map (no band described {', '.join(map(repr, missing))})")
    return [names.index(name) + 1 for name in (FLOOD, REFERENCE_WATER, WATER)]


def _classes(flood: np.ndarray, reference: np.ndarray, water: np.ndarray) -> np.ndarray:
    """1 flood, 2 reference water, 3 other observed water (excluded), 0 none: disjoint, flood first."""
    values = np.zeros(flood.shape, np.uint8)
    values[water == 1] = 3
    values[reference == 1] = 2
    values[flood == 1] = 1
    return values


class _FeatureWriter:
    """Reprojects batches of native-CRS polygons and appends them as GeoJSON features."""

    def __init__(self, handle, crs: rasterio.crs.CRS, bounds: tuple[float, float, float, float]) -> None:
        self.handle = handle
        self.count = 0
        west, south, east, north = transform_bounds(crs, "EPSG:4326", *bounds)
        native = ProjCRS.from_user_input(crs.to_wkt())
        self.to_lonlat = Transformer.from_crs(native, "EPSG:4326", always_xy=True)
        equal_area = ProjCRS.from_proj4(
            f"+proj=laea +lat_0={(south + north) / 2} +lon_0={(west + east) / 2} +ellps=WGS84 +units=m"
        )
        self.to_equal_area = Transformer.from_crs(native, equal_area, always_xy=True)

    @staticmethod
    def _apply(transformer: Transformer, geometries: np.ndarray) -> np.ndarray:
        return shapely.transform(geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    def write(self, geometries: list[BaseGeometry], names: list[str]) -> None:
        if not geometries:
            return
        native = np.asarray(geometries, dtype=object)
        areas = shapely.area(self._apply(self.to_equal_area, native))
        lonlat = shapely.orient_polygons(self._apply(self.to_lonlat, native), exterior_cw=False)
        for geojson, name, area in zip(shapely.to_geojson(lonlat), names, areas, strict=True):
            properties = f'{{"class": "{name}", "area_m2": {float(area):.1f}}}'
            prefix = ",\n" if self.count else ""
            self.handle.write(f'{prefix}{{"type": "Feature", "properties": {properties}, "geometry": {geojson}}}')
            self.count += 1


def write_flood_polygons(
    flood_map: str | os.PathLike[str], out: str | os.PathLike[str], *, strip_rows: int = 2048
) -> int:
    """Vectorise the flood, reference water and other water of a gee-flood map into a GeoJSON file.

    Features have properties ``class`` (``"flood"``; ``"reference_water"``, normal water per the reference; or
    ``"water"``, observed water that is neither, i.e. excluded) and ``area_m2``.

    Args:
        flood_map: A GeoTIFF written by ``gee-flood predict``.
        out: The GeoJSON FeatureCollection to write (atomically).
        strip_rows: Rows vectorised at once.

    Returns:
        Number of polygons written.
    """
    out = Path(out)
    with rasterio.open(flood_map) as src, atomic_path(out, suffix=".geojson") as tmp, open(tmp, "w") as handle:
        bands, classes = _class_bands(src), CLASSES
        handle.write('{"type": "FeatureCollection", "features": [\n')
        writer = _FeatureWriter(handle, src.crs, src.bounds)
        held: dict[str, list[BaseGeometry]] = defaultdict(list)
        for row_start in range(0, src.height, strip_rows):
            rows = min(strip_rows, src.height - row_start)
            window = rasterio.windows.Window(0, row_start, src.width, rows)
            values = _classes(*src.read(bands, window=window))
            wanted = values > 0
            if not wanted.any():
                continue
            t = rasterio.windows.transform(window, src.transform)
            to_crs = [t.a, t.b, t.d, t.e, t.c, t.f]
            finished: list[BaseGeometry] = []
            names: list[str] = []
            for geometry, value in rasterio.features.shapes(values, mask=wanted, connectivity=4):
                pixels = shape(geometry)
                _, top, _, bottom = pixels.bounds
                on_edge = (top == 0 and row_start > 0) or (bottom == rows and row_start + rows < src.height)
                native = shapely.affinity.affine_transform(pixels, to_crs)
                if on_edge:
                    held[classes[int(value)]].append(native)
                else:
                    finished.append(native)
                    names.append(classes[int(value)])
            writer.write(finished, names)
        for name, pieces in held.items():
            merged = unary_union(pieces)
            parts = list(getattr(merged, "geoms", [merged]))
            writer.write(parts, [name] * len(parts))
        handle.write("\n]}\n")
    return writer.count

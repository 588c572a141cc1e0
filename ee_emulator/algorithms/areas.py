"""Areas on the ground and per-region reductions: ``ee.Image.pixelArea`` and ``Image.reduceRegions``.

``pixelArea`` gives each output pixel's area in square metres on the WGS 84 ellipsoid, as Earth Engine does. The
emulator measures it its own way (independently of gee-flood's local statistics, which use PROJ's areal scale
factors): each pixel's four corners are projected to a Lambert azimuthal equal-area projection centred on the grid
(PROJ's ellipsoidal LAEA preserves area exactly) and the quadrilateral's area is taken by the shoelace formula.

``reduceRegions`` is ``reduceRegion`` per feature, the results added to each feature's properties: named after the
reducer's output for a one-band image and a one-output reducer (``sum``), else after the bands (``<band>`` or
``<band>_<output>``), as Earth Engine names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from typing_extensions import override

from ee_emulator.algorithms.images import as_image
from ee_emulator.algorithms.reducers import image_reduce_region
from ee_emulator.errors import EEError
from ee_emulator.objects import Band, EECollection, EEFeature, EEImage, Reducer, require
from ee_emulator.pixeltypes import FLOAT
from ee_emulator.raster import Node, RenderContext, Rendered
from ee_emulator.registry import algorithm


@dataclass(eq=False)
class PixelArea(Node):
    """Each output pixel's area on the ground in m² (unbounded footprint)."""

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        grid = ctx.grid
        rows, cols = np.mgrid[0 : grid.height + 1, 0 : grid.width + 1].astype(np.float64)
        xs, ys = grid.transform * (cols, rows)
        to_wgs84 = Transformer.from_crs(ProjCRS.from_user_input(grid.crs), "EPSG:4326", always_xy=True)
        lon, lat = to_wgs84.transform(xs, ys)
        centre_lon, centre_lat = float(np.mean(lon)), float(np.mean(lat))
        laea = ProjCRS.from_proj4(f"+proj=laea +lat_0={centre_lat} +lon_0={centre_lon} +ellps=WGS84 +units=m")
        x, y = Transformer.from_crs("EPSG:4326", laea, always_xy=True).transform(lon, lat)
        # shoelace over each pixel's corners (top-left, top-right, bottom-right, bottom-left)
        corners = [
            (x[:-1, :-1], y[:-1, :-1]),
            (x[:-1, 1:], y[:-1, 1:]),
            (x[1:, 1:], y[1:, 1:]),
            (x[1:, :-1], y[1:, :-1]),
        ]
        twice = np.zeros((grid.height, grid.width))
        for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
            twice += x0 * y1 - x1 * y0
        return np.abs(twice) / 2.0, np.ones((grid.height, grid.width), dtype=bool)


@algorithm("Image.pixelArea")
def image_pixel_area() -> EEImage:
    """One band ``area``: each pixel's area in square metres."""
    return EEImage([Band("area", FLOAT, PixelArea())])


@algorithm("Image.reduceRegions")
def image_reduce_regions(
    image: Any,
    collection: Any,
    reducer: Any,
    scale: Any = None,
    crs: Any = None,
    crsTransform: Any = None,
    tileScale: float = 1.0,
    maxPixelsPerRegion: float = 1e13,
) -> EECollection:
    """Reduce the image over each feature of ``collection``; the results become the features' properties."""
    img = as_image(image, "Image.reduceRegions")
    function = require(reducer, Reducer, "Image.reduceRegions", "reducer")
    features = require(collection, EECollection, "Image.reduceRegions", "collection")
    out = []
    for member in features.elements:
        if not isinstance(member, EEFeature) or member.geometry is None:
            raise EEError("Image.reduceRegions: every element of the collection must be a feature with a geometry")
        values = image_reduce_region(
            img, function, member.geometry, scale, crs, crsTransform, maxPixels=float(maxPixelsPerRegion)
        )
        if len(img.bands) == 1 and len(function.outputs) == 1:
            values = {function.outputs[0]: next(iter(values.values()))}
        out.append(EEFeature(member.geometry, {**member.properties, **values}, member.feature_id))
    return EECollection("FeatureCollection", out)

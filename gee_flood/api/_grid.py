"""Georeferencing xarray objects the rioxarray way (shared by the pairs, ee.Image and prediction Datasets)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def georeferenced(obj: T, crs: Any, transform: Any) -> T:
    """Return ``obj`` (``x``/``y`` dims) with pixel-centre ``x``/``y`` coordinates of ``transform``, CRS and transform.

    Args:
        obj: An ``xarray.DataArray`` or ``Dataset`` with ``x`` and ``y`` dimensions.
        crs: Its CRS (anything rioxarray accepts: ``"EPSG:32632"``, WKT, a rasterio CRS).
        transform: Affine transform of its top-left pixel corner (CRS units).
    """
    data: Any = obj
    x = transform.c + transform.a * (np.arange(data.sizes["x"]) + 0.5)
    y = transform.f + transform.e * (np.arange(data.sizes["y"]) + 0.5)
    return data.assign_coords(x=x, y=y).rio.write_crs(crs).rio.write_transform(transform)

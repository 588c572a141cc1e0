"""Sentinel-1 scenes read from Earth Engine for an area of interest and a date.

Areas of interest are read and validated by :func:`gee_flood.geo.read_aoi` (the same rules as ``fetch --aoi``).

The Earth Engine read itself is :func:`gee_flood.earthengine.read_s1_scene` (owned by the fetch package; a lazily
chunked, Dask-backed ``xarray.DataArray`` through xee). Predict streams it strip by strip into a local GeoTIFF
beside the output, then maps that file like any local scene, so the same code (and the same Dask split) serves both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rich.console import Console

from gee_flood.errors import DataError, NotBuiltError
from gee_flood.geo import AreaOfInterest


def _s1_reader() -> Callable[..., Any]:
    """The Earth Engine Sentinel-1 reader of the fetch package."""
    try:
        from gee_flood.earthengine import read_s1_scene
    except ImportError:
        raise NotBuiltError(
            "predict --aoi needs gee_flood.earthengine.read_s1_scene (the fetch package), which this build lacks"
        ) from None
    return read_s1_scene


def _grid_of(array: Any, where: str) -> tuple[CRS, Affine]:
    crs = array.attrs.get("crs")
    transform = array.attrs.get("transform")
    if crs is None or transform is None:
        raise DataError(f"{where}: the Earth Engine read has no 'crs'/'transform' attributes")
    if not isinstance(transform, Affine):
        values = [float(v) for v in transform]
        transform = Affine(*values[:6])
    return CRS.from_user_input(crs), transform


def fetch_s1_scene(
    aoi: AreaOfInterest,
    date: dt.date,
    dest: Path,
    *,
    scale_m: float = 10.0,
    strip_rows: int = 1024,
    ee_settings: Any = None,
    console: Console | None = None,
    image_ids: tuple[str, ...] | None = None,
) -> Path:
    """Stream the Sentinel-1 scene of ``aoi`` on ``date`` from Earth Engine into a GeoTIFF (VV, VH dB, NaN no data).

    Args:
        aoi: The area of interest, validated by :func:`gee_flood.geo.read_aoi` (EPSG:4326).
        date: Acquisition date wanted (the reader picks the nearest S1 scene within its window).
        dest: The GeoTIFF to write.
        scale_m: Pixel size in metres.
        strip_rows: Rows fetched and written at once (bounds memory).
        ee_settings: ``gee_flood.earthengine.EESettings`` (project, endpoint or emulator URL); default: the reader's.
        console: Progress output.
        image_ids: Read exactly the mosaic of these ``COPERNICUS/S1_GRD`` scenes (one acquisition on ``date``;
            ``gee-flood watch``) instead of the one the reader picks.

    Returns:
        ``dest``.

    Raises:
        DataError: No Sentinel-1 data over the AOI on that date.
    """
    chosen = {"image_ids": image_ids} if image_ids is not None else {}
    array = _s1_reader()(aoi, date, scale_m=scale_m, settings=ee_settings, **chosen)
    where = aoi.source
    if "band" in array.dims:
        array = array.transpose("band", "y", "x")
        bands = [str(b) for b in array.coords["band"].values] if "band" in array.coords else ["VV", "VH"]
    else:
        raise DataError(f"{where}: the Earth Engine read has no 'band' dimension (dims {array.dims})")
    if bands[:2] != ["VV", "VH"] and not {"VV", "VH"} <= set(bands):
        raise DataError(f"{where}: the Earth Engine read has bands {bands}, expected VV and VH")
    array = array.sel(band=["VV", "VH"]) if "band" in array.coords else array
    height, width = int(array.sizes["y"]), int(array.sizes["x"])
    if height == 0 or width == 0:
        raise DataError(f"{where}: no Sentinel-1 pixels over the AOI on {date.isoformat()}")
    crs, transform = _grid_of(array, where)
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=2,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=float("nan"),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        BIGTIFF="IF_SAFER",
    )
    console = console or Console(stderr=True)
    any_valid = False
    with rasterio.open(dest, "w", **profile) as dst:
        dst.set_band_description(1, "VV")
        dst.set_band_description(2, "VH")
        for row_start in range(0, height, strip_rows):
            rows = min(strip_rows, height - row_start)
            block = np.asarray(array.isel(y=slice(row_start, row_start + rows)).values, dtype=np.float32)
            any_valid = any_valid or bool(np.isfinite(block).all(axis=0).any())
            dst.write(block, window=rasterio.windows.Window(0, row_start, width, rows))
            console.print(
                f"fetched rows {row_start + rows}/{height} of the Sentinel-1 scene", highlight=False, soft_wrap=True
            )
    if not any_valid:
        raise DataError(f"{where}: the Sentinel-1 scene(s) on {date.isoformat()} do not overlap the AOI (all no data)")
    return dest

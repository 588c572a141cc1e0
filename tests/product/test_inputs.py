"""Auxiliary rasters given as DataArrays are read window by window, like a GeoTIFF through a warped VRT."""

from __future__ import annotations

import dask.array
import numpy as np
import rioxarray  # noqa: F401 - the .rio accessor
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from gee_flood.product.inputs import AuxRaster, Grid

TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)
UTM = CRS.from_epsg(32633)


def _lazy_raster(values: np.ndarray, chunk: int, reads: list) -> xr.DataArray:
    """A rioxarray-georeferenced lazy DataArray that records the chunks it reads."""

    def read(block, block_info=None):
        if block_info is not None and block.size:  # not dask's probe for the output type
            reads.append(tuple(block_info[0]["chunk-location"]))
        return block

    lazy = dask.array.from_array(values, chunks=chunk).map_blocks(read, dtype=values.dtype)
    height, width = values.shape
    x = TRANSFORM.c + TRANSFORM.a * (np.arange(width) + 0.5)
    y = TRANSFORM.f + TRANSFORM.e * (np.arange(height) + 0.5)
    return xr.DataArray(lazy, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(UTM)


def test_a_window_reads_only_the_chunks_under_it_and_matches_the_whole_raster():
    values = np.random.default_rng(0).random((300, 280)).astype(np.float32)
    reads: list = []
    raster = AuxRaster(_lazy_raster(values, 50, reads), "--reference-water")
    grid = Grid(UTM, TRANSFORM, 280, 300)
    np.testing.assert_array_equal(raster.rows(grid, 0, 10, 0, 10), values[:10, :10])
    assert reads == [(0, 0)]  # one chunk of 36, not the whole raster
    reads.clear()
    np.testing.assert_array_equal(raster.rows(grid, 120, 160, 110, 140), values[120:160, 110:140])
    assert reads and set(reads) <= {(row, col) for row in (2, 3) for col in (2,)}  # rows 118-162, columns 108-142


def test_a_window_reprojected_from_another_crs_matches_one_reprojection_of_the_whole():
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(0, 1, (120, 100)), axis=0).astype(np.float32)  # a smooth DEM-like field
    reads: list = []
    source = _lazy_raster(values, 40, reads)
    grid_transform = Affine(0.0001, 0, 15.0015, 0, -0.0001, 45.1520)  # EPSG:4326, inside the source
    grid = Grid(CRS.from_epsg(4326), grid_transform, 60, 50)
    whole = np.full((50, 60), np.nan, np.float32)
    reproject(values, whole, src_transform=TRANSFORM, src_crs=UTM, dst_transform=grid_transform,
              dst_crs=grid.crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)  # fmt: skip
    raster = AuxRaster(source, "--dem", "bilinear")
    window = raster.rows(grid, 10, 30, 20, 45)
    assert np.isfinite(window).all() and np.isfinite(whole[10:30, 20:45]).all()
    np.testing.assert_allclose(window, whole[10:30, 20:45], rtol=0, atol=1e-3)


def test_a_window_outside_the_raster_is_no_data():
    reads: list = []
    raster = AuxRaster(_lazy_raster(np.ones((50, 50), np.float32), 25, reads), "--hand")
    far = Grid(UTM, Affine(10.0, 0, 900_000.0, 0, -10.0, 5_000_000.0), 20, 20)
    assert np.isnan(raster.rows(far, 0, 20)).all() and reads == []


def test_integer_no_data_is_nan_in_a_window():
    values = np.full((40, 40), 95, np.uint8)
    values[:5] = 255
    raster = AuxRaster(_lazy_raster(values, 20, []).rio.write_nodata(255), "--reference-water")
    window = raster.rows(Grid(UTM, TRANSFORM, 40, 40), 0, 10, 0, 10)
    assert np.isnan(window[:5]).all() and (window[5:] == 95).all()

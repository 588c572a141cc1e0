"""computePixels with the real ee client: pixels equal the source warped onto the requested grid."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.enums import Resampling

from gee_flood.geo import PixelGrid as GeoReference
from tests.ee_emulator.conftest import JRC, S1, S2, S2_INDEX_1, utm_grid


def grid_dict(grid: GeoReference) -> dict:
    a, b, c, d, e, f = grid.transform[:6]
    return {
        "dimensions": {"width": grid.width, "height": grid.height},
        "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e, "translateY": f},
        "crsCode": grid.crs,
    }


def compute(ee, image, grid: GeoReference, **extra):  # noqa: ANN001, ANN201
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(grid), **extra})


def reference(path, grid: GeoReference, resampling: Resampling, band: int = 1) -> np.ndarray:
    """The source GeoTIFF warped onto ``grid`` with rasterio directly (whole file, NaN = no data)."""
    with rasterio.open(path) as dataset:
        source = dataset.read(band).astype(np.float64)
        source[dataset.read_masks(band) == 0] = np.nan
        out = np.full((grid.height, grid.width), np.nan)
        rasterio.warp.reproject(source, out, src_transform=dataset.transform, src_crs=dataset.crs, src_nodata=np.nan,
                                dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan,
                                resampling=resampling)  # fmt: skip
    return out


def test_native_grid_returns_source_pixels_and_zero_where_masked(ee_client, catalog) -> None:
    ee = ee_client
    pixels = compute(ee, ee.Image(f"{S1}/S1_A"), utm_grid())
    assert pixels.dtype.names == ("VV", "VH") and pixels.dtype["VV"] == np.float32 and pixels.shape == (64, 64)
    valid = np.isfinite(catalog.s1_a_vv)
    np.testing.assert_array_equal(pixels["VV"][valid], catalog.s1_a_vv[valid])
    assert np.all(pixels["VV"][:8, :8] == 0)  # masked pixels are sent as 0, as in Earth Engine's NPY
    np.testing.assert_array_equal(pixels["VH"], -25.0)
    mask = compute(ee, ee.Image(f"{S1}/S1_A").select("VV").mask(), utm_grid())["VV"]
    np.testing.assert_array_equal(mask, valid.astype(np.float32))


def test_shifted_and_coarser_grids_pick_the_right_source_pixels(ee_client, catalog) -> None:
    ee = ee_client
    shifted = compute(ee, ee.Image(f"{S1}/S1_A").select("VV"), utm_grid(x_offset_px=9, y_offset_px=11, size=32))["VV"]
    np.testing.assert_array_equal(shifted, catalog.s1_a_vv[11:43, 9:41])
    coarse = compute(
        ee, ee.Image(f"{S1}/S1_A").select("VV"), utm_grid(x_offset_px=9, y_offset_px=9, size=18, pixel_m=30.0)
    )
    # 30 m pixel centres fall on the centres of source pixels 10, 13, 16, ... (nearest neighbour).
    np.testing.assert_array_equal(coarse["VV"], catalog.s1_a_vv[10:64:3, 10:64:3])


def test_bilinear_resample_interpolates_half_pixel_shift(ee_client, catalog) -> None:
    ee = ee_client
    grid = utm_grid(x_offset_px=20.5, y_offset_px=20.0, size=16)
    nearest = compute(ee, ee.Image(f"{S1}/S1_A").select("VV"), grid)["VV"]
    bilinear = compute(ee, ee.Image(f"{S1}/S1_A").select("VV").resample("bilinear"), grid)["VV"]
    rows, cols = np.mgrid[20:36, 0:16]
    # VV = -20 + 0.1 * col + 0.01 * row: halfway between columns c and c+1 the interpolated value is exact.
    expected = -20 + 0.1 * (cols + 20.5) + 0.01 * rows
    np.testing.assert_allclose(bilinear, expected, atol=1e-4)
    assert not np.allclose(nearest, expected, atol=1e-3)


def test_geographic_grid_matches_rasterio_reprojection(ee_client, catalog) -> None:
    ee = ee_client
    west, south, east, north = rasterio.warp.transform_bounds("EPSG:32633", "EPSG:4326", *utm_grid().bounds)
    step = 0.00004
    grid = GeoReference("EPSG:4326", Affine(step, 0, west - 5 * step, 0, -step, north + 5 * step),
                        math.ceil((east - west) / step) + 10, math.ceil((north - south) / step) + 10)  # fmt: skip
    path = catalog.root / "COPERNICUS_S1_GRD" / "S1_A.tif"
    pixels = compute(ee, ee.Image(f"{S1}/S1_A").select("VV"), grid)["VV"]
    expected = reference(path, grid, Resampling.nearest)
    finite = np.isfinite(expected)
    assert finite.sum() > 0.5 * finite.size and (~finite).sum() > 0  # the tile plus an empty margin
    np.testing.assert_allclose(pixels[finite], expected[finite], atol=1e-5)
    assert np.all(pixels[~finite] == 0)
    bilinear = compute(ee, ee.Image(f"{S1}/S1_A").select("VV").resample("bilinear"), grid)["VV"]
    expected_bilinear = reference(path, grid, Resampling.bilinear)
    both = np.isfinite(expected_bilinear) & (bilinear != 0)
    assert both.sum() > 0.5 * both.size
    np.testing.assert_allclose(bilinear[both], expected_bilinear[both], atol=1e-3)


def test_mosaic_puts_last_image_on_top_and_respects_masks(ee_client, catalog) -> None:
    ee = ee_client
    a = ee.Image(f"{S1}/S1_A").select("VV")
    b = ee.Image(f"{S1}/S1_B").select("VV")
    grid = GeoReference("EPSG:32633", utm_grid().transform, 96, 64)
    top_b = compute(ee, ee.ImageCollection([a, b]).mosaic(), grid)["VV"]
    np.testing.assert_array_equal(top_b[:, 32:96], catalog.s1_b_vv)
    np.testing.assert_array_equal(top_b[8:, :32], catalog.s1_a_vv[8:, :32])
    a_masked = a.updateMask(a.gt(-15))
    top_a = compute(ee, ee.ImageCollection([b, a_masked]).mosaic(), grid)["VV"]
    a_wins = np.zeros((64, 96), dtype=bool)
    a_wins[:, :64] = np.nan_to_num(catalog.s1_a_vv, nan=-99) > -15
    b_values = np.zeros((64, 96), np.float32)
    b_values[:, 32:] = catalog.s1_b_vv
    a_values = np.zeros((64, 96), np.float32)
    a_values[:, :64] = np.nan_to_num(catalog.s1_a_vv)
    np.testing.assert_array_equal(top_a, np.where(a_wins, a_values, b_values))
    assert a_wins[:, 32:64].any() and (~a_wins[:, 32:64]).any()  # both cases happen in the overlap


def test_types_unmask_and_band_math(ee_client, catalog) -> None:
    ee = ee_client
    s2 = ee.Image(f"{S2}/{S2_INDEX_1}")
    raw = compute(ee, s2, utm_grid(size=8))
    assert [raw.dtype[name] for name in raw.dtype.names] == [np.dtype(np.uint16)] * 3
    np.testing.assert_array_equal(raw["B3"], catalog.s2_1[0, :8, :8])
    ndwi = compute(ee, s2.normalizedDifference(["B3", "B8"]), utm_grid(size=8))["nd"]
    b3 = catalog.s2_1[0, :8, :8].astype(np.float64)
    np.testing.assert_allclose(ndwi, (b3 - 3000) / (b3 + 3000), rtol=1e-6)
    water = compute(ee, s2.select("B3").gt(1300).rename("water"), utm_grid(size=32))
    assert water.dtype["water"] == np.uint8
    np.testing.assert_array_equal(water["water"], (catalog.s2_1[0, :32, :32] > 1300).astype(np.uint8))
    xee_like = compute(ee, s2.select("B3").unmask(2147483647, False), utm_grid(x_offset_px=60, size=8))["B3"]
    assert xee_like.dtype.kind in "iu" and xee_like.dtype.itemsize == 4  # int range [0, 2**31 - 1]
    assert np.all(xee_like[:, 4:] == 2147483647) and np.all(xee_like[:, :4] != 2147483647)
    vv = ee.Image(f"{S1}/S1_A").select("VV")
    corner = compute(ee, vv.unmask(-999), utm_grid(x_offset_px=-4, y_offset_px=-4, size=8))["VV"]
    assert np.all(corner[4:, 4:] == -999)  # masked inside the footprint: filled
    assert np.all(corner[:4, :] == 0)  # outside the footprint: still masked (sameFootprint=True)
    scaled = compute(ee, vv.multiply(2).add(ee.Image(f"{S1}/S1_A").select("VH")).toFloat(), utm_grid(size=16))["VV"]
    np.testing.assert_allclose(scaled[8:, 8:], catalog.s1_a_vv[8:16, 8:16] * 2 - 25, rtol=1e-6)


def test_geotiff_format_and_reduce_region(ee_client, catalog) -> None:
    ee = ee_client
    data = ee.data.computePixels(
        {"expression": ee.Image(JRC), "fileFormat": "GEO_TIFF", "grid": grid_dict(utm_grid(size=16))}
    )
    with rasterio.MemoryFile(io.BytesIO(data)) as memory, memory.open() as dataset:
        assert dataset.crs.to_epsg() == 32633 and dataset.transform == utm_grid(size=16).transform
        assert dataset.descriptions == ("occurrence",)
    mean = ee.Image(JRC).reduceRegion(ee.Reducer.mean(), ee.Image(JRC).geometry(), 10).getInfo()
    assert mean["occurrence"] == pytest.approx(100 * 15 / 64, rel=1e-6)
    total = ee.Image(JRC).gt(50).reduceRegion(ee.Reducer.sum(), ee.Image(JRC).geometry(), 20).getInfo()
    assert total["occurrence"] == pytest.approx(32 * 7, abs=32)  # 20 m grid: about 7.5 of 32 columns are water


def test_server_default_bilinear_resampling_applies_to_float_bands_only(catalog) -> None:
    import ee

    from ee_emulator import EmulatorServer, initialize_ee

    grid = utm_grid(x_offset_px=20.5, y_offset_px=20.0, size=8)
    with EmulatorServer(catalog.root, default_resampling="bilinear") as server:
        initialize_ee(server)
        vv = compute(ee, ee.Image(f"{S1}/S1_A").select("VV"), grid)["VV"]
        b3 = compute(ee, ee.Image(f"{S2}/{S2_INDEX_1}").select("B3"), grid)["B3"]
    rows, cols = np.mgrid[20:28, 0:8]
    np.testing.assert_allclose(vv, -20 + 0.1 * (cols + 20.5) + 0.01 * rows, atol=1e-4)  # interpolated
    assert set(np.unique(b3 - (1000 + rows * 10 + cols))) <= {20, 21}  # uint16: a neighbouring source value

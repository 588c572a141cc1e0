"""The real xee backend (xr.open_dataset(..., engine="ee")) against the emulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.ee_emulator.conftest import ORIGIN_X, ORIGIN_Y, S1, S2, S2_CLOUD, S2_INDEX_1


def test_open_dataset_times_bands_and_pixels(ee_client, catalog) -> None:
    ee = ee_client
    collection = ee.ImageCollection(S1).filter(ee.Filter.eq("instrumentMode", "IW"))
    # 20 m grid over the first tile, 40 x 24 pixels (wider than the tile: the rest is masked -> NaN).
    dataset = xr.open_dataset(collection, engine="ee", crs="EPSG:32633",
                              crs_transform=(20.0, 0.0, ORIGIN_X, 0.0, -20.0, ORIGIN_Y), shape_2d=(40, 24))  # fmt: skip
    assert list(dataset.data_vars) == ["VV", "VH"]
    assert dataset.sizes == {"time": 2, "y": 24, "x": 40}
    assert list(pd.to_datetime(dataset["time"].values)) == [
        pd.Timestamp("2020-01-05 05:30"),
        pd.Timestamp("2020-01-17 05:30"),
    ]
    np.testing.assert_allclose(dataset["x"].values[:2], [ORIGIN_X + 10, ORIGIN_X + 30])
    vv = dataset["VV"].values
    assert vv.dtype == np.float32
    # S1_A on a 20 m grid: nearest neighbour picks one of each 2x2 block of 10 m pixels.
    a = vv[0, 4:24, 4:32]
    block = catalog.s1_a_vv[8:48, 8:64].reshape(20, 2, 28, 2)
    candidates = block.transpose(0, 2, 1, 3).reshape(20, 28, 4)
    assert np.all(np.any(np.isclose(candidates, a[..., None]), axis=-1))
    assert np.isnan(vv[0, :, 32:]).all()  # east of S1_A's footprint
    assert np.isnan(vv[0, :4, :4]).all()  # S1_A's no-data corner
    b = vv[1]
    assert np.isnan(b[:, :16]).all() and np.isfinite(b[:, 16:]).all()  # S1_B starts 320 m east
    np.testing.assert_array_equal(dataset["VH"].values[1, :, 16:], -15.0)


def test_open_dataset_of_mapped_and_linked_images_with_chunks(ee_client, catalog) -> None:
    ee = ee_client
    probability = ee.ImageCollection(S2_CLOUD)
    s2 = (
        ee.ImageCollection(S2)
        .filter(ee.Filter.eq("system:index", S2_INDEX_1))
        .linkCollection(probability, ["probability"])
        .map(lambda image: image.select(["B3", "probability"]).toFloat())
    )
    dataset = xr.open_dataset(s2, engine="ee", crs="EPSG:32633", crs_transform=(10.0, 0, ORIGIN_X, 0, -10.0, ORIGIN_Y),
                              shape_2d=(64, 64), io_chunks={"index": 1, "width": 32, "height": 32})  # fmt: skip
    np.testing.assert_array_equal(dataset["B3"].values[0], catalog.s2_1[0].astype(np.float32))
    np.testing.assert_array_equal(dataset["probability"].values[0], catalog.cloud_1.astype(np.float32))


def test_xee_helpers_extract_native_grid(ee_client) -> None:
    import xee

    ee = ee_client
    params = xee.helpers.extract_grid_params(ee.ImageCollection(S1))
    assert params == {"crs": "EPSG:32633", "crs_transform": (10.0, 0.0, ORIGIN_X, 0.0, -10.0, ORIGIN_Y),
                      "shape_2d": (64, 64)}  # fmt: skip


def test_open_dataset_in_wgs84(ee_client) -> None:
    ee = ee_client
    dataset = xr.open_dataset(ee.ImageCollection(S1).limit(1), engine="ee", crs="EPSG:4326",
                              crs_transform=(0.0001, 0, 15.0, 0, -0.0001, 45.16), shape_2d=(80, 80))  # fmt: skip
    vv = dataset["VV"].values[0]
    assert 0.3 < np.isfinite(vv).mean() < 0.9
    assert np.nanmin(vv) == pytest.approx(-20 + 0.1 * 8 + 0.01 * 0, abs=1.0)


def test_open_dataset_by_uri_through_the_high_volume_endpoint(server, catalog) -> None:
    import ee

    from ee_emulator import initialize_ee

    url = initialize_ee(server, high_volume=True)
    try:
        assert url == server.url + "/highvolume"
        before = server.stats.snapshot()["high_volume_requests"]
        dataset = xr.open_dataset(f"ee://{S2_CLOUD}", engine="ee", crs="EPSG:32633",
                                  crs_transform=(10.0, 0, ORIGIN_X, 0, -10.0, ORIGIN_Y), shape_2d=(32, 8))  # fmt: skip
        assert dataset.sizes["time"] == 2
        np.testing.assert_array_equal(dataset["probability"].values[0], catalog.cloud_1[:8, :32])
        np.testing.assert_array_equal(dataset["probability"].values[1], 50)
        assert server.stats.snapshot()["high_volume_requests"] > before
    finally:
        initialize_ee(server)
    assert ee.data._get_state().cloud_api_base_url == server.url

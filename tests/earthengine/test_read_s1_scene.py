import datetime as dt
import json

import dask.array
import numpy as np
import pytest
from affine import Affine

from ee_emulator import EmulatorServer
from gee_flood.earthengine import EESettings, RetryPolicy, read_s1_scene
from gee_flood.errors import DataError
from tests.earthengine.synthetic_catalog import SOURCE_GEOREF, aoi_geojson, build_catalog


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    root = tmp_path_factory.mktemp("scene")
    catalog = build_catalog(root / "catalog", probability=False)
    with EmulatorServer(root / "catalog") as server:
        yield server, catalog, aoi_geojson(root / "aoi.geojson")


def test_read_s1_scene_is_lazy_and_matches_the_catalog(emulator):
    server, catalog, aoi = emulator
    settings = EESettings(url=server.url, endpoint="standard", retry=RetryPolicy.fast())
    server.stats.reset()
    scene = read_s1_scene(aoi, dt.date(2019, 3, 5), settings=settings, orbit_pass="DESCENDING", max_days=1)
    assert isinstance(scene.data, dask.array.Array)
    assert server.stats.snapshot()["requests"].get("image:computePixels", 0) == 0  # nothing read yet
    assert list(scene["band"].values) == ["VV", "VH"] and scene.dims == ("band", "y", "x")
    assert scene.attrs["crs"] == "EPSG:32632" and scene.attrs["s1_ids"] == ["COPERNICUS/S1_GRD/s1_good"]
    transform = Affine(*scene.attrs["transform"])
    values = scene.values
    assert server.stats.snapshot()["requests"]["image:computePixels"] >= 1
    # the grid is on the 10 m source grid: compare with the source pixels it covers
    col0 = round((transform.c - SOURCE_GEOREF.transform.c) / 10)
    row0 = round((SOURCE_GEOREF.transform.f - transform.f) / 10)
    height, width = values.shape[1:]
    expected = catalog.s1["s1_good"][:2, row0 : row0 + height, col0 : col0 + width]
    np.testing.assert_array_equal(values, expected)


def test_read_s1_scene_takes_a_geometry_and_reports_no_scene(emulator, tmp_path):
    server, _, aoi = emulator
    settings = EESettings(url=server.url, endpoint="standard", retry=RetryPolicy.fast())
    geometry = json.loads(aoi.read_text())
    scene = read_s1_scene(geometry, dt.date(2019, 3, 6), settings=settings, crs="EPSG:4326", max_days=0)
    assert scene.attrs["crs"] == "EPSG:4326" and scene.attrs["s1_ids"] == ["COPERNICUS/S1_GRD/s1_ascending"]
    assert np.isfinite(scene.values).mean() > 0.99
    with pytest.raises(DataError, match="no COPERNICUS/S1_GRD scenes"):
        read_s1_scene(geometry, dt.date(2020, 1, 1), settings=settings, max_days=2)


def test_read_s1_scene_reads_the_acquisition_it_is_told(emulator):
    """``image_ids`` (watch: one acquisition) wins over the choice by date; scenes not in the window are refused."""
    server, _, aoi = emulator
    settings = EESettings(url=server.url, endpoint="standard", retry=RetryPolicy.fast())
    chosen = read_s1_scene(aoi, dt.date(2019, 3, 5), settings=settings, max_days=1)
    assert chosen.attrs["s1_ids"] == ["COPERNICUS/S1_GRD/s1_good"]  # nearest to 5 March's noon
    told = read_s1_scene(aoi, dt.date(2019, 3, 5), settings=settings, max_days=1,
                         image_ids=("COPERNICUS/S1_GRD/s1_ascending",))  # fmt: skip
    assert told.attrs["s1_ids"] == ["COPERNICUS/S1_GRD/s1_ascending"]
    with pytest.raises(DataError, match="no Sentinel-1 mosaic of exactly COPERNICUS/S1_GRD/nowhere"):
        read_s1_scene(aoi, dt.date(2019, 3, 5), settings=settings, max_days=1, image_ids=("COPERNICUS/S1_GRD/nowhere",))

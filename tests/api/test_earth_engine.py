"""The notebook API against the local Earth Engine emulator: pairs into xarray, an ee.Image predicts, corpus, asset."""

from __future__ import annotations

import json

import dask.array
import ee
import numpy as np
import pytest

import gee_flood
import gee_flood.product
from ee_emulator import EmulatorServer
from tests.api.test_maps import layer_names
from tests.earthengine.synthetic_catalog import CHIP, LATTICE_X0, LATTICE_Y0, aoi_geojson, build_catalog

DATES = "2019-03-01/2019-03-20"
PROJECT = "gee-flood-tests"
BUCKET = "gee-flood-api-tests"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-ee")
    catalog = build_catalog(root / "catalog")
    with EmulatorServer(root / "catalog", assets_dir=root / "assets", operation_step_s=0.01,
                        projects=[PROJECT]) as server:  # fmt: skip
        yield {"root": root, "catalog": catalog, "aoi": aoi_geojson(root / "aoi.geojson"), "server": server}


@pytest.fixture(scope="module")
def pairs(world):
    world["server"].stats.reset()
    opened = gee_flood.open_pairs(world["aoi"], DATES, chip_size=CHIP, orbit_pass="DESCENDING",
                                  permanent_water=True, ee_url=world["server"].url, project=PROJECT)  # fmt: skip
    return opened


def test_pairs_are_lazy_ranked_like_fetch_and_match_the_catalog(world, pairs):
    assert world["server"].stats.snapshot()["requests"].get("image:computePixels", 0) == 0  # nothing read yet
    assert isinstance(pairs.s1.data, dask.array.Array) and isinstance(pairs.s2.data, dask.array.Array)
    # fetch's pairing: s1_good with the same-day (patchy) S2 first, the next-day clear S2 as the fallback
    keys = [str(key) for key in pairs.pair.values]
    assert [key.split("|")[0] for key in keys] == ["S1/2019-03-05/DESCENDING/66"] * 2
    assert [key.split("|")[1][:13] for key in keys] == ["S2/2019-03-05", "S2/2019-03-06"]
    assert list(pairs.gap_days.values) == sorted(pairs.gap_days.values)
    assert str(pairs.s1_time.values[0]).startswith("2019-03-05T05:30")
    assert list(pairs.s1_band.values) == ["VV", "VH"] and len(pairs.s2_band) == 13
    assert pairs.rio.crs.to_epsg() == 32632 and pairs.sizes["x"] == pairs.sizes["y"] == 3 * CHIP
    assert tuple(pairs.rio.transform())[:6] == (10.0, 0.0, LATTICE_X0, 0.0, -10.0, LATTICE_Y0)
    catalog = world["catalog"]
    window = catalog.source_window(0, 0)
    rows = slice(window[0].start, window[0].start + 3 * CHIP)
    cols = slice(window[1].start, window[1].start + 3 * CHIP)
    np.testing.assert_array_equal(pairs.s1.isel(pair=0).values, catalog.s1["s1_good"][:2, rows, cols])
    state = pairs.cloud_state.isel(pair=0).values
    np.testing.assert_array_equal(state == 2, catalog.cloudy["s2_patchy"][rows, cols])
    assert world["server"].stats.snapshot()["requests"]["image:computePixels"] >= 1
    assert pairs.occurrence.dims == ("y", "x")


def test_write_corpus_is_the_fetch_of_those_pairs(pairs, tmp_path):
    summary = gee_flood.write_corpus(pairs, tmp_path / "corpus")
    assert summary.written == 9 and not summary.skipped
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    s2_by_row = {entry["chip_id"][-6:-3]: entry["s2_ids"][0].split("/")[-1] for entry in manifest["chips"]}
    assert s2_by_row == {"000": "s2_clear", "001": "s2_patchy", "002": "s2_patchy"}  # the cloud rule, per chip


def test_an_ee_image_from_the_emulator_predicts(world, pairs, student_ckpt):
    image = ee.ImageCollection("COPERNICUS/S1_GRD").filter(ee.Filter.eq("system:index", "s1_good")).mosaic()
    world["server"].stats.reset()
    flood = gee_flood.predict(student_ckpt, image, region=world["aoi"], scale_m=10, tile=64, overlap=16,
                              ee_url=world["server"].url, project=PROJECT)  # fmt: skip
    assert world["server"].stats.snapshot()["requests"].get("image:computePixels", 0) == 0
    assert isinstance(flood.water.data, dask.array.Array)
    assert flood.rio.crs.to_epsg() == 32632
    water = flood.water.values
    assert set(np.unique(water)) <= {0, 1, 255} and (water != 255).mean() > 0.9
    # the same numbers as predicting the pixels of that read held in memory
    scene = gee_flood.open_ee_image(image, region=world["aoi"], scale_m=10, ee_url=world["server"].url, project=PROJECT)
    in_memory = gee_flood.predict(student_ckpt, scene.compute(), tile=64, overlap=16)
    np.testing.assert_array_equal(water, in_memory.water.values)
    assert (water == 1).any() and (water == 0).any()


def test_a_result_exported_to_an_asset_lands_in_the_emulator(world, pairs, student_ckpt):
    from google.cloud import storage as gcs

    from ee_emulator.storage import storage_emulator

    settings = gee_flood.product.ProductSettings(reference_kind="occurrence")
    flood = gee_flood.predict(student_ckpt, pairs.isel(pair=[0]), tile=64, overlap=16,
                              reference_water=pairs.occurrence, settings=settings)  # fmt: skip
    asset = f"projects/{PROJECT}/assets/api/flood"
    with storage_emulator(BUCKET):
        pushed = gee_flood.export_asset(flood, asset, f"gs://{BUCKET}/maps", ee_url=world["server"].url,
                                        storage_client=gcs.Client(), poll_s=0.02)  # fmt: skip
    assert pushed.asset == asset and pushed.uri == f"gs://{BUCKET}/maps/flood.tif"  # the prefix, then the asset name
    assert ee.data.getAsset(asset)["properties"]["gee_flood_request_id"] == pushed.request_id
    assert tuple(ee.Image(asset).bandNames().getInfo()) == gee_flood.product.LAYERS
    for backend in ("ipyleaflet", "folium"):
        m = gee_flood.add_flood_layers(asset, backend=backend)
        assert f"Earth Engine: {asset}" in layer_names(m)


def test_the_users_own_session_an_image_collection_and_an_ee_geometry_are_taken(world, student_ckpt):
    """After ``ee_emulator.initialize_ee`` a notebook passes no ``ee_url``: that session is reused. A collection is
    mosaicked as predict mosaics a date; ``region=`` may be an ``ee.Geometry``; the map shows an ``ee.Image``."""
    from ee_emulator import initialize_ee
    from gee_flood.earthengine import session

    initialize_ee(world["server"], project=PROJECT)
    session._initialised_with = None
    geometry = json.loads(world["aoi"].read_text())
    geometry = geometry["features"][0]["geometry"] if geometry.get("type") == "FeatureCollection" else geometry
    region = ee.Geometry(geometry)
    collection = ee.ImageCollection("COPERNICUS/S1_GRD").filter(ee.Filter.eq("system:index", "s1_good"))
    flood = gee_flood.predict(student_ckpt, collection, region=region, scale_m=10, tile=64, overlap=16)
    image = collection.mosaic()
    same = gee_flood.predict(student_ckpt, image, region=world["aoi"], scale_m=10, tile=64, overlap=16,
                             ee_url=world["server"].url, project=PROJECT)  # fmt: skip
    np.testing.assert_array_equal(flood.water.values, same.water.values)
    m = gee_flood.add_flood_layers(flood, scene=image, backend="folium")
    assert "Sentinel-1 VV (dB)" in layer_names(m)


def test_a_linear_ee_image_is_refused_not_mapped(world, student_ckpt):
    from ee_emulator import initialize_ee
    from gee_flood.errors import DataError

    initialize_ee(world["server"], project=PROJECT)
    db = ee.ImageCollection("COPERNICUS/S1_GRD").filter(ee.Filter.eq("system:index", "s1_good")).mosaic()
    linear = ee.Image.constant(10).pow(db.select(["VV", "VH"]).divide(10)).rename(["VV", "VH"])
    flood = gee_flood.predict(student_ckpt, linear, region=world["aoi"], scale_m=10, tile=64, overlap=16,
                              ee_url=world["server"].url, project=PROJECT)  # fmt: skip
    with pytest.raises(DataError, match="linear power or amplitude, not backscatter in dB"):
        flood.water.compute()

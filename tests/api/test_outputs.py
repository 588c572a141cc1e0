"""Writers of a prediction: the CLI's COG bytes, GeoJSON and GeoParquet polygons."""

from __future__ import annotations

import json

import geopandas
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

import gee_flood
from gee_flood.errors import InputError
from gee_flood.inference import GeoTiffSceneSource, PredictOptions, predict_scene
from tests.api.conftest import as_dataarray
from tests.inference.conftest import synthetic_s1, write_s1


@pytest.fixture(scope="module")
def flood(s1_db, student_ckpt):
    return gee_flood.predict(student_ckpt, as_dataarray(s1_db), tile=128, overlap=32)


def test_write_cog_writes_the_bands_predict_writes(flood, scene_tif, student_ckpt, tmp_path):
    written = gee_flood.write_cog(flood, tmp_path / "api.tif")
    assert cog_validate(str(written), quiet=True)[0]
    cli = predict_scene(student_ckpt, GeoTiffSceneSource(scene_tif), tmp_path / "cli.tif",
                        options=PredictOptions(tile=128, overlap=32, progress=False))  # fmt: skip
    with rasterio.open(written) as api_map, rasterio.open(cli.output) as cli_map:
        assert api_map.descriptions == cli_map.descriptions == ("water_probability", "water_mask")
        assert api_map.crs == cli_map.crs and api_map.transform == cli_map.transform
        np.testing.assert_array_equal(api_map.read(), cli_map.read())
        assert api_map.nodata == 255


def test_flood_classes_are_written_as_the_third_band(s1_db, student_ckpt, tmp_path):
    scene = as_dataarray(s1_db)
    occurrence = scene.isel(band=0, drop=True).copy(data=np.where(np.arange(280) < 40, 90.0, 0.0)[None].repeat(300, 0))
    flood = gee_flood.predict(student_ckpt, scene, tile=128, overlap=32, permanent_water=occurrence)
    path = gee_flood.write_cog(flood, tmp_path / "classes.tif")
    with rasterio.open(path) as src:
        assert src.descriptions[2] == "flood_class"
        np.testing.assert_array_equal(src.read(3), flood.flood_class.values)


def test_polygons_as_geojson_and_geoparquet(flood, tmp_path):
    count = gee_flood.write_polygons(flood, tmp_path / "water.geojson")
    collection = json.loads((tmp_path / "water.geojson").read_text())
    assert count == len(collection["features"]) > 0
    assert {feature["properties"]["class"] for feature in collection["features"]} == {"water"}
    assert gee_flood.write_polygons(flood, tmp_path / "water.parquet") == count
    frame = geopandas.read_parquet(tmp_path / "water.parquet")
    assert len(frame) == count and frame.crs.to_epsg() == 4326
    assert frame.geometry.is_valid.all() and set(frame["class"]) == {"water"}
    assert frame["area_m2"].sum() == pytest.approx(sum(f["properties"]["area_m2"] for f in collection["features"]))


def test_bad_paths_are_one_line_errors(flood, tmp_path):
    with pytest.raises(InputError, match=r"\.tif"):
        gee_flood.write_cog(flood, tmp_path / "map.png")
    with pytest.raises(InputError, match="parquet"):
        gee_flood.write_polygons(flood, tmp_path / "water.shp")
    assert not list(tmp_path.iterdir())


def test_a_result_in_several_row_blocks_writes_the_same_cog_as_predict(student_ckpt, tmp_path):
    tall = synthetic_s1(1100, 96, seed=5)
    scene = write_s1(tmp_path / "tall.tif", tall)
    flood = gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_rows=512)
    assert flood.water.data.chunks[0] == (512, 512, 76)
    written = gee_flood.write_cog(flood, tmp_path / "api.tif")
    cli = predict_scene(student_ckpt, GeoTiffSceneSource(scene), tmp_path / "cli.tif",
                        options=PredictOptions(tile=64, overlap=16, progress=False))  # fmt: skip
    with rasterio.open(written) as api_map, rasterio.open(cli.output) as cli_map:
        np.testing.assert_array_equal(api_map.read(), cli_map.read())

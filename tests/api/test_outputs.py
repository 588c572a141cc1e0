"""Writers of a prediction: the CLI's COG bytes, GeoJSON and GeoParquet polygons."""

from __future__ import annotations

import json

import geopandas
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

import gee_flood
import gee_flood.product
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
        assert api_map.descriptions == cli_map.descriptions == gee_flood.product.LAYERS
        product = {key: value for key, value in cli_map.tags().items() if key.startswith("product_")}
        assert product and product.items() <= api_map.tags().items()
        assert api_map.crs == cli_map.crs and api_map.transform == cli_map.transform
        np.testing.assert_array_equal(api_map.read(), cli_map.read())
        assert api_map.nodata == 255


def test_every_variable_is_written_as_its_band(s1_db, student_ckpt, tmp_path):
    scene = as_dataarray(s1_db)
    occurrence = scene.isel(band=0, drop=True).copy(data=np.where(np.arange(280) < 40, 90.0, 0.0)[None].repeat(300, 0))
    settings = gee_flood.product.ProductSettings(reference_kind="occurrence", min_mapping_unit=0)
    flood = gee_flood.predict(student_ckpt, scene, tile=128, overlap=32, reference_water=occurrence, settings=settings)
    path = gee_flood.write_cog(flood, tmp_path / "layers.tif")
    with rasterio.open(path) as src:
        for index, name in enumerate(gee_flood.product.LAYERS, start=1):
            assert src.descriptions[index - 1] == name
            np.testing.assert_array_equal(src.read(index), flood[name].values)


def test_polygons_as_geojson_and_geoparquet(flood, tmp_path):
    count = gee_flood.write_polygons(flood, tmp_path / "water.geojson")
    collection = json.loads((tmp_path / "water.geojson").read_text())
    assert count == len(collection["features"]) > 0
    assert {feature["properties"]["class"] for feature in collection["features"]} <= {"flood", "water"}
    assert gee_flood.write_polygons(flood, tmp_path / "water.parquet") == count
    frame = geopandas.read_parquet(tmp_path / "water.parquet")
    assert len(frame) == count and frame.crs.to_epsg() == 4326
    assert frame.geometry.is_valid.all() and "flood" in set(frame["class"])
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


def test_the_cli_goes_through_the_api_and_writes_write_cogs_bytes(scene_tif, student_ckpt, tmp_path, monkeypatch):
    """``gee-flood predict`` loads its model with gee_flood.open_model (once) and writes the very file that
    ``write_cog(predict(open_model(...)))`` writes: same pixels, tags and bytes."""
    from typer.testing import CliRunner

    from gee_flood.api import model as api_model
    from gee_flood.cli import app

    opened = []
    open_model = api_model.open_model

    def counting_open_model(checkpoint):
        opened.append(checkpoint)
        return open_model(checkpoint)

    monkeypatch.setattr(api_model, "open_model", counting_open_model)
    cli_out = tmp_path / "cli.tif"
    args = ["--checkpoint", str(student_ckpt), "--input", str(scene_tif), "--out", str(cli_out)]
    result = CliRunner().invoke(app, ["predict", *args, "--tile", "128", "--overlap", "32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(opened) == 1
    flood = gee_flood.predict(open_model(student_ckpt), scene_tif, tile=128, overlap=32)
    api_out = gee_flood.write_cog(flood, tmp_path / "api.tif")
    with rasterio.open(api_out) as api_map, rasterio.open(cli_out) as cli_map:
        assert api_map.tags() == cli_map.tags() and api_map.tags()["checkpoint"] == student_ckpt.name
    assert api_out.read_bytes() == cli_out.read_bytes()

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
            stored = src.read(index)
            np.testing.assert_array_equal(np.where(stored == 255, np.nan, stored), flood[name].values)


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


def test_a_result_in_blocks_over_rows_and_columns_writes_the_same_cog_as_predict(student_ckpt, tmp_path):
    scene = write_s1(tmp_path / "wide.tif", synthetic_s1(600, 1100, seed=6))
    flood = gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_rows=512, block_cols=512)
    assert flood.water.data.chunks == ((512, 88), (512, 512, 76))
    written = gee_flood.write_cog(flood, tmp_path / "api.tif")
    cli = predict_scene(student_ckpt, GeoTiffSceneSource(scene), tmp_path / "cli.tif",
                        options=PredictOptions(tile=64, overlap=16, progress=False))  # fmt: skip
    with rasterio.open(written) as api_map, rasterio.open(cli.output) as cli_map:
        np.testing.assert_array_equal(api_map.read(), cli_map.read())


def test_the_cli_goes_through_the_api_and_writes_write_cogs_bytes(scene_tif, student_ckpt, tmp_path, monkeypatch):
    """``gee-flood predict`` loads its model with gee_flood.open_model (once) and writes the very file that
    ``write_cog(predict(open_model(...)))`` writes: same pixels, tags and bytes."""
    from typer.testing import CliRunner

    from gee_flood.cli import app
    from gee_flood.inference import model as api_model

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


def test_write_cog_writes_what_it_is_given_not_a_rethresholding(flood, tmp_path):
    """An edited ``water`` is written as edited, and a variable of the user's own flows through as a band named
    after it, with its encoding (its ``_FillValue``, its scale)."""
    edited = flood.compute()
    edited["water"] = edited.water.where(edited.x > edited.x[100], 0.0).where(~np.isnan(edited.water))
    edited["calm"] = (edited.likelihood < 20).astype(np.float32).where(~np.isnan(edited.likelihood))
    edited["calm"].encoding.update(dtype="uint8", _FillValue=255)
    edited["calm"].attrs["meaning"] = "1 calm"
    path = gee_flood.write_cog(edited, tmp_path / "edited.tif")
    with rasterio.open(path) as src:
        assert src.descriptions == (*gee_flood.product.LAYERS, "calm")
        water, calm = src.read(2), src.read(6)
        assert src.tags(6)["meaning"] == "1 calm" and src.nodata == 255
    assert (water[:, :101][water[:, :101] != 255] == 0).all()  # as edited, not likelihood >= threshold
    expected = np.where(np.isnan(edited.water.values), 255, edited.water.values)
    np.testing.assert_array_equal(water, expected.astype(np.uint8))
    np.testing.assert_array_equal(calm, np.where(np.isnan(edited.calm.values), 255, edited.calm.values))


def test_variables_stored_differently_are_refused(flood, tmp_path):
    mixed = flood.assign(score=flood.likelihood * 2)  # float32, no encoding: not one GeoTIFF dtype
    with pytest.raises(InputError, match="one dtype and one no-data value"):
        gee_flood.write_cog(mixed, tmp_path / "mixed.tif")
    assert not list(tmp_path.iterdir())


def test_outputs_carry_their_nodata_and_a_plot_of_water_shows_water(flood, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    assert flood.water.rio.encoded_nodata == 255 and np.isnan(flood.water.rio.nodata)
    assert flood.likelihood.encoding["dtype"] == "uint8" and flood.likelihood.encoding["_FillValue"] == 255
    artist = flood.water.plot()
    assert artist.norm.vmin == 0 and artist.norm.vmax == 1  # water and not water, not 0 against 255
    flood.water.rio.to_raster(tmp_path / "water.tif")
    with rasterio.open(tmp_path / "water.tif") as src:
        assert src.nodata == 255 and src.dtypes[0] == "uint8"
        assert set(np.unique(src.read(1))) == {0, 1, 255}


def test_api_errors_are_python_errors_in_python_words(s1_db, student_ckpt, tmp_path):
    """No command-line option in an API message, and the built-in classes a Python user catches."""
    from gee_flood.api._words import in_python_words

    with pytest.raises(ValueError, match=r"threshold=1.5: expected a probability") as raised:
        gee_flood.predict(student_ckpt, as_dataarray(s1_db), threshold=1.5)
    assert "--" not in str(raised.value)
    with pytest.raises(TypeError, match="scene of type int"):
        gee_flood.predict(student_ckpt, 42)
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        gee_flood.open_model(tmp_path / "missing.ckpt")
    with pytest.raises(FileNotFoundError, match="input scene not found"):
        gee_flood.predict(student_ckpt, tmp_path / "missing.tif")
    assert in_python_words("--asset x: the asset already exists; pass --overwrite to replace it") == (
        "asset=x: the asset already exists; pass overwrite=True to replace it"
    )


def test_write_cog_computes_each_block_in_the_calling_thread_unless_a_scheduler_is_chosen(student_ckpt, tmp_path,
                                                                                          monkeypatch):  # fmt: skip
    """One block per compute: Dask's pool threads would add malloc arenas, not parallelism (docs/benchmarks.md)."""
    import threading

    import dask

    from gee_flood.inference import predict as predict_module

    threads: list[int] = []
    predict_rows = predict_module.predict_rows

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return predict_rows(*args, **kwargs)

    monkeypatch.setattr(predict_module, "predict_rows", recording)
    scene = write_s1(tmp_path / "wide.tif", synthetic_s1(96, 1100, seed=6))
    gee_flood.write_cog(gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_cols=512), tmp_path / "a.tif")
    assert len(threads) == 3 and set(threads) == {threading.get_ident()}
    threads.clear()
    with dask.config.set(scheduler="threads"):  # the user's choice is kept
        gee_flood.write_cog(gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_cols=512),
                            tmp_path / "b.tif")  # fmt: skip
    assert len(threads) == 3 and threading.get_ident() not in threads


def test_a_result_rechunked_off_the_cog_blocks_is_written_the_same(flood, tmp_path):
    """Chunks that do not lie on 512-px blocks are written as whole rows (the writer buffers unaligned rows)."""
    default = gee_flood.write_cog(flood, tmp_path / "default.tif")
    rechunked = gee_flood.write_cog(flood.chunk({"y": 70, "x": 130}), tmp_path / "rechunked.tif")
    with rasterio.open(default) as one, rasterio.open(rechunked) as other:
        np.testing.assert_array_equal(one.read(), other.read())

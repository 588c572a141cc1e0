"""gee_flood.predict: xarray, lazy (Dask) xarray and GeoTIFF scenes give the CLI's numbers, georeferenced."""

from __future__ import annotations

import dask
import dask.array
import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

import gee_flood
from gee_flood.cli import app
from gee_flood.data.chip import S1, S2
from gee_flood.errors import InputError
from gee_flood.inference import predict as predict_module
from gee_flood.product import ProductSettings
from tests.api.conftest import WIDTH, as_dataarray
from tests.inference.conftest import ORIGIN, UTM, make_checkpoint, synthetic_s1

OPTIONS = {"tile": 128, "overlap": 32, "block_rows": 512}


@pytest.fixture(scope="module")
def cli_map(tmp_path_factory, scene_tif, student_ckpt):
    out = tmp_path_factory.mktemp("cli") / "flood.tif"
    result = CliRunner().invoke(app, ["predict", "--checkpoint", str(student_ckpt), "--input", str(scene_tif),
                                      "--out", str(out), "--tile", "128", "--overlap", "32", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        return src.read()


def _count_network_runs(monkeypatch) -> list:
    """Record the row range of every network run (``predict_rows`` call) from now on; the list fills as they run."""
    calls: list = []
    predict_rows = predict_module.predict_rows

    def counting_predict_rows(*args, **kwargs):
        calls.append(args[3:5])
        return predict_rows(*args, **kwargs)

    monkeypatch.setattr(predict_module, "predict_rows", counting_predict_rows)
    return calls


def test_xarray_in_gives_the_cli_water_map_pixel_for_pixel(s1_db, student_ckpt, cli_map):
    model = gee_flood.open_model(student_ckpt)
    flood = gee_flood.predict(model, as_dataarray(s1_db), **OPTIONS)
    water = flood.water.values  # decoded: NaN no data; stored as the CLI's uint8 with 255
    assert water.dtype == np.float32 and water.shape == cli_map.shape[1:]
    np.testing.assert_array_equal(np.where(np.isnan(water), 255, water).astype(np.uint8), cli_map[1])
    assert np.isnan(water).any() and (water == 1).any() and (water == 0).any()
    likelihood = flood.likelihood.values
    np.testing.assert_array_equal(np.where(np.isnan(likelihood), 255, likelihood).astype(np.uint8), cli_map[0])
    np.testing.assert_array_equal(flood.exclusion.values.astype(np.uint8), cli_map[4])  # never no data
    # the Dataset's flood is before the cleanup (minimum mapping unit), which needs the whole map
    assert ((cli_map[2] == 1) <= (flood.flood.values == 1)).all()


def test_geotiff_in_equals_xarray_in_and_is_georeferenced(scene_tif, s1_db, student_ckpt):
    model = gee_flood.open_model(student_ckpt)
    from_file = gee_flood.predict(model, scene_tif, **OPTIONS)
    from_array = gee_flood.predict(model, as_dataarray(s1_db), **OPTIONS)
    np.testing.assert_array_equal(from_file.water.values, from_array.water.values)
    assert from_file.rio.crs.to_epsg() == int(UTM.split(":")[1])
    assert from_file.rio.transform() == ORIGIN
    np.testing.assert_allclose(from_file.x.values[:2], [ORIGIN.c + 5, ORIGIN.c + 15])


def test_a_lazy_input_stays_lazy_until_computed(s1_db, student_ckpt, monkeypatch):
    reads: list[int] = []

    def read_chunk(values, block_info=None):
        reads.append(block_info[0]["chunk-location"][1])  # the row chunk computed
        return values

    chunked = dask.array.from_array(s1_db, chunks=(2, 100, WIDTH)).map_blocks(read_chunk, dtype=np.float32)
    lazy_scene = as_dataarray(s1_db).copy(data=chunked)
    calls = _count_network_runs(monkeypatch)
    flood = gee_flood.predict(student_ckpt, lazy_scene, **OPTIONS)
    assert isinstance(flood.water.data, dask.array.Array) and isinstance(flood.likelihood.data, dask.array.Array)
    assert (calls, reads) == ([], [])  # nothing read or predicted yet
    assert flood.water.data.chunks[0] == (300,)  # one 512-row block
    computed = flood.compute()
    assert calls == [(0, 300)]  # one row block, predicted once for both variables
    assert sorted(reads) == [0, 1, 2]  # each input chunk read once
    eager = gee_flood.predict(student_ckpt, as_dataarray(s1_db), **OPTIONS).water.values
    np.testing.assert_array_equal(computed.water.values, eager)


def test_row_blocks_do_not_change_the_pixels(student_ckpt):
    tall = as_dataarray(synthetic_s1(1100, 96, seed=5))
    model = gee_flood.open_model(student_ckpt)
    one = gee_flood.predict(model, tall, tile=64, overlap=16, block_rows=4096)
    many = gee_flood.predict(model, tall, tile=64, overlap=16, block_rows=1)  # rounded up to 512-row blocks
    assert one.water.data.chunks[0] == (1100,) and many.water.data.chunks[0] == (512, 512, 76)
    np.testing.assert_array_equal(one.likelihood.values, many.likelihood.values)


OCCURRENCE = ProductSettings(reference_kind="occurrence")


def test_reference_water_from_an_array_is_not_flood(s1_db, student_ckpt):
    scene = as_dataarray(s1_db)
    occurrence = scene.isel(band=0, drop=True).copy(data=np.zeros(s1_db.shape[1:], np.float32))
    occurrence[:, :50] = 95.0
    flood = gee_flood.predict(student_ckpt, scene, reference_water=occurrence.rio.write_crs(UTM),
                              settings=OCCURRENCE, **OPTIONS)  # fmt: skip
    reference, water, flooded = flood.reference_water.values, flood.water.values, flood.flood.values
    assert (reference[:, :50] == 1).all() and (reference[:, 50:] == 0).all()
    assert (flooded[:, :50][~np.isnan(water[:, :50])] == 0).all()
    np.testing.assert_array_equal(flooded[:, 50:] == 1, water[:, 50:] == 1)


def test_bad_inputs_are_one_line_errors(s1_db, student_ckpt, tmp_path):
    teacher = make_checkpoint(tmp_path / "teacher.ckpt", role="teacher", inputs=(S1, S2))
    with pytest.raises(InputError, match="optical"):
        gee_flood.predict(teacher, as_dataarray(s1_db))
    with pytest.raises(InputError, match="expected an xarray"):
        gee_flood.predict(student_ckpt, 42)
    with pytest.raises(InputError, match="threshold"):
        gee_flood.predict(student_ckpt, as_dataarray(s1_db), threshold=1.5)


def test_a_uint8_reference_is_no_reference_water_outside_itself_nor_at_its_nodata(s1_db, student_ckpt):
    scene = as_dataarray(s1_db)
    # JRC occurrence as uint8 over the left half of the scene only, 255 (its no data) in its first 20 rows.
    left = scene.isel(band=0, drop=True, x=slice(0, WIDTH // 2))
    values = np.full(left.shape, 95, np.uint8)
    values[:20] = 255
    occurrence = left.copy(data=values).rio.write_crs(UTM)
    water_everywhere = gee_flood.predict(student_ckpt, scene, threshold=1e-6, **OPTIONS).water.values
    result = gee_flood.predict(student_ckpt, scene, reference_water=occurrence.rio.write_nodata(255),
                               settings=OCCURRENCE, threshold=1e-6, **OPTIONS)  # fmt: skip
    flooded, reference = result.flood.values, result.reference_water.values
    mapped = water_everywhere == 1
    assert mapped[20:, : WIDTH // 2].any() and mapped[:, WIDTH // 2 :].any() and mapped[:20, : WIDTH // 2].any()
    assert (reference[20:, : WIDTH // 2] == 1).all() and (flooded[20:, : WIDTH // 2] != 1).all()
    assert np.isnan(reference[:, WIDTH // 2 :]).all() and np.isnan(reference[:20]).all()  # unknown, not water
    assert (flooded[:, WIDTH // 2 :][mapped[:, WIDTH // 2 :]] == 1).all()  # outside the reference
    assert (flooded[:20, : WIDTH // 2][mapped[:20, : WIDTH // 2]] == 1).all()  # the reference's no data


def test_the_scene_is_in_the_graph_once_not_once_per_row_block(student_ckpt):
    """A distributed scheduler ships each task on its own: a NumPy scene must be one task of its own."""
    import pickle

    tall = as_dataarray(synthetic_s1(1100, 96, seed=5))
    flood = gee_flood.predict(student_ckpt, tall, tile=64, overlap=16, block_rows=1)
    graph = dict(flood.likelihood.__dask_graph__())
    assert len(flood.likelihood.data.chunks[0]) == 3
    shipped = sum(len(pickle.dumps(task)) for task in graph.values())
    assert shipped < 2 * tall.values.nbytes


def test_inference_runs_once_per_result_and_each_input_chunk_is_read_once(student_ckpt, monkeypatch, tmp_path):
    """``water`` then ``likelihood`` then the writers: the model runs once per row block, and each chunk of a lazy
    (xee-like) scene is read once, although neighbouring blocks' tiles overlap the same rows."""
    values = synthetic_s1(1100, 96, seed=5)
    reads: list[int] = []

    def read_chunk(chunk, block_info=None):
        reads.append(block_info[0]["chunk-location"][1])
        return chunk

    lazy = dask.array.from_array(values, chunks=(2, 200, 96)).map_blocks(read_chunk, dtype=np.float32)
    scene = as_dataarray(values).copy(data=lazy)
    calls = _count_network_runs(monkeypatch)
    flood = gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_rows=512)
    water = flood.water.compute()
    likelihood = flood.likelihood.compute()
    gee_flood.write_cog(flood, tmp_path / "flood.tif")
    gee_flood.write_polygons(flood, tmp_path / "flood.geojson")
    assert sorted(calls) == [(0, 512), (512, 1024), (1024, 1100)]  # once per block, not once per use
    assert sorted(reads) == list(range(6))  # each input chunk once
    assert (likelihood.values[water.values == 1] >= 100 * flood.attrs["threshold"] - 0.5).all()  # whole percents
    eager = gee_flood.predict(student_ckpt, as_dataarray(values), tile=64, overlap=16, block_rows=512)
    np.testing.assert_array_equal(likelihood.values, eager.likelihood.values)
    np.testing.assert_array_equal(water.values, eager.water.values)


def test_a_lazy_reference_water_stays_lazy_until_computed(s1_db, student_ckpt):
    scene = as_dataarray(s1_db)
    reads: list[int] = []

    def read(values):
        if values.size:  # not dask's call on an empty array to learn the output type
            reads.append(1)
        return values

    occurrence = np.zeros(s1_db.shape[1:], np.float32)
    occurrence[:, :50] = 95.0
    chunks = dask.array.from_array(occurrence, chunks=100).map_blocks(read, dtype=np.float32)
    lazy = scene.isel(band=0, drop=True).copy(data=chunks)
    flood = gee_flood.predict(student_ckpt, scene, reference_water=lazy.rio.write_crs(UTM), settings=OCCURRENCE,
                              **OPTIONS)  # fmt: skip
    assert reads == []  # nothing of the reference read yet
    reference = flood.reference_water.values
    assert reads and (reference[:, :50] == 1).all() and (reference[:, 50:] == 0).all()


def _count_block_windows(monkeypatch) -> list:
    """Record the block (rows and columns) of every network run from now on."""
    calls: list = []
    predict_rows = predict_module.predict_rows

    def counting_predict_rows(source, runner, plan, row_start, row_stop, col_start=0, col_stop=None):
        calls.append((row_start, row_stop, col_start, source.width if col_stop is None else col_stop))
        return predict_rows(source, runner, plan, row_start, row_stop, col_start, col_stop)

    monkeypatch.setattr(predict_module, "predict_rows", counting_predict_rows)
    return calls


def test_blocks_over_columns_give_the_pixels_of_whole_rows_with_terrain(student_ckpt):
    """Column splits change nothing, the slope of a DEM at a block's edge columns included."""
    values = synthetic_s1(520, 1100, seed=7)
    scene = as_dataarray(values)
    rng = np.random.default_rng(2)
    dem = scene.isel(band=0, drop=True).copy(data=np.cumsum(rng.normal(0, 4, values.shape[1:]), axis=1))
    model = gee_flood.open_model(student_ckpt)
    options = {"tile": 64, "overlap": 16, "dem": dem.rio.write_crs(UTM), "block_rows": 512}
    rows = gee_flood.predict(model, scene, block_cols=4096, **options)
    blocks = gee_flood.predict(model, scene, block_cols=1, **options)  # rounded up to 512-column blocks
    assert rows.water.data.chunks == ((512, 8), (1100,))
    assert blocks.water.data.chunks == ((512, 8), (512, 512, 76))
    whole, split = rows.compute(), blocks.compute()
    assert np.unique(whole.exclusion.values).size > 1  # the DEM excludes some pixels, not all
    for name in ("likelihood", "exclusion", "flood"):
        np.testing.assert_array_equal(split[name].values, whole[name].values)


def test_a_small_window_computes_the_block_under_it_and_reads_its_chunks_once(student_ckpt, monkeypatch):
    """``isel`` of 10 x 10 px of a lazy result runs the network on one block and reads the chunks under it only."""
    values = synthetic_s1(1100, 1300, seed=5)
    reads: list[tuple[int, int]] = []

    def read_chunk(chunk, block_info=None):
        reads.append(tuple(block_info[0]["chunk-location"][1:]))
        return chunk

    lazy = dask.array.from_array(values, chunks=(2, 256, 256)).map_blocks(read_chunk, dtype=np.float32)
    scene = as_dataarray(values).copy(data=lazy)
    calls = _count_block_windows(monkeypatch)
    flood = gee_flood.predict(student_ckpt, scene, tile=64, overlap=16, block_rows=512, block_cols=512)
    window = flood.water.isel(y=slice(600, 610), x=slice(700, 710)).values
    assert window.shape == (10, 10) and np.isfinite(window).all()
    assert calls == [(512, 1024, 511, 1025)]  # one 512 x 512 block (and its column of halo each side)
    # the chunks under the block's tiles (rows and columns 480-1072: 64 px tiles, 48 px apart), each once: 16 of 30
    assert sorted(reads) == [(row, col) for row in range(1, 5) for col in range(1, 5)]
    again = flood.water.isel(y=slice(700, 720), x=slice(600, 620)).values  # the same block: nothing read or run again
    assert again.shape == (20, 20) and len(calls) == 1 and len(reads) == 16

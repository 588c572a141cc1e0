"""predict end to end: COG validity, georeferencing, nodata, band consistency, permanent water, Dask, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.data.chip import S1, S2

from .conftest import ORIGIN, UTM, make_checkpoint, synthetic_s1, write_s1

runner = CliRunner()
HEIGHT, WIDTH = 600, 700


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    s1_db = synthetic_s1(HEIGHT, WIDTH)
    s1_db[:, 100:130, 200:260] = np.nan
    s1_db[:, 400:420, 600:700] = -9999.0
    return write_s1(tmp_path_factory.mktemp("scene") / "scene.tif", s1_db, nodata=-9999.0)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, scene, student_ckpt) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("out") / "flood.tif"
    result = runner.invoke(
        app,
        [
            "predict",
            "--checkpoint",
            str(student_ckpt),
            "--input",
            str(scene),
            "--out",
            str(out),
            "--tile",
            "256",
            "--overlap",
            "64",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return out, result


def test_output_is_a_valid_cog_on_the_input_grid(predicted, scene):
    out, result = predicted
    assert "wrote" in result.output
    valid, errors, _ = cog_validate(out, quiet=True)
    assert valid, errors
    with rasterio.open(out) as dst, rasterio.open(scene) as src:
        assert dst.crs == src.crs
        assert dst.transform.almost_equals(src.transform)
        assert (dst.width, dst.height) == (src.width, src.height)
        assert dst.count == 5 and set(dst.dtypes) == {"uint8"}
        assert dst.descriptions == ("likelihood", "water", "flood", "reference_water", "exclusion")
        assert dst.nodata == 255
        assert dst.overviews(1) == [2]
        assert dst.tags()["checkpoint_role"] == "student"
        assert dst.tags()["source"] == Path(scene).name  # a name, never the local path (maps are shared)
        assert dst.block_shapes[0] == (512, 512)


def test_nodata_is_propagated_and_bands_agree(predicted):
    out, _ = predicted
    with rasterio.open(out) as dst:
        probability, mask, flood, reference, exclusion = dst.read()
    nodata = np.zeros((HEIGHT, WIDTH), bool)
    nodata[100:130, 200:260] = True
    nodata[400:420, 600:700] = True
    np.testing.assert_array_equal(probability == 255, nodata)
    np.testing.assert_array_equal(mask == 255, nodata)
    np.testing.assert_array_equal(flood == 255, nodata)
    np.testing.assert_array_equal(exclusion, np.where(nodata, 1, 0))  # no auxiliary data: only the no-data bit
    assert (reference == 255).all()  # no reference given: unknown
    assert (flood[mask != 1] != 1).all() and (flood == 1).sum() > 0.9 * (mask == 1).sum()  # water, but not specks
    assert probability[~nodata].max() <= 100
    assert set(np.unique(mask[~nodata])) <= {0, 1}
    # mask is probability >= 0.5, decided before rounding to whole percent
    assert probability[mask == 1].min() >= 50
    assert probability[mask == 0].max() <= 50


def test_in_process_and_dask_give_the_same_map(tmp_path, scene, student_ckpt, predicted):
    from distributed import Client, LocalCluster

    out = tmp_path / "dask.tif"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = runner.invoke(
            app,
            [
                "predict",
                "--checkpoint",
                str(student_ckpt),
                "--input",
                str(scene),
                "--out",
                str(out),
                "--tile",
                "256",
                "--overlap",
                "64",
                "--quiet",
                "--scheduler",
                cluster.scheduler_address,
                "--block-rows",
                "512",
            ],
        )
        assert result.exit_code == 0, result.output
        with Client(cluster) as client:
            assert not client.has_what() or all(not keys for keys in client.has_what().values())
    assert cog_validate(out, quiet=True)[0]
    with rasterio.open(out) as dask_map, rasterio.open(predicted[0]) as single:
        a, b = dask_map.read().astype(int), single.read().astype(int)
    assert np.abs(a[0] - b[0]).max() <= 1
    assert np.mean(a[1] != b[1]) < 1e-3


def test_reference_water_is_not_flood(tmp_path, scene, student_ckpt):
    # JRC-like occurrence (percent) in EPSG:4326 over the scene: 100 % in a north-west patch, 0 elsewhere.
    with rasterio.open(scene) as src:
        west, south, east, north = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    occurrence = np.zeros((200, 200), np.uint8)
    occurrence[:60, :60] = 100
    jrc = tmp_path / "jrc.tif"
    transform = Affine((east - west) / 200, 0, west, 0, -(north - south) / 200, north)
    with rasterio.open(
        jrc, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint8", crs="EPSG:4326", transform=transform
    ) as dst:
        dst.write(occurrence, 1)
    out = tmp_path / "classes.tif"
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(out), "--quiet",
                           "--tile", "256", "--overlap", "64", "--reference-water", str(jrc), "--reference-kind",
                           "occurrence", "--reference-threshold", "50", "--min-mapping-unit", "0"])  # fmt: skip
    assert code == 0, lines
    with rasterio.open(out) as dst:
        _, water, flood, reference, _ = dst.read()
        assert dst.tags()["product_reference_kind"] == "occurrence"
        assert dst.tags()["product_reference_threshold"] == "50"
        assert dst.tags()["product_input_reference_water"] == "jrc.tif"
    assert (reference[:100, :100] == 1).mean() > 0.95  # the patch covers the top-left ~30 % of the scene
    assert (reference[-100:, -100:] == 1).sum() == 0
    np.testing.assert_array_equal(flood == 1, (water == 1) & (reference == 0))
    np.testing.assert_array_equal(flood == 255, water == 255)
    assert "flooded" in lines[-1] and "km²" in lines[-1]


def test_polygons_from_predict_are_valid_geojson(tmp_path, scene, student_ckpt):
    from shapely.geometry import shape

    out, polygons = tmp_path / "f.tif", tmp_path / "f.geojson"
    result = runner.invoke(
        app,
        [
            "predict",
            "--checkpoint",
            str(student_ckpt),
            "--input",
            str(scene),
            "--out",
            str(out),
            "--tile",
            "256",
            "--quiet",
            "--polygons",
            str(polygons),
            "--threshold",
            "0.55",
        ],
    )
    assert result.exit_code == 0, result.output
    collection = json.loads(polygons.read_text())
    assert collection["type"] == "FeatureCollection"
    with rasterio.open(out) as dst:
        water_pixels = int((dst.read(2) == 1).sum())
        flood_pixels = int((dst.read(3) == 1).sum())
        assert dst.tags()["threshold"] == "0.55"
    areas = [feature["properties"]["area_m2"] for feature in collection["features"]]
    flood_areas = [f["properties"]["area_m2"] for f in collection["features"] if f["properties"]["class"] == "flood"]
    assert sum(flood_areas) == pytest.approx(flood_pixels * 100.0, rel=2e-3)
    assert all(shape(feature["geometry"]).is_valid for feature in collection["features"])
    # 10 m UTM pixels: 100 m2 each, up to the UTM scale factor (< 0.1 %)
    assert sum(areas) == pytest.approx(water_pixels * 100.0, rel=2e-3)


def _invoke(args: list[str]):
    result = runner.invoke(app, ["predict", *args])
    lines = [line for line in result.output.strip().splitlines() if line]
    return result.exit_code, lines


def test_geotiff_without_crs_is_one_line_error(tmp_path, student_ckpt):
    bare = write_s1(tmp_path / "bare.tif", synthetic_s1(64, 64), crs=None)
    out = tmp_path / "o.tif"
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(bare), "--out", str(out)])
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error:") and "has no CRS" in lines[0]
    assert not out.exists()


def test_teacher_checkpoint_is_refused_in_one_line(tmp_path, scene):
    teacher = make_checkpoint(tmp_path / "teacher.ckpt", role="teacher", inputs=(S1, S2))
    out = tmp_path / "o.tif"
    code, lines = _invoke(["--checkpoint", str(teacher), "--input", str(scene), "--out", str(out)])
    assert code == 2 and len(lines) == 1
    assert "teacher checkpoint that needs optical input" in lines[0]
    assert not out.exists()


def test_aoi_without_overlap_is_one_line_error(tmp_path, scene, student_ckpt):
    aoi = tmp_path / "elsewhere.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1], [0, 0]]]}))
    out = tmp_path / "o.tif"
    code, lines = _invoke(
        ["--checkpoint", str(student_ckpt), "--input", str(scene), "--aoi", str(aoi), "--out", str(out)]
    )
    assert code == 2 and len(lines) == 1
    assert "does not overlap the AOI" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".o.tif*"))


def test_aoi_cuts_the_scene_to_its_window(tmp_path, scene, student_ckpt):
    with rasterio.open(scene) as src:
        left, top = src.transform @ (100, 50)
        right, bottom = src.transform @ (300, 250)
    ring = rasterio.warp.transform_geom(
        UTM,
        "EPSG:4326",
        {"type": "Polygon", "coordinates": [[(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]]},
    )
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": ring}))
    out = tmp_path / "cut.tif"
    code, lines = _invoke(
        [
            "--checkpoint",
            str(student_ckpt),
            "--input",
            str(scene),
            "--aoi",
            str(aoi),
            "--out",
            str(out),
            "--tile",
            "128",
            "--overlap",
            "32",
            "--quiet",
        ]
    )
    assert code == 0, lines
    with rasterio.open(out) as dst:
        assert abs(dst.width - 200) <= 2 and abs(dst.height - 200) <= 2
        col, row = ~ORIGIN @ (dst.transform.c, dst.transform.f)
        assert abs(col - 100) <= 1 and abs(row - 50) <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2019-03-15"], "--date applies to --aoi"),
        (["--tile", "100"], "--tile 100"),
        (["--threshold", "1.5"], "--threshold 1.5"),
        (["--runtime", "onnxruntime", "--device", "cuda"], "--device cuda"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, scene, student_ckpt, args, message):
    out = tmp_path / "o.tif"
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(out), *args])
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("clash", ["--out", "--polygons", "--keep-scene"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, scene, student_ckpt, clash):
    before = scene.read_bytes()
    out = tmp_path / "o.tif"
    args = {"--out": str(out), clash: str(scene)}
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(scene),
                           *[word for pair in args.items() for word in pair]])  # fmt: skip
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {clash} ") and "the same file as --input" in lines[0], lines
    assert scene.read_bytes() == before and not out.exists()


def test_unknown_runtime_is_refused_by_the_cli(tmp_path, scene, student_ckpt):
    out = tmp_path / "o.tif"
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(out),
                           "--runtime", "tensorrt"])  # fmt: skip
    assert code == 2 and "Invalid value for '--runtime'" in lines[-1] and "'tensorrt'" in lines[-1], lines
    assert not out.exists()


def test_missing_scene_selection_and_bad_output_name(tmp_path, student_ckpt, scene):
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--out", str(tmp_path / "o.tif")])
    assert code == 2 and "give --input scene.tif, or --aoi" in lines[0]
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(tmp_path / "o.png")])
    assert code == 2 and "expected a .tif path" in lines[0]


def test_scene_with_wrong_bands_is_refused(tmp_path, student_ckpt):
    three = write_s1(tmp_path / "three.tif", np.zeros((3, 32, 32), np.float32), descriptions=("B2", "B3", "B4"))
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--input", str(three), "--out", str(tmp_path / "o.tif")])
    assert code == 2 and len(lines) == 1 and "expected Sentinel-1 bands VV and VH" in lines[0]


def test_all_nodata_scene_writes_nothing(tmp_path, student_ckpt):
    empty = write_s1(tmp_path / "empty.tif", np.full((2, 64, 64), np.nan, np.float32))
    out = tmp_path / "o.tif"
    code, lines = _invoke(
        [
            "--checkpoint",
            str(student_ckpt),
            "--input",
            str(empty),
            "--out",
            str(out),
            "--quiet",
            "--tile",
            "64",
            "--overlap",
            "16",
        ]
    )
    assert code == 2 and "no valid Sentinel-1 pixel" in lines[-1]
    assert not out.exists() and not list(tmp_path.glob(".o.tif*"))


def test_continent_sized_aoi_is_refused_before_any_earth_engine_read(tmp_path, student_ckpt, monkeypatch):
    import gee_flood.inference.aoi as aoi_module

    def no_read():  # noqa: ANN202
        raise AssertionError("Earth Engine must not be read for an AOI over the limit")

    monkeypatch.setattr(aoi_module, "_s1_reader", no_read)
    huge = tmp_path / "continent.geojson"
    huge.write_text('{"type": "Polygon", "coordinates": [[[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]]}')
    out = tmp_path / "o.tif"
    code, lines = _invoke(["--checkpoint", str(student_ckpt), "--aoi", str(huge), "--date", "2019-03-15",
                           "--out", str(out)])  # fmt: skip
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {huge}: area of interest is") and "above the 100,000 km² limit" in lines[0]
    assert not out.exists()

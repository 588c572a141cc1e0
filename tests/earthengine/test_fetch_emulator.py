"""``gee-flood fetch`` end to end against the local Earth Engine emulator over a tiny synthetic catalog."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from ee_emulator import EmulatorServer, FaultConfig, FaultRule
from gee_flood.cli import app
from gee_flood.data.chip import S2_BANDS
from gee_flood.data.sen1floods11 import Sen1Floods11Dataset
from gee_flood.earthengine import FetchRequest, RetryPolicy, run_fetch
from gee_flood.earthengine.grid import METRES_PER_DEGREE
from gee_flood.errors import RemoteError
from tests.earthengine.synthetic_catalog import (
    CHIP,
    LATTICE_X0,
    LATTICE_Y0,
    S2_NATIVE_M,
    SOURCE_GEOREF,
    aoi_geojson,
    build_catalog,
    native_grid,
)

REPO = Path(__file__).resolve().parents[2]
DATES = "2019-03-01/2019-03-20"
CHIP_IDS = [f"Aoi_{row:03d}{col:03d}" for row in range(3) for col in range(3)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fetch")
    catalog = build_catalog(root / "catalog")
    aoi = aoi_geojson(root / "aoi.geojson")
    with EmulatorServer(root / "catalog") as server:
        yield {"root": root, "catalog": catalog, "aoi": aoi, "server": server}


def config(world, out, **overrides):
    values = {
        "out": out,
        "aoi": world["aoi"],
        "dates": DATES,
        "chip_size": CHIP,
        "orbit_pass": "DESCENDING",
        "ee_url": world["server"].url,
        "retry": RetryPolicy.fast(),
        "progress": False,
        "scheduler": "threads",
        "workers": 2,
    }
    values.update(overrides)
    return FetchRequest(**values)


@pytest.fixture(scope="module")
def reference(world):
    """The corpus fetched in one go (shared by the resume and 429 tests)."""
    out = world["root"] / "reference"
    world["server"].stats.reset()
    summary = run_fetch(config(world, out))
    return {"out": out, "summary": summary, "stats": world["server"].stats.snapshot()}


def manifest(out):
    return json.loads((Path(out) / "manifest.json").read_text())


def corpus_files(out):
    return {
        path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(Path(out).rglob("*")) if path.is_file()
    }


def chip_rc(chip_id):
    digits = chip_id.split("_")[1]
    return int(digits[:3]), int(digits[3:])


def test_pairs_masks_and_pixels(world, reference):
    out, catalog = reference["out"], world["catalog"]
    assert reference["summary"].written == 9 and not reference["summary"].skipped
    chips = {entry["chip_id"]: entry for entry in manifest(out)["chips"]}
    assert sorted(chips) == CHIP_IDS
    for chip_id, entry in chips.items():
        row, col = chip_rc(chip_id)
        # decoys: wrong pass, HH polarisation, no overlap, overcast scene, too far in time -> never chosen
        assert entry["s1_ids"] == ["COPERNICUS/S1_GRD/s1_good"]
        s2_name = "s2_clear" if row == 0 else "s2_patchy"  # the top row is cloudy in s2_patchy: falls back
        assert entry["s2_ids"] == [f"COPERNICUS/S2_HARMONIZED/{s2_name}"]
        assert entry["s1_time"] == "2019-03-05T05:30:00Z"
        assert entry["crs"] == "EPSG:32632" and entry["width"] == entry["height"] == CHIP
        assert entry["transform"] == [10.0, 0.0, LATTICE_X0 + col * 640.0, 0.0, -10.0, LATTICE_Y0 - row * 640.0]
        rows, cols = catalog.source_window(row, col)
        with rasterio.open(out / entry["files"]["S1Weak"]) as ds:
            assert ds.crs.to_epsg() == 32632 and ds.transform == Affine(*entry["transform"])
            s1 = ds.read()
        np.testing.assert_array_equal(s1, catalog.s1["s1_good"][:2, rows, cols])
        with rasterio.open(out / entry["files"]["S2Weak"]) as ds:
            s2 = ds.read()
        cloudy = catalog.cloudy[s2_name][rows, cols]
        expected = np.where(cloudy[None], 0, catalog.s2[s2_name][:, rows, cols].astype(np.int16))
        np.testing.assert_array_equal(s2, expected)
        assert entry["cloud_fraction"] == pytest.approx(cloudy.mean(), abs=1e-6)
        assert entry["valid_fraction"] == pytest.approx(1 - cloudy.mean(), abs=1e-6)
    assert chips["Aoi_000002"]["cloud_fraction"] == pytest.approx(144 / 4096, abs=1e-6)
    assert chips["Aoi_001001"]["cloud_fraction"] == pytest.approx(100 / 4096, abs=1e-6)
    for path in out.rglob("*.tif"):
        assert cog_validate(str(path))[0], path
    text = (out / "manifest.json").read_text()
    assert "127.0.0.1" not in text and "emulator" not in text  # no endpoint, project or credentials


def test_s2_bands_at_native_resolution_are_read_band_by_band_with_nearest_neighbour(world, reference):
    """The catalog serves B5-B7, B8A, B11, B12 at 20 m and B1, B9, B10 at 60 m; chips are 10 m.

    gee-flood asks for no resampling, so Earth Engine's default applies: nearest neighbour from each band's native
    grid. Expected values come from GDAL's nearest-neighbour reprojection of each band's own source pixels.
    """
    catalog = world["catalog"]
    for entry in manifest(reference["out"])["chips"]:
        s2_name = entry["s2_ids"][0].rsplit("/", 1)[1]
        rows, cols = catalog.source_window(*chip_rc(entry["chip_id"]))
        cloudy = catalog.cloudy[s2_name][rows, cols]
        with rasterio.open(reference["out"] / entry["files"]["S2Weak"]) as ds:
            chip = ds.read()
        for position, band in enumerate(S2_BANDS):
            pixel_m = S2_NATIVE_M[band]
            source = catalog.s2_native[s2_name][band]
            assert source.shape == (native_grid(pixel_m).height, native_grid(pixel_m).width)
            expected = np.zeros((CHIP, CHIP), np.float64)
            reproject(
                source.astype(np.float64),
                expected,
                src_transform=native_grid(pixel_m).transform,
                src_crs=SOURCE_GEOREF.crs,
                dst_transform=Affine(*entry["transform"]),
                dst_crs=entry["crs"],
                resampling=Resampling.nearest,
            )
            expected[cloudy] = 0
            np.testing.assert_array_equal(chip[position], expected, err_msg=f"{entry['chip_id']} {band}")
    # a clear chip: a 20 m band comes in 2 x 2 blocks of equal 10 m pixels, a 10 m band does not
    entry = next(e for e in manifest(reference["out"])["chips"] if e["chip_id"] == "Aoi_002000")
    with rasterio.open(reference["out"] / entry["files"]["S2Weak"]) as ds:
        b5, b4 = ds.read(S2_BANDS.index("B5") + 1), ds.read(S2_BANDS.index("B4") + 1)
    np.testing.assert_array_equal(b5, np.repeat(np.repeat(b5[::2, ::2], 2, axis=0), 2, axis=1))
    assert not np.array_equal(b4, np.repeat(np.repeat(b4[::2, ::2], 2, axis=0), 2, axis=1))


def test_requests_are_batched(reference):
    requests = reference["stats"]["requests"]
    # one metadata request + one xee open per mosaic read (s2_patchy, s2_clear, s1_good)
    assert requests["value:compute"] == 4
    # 9 chips, 2 modalities, but one block: S2 (all chips), S1 (rows 1-2), S2 fallback (row 0), S1 (row 0)
    assert requests["image:computePixels"] == 4
    assert reference["stats"]["high_volume_requests"] >= 8  # --endpoint highvolume is the default


def test_corpus_reads_back_through_the_sen1floods11_reader(world, reference):
    dataset = Sen1Floods11Dataset(reference["out"], "all", part="weak", modalities=["s1", "s2"], labels=None)
    assert sorted(dataset.chip_ids()) == CHIP_IDS
    chip = dataset[dataset.chip_ids().index("Aoi_001001")]
    assert chip.modality("s1").shape == (2, CHIP, CHIP) and chip.modality("s2").shape == (13, CHIP, CHIP)
    rows, cols = world["catalog"].source_window(1, 1)
    cloudy = world["catalog"].cloudy["s2_patchy"][rows, cols]
    assert np.isnan(chip.modality("s2")[:, cloudy]).all()
    np.testing.assert_allclose(
        chip.modality("s2")[:, ~cloudy],
        world["catalog"].s2["s2_patchy"][:, rows, cols][:, ~cloudy] / 10000.0,
        rtol=1e-6,
    )
    assert chip.georef is not None and chip.georef.crs.endswith("32632")


def test_chips_cloudy_in_every_candidate_are_skipped_and_remembered(world, tmp_path):
    out = tmp_path / "strict"
    summary = run_fetch(config(world, out, max_cloud=0.03))
    assert set(summary.skipped) == {"Aoi_000002"}  # 100 % cloud in s2_patchy, 3.5 % in s2_clear
    assert summary.skipped["Aoi_000002"].startswith("too cloudy")
    assert "1 too cloudy" in summary.line()
    assert [entry["chip_id"] for entry in manifest(out)["skipped"]] == ["Aoi_000002"]
    assert len(manifest(out)["chips"]) == 8  # chip (1, 1) is 2.4 % cloudy: kept
    world["server"].stats.reset()
    again = run_fetch(config(world, out, max_cloud=0.03))
    assert again.already_done == 9 and again.written == 0
    assert world["server"].stats.snapshot()["requests"].get("image:computePixels", 0) == 0


def test_orbit_pass_any_takes_the_closer_ascending_pass(world, tmp_path):
    run_fetch(config(world, tmp_path / "any", orbit_pass="any"))
    chips = {entry["chip_id"]: entry for entry in manifest(tmp_path / "any")["chips"]}
    assert chips["Aoi_000001"]["s1_ids"] == ["COPERNICUS/S1_GRD/s1_ascending"]  # 7 h from s2_clear, not 29 h
    assert chips["Aoi_001001"]["s1_ids"] == ["COPERNICUS/S1_GRD/s1_good"]


def test_probability_mask_weak_labels_and_permanent_water(world, reference, tmp_path):
    out = tmp_path / "labels"
    run_fetch(config(world, out, cloud_mask="probability", weak_labels=True, permanent_water=True))
    chips = {entry["chip_id"]: entry for entry in manifest(out)["chips"]}
    ref = {entry["chip_id"]: entry for entry in manifest(reference["out"])["chips"]}
    catalog = world["catalog"]
    for chip_id, entry in chips.items():
        assert entry["s2_ids"] == ref[chip_id]["s2_ids"] and entry["cloud_fraction"] == ref[chip_id]["cloud_fraction"]
        assert set(entry["files"]) == {"S1Weak", "S2Weak", "S1OtsuLabelWeak", "S2IndexLabelWeak", "JRCOccurrenceWeak"}
        row, col = chip_rc(chip_id)
        rows, cols = catalog.source_window(row, col)
        with rasterio.open(out / entry["files"]["JRCOccurrenceWeak"]) as ds:
            np.testing.assert_array_equal(ds.read(1), catalog.occurrence[rows, cols])
        with rasterio.open(out / entry["files"]["S2IndexLabelWeak"]) as ds:
            label = ds.read(1)
        s2_name = entry["s2_ids"][0].rsplit("/", 1)[1]
        cloudy = catalog.cloudy[s2_name][rows, cols]
        assert (label[cloudy] == -1).all() and set(np.unique(label[~cloudy])) <= {0, 1}
    dataset = Sen1Floods11Dataset(out, "all", part="weak", modalities=["s1"], labels="s1otsu")
    chip = dataset[dataset.chip_ids().index("Aoi_001001")]  # the water ellipse is in the centre chip
    assert chip.label is not None and set(np.unique(chip.label)) <= {-1, 0, 1} and (chip.label == 1).any()


def test_chip_list_on_sen1floods11_grids_matches_reprojection(world, tmp_path):
    px = 10.0 / METRES_PER_DEGREE
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(
        LATTICE_X0 + 300, LATTICE_Y0 - 300
    )
    features = []
    # chips 0 and 1 are tiles of one raster (48 px apart: one lattice, read together); chip 2 is off that grid
    for number, (dx, dy) in enumerate([(0, 0), (48 * px, 0), (0.004, -0.003)]):
        x0, y1 = lon + dx, lat + dy
        ring = [[x0, y1], [x0 + 48 * px, y1], [x0 + 48 * px, y1 - 48 * px], [x0, y1 - 48 * px], [x0, y1]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"chip_id": f"Synthetic_{number}", "s1_date": "2019-03-05", "s2_date": "2019-03-06"},
            }
        )
    chips_path = tmp_path / "chips.geojson"
    chips_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    out = tmp_path / "corpus"
    world["server"].stats.reset()
    summary = run_fetch(config(world, out, aoi=None, dates=None, chips=chips_path, orbit_pass="any"))
    assert summary.written == 3 and summary.blocks == 2
    assert world["server"].stats.snapshot()["requests"]["image:computePixels"] == 4  # (S2 + S1) x 2 blocks
    catalog = world["catalog"]
    for entry in manifest(out)["chips"]:
        assert entry["crs"] == "EPSG:4326" and entry["width"] == entry["height"] == 48
        assert entry["transform"][0] == pytest.approx(px)
        assert entry["s1_ids"] == ["COPERNICUS/S1_GRD/s1_good"] and entry["s2_ids"][0].endswith("s2_clear")
        expected = np.full((2, 48, 48), np.nan, np.float32)
        reproject(
            catalog.s1["s1_good"][:2],
            expected,
            src_transform=SOURCE_GEOREF.transform,
            src_crs=SOURCE_GEOREF.crs,
            dst_transform=Affine(*entry["transform"]),
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
        )
        with rasterio.open(out / entry["files"]["S1Weak"]) as ds:
            s1 = ds.read()
        same = np.isclose(s1, expected)
        assert same.mean() > 0.97, same.mean()  # nearest neighbour: only boundary ties may differ
        # where they differ, the value is a neighbouring source pixel's: within the scene's value range
        assert np.nanmax(np.abs(s1)) < 40


def test_aoi_on_an_epsg4326_grid(world, tmp_path):
    out = tmp_path / "wgs84"
    run_fetch(config(world, out, crs="EPSG:4326"))
    px = 10.0 / METRES_PER_DEGREE
    entries = manifest(out)["chips"]
    assert entries and all(entry["crs"] == "EPSG:4326" for entry in entries)
    for entry in entries:
        assert entry["transform"][0] == pytest.approx(px) and entry["transform"][4] == pytest.approx(-px)
        assert entry["transform"][2] / (CHIP * px) == pytest.approx(round(entry["transform"][2] / (CHIP * px)))
        expected = np.full((2, CHIP, CHIP), np.nan, np.float32)
        reproject(
            world["catalog"].s1["s1_good"][:2],
            expected,
            src_transform=SOURCE_GEOREF.transform,
            src_crs=SOURCE_GEOREF.crs,
            dst_transform=Affine(*entry["transform"]),
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
        )
        with rasterio.open(out / entry["files"]["S1Weak"]) as ds:
            s1 = ds.read()
        both = np.isfinite(expected) & np.isfinite(s1)
        assert np.isfinite(s1).sum() >= np.isfinite(expected).sum() * 0.99
        assert np.isclose(s1, expected)[both].mean() > 0.97


def test_quota_storm_is_survived(world, reference, tmp_path):
    faults = FaultConfig(
        (
            FaultRule("image:computePixels", "quota", probability=0.5),
            FaultRule("value:compute", "quota", probability=0.5),
        ),
        seed=3,
    )
    with EmulatorServer(world["root"] / "catalog", faults=faults) as stormy:
        summary = run_fetch(config(world, tmp_path / "storm", ee_url=stormy.url, block_px=2 * CHIP))
        stats = stormy.stats.snapshot()
    assert stats["faults"].get("quota", 0) >= 5
    assert summary.written == 9
    assert corpus_files(tmp_path / "storm") == corpus_files(reference["out"])


def test_a_400_is_one_line(world, tmp_path):
    with pytest.raises(RemoteError) as info:
        run_fetch(config(world, tmp_path / "big", chip_size=2048, byte_limit=10**9, min_coverage=0.001))
    message = str(info.value)
    assert "\n" not in message and "50331648" in message and "48 MiB" in message


def _wait_for_chips(out, minimum, process, deadline_s=60.0):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        path = Path(out) / "manifest.json"
        if path.is_file():
            try:
                if len(json.loads(path.read_text())["chips"]) >= minimum:
                    return True
            except (json.JSONDecodeError, KeyError):
                pytest.fail("manifest.json was caught half-written")
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_sigkill_then_resume_gives_the_identical_corpus(world, reference, tmp_path):
    out = tmp_path / "killed"
    slow = FaultConfig((FaultRule("image:computePixels", "slow", delay_s=0.4),))
    with EmulatorServer(world["root"] / "catalog", faults=slow) as server:
        command = [
            sys.executable,
            "-m",
            "gee_flood.cli",
            "fetch",
            "--aoi",
            str(world["aoi"]),
            "--dates",
            DATES,
            "--out",
            str(out),
            "--chip-size",
            str(CHIP),
            "--orbit-pass",
            "DESCENDING",
            "--ee-url",
            server.url,
            "--block-size",
            str(CHIP),
            "--workers",
            "1",
            "--scheduler",
            "threads",
            "--fast-retries",
            "--quiet",
        ]
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            landed = _wait_for_chips(out, 1, process)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert landed, process.stderr.read().decode()[-2000:]
    partial = manifest(out)["chips"]
    assert 1 <= len(partial) < 9
    for entry in partial:  # everything the killed run recorded is complete and readable
        for relative in entry["files"].values():
            assert cog_validate(str(out / relative))[0]
    summary = run_fetch(config(world, out))
    assert summary.already_done == len(partial) and summary.written == 9 - len(partial)
    assert corpus_files(out) == corpus_files(reference["out"])


def test_rerun_skips_finished_chips_without_reading(world, reference):
    world["server"].stats.reset()
    summary = run_fetch(config(world, reference["out"]))
    assert summary.already_done == 9 and summary.written == 0
    assert world["server"].stats.snapshot()["requests"].get("image:computePixels", 0) == 0


def test_cli_fetch_and_dask_scheduler(world, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        result = CliRunner().invoke(
            app,
            [
                "fetch",
                "--aoi",
                str(world["aoi"]),
                "--dates",
                DATES,
                "--out",
                str(tmp_path / "dask"),
                "--chip-size",
                str(CHIP),
                "--orbit-pass",
                "descending",
                "--ee-url",
                world["server"].url,
                "--scheduler",
                cluster.scheduler_address,
                "--fast-retries",
                "--quiet",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "9 chips written" in result.output
    assert corpus_files(tmp_path / "dask") == corpus_files(reference["out"])


def polygon_file(path, coordinates, **extra):
    path.write_text(json.dumps({"type": "Polygon", "coordinates": coordinates, **extra}))
    return path


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("invalid_json", "not valid GeoJSON"),
        ("point", "is a Point; expected a Polygon"),
        ("bowtie", "self-intersecting"),
        ("huge", "above the 100,000 km"),
        ("crs", "declares CRS"),
        ("reversed", "is reversed"),
        ("malformed", "is not a date"),
        ("no_scenes", "no scenes found in COPERNICUS/S1_GRD"),
        ("no_pairs", "no S1/S2 pairs within 2 days"),
        ("both", "either --aoi"),
        ("bad_cloud", "--max-cloud"),
        ("bad_crs", "--crs"),
    ],
)
def test_bad_inputs_are_one_line_errors(world, tmp_path, case, fragment):
    aoi, dates, extra = str(world["aoi"]), DATES, []
    if case == "invalid_json":
        (tmp_path / "a.geojson").write_text("{")
        aoi = str(tmp_path / "a.geojson")
    elif case == "point":
        aoi = str(tmp_path / "a.geojson")
        Path(aoi).write_text(json.dumps({"type": "Point", "coordinates": [9, 45]}))
    elif case == "bowtie":
        aoi = str(polygon_file(tmp_path / "a.geojson", [[[9, 45], [9.1, 45.1], [9.1, 45], [9, 45.1], [9, 45]]]))
    elif case == "huge":
        aoi = str(polygon_file(tmp_path / "a.geojson", [[[0, 0], [5, 0], [5, 5], [0, 5], [0, 0]]]))
    elif case == "crs":
        aoi = str(
            polygon_file(
                tmp_path / "a.geojson",
                [[[9, 45], [9.1, 45], [9.1, 45.1], [9, 45]]],
                crs={"type": "name", "properties": {"name": "EPSG:3857"}},
            )
        )
    elif case == "reversed":
        dates = "2019-03-20/2019-03-01"
    elif case == "malformed":
        dates = "2019-03-01/march"
    elif case == "no_scenes":
        dates = "2020-01-01/2020-01-05"
    elif case == "no_pairs":
        dates, extra = "2019-03-05/2019-03-10", ["--max-scene-cloud", "1", "--orbit-pass", "any"]
    elif case == "both":
        extra = ["--chips", aoi]
    elif case == "bad_cloud":
        extra = ["--max-cloud", "1.5"]
    elif case == "bad_crs":
        extra = ["--crs", "EPSG:999999"]
    result = CliRunner().invoke(
        app,
        [
            "fetch",
            "--aoi",
            aoi,
            "--dates",
            dates,
            "--out",
            str(tmp_path / "out"),
            "--ee-url",
            world["server"].url,
            "--chip-size",
            str(CHIP),
            "--fast-retries",
            "--quiet",
            *extra,
        ],
    )
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing written, not even an empty folder


def test_unknown_orbit_pass_is_refused_by_the_cli(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fetch", "--aoi", "a.geojson", "--dates", DATES, "--out", str(out),
                                      "--orbit-pass", "sideways", "--quiet"])  # fmt: skip
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Invalid value for '--orbit-pass'" in errors[0]
    assert "Traceback" not in result.output and not out.exists()

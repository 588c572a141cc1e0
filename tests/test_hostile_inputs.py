"""The hostile-input battery: every command, fed what a user on a bad day gives it (issue 17).

Each case runs a command (through typer's CliRunner, or a subprocess where signals are involved) and asserts: a
non-zero exit, exactly one ``error:`` line that names the culprit (an option or a path), no traceback, and no
partial or modified output (the case's whole folder is snapshotted, bytes and all, before and after).

Kinds covered here: unwritable outputs (a file where a folder should be, an existing folder where a file should
be, a read-only folder), malformed checkpoint cards, unknown architectures and encoders, outputs that clobber
inputs, bad AOIs (self-intersecting, continent-sized), bad dates, bad ``--set``, NUL bytes in remote object names,
out-of-range demo options, an existing train run folder, a fetch corpus locked by another run or fetched with other
options, an Earth Engine endpoint that fails every request (bounded retries; Ctrl-C), and temporaries left by a
killed ``predict``. Fault storms and SIGKILLs of ``fetch`` ending in byte-identical corpora are in
``tests/earthengine/test_fetch_emulator.py`` (``test_quota_storm_is_survived``,
``test_sigkill_then_resume_gives_the_identical_corpus``); bad fetch AOIs, dates and options in its
``test_bad_inputs_are_one_line_errors``; bucket and asset ids in ``tests/earthengine/test_export.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from typer.testing import CliRunner

from ee_emulator import EmulatorServer, FaultConfig, FaultRule
from gee_flood._io import check_writable, clean_stale_temporaries
from gee_flood.cli import app
from gee_flood.data.chip import S1
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import InputError
from gee_flood.models import ArchitectureSpec, InputModality, ModelCard, build_model, save_checkpoint
from tests.earthengine.synthetic_catalog import CHIP, aoi_geojson, build_catalog
from tests.fixtures.training import TINY_ARCH

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DATES = "2019-03-01/2019-03-20"
runner = CliRunner()


# --------------------------------------------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders): what a failed command must leave alone."""
    return {
        path.relative_to(folder).as_posix(): (path.read_bytes() if path.is_file() else None)
        for path in sorted(folder.rglob("*"))
    }


def assert_one_line_error(output: str, culprit: str, exit_code: int) -> str:
    """Assert the run failed with exactly one ``error:`` line naming ``culprit`` and no traceback; return it."""
    assert exit_code != 0, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert culprit in errors[0], output
    assert "Traceback" not in output, output
    return errors[0]


def run_refused(workspace: Path, argv: list[str], culprit: str, *, env: dict[str, str] | None = None) -> str:
    """Run ``gee-flood argv``: it must fail in one line naming ``culprit`` and leave ``workspace`` unchanged."""
    before = snapshot(workspace)
    result = runner.invoke(app, argv, env=env)
    line = assert_one_line_error(result.output, culprit, result.exit_code)
    assert snapshot(workspace) == before, f"{argv} changed its folder"
    return line


def tiny_checkpoint(path: Path, *, card_edit: Callable[[dict], None] | None = None) -> Path:
    """A small SAR-only student checkpoint; ``card_edit`` damages its card (as plain data) before saving."""
    card = ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(
            modalities={"s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0])}
        ),
        architecture=ArchitectureSpec(**TINY_ARCH),
    )
    torch.manual_seed(0)
    save_checkpoint(build_model(card).eval(), card, path)
    if card_edit is not None:
        payload = torch.load(path, weights_only=True)
        card_edit(payload["gee_flood_card"])
        torch.save(payload, path)
    return path


def write_scene(path: Path, size: int = 64) -> Path:
    """A small Sentinel-1 GeoTIFF (VV, VH in dB, UTM 33N)."""
    rng = np.random.default_rng(0)
    data = np.stack([rng.normal(-15, 3, (size, size)), rng.normal(-22, 3, (size, size))]).astype(np.float32)
    profile = dict(driver="GTiff", width=size, height=size, count=2, dtype="float32", crs="EPSG:32633",
                   transform=rasterio.Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
        dataset.descriptions = ("VV", "VH")
    return path


def polygon(path: Path, ring: list[list[float]]) -> Path:
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Read-only inputs shared by the cases (each case snapshots its own folder, which holds copies or links)."""
    root = tmp_path_factory.mktemp("inputs")
    bowtie = [[16.0, 45.0], [16.01, 45.01], [16.01, 45.0], [16.0, 45.01], [16.0, 45.0]]
    continent = [[0.0, 0.0], [30.0, 0.0], [30.0, 30.0], [0.0, 30.0], [0.0, 0.0]]
    return {
        "ckpt": tiny_checkpoint(root / "student.ckpt"),
        "card_bad_field": tiny_checkpoint(
            root / "bad_field.ckpt", card_edit=lambda c: c["labels"].update(threshold="high")
        ),
        "card_not_a_card": tiny_checkpoint(root / "not_a_card.ckpt", card_edit=lambda c: c.clear()),
        "card_bad_arch": tiny_checkpoint(
            root / "bad_arch.ckpt", card_edit=lambda c: c["architecture"].update(name="NoSuchNet")
        ),
        "card_bad_encoder": tiny_checkpoint(
            root / "bad_encoder.ckpt", card_edit=lambda c: c["architecture"].update(encoder_name="resnet9999")
        ),
        "card_bad_depth": tiny_checkpoint(
            root / "bad_depth.ckpt", card_edit=lambda c: c["architecture"].update(encoder_depth=99)
        ),
        "scene": write_scene(root / "s1.tif"),
        "bowtie": polygon(root / "bowtie.geojson", bowtie),
        "continent": polygon(root / "continent.geojson", continent),
        "not_a_tif": (root / "notes.txt").resolve(),
        "small_aoi": polygon(root / "small.geojson", [[16.0, 45.0], [16.01, 45.0], [16.01, 45.01], [16.0, 45.0]]),
    }


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A case's folder, with ``blocker``: a regular file, so ``blocker/x`` cannot be written."""
    (tmp_path / "blocker").write_text("a file, not a folder\n")
    (tmp_path / "a_folder").mkdir()
    return tmp_path


# --------------------------------------------------------------------------------------- predict and friends


def _predict(inputs: dict[str, Path], ws: Path, case: str) -> tuple[list[str], str]:
    ckpt, scene = str(inputs["ckpt"]), str(inputs["scene"])
    base = ["predict", "--checkpoint", ckpt, "--input", scene, "--quiet"]
    out = ["--out", str(ws / "flood.tif")]
    return {
        "out_under_a_file": ([*base, "--out", str(ws / "blocker" / "flood.tif")], "--out"),
        "out_is_a_folder": ([*base, "--out", str(ws / "a_folder")], "--out"),
        "polygons_under_a_file": ([*base, *out, "--polygons", str(ws / "blocker" / "w.geojson")], "--polygons"),
        "keep_scene_under_a_file": (
            [
                "predict",
                "--checkpoint",
                ckpt,
                "--aoi",
                str(inputs["bowtie"]),
                "--date",
                "2019-03-05",
                *out,
                "--keep-scene",
                str(ws / "blocker" / "s1.tif"),
            ],
            "--keep-scene",
        ),  # fmt: skip
        "out_is_the_input": ([*base, "--out", scene], "--out"),
        "card_bad_field": (
            ["predict", "--checkpoint", str(inputs["card_bad_field"]), "--input", scene, *out],
            "bad_field.ckpt",
        ),  # fmt: skip
        "card_not_a_card": (
            ["predict", "--checkpoint", str(inputs["card_not_a_card"]), "--input", scene, *out],
            "not_a_card.ckpt",
        ),  # fmt: skip
        "card_bad_arch": (
            ["predict", "--checkpoint", str(inputs["card_bad_arch"]), "--input", scene, *out],
            "bad_arch.ckpt",
        ),  # fmt: skip
        "card_bad_encoder": (
            ["predict", "--checkpoint", str(inputs["card_bad_encoder"]), "--input", scene, *out],
            "bad_encoder.ckpt",
        ),  # fmt: skip
        "card_bad_depth": (
            ["predict", "--checkpoint", str(inputs["card_bad_depth"]), "--input", scene, *out],
            "bad_depth.ckpt",
        ),  # fmt: skip
        "aoi_self_intersecting": ([*base, *out, "--aoi", str(inputs["bowtie"])], "bowtie.geojson"),
        "aoi_continent": ([*base, *out, "--aoi", str(inputs["continent"])], "continent.geojson"),
        "bad_date": (
            ["predict", "--checkpoint", ckpt, "--aoi", str(inputs["continent"]), "--date", "2019-02-30", *out],
            "",
        ),  # fmt: skip
        "input_missing": (["predict", "--checkpoint", ckpt, "--input", str(ws / "nope.tif"), *out], "nope.tif"),
        "input_not_a_raster": (
            ["predict", "--checkpoint", ckpt, "--input", str(inputs["not_a_tif"]), *out],
            "notes.txt",
        ),  # fmt: skip
        "retry_timeout_zero": ([*base, *out, "--retry-timeout", "0"], "--retry-timeout"),
    }[case]


PREDICT_CASES = ["out_under_a_file", "out_is_a_folder", "polygons_under_a_file", "keep_scene_under_a_file",
                 "out_is_the_input", "card_bad_field", "card_not_a_card", "card_bad_arch", "card_bad_encoder",
                 "card_bad_depth", "aoi_self_intersecting", "aoi_continent", "bad_date", "input_missing",
                 "input_not_a_raster", "retry_timeout_zero"]  # fmt: skip


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_refuses_in_one_line(inputs, workspace, case):
    inputs["not_a_tif"].write_text("not a raster\n")
    argv, culprit = _predict(inputs, workspace, case)
    if case == "bad_date":  # a continent-sized AOI is refused first: use a small valid one for the date case
        small = polygon(workspace / "small.geojson", [[16.0, 45.0], [16.01, 45.0], [16.01, 45.01], [16.0, 45.0]])
        argv[argv.index("--aoi") + 1] = str(small)
        culprit = "--date"
    before_inputs = {name: path.read_bytes() for name, path in inputs.items() if path.is_file()}
    line = run_refused(workspace, argv, culprit)
    assert {name: path.read_bytes() for name, path in inputs.items() if path.is_file()} == before_inputs
    if case == "aoi_continent":
        assert "100,000 km" in line
    if case == "aoi_self_intersecting":
        assert "self-intersecting" in line


def _other_command(inputs: dict[str, Path], ws: Path, case: str) -> tuple[list[str], str]:
    blocked = ws / "blocker"
    return {
        "evaluate_out_under_a_file": (
            ["evaluate", "--dataset", "synthetic", "--method", "otsu", "--out", str(blocked / "r.json"), "--quiet"],
            "--out",
        ),  # fmt: skip
        "evaluate_old_json_under_a_file": (
            ["evaluate", "--dataset", "synthetic", "--method", "otsu", "--json", str(blocked / "r.json"), "--quiet"],
            "--out",
        ),  # fmt: skip
        "evaluate_card_bad_field": (
            ["evaluate", "--dataset", "synthetic", "--checkpoint", str(inputs["card_bad_field"]), "--quiet"],
            "bad_field.ckpt",
        ),  # fmt: skip
        "evaluate_card_bad_encoder": (
            ["evaluate", "--dataset", "synthetic", "--checkpoint", str(inputs["card_bad_encoder"]), "--quiet"],
            "bad_encoder.ckpt",
        ),  # fmt: skip
        "map_html_under_a_file": (["map", "--view", str(inputs["scene"]), "--out", str(blocked / "m.html")], "--out"),
        "map_old_html_is_a_folder": (
            ["map", "--view", str(inputs["scene"]), "--html", str(ws / "a_folder")],
            "--out",
        ),  # fmt: skip
        "stats_out_under_a_file": (
            ["data", "stats", "--dataset", "synthetic", "--root", str(ws), "--out", str(blocked / "s.yaml"), "--quiet"],
            "--out",
        ),  # fmt: skip
        "download_out_is_a_file": (
            [
                "data",
                "download",
                "--dataset",
                "sen1floods11",
                "--out",
                str(blocked),
                "--list-url",
                "http://127.0.0.1:9/none",
                "--quiet",
            ],
            "--out",
        ),  # fmt: skip
        "demo_steps_below_minimum": (["demo", "--steps", "2", "--out", str(ws / "demo")], "--steps"),
        "demo_out_is_a_file": (["demo", "--out", str(blocked)], "--out"),
    }[case]


OTHER_CASES = ["evaluate_out_under_a_file", "evaluate_old_json_under_a_file", "evaluate_card_bad_field",
               "evaluate_card_bad_encoder", "map_html_under_a_file", "map_old_html_is_a_folder",
               "stats_out_under_a_file", "download_out_is_a_file", "demo_steps_below_minimum",
               "demo_out_is_a_file"]  # fmt: skip


@pytest.mark.parametrize("case", OTHER_CASES)
def test_other_commands_refuse_in_one_line(inputs, workspace, case):
    argv, culprit = _other_command(inputs, workspace, case)
    run_refused(workspace, argv, culprit)


def _unwritable_folder(workspace: Path) -> tuple[Path, Callable[[], None]]:
    """A folder this process cannot create files in, and how to undo it.

    A ``chmod 555`` folder for a normal user; root writes through permissions, so for root the nearest existing
    parent is ``/sys`` instead (sysfs refuses new regular files to everyone).
    """
    if os.geteuid() == 0:
        return Path("/sys/gee-flood-hostile-test"), lambda: None
    locked = workspace / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked, lambda: locked.chmod(0o755)


def test_read_only_folder_is_refused_before_any_work(inputs, workspace):
    locked, undo = _unwritable_folder(workspace)
    try:
        argv = ["predict", "--checkpoint", str(inputs["ckpt"]), "--input", str(inputs["scene"]), "--quiet"]
        run_refused(workspace, [*argv, "--out", str(locked / "flood.tif")], "--out")
        run_refused(workspace, ["evaluate", "--dataset", "synthetic", "--method", "otsu", "--out",
                                str(locked / "r.json")], "--out")  # fmt: skip
    finally:
        undo()


def test_check_writable_probes_the_folder_and_names_the_option(tmp_path, monkeypatch):
    """The mechanism behind every "cannot write" refusal: a real file is created (and removed) in the folder."""
    import tempfile

    target = tmp_path / "deep" / "er" / "out.tif"
    assert check_writable(target, option="--polygons") == target
    assert not (tmp_path / "deep").exists() and list(tmp_path.iterdir()) == []  # nothing created

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(InputError, match=r"^--polygons .*out\.tif: cannot write in .* \(Read-only file system\)$"):
        check_writable(target, option="--polygons")


def test_an_os_error_at_the_boundary_is_one_line_naming_the_file(inputs, workspace, monkeypatch):
    """A failure no check foresees (the disk fills up mid-write) is still one line, and leaves no partial output."""
    import gee_flood.inference.predict as predict_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(workspace / "flood.tif"))

    monkeypatch.setattr(predict_module, "to_cog", disk_full)
    argv = ["predict", "--checkpoint", str(inputs["ckpt"]), "--input", str(inputs["scene"]), "--quiet"]
    line = run_refused(workspace, [*argv, "--out", str(workspace / "flood.tif")], "flood.tif")
    assert line.startswith("error: cannot write") and "No space left on device" in line


def test_an_os_error_is_called_a_write_failure_only_when_only_writing_raises_it(tmp_path):
    from gee_flood._io import describe_os_error

    full = OSError(28, "No space left on device", str(tmp_path / "flood.tif"))
    assert describe_os_error(full) == f"cannot write {tmp_path / 'flood.tif'}: No space left on device"
    unreadable = PermissionError(13, "Permission denied", str(tmp_path / "aoi.geojson"))  # reading an input
    assert describe_os_error(unreadable) == f"{tmp_path / 'aoi.geojson'}: Permission denied"


# ----------------------------------------------------------------------------------------- predict leftovers


def test_temporaries_of_a_killed_predict_are_removed_by_the_next_run(inputs, workspace):
    """Stale rule: the owner's pid is gone (or, pid-less, older than the run) -> removed; a live owner's -> kept."""
    gone, alive = dead_pid(), os.getpid()
    stale = [
        workspace / f".flood.tif.{gone}-k1ll3d00",  # the tiling folder of a SIGKILLed predict
        workspace / f".flood.tif.{gone}-s1-k1ll3d01",  # its Earth Engine scene folder
        workspace / f".flood.tif.{gone}-k1ll3d02.tif.part",  # its half-written COG
        workspace / f".w.geojson.{gone}-k1ll3d03.geojson.part",  # its half-written polygons
        workspace / ".flood.tif.abcd1234",  # an older version's pid-less folder
    ]
    kept = [workspace / f".flood.tif.{alive}-running0", workspace / f".flood.tif.{alive}-runn1ng0.tif.part"]
    for path in stale + kept:
        if path.name.endswith(".part"):
            path.write_bytes(b"half")
        else:
            path.mkdir()
            (path / "prediction.tif").write_bytes(b"half")
    os.utime(stale[-1], (0, 0))  # older than this run
    user_file = workspace / ".flood.tif.notes"  # the user's own dot-file is not a temporary
    user_file.write_text("mine")
    result = runner.invoke(app, ["predict", "--checkpoint", str(inputs["ckpt"]), "--input", str(inputs["scene"]),
                                 "--out", str(workspace / "flood.tif"), "--polygons", str(workspace / "w.geojson"),
                                 "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not [path for path in stale if path.exists()]
    assert all(path.exists() for path in kept) and user_file.read_text() == "mine"
    assert (workspace / "flood.tif").is_file() and (workspace / "w.geojson").is_file()


def test_clean_stale_temporaries_scans_a_folder_once(tmp_path):
    first = tmp_path / f".a.tif.{dead_pid()}-aaaaaaaa.tif.part"
    first.write_bytes(b"x")
    assert clean_stale_temporaries(tmp_path / "a.tif") == [first]
    second = tmp_path / f".a.tif.{dead_pid()}-bbbbbbbb.tif.part"
    second.write_bytes(b"x")
    assert clean_stale_temporaries(tmp_path / "a.tif") == []  # once per folder and process: cheap for writers
    assert second.exists()


# ------------------------------------------------------------------------------------------------------ train


def _train_argv(out: Path, *sets: str, data: Path | None = None) -> list[str]:
    argv = ["train", "teacher", "--config", str(CONFIGS / "ombria_teacher.yaml"), "--seed", "0", "--out", str(out)]
    argv += ["--set", f"data.root={data or out / 'no-such-dataset'}", "--quiet"]
    for one in sets:
        argv += ["--set", one]
    return argv


@pytest.mark.parametrize(
    ("sets", "culprit"),
    [
        (("model.architecture.name=NoSuchNet",), "model.architecture.name"),
        (("model.architecture.encoder_name=resnet9999",), "model.architecture.encoder_name"),
        (("model.architecture.encoder_name=tu-no_such_timm_model",), "tu-no_such_timm_model"),
        (("optim.max_steps",), "optim.max_steps"),
        (("trainer.no_such_key=1",), "trainer.no_such_key"),
        (("optim.max_steps=-3",), "optim.max_steps"),
    ],
)
def test_train_refuses_a_bad_config_before_reading_data(workspace, sets, culprit):
    # data.root does not exist: a refusal that names the config (not the data) was made before any data was read
    run_refused(workspace, _train_argv(workspace / "runs", *sets), culprit)
    assert not (workspace / "runs").exists()


def test_train_refuses_an_existing_run_folder_without_overwrite(workspace):
    run = workspace / "runs" / "teacher-seed0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: teacher-seed0\n# the config of the finished run\n")
    (run / "model.ckpt").write_bytes(b"finished weights")
    line = run_refused(workspace, _train_argv(workspace / "runs"), str(run))
    assert "--overwrite" in line


def test_train_with_overwrite_checks_nothing_else_first(workspace):
    """--overwrite lifts only the folder rule: the run goes on to the data (here missing, so that is the error)."""
    run = workspace / "runs" / "teacher-seed0"
    run.mkdir(parents=True)
    (run / "model.ckpt").write_bytes(b"finished weights")
    result = runner.invoke(app, [*_train_argv(workspace / "runs"), "--overwrite"])
    line = assert_one_line_error(result.output, "no-such-dataset", result.exit_code)
    assert "run directory" not in line
    assert (run / "model.ckpt").read_bytes() == b"finished weights"  # nothing written before the data was valid


def test_train_out_under_a_file(workspace):
    run_refused(workspace, _train_argv(workspace / "blocker" / "runs"), "--out")


# ---------------------------------------------------------------------------------------------------- download


def test_download_refuses_a_nul_byte_in_an_object_name(workspace):
    from tests.data.test_download import FakeBucket

    objects = {"v1.1/splits/flood_handlabeled/flood_test_data.csv": b"a,b\n",
               "v1.1/splits/flood_handlabeled/evil\x00name.csv": b"x\n"}  # fmt: skip
    with FakeBucket(objects) as bucket:
        argv = ["data", "download", "--dataset", "sen1floods11", "--out", str(workspace / "data"), "--part",
                "splits", "--list-url", bucket.list_url, "--object-url", bucket.object_url, "--quiet"]  # fmt: skip
        line = run_refused(workspace, argv, "NUL byte")
    assert "evil" in line and not bucket.object_requests()  # refused before any download


# ------------------------------------------------------------------------------------------------------ fetch


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-fetch")
    build_catalog(root / "catalog")
    aoi = aoi_geojson(root / "aoi.geojson")
    with EmulatorServer(root / "catalog") as server:
        yield {"root": root, "aoi": aoi, "server": server}


def _fetch_argv(world, out: Path, url: str | None = None, *extra: str) -> list[str]:
    return ["fetch", "--aoi", str(world["aoi"]), "--dates", DATES, "--out", str(out), "--chip-size", str(CHIP),
            "--orbit-pass", "DESCENDING", "--ee-url", url or world["server"].url, "--scheduler", "threads",
            "--workers", "2", "--quiet", *extra]  # fmt: skip


def test_fetch_checks_its_out_before_any_earth_engine_request(world, workspace):
    world["server"].stats.reset()
    run_refused(workspace, [*_fetch_argv(world, workspace / "blocker" / "corpus"), "--fast-retries"], "--out")
    assert world["server"].stats.snapshot()["requests"] == {}


@pytest.fixture(scope="module")
def corpus(world):
    out = world["root"] / "corpus"
    result = runner.invoke(app, [*_fetch_argv(world, out), "--fast-retries"])
    assert result.exit_code == 0, result.output
    return out


def test_fetch_refuses_other_options_into_an_existing_corpus(world, corpus):
    run_refused(corpus, [*_fetch_argv(world, corpus), "--fast-retries", "--max-cloud", "0.3"], "other options")
    resumed = runner.invoke(app, [*_fetch_argv(world, corpus), "--fast-retries"])  # the same options resume
    assert resumed.exit_code == 0 and "9 already done" in resumed.output, resumed.output


def test_a_second_fetch_into_a_locked_corpus_refuses_naming_the_holder(world, corpus):
    code = ("import sys; from pathlib import Path; from gee_flood.earthengine.fetch import corpus_lock\n"
            f"with corpus_lock(Path({str(corpus)!r})):\n    print('held', flush=True); sys.stdin.read()")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        line = run_refused(corpus, [*_fetch_argv(world, corpus), "--fast-retries"], str(corpus))
        assert f"pid {holder.pid}" in line and "another gee-flood fetch" in line
    finally:
        holder.communicate(b"", timeout=30)
    assert holder.returncode == 0


def test_fetch_gives_up_on_a_dead_endpoint_within_its_retry_bound(world, workspace):
    dead = FaultConfig((FaultRule("image:computePixels", "unavailable"),))
    with EmulatorServer(world["root"] / "catalog", faults=dead) as server:
        before = snapshot(workspace)
        result = runner.invoke(
            app, [*_fetch_argv(world, workspace / "corpus", server.url), "--fast-retries", "--retry-timeout", "1"]
        )
    line = assert_one_line_error(result.output, "gave up", result.exit_code)
    assert "--retry-timeout" in line and "HTTP 503" in line
    assert any(row.startswith("warning:") and "retry" in row for row in result.output.splitlines())  # it said so
    assert snapshot(workspace) == before  # nothing half-written, not even an empty corpus folder


def test_a_slow_compute_pixels_is_retried_with_a_warning_within_the_bound(world, tmp_path):
    """A computePixels that stalls past one request's HTTP timeout (half of --retry-timeout) is retried, not fatal."""
    slow = FaultConfig((FaultRule("image:computePixels", "slow", delay_s=3.0, count=1),))
    out = tmp_path / "corpus"
    with EmulatorServer(world["root"] / "catalog", faults=slow) as server:
        result = runner.invoke(app, [*_fetch_argv(world, out, server.url), "--fast-retries", "--retry-timeout", "4"])
        faults = server.stats.snapshot()["faults"]
    assert result.exit_code == 0, result.output
    assert faults == {"slow": 1}
    retries = [row for row in result.output.splitlines() if row.startswith("warning:") and "retry 1" in row]
    assert len(retries) == 1 and "timed out" in retries[0].lower(), result.output
    assert "Traceback" not in result.output and "TimeoutError" not in result.output
    assert len(json.loads((out / "manifest.json").read_text())["chips"]) == 9


@pytest.mark.parametrize(
    ("kind", "count", "culprit"),
    [
        ("permission_denied", None, "HTTP 403: Caller does not have required permission"),
        ("zeroed_body", None, "arrived damaged (not the NumPy array Earth Engine sends"),
        ("truncated_body", 1, None),
        ("zeroed_body", 1, None),
    ],
    ids=["403", "always-zeroed", "truncated-once", "zeroed-once"],
)
def test_a_refused_or_damaged_pixel_answer_is_retried_or_one_line(world, workspace, kind, count, culprit):
    """Earth Engine's 403, and pixel bodies cut short or zeroed on the way: a damaged answer is retried (it is not
    Earth Engine's refusal); one that stays damaged, and a 403, end the fetch in one line with nothing written."""
    fault = FaultConfig((FaultRule("image:computePixels", kind, count=count),))
    with EmulatorServer(world["root"] / "catalog", faults=fault) as server:
        before = snapshot(workspace)
        argv = [*_fetch_argv(world, workspace / "corpus", server.url), "--fast-retries", "--retry-timeout", "3"]
        result = runner.invoke(app, argv)
    if culprit is not None:
        assert_one_line_error(result.output, culprit, result.exit_code)
        assert snapshot(workspace) == before  # not even a lock file or an empty corpus folder
        return
    assert result.exit_code == 0, result.output
    retries = [row for row in result.output.splitlines() if row.startswith("warning:")]
    assert len(retries) == 1 and "retry 1" in retries[0], result.output
    assert len(json.loads((workspace / "corpus" / "manifest.json").read_text())["chips"]) == 9


def test_a_hand_edited_manifest_is_refused_in_one_line_naming_the_field(world, tmp_path, corpus):
    edited = tmp_path / "edited"
    shutil.copytree(corpus, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    del manifest["chips"][1]["chip_id"]
    (edited / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(edited)
    result = runner.invoke(app, [*_fetch_argv(world, edited), "--fast-retries"])
    line = assert_one_line_error(result.output, f"{edited / 'manifest.json'}: is not a valid corpus manifest", 2)
    assert result.exit_code == 2 and "chips.1.chip_id: Field required" in line
    assert snapshot(edited) == before


def test_a_fetch_aoi_smaller_than_a_chip_fraction_is_refused_naming_the_option(world, workspace):
    lon, lat, side = 9.018, 45.147, 1e-6
    tiny = polygon(workspace / "tiny.geojson", [[lon, lat], [lon + side, lat], [lon + side, lat + side],
                                                [lon, lat + side], [lon, lat]])  # fmt: skip
    argv = [*_fetch_argv(world, workspace / "corpus"), "--fast-retries"]
    argv[argv.index("--aoi") + 1] = str(tiny)
    line = run_refused(workspace, argv, "--aoi: the area of interest")
    assert "too small to hold any chip" in line and "--chip-size" in line


def test_an_aoi_smaller_than_one_pixel_maps_the_pixel_it_falls_in(inputs, workspace):
    """rasterio rounded a sub-pixel window to width 0 (``WindowError``); the AOI's own pixel is mapped instead."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32633, 4326, always_xy=True).transform(500_325.0, 4_999_675.0)
    side = 1e-6  # about 0.1 m: a hundredth of a 10 m pixel
    tiny = polygon(workspace / "tiny.geojson", [[lon, lat], [lon + side, lat], [lon + side, lat + side],
                                                [lon, lat + side], [lon, lat]])  # fmt: skip
    out = workspace / "flood.tif"
    argv = ["predict", "--checkpoint", str(inputs["ckpt"]), "--input", str(inputs["scene"]), "--aoi", str(tiny),
            "--out", str(out), "--quiet"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as flood_map:
        assert (flood_map.width, flood_map.height) == (1, 1)
        assert flood_map.transform.c == 500_320.0 and flood_map.transform.f == 4_999_680.0  # the pixel it falls in


def _limit_file_size(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` making files over ``limit_bytes`` unwritable (EFBIG), as a full disk is: a real kernel error."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit


def test_a_full_disk_during_fetch_names_the_chip_not_its_temporary(world, tmp_path):
    """The kernel refuses a chip's bytes mid-fetch: one line naming the chip under --out, no .part, no traceback."""
    out = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, "-m", "gee_flood.cli", *_fetch_argv(world, out), "--fast-retries"],
        cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(2_000),
        env={**os.environ, "PYTHONPATH": str(REPO), "GEE_FLOOD_LOG_DIR": str(tmp_path / "logs")},
    )  # fmt: skip
    line = assert_one_line_error(result.stderr, f"cannot write {out}", result.returncode)
    assert result.returncode == 1 and ".part" not in line and "File too large" in line, result.stderr
    assert ".tif: File too large" in line, line  # the chip itself, under --out
    assert result.stderr.strip().splitlines() == [line], result.stderr  # libtiff's own prints went to the log
    assert not [path for path in out.rglob("*") if path.name.endswith(".part")]  # no temporary left behind
    assert not [path for path in out.rglob("*.tif") if path.stat().st_size >= 2_000]  # no truncated chip kept


def _stderr_lines(process: subprocess.Popen, seen: list[str], ready: threading.Event) -> None:
    assert process.stderr is not None
    for raw in process.stderr:
        seen.append(raw.decode(errors="replace"))
        if seen[-1].startswith("warning:"):
            ready.set()
    ready.set()


def test_ctrl_c_during_retries_exits_at_once_with_nothing_half_written(world, tmp_path):
    """SIGINT while reader threads back off from a failing endpoint: exit 130, 'interrupted', no temporaries.

    The default retry policy would keep retrying for its 120 s bound; the run must not wait for it (nor for a
    thread inside a request) once interrupted.
    """
    out = tmp_path / "corpus"
    dead = FaultConfig((FaultRule("image:computePixels", "unavailable"),))
    with EmulatorServer(world["root"] / "catalog", faults=dead) as server:
        command = [sys.executable, "-m", "gee_flood.cli", *_fetch_argv(world, out, server.url)]
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        seen: list[str] = []
        ready = threading.Event()
        reader = threading.Thread(target=_stderr_lines, args=(process, seen, ready), daemon=True)
        reader.start()
        try:
            assert ready.wait(120), "no retry warning"
            assert process.poll() is None, "".join(seen)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)  # far below the 120 s retry bound it would otherwise sit out
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(timeout=10)
    text = "".join(seen)
    assert code == 130, text
    assert "interrupted" in text and "Traceback" not in text, text
    assert not [path for path in out.rglob("*") if path.name.endswith(".part") or path.suffix == ".tif"]


def test_sigkill_mid_predict_then_rerun_leaves_no_temporaries(inputs, tmp_path):
    """The real thing: ``predict`` SIGKILLed while its temporaries exist; the next run removes them and succeeds."""
    scene = write_scene(tmp_path / "big.tif", size=1536)
    out = tmp_path / "maps" / "flood.tif"
    command = [sys.executable, "-m", "gee_flood.cli", "predict", "--checkpoint", str(inputs["ckpt"]), "--input",
               str(scene), "--out", str(out), "--polygons", str(tmp_path / "maps" / "w.geojson"), "--tile", "256",
               "--overlap", "32", "--runtime", "torch", "--device", "cpu", "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        leftovers: list[Path] = []
        while process.poll() is None and not leftovers:
            time.sleep(0.005)  # poll without starving the child of CPU
            leftovers = list(out.parent.glob(f".flood.tif.{process.pid}-*")) if out.parent.is_dir() else []
        assert leftovers, f"predict finished before its temporaries were seen: {process.stderr.read()!r}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert list(out.parent.glob(".flood.tif.*")) and not out.exists()  # what a killed run leaves
    small = command[3:]
    small[small.index("--input") + 1] = str(inputs["scene"])  # the same outputs from a small scene: a quick rerun
    rerun = runner.invoke(app, small)
    assert rerun.exit_code == 0, rerun.output
    assert out.is_file() and sorted(path.name for path in out.parent.iterdir()) == ["flood.tif", "w.geojson"]


# ------------------------------------------------------------------------------------------- flood product (#22)


def _zones(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _stats_case(ws: Path, case: str) -> tuple[list[str], str]:
    from tests.product.conftest import simple_layers, write_product

    flood_map = write_product(
        ws / "map.tif", simple_layers(40, 40, (slice(0, 5), slice(0, 5)), (slice(9, 10), slice(0, 5)))
    )
    with rasterio.open(flood_map) as src:
        west, south, east, north = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    inside = {"type": "Feature", "properties": {"zone": "a"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    square = [[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1], [0, 0]]
    far = {"type": "Feature", "properties": {"zone": "far"}, "geometry": {"type": "Polygon", "coordinates": [square]}}
    zones = {
        "zones_without_geometry": [{"type": "Feature", "properties": {"zone": "a"}, "geometry": None}],
        "duplicated_zone_ids": [inside, inside],
        "aoi_outside_every_zone": [far],
    }
    out = ws / "stats.csv"
    if case in zones:
        path = _zones(ws / "zones.geojson", zones[case])
        return ["stats", "--map", str(flood_map), "--zones", str(path), "--out", str(out)], str(path)
    if case == "stats_out_is_the_map":
        return ["stats", "--map", str(flood_map), "--out", str(flood_map)], "--out"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["zones_without_geometry", "duplicated_zone_ids", "aoi_outside_every_zone", "stats_out_is_the_map"]
)
def test_stats_refuses_bad_zones_in_one_line(workspace, case):
    argv, culprit = _stats_case(workspace, case)
    run_refused(workspace, argv, culprit)


@pytest.mark.parametrize(
    ("extra", "culprit"),
    [
        (["--dem", "/nonexistent/dem.tif"], "--dem /nonexistent/dem.tif"),
        (["--min-mapping-unit", "-3"], "--min-mapping-unit -3"),
    ],
)
def test_predict_refuses_bad_product_inputs_in_one_line(inputs, workspace, extra, culprit):
    argv = ["predict", "--checkpoint", str(inputs["ckpt"]), "--input", str(inputs["scene"]),
            "--out", str(workspace / "flood.tif"), *extra]  # fmt: skip
    run_refused(workspace, argv, culprit)


def test_predict_refuses_an_auxiliary_dataset_missing_on_the_server(inputs, workspace, tmp_path_factory):
    from tests.product.test_ee_inputs import aoi, predict_args, write_catalog

    catalog = write_catalog(tmp_path_factory.mktemp("no-merit") / "catalog", with_hand=False)
    area = aoi(workspace / "aoi.geojson")
    with EmulatorServer(catalog) as server:
        run_refused(workspace, predict_args(inputs["ckpt"], area, workspace / "flood.tif", server.url),
                    "MERIT/Hydro/v1_0_1")  # fmt: skip


@pytest.mark.parametrize("case", ["gaul_missing_on_the_server", "asset_outside_every_admin_unit"])
def test_stats_by_admin_level_refuses_in_one_line(world, workspace, tmp_path_factory, case):
    from ee_emulator.catalog import CatalogTable, image_from_geotiff
    from tests.product.conftest import simple_layers, write_product

    server = world["server"]
    asset = "projects/emulator/assets/hostile/flood_product"
    if server.catalog.find_image(asset) is None:
        layers = simple_layers(40, 40, (slice(0, 5), slice(0, 5)), (slice(9, 10), slice(0, 5)))
        server.catalog.add_asset(image_from_geotiff(write_product(tmp_path_factory.mktemp("p") / "m.tif", layers),
                                                    asset))  # fmt: skip
    square = {"type": "Polygon", "coordinates": [[[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1], [0, 0]]]}
    far = {"geometry": square, "properties": {"ADM2_NAME": "far", "ADM2_CODE": 1}, "id": "0"}
    server.catalog.tables["FAO/GAUL/2015/level2"] = CatalogTable("FAO/GAUL/2015/level2", (far,), 1)  # far away
    level, culprit = {"gaul_missing_on_the_server": ("1", "FAO/GAUL/2015/level1"),
                      "asset_outside_every_admin_unit": ("2", "--admin-level 2")}[case]  # fmt: skip
    run_refused(workspace, ["stats", "--asset", asset, "--admin-level", level, "--out", str(workspace / "s.csv"),
                            "--ee-url", server.url], culprit)  # fmt: skip


# ------------------------------------------------------------------------------------------------------- watch


def _watch_argv(world, ckpt: Path, *changes: str, aoi: Path | None = None) -> list[str]:
    values = {"--aoi": str(aoi or world["aoi"]), "--since": "2019-03-01", "--until": "2019-03-20",
              "--checkpoint": str(ckpt), "--collection": "projects/emulator/assets/hostile/watch",
              "--bucket": "gs://flood-maps/watch", "--ee-url": world["server"].url}  # fmt: skip
    values.update(dict(zip(changes[::2], changes[1::2], strict=True)))
    return ["watch", "--once", *(item for pair in values.items() for item in pair)]


@pytest.mark.parametrize("case", ["collection_is_an_image", "unknown_project", "since_after_until", "no_s1_cover",
                                  "change_with_checkpoint", "pre_days_with_a_checkpoint"])  # fmt: skip
def test_watch_refuses_in_one_line(world, inputs, workspace, case):
    from ee_emulator.catalog import image_from_geotiff

    server = world["server"]
    image_id = "projects/emulator/assets/hostile/an_image"
    if server.catalog.find_image(image_id) is None:
        server.catalog.add_asset(image_from_geotiff(inputs["scene"], image_id))
    far = polygon(workspace / "far.geojson", [[-150.0, 10.0], [-149.99, 10.0], [-149.99, 10.01], [-150.0, 10.0]])
    argv, culprit = {
        "collection_is_an_image": (_watch_argv(world, inputs["ckpt"], "--collection", image_id), "--collection"),
        "unknown_project": (
            _watch_argv(world, inputs["ckpt"], "--collection", "projects/no-such-project/assets/watch"),
            "no-such-project",
        ),
        "since_after_until": (_watch_argv(world, inputs["ckpt"], "--since", "2019-03-21"), "--since"),
        "no_s1_cover": (_watch_argv(world, inputs["ckpt"], aoi=far), "--aoi"),
        "change_with_checkpoint": (_watch_argv(world, inputs["ckpt"], "--method", "change"), "--checkpoint"),
        "pre_days_with_a_checkpoint": (_watch_argv(world, inputs["ckpt"], "--pre-days", "10"), "--pre-days"),
    }[case]
    line = run_refused(workspace, argv, culprit)  # the emulator knows only its configured projects
    assert {"collection_is_an_image": "expected an image collection", "unknown_project": "no-such-project' not found",
            "since_after_until": "is after --until", "no_s1_cover": "no Sentinel-1 scene",
            "change_with_checkpoint": "checkpoint-free",
            "pre_days_with_a_checkpoint": "is for --method change"}[case] in line  # fmt: skip
    assert server.catalog.find_collection("projects/emulator/assets/hostile/watch") is None  # nothing created


# ------------------------------------------------------------------------------ the last-resort boundary (issue 27)


@pytest.fixture
def log_dir(tmp_path_factory, monkeypatch) -> Path:
    """Where the boundary writes its failure logs in these tests (outside every case's snapshotted folder)."""
    folder = tmp_path_factory.mktemp("failure-logs")
    monkeypatch.setenv("GEE_FLOOD_LOG_DIR", str(folder))
    monkeypatch.delenv("GEE_FLOOD_DEBUG", raising=False)
    return folder


def _command_calls(inputs: dict[str, Path], ws: Path) -> dict[str, tuple[str, list[str]]]:
    """Each command: the typed function it calls (``module:attribute``) and a command line that reaches it."""
    scene, ckpt, aoi = str(inputs["scene"]), str(inputs["ckpt"]), str(inputs["small_aoi"])
    train = ["--seed", "0", "--out", str(ws / "runs"), "--quiet"]
    return {
        "demo": ("gee_flood.demo.pipeline:run_demo", ["demo", "--out", str(ws / "demo"), "--quick", "--quiet"]),
        "fetch": ("gee_flood.earthengine:run_fetch", ["fetch", "--out", str(ws / "c"), "--aoi", aoi, "--dates", DATES]),
        "evaluate": ("gee_flood.evaluation.evaluate:run_evaluation",
                     ["evaluate", "--dataset", "synthetic", "--method", "otsu", "--quiet"]),
        "predict": ("gee_flood.inference.command:run_predict",
                    ["predict", "--checkpoint", ckpt, "--input", scene, "--out", str(ws / "f.tif")]),
        "map": ("gee_flood.mapping:write_map_html", ["map", "--view", scene, "--out", str(ws / "m.html")]),
        "data download": ("gee_flood.data.download:download_dataset",
                          ["data", "download", "--dataset", "sen1floods11", "--out", str(ws / "d"), "--quiet"]),
        "data stats": ("gee_flood.data.dataset_config:compute_dataset_stats",
                       ["data", "stats", "--dataset", "synthetic", "--root", str(ws), "--out", str(ws / "s.yaml")]),
        "train teacher": ("gee_flood.training.run:train_from_request",
                          ["train", "teacher", "--config", "ombria_teacher", *train]),
        "train student": ("gee_flood.training.run:train_from_request",
                          ["train", "student", "--teacher", ckpt, "--config", "ombria_student", *train]),
        "train baseline": ("gee_flood.training.run:train_from_request",
                           ["train", "baseline", "--kind", "weak", "--config", "ombria", *train]),
        "stats": ("gee_flood.product.stats:zone_statistics", ["stats", "--map", scene, "--out", str(ws / "s.csv")]),
        "watch": ("gee_flood.watch:watch_once",
                  ["watch", "--aoi", aoi, "--since", "2019-03-01", "--checkpoint", ckpt, "--once",
                   "--collection", "projects/emulator/assets/flood-watch", "--bucket", "gs://flood-maps",
                   "--ee-url", "http://127.0.0.1:9"]),
    }  # fmt: skip


def test_the_boundary_battery_reaches_every_command():
    """A command added later must join :func:`_command_calls` (and so the injected-exception test below)."""
    import typer.main

    def leaves(command, path=()):
        subs = getattr(command, "commands", None) or {}
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, (*path, name))] if subs else [" ".join(path)]

    fake_inputs = {"scene": Path("s"), "ckpt": Path("c"), "small_aoi": Path("a")}
    assert set(leaves(typer.main.get_command(app))) == set(_command_calls(fake_inputs, Path("w")))


def _inject(monkeypatch, target: str, error: BaseException) -> None:
    import importlib

    module, name = target.split(":")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(importlib.import_module(module), name, fail)


@pytest.mark.parametrize("command", ["demo", "fetch", "evaluate", "predict", "map", "data download", "data stats",
                                     "train teacher", "train student", "train baseline", "stats", "watch"])  # fmt: skip
def test_an_unexpected_exception_in_any_command_is_one_line_with_its_log(inputs, workspace, log_dir, monkeypatch,
                                                                         command):  # fmt: skip
    target, argv = _command_calls(inputs, workspace)[command]
    _inject(monkeypatch, target, RuntimeError("an unforeseen\nfailure"))
    before = snapshot(workspace)
    result = runner.invoke(app, argv)
    line = assert_one_line_error(result.output, f"error: {command}: RuntimeError: an unforeseen failure", 1)
    assert result.exit_code == 1 and snapshot(workspace) == before
    logs = [path for path in log_dir.glob("*.log") if str(path) in line]
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and "--debug" in line


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RecursionError("maximum recursion depth exceeded"), 1),
        (OverflowError("date value out of range"), 1),
        (MemoryError(), 1),
        (KeyError("chip_id"), 1),
        (ValueError("x" * 5000), 1),
        (InputError("--thing: a bad value"), 2),
        (KeyboardInterrupt(), 130),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_every_exception_class_gets_one_line_and_its_exit_code(inputs, workspace, log_dir, monkeypatch, error, code):
    target, argv = _command_calls(inputs, workspace)["predict"]
    _inject(monkeypatch, target, error)
    result = runner.invoke(app, argv)
    assert result.exit_code == code, result.output
    line = assert_one_line_error(result.output, "error: ", result.exit_code)
    assert len(line) < 700  # a 5,000-character message is cut (the log keeps it)
    if code == 1:
        assert f"predict: {type(error).__name__}" in line


def test_a_command_added_later_gets_the_boundary_without_doing_anything(workspace, log_dir):
    @app.command("hostile-late-command")
    def late() -> None:
        json.loads('{"chip": 1}')["chip_id"]  # a hand-edited manifest without chip_id

    try:
        result = runner.invoke(app, ["hostile-late-command"])
    finally:
        app.registered_commands.pop()
    line = assert_one_line_error(result.output, "error: hostile-late-command: KeyError: 'chip_id'", result.exit_code)
    assert result.exit_code == 1 and str(log_dir) in line


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        (["predict", "--bogus"], "error: predict: No such option: --bogus"),
        (["predict", "--tile", "abc"], "error: predict: Invalid value for '--tile'"),
        (["train", "student", "--seed"], "--seed' requires an argument"),
        (["nosuch"], "error: No such command 'nosuch'"),
        (["data", "stats", "--dataset", "ombria"], "Missing option"),
        (["evaluate", "--dataset", "ombria", "--method", "unet"], "error: evaluate: Invalid value for '--method'"),
    ],
    ids=["unknown-option", "not-an-integer", "missing-value", "unknown-command", "missing-option", "not-a-choice"],
)
def test_usage_errors_are_one_line_with_exit_2(workspace, argv, culprit):
    """Click's three lines (usage, a hint, ``Error:``) are one ``error:`` line; the hint to --help is folded in."""
    result = runner.invoke(app, argv)
    line = assert_one_line_error(result.output, culprit, result.exit_code)
    assert result.exit_code == 2 and "--help" in line
    assert not any(row.startswith(("Usage:", "Try ", "Error:")) for row in result.output.splitlines()), result.output


def test_a_bare_group_still_shows_its_help(workspace):
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2 and result.output.startswith("Usage: gee-flood train") and "student" in result.output


@pytest.mark.parametrize("how", ["--debug", "GEE_FLOOD_DEBUG"])
def test_debug_prints_the_traceback(inputs, workspace, log_dir, monkeypatch, how):
    target, argv = _command_calls(inputs, workspace)["predict"]
    _inject(monkeypatch, target, ZeroDivisionError("division by zero"))
    argv, env = ([how, *argv], None) if how == "--debug" else (argv, {"GEE_FLOOD_DEBUG": "1"})
    result = runner.invoke(app, argv, env=env)
    assert result.exit_code == 1 and "Traceback" in result.output and "ZeroDivisionError" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1


def test_library_warnings_do_not_leak_and_ours_are_warning_lines(inputs, workspace, log_dir, monkeypatch):
    import importlib
    import warnings

    from gee_flood.errors import GeeFloodWarning

    def noisy(*args, **kwargs):
        warnings.warn("You are using torch.load with weights_only=False", FutureWarning, stacklevel=1)
        warnings.warn("--keep-scene is ignored with --input", GeeFloodWarning, stacklevel=1)
        raise InputError("--checkpoint x.ckpt: refused")

    monkeypatch.setattr(importlib.import_module("gee_flood.inference.command"), "run_predict", noisy)
    result = runner.invoke(app, _command_calls(inputs, workspace)["predict"][1])
    lines = result.output.splitlines()
    assert lines == ["warning: --keep-scene is ignored with --input", "error: --checkpoint x.ckpt: refused"]
    assert result.exit_code == 2


# ---------------------------------------------------------------------- hostile inputs of issue 27, one line each


def _damaged_weights(path: Path) -> Path:
    tiny_checkpoint(path)
    payload = torch.load(path, weights_only=True)
    first = next(name for name, value in payload["state_dict"].items() if value.is_floating_point())
    payload["state_dict"][first] = payload["state_dict"][first] * float("nan")
    torch.save(payload, path)
    return path


def _issue27_case(inputs: dict[str, Path], ws: Path, case: str) -> tuple[list[str], str]:
    """A hostile command line and the culprit its one ``error:`` line must name (files are made in ``ws``)."""
    ckpt, scene, small = str(inputs["ckpt"]), str(inputs["scene"]), str(inputs["small_aoi"])
    out = str(ws / "flood.tif")
    local = ["predict", "--checkpoint", ckpt, "--input", scene, "--quiet"]

    def on(day: str) -> list[str]:
        return ["predict", "--checkpoint", ckpt, "--aoi", small, "--date", day, "--out", out, "--quiet"]

    remote = on("2019-03-05")
    fetch = ["fetch", "--out", str(ws / "corpus"), "--ee-url", "http://127.0.0.1:9", "--fast-retries", "--quiet",
             "--retry-timeout", "2"]  # fmt: skip
    train = ["train", "teacher", "--config", str(CONFIGS / "ombria_teacher.yaml"), "--out", str(ws / "runs"),
             "--set", f"data.root={ws / 'no-such-dataset'}", "--quiet"]  # fmt: skip
    loop = ws / "loop"
    if case.endswith("_loop"):
        loop.symlink_to(loop)
    if case == "aoi_nested_deep":
        (ws / "deep.geojson").write_text("[" * 100_000 + "]" * 100_000)
    if case == "aoi_huge_number":
        (ws / "digits.geojson").write_text('{"type": "Polygon", "coordinates": [[[1' + "0" * 5000 + ", 45]]]}")
    if case == "out_link_to_input":
        (ws / "link.tif").symlink_to(scene)
    if case.startswith("card_"):
        edits = {
            "card_three_means_for_two_bands": lambda c: c["normalization"]["modalities"]["s1"].update(
                mean=[-12.0, -19.0, 0.0]
            ),
            "card_zero_std": lambda c: c["normalization"]["modalities"]["s1"].update(std=[4.0, 0.0]),
            "card_threshold_above_one": lambda c: c["labels"].update(threshold=1.5),
        }
        if case == "card_nan_weights":
            _damaged_weights(ws / "card.ckpt")
        else:
            tiny_checkpoint(ws / "card.ckpt", card_edit=edits[case])
    if case == "input_truncated_cog":
        with rasterio.open(write_scene(ws / "scene.tif", size=256)) as source:
            profile, pixels, names = {**source.profile, "driver": "COG"}, source.read(), source.descriptions
        with rasterio.open(ws / "cog.tif", "w", **profile) as cog:
            cog.write(pixels)
            cog.descriptions = names
        whole = (ws / "cog.tif").read_bytes()
        (ws / "trunc.tif").write_bytes(whole[: len(whole) // 2])  # header and tile index whole, pixels cut
    if case == "stats_out_is_a_manifest":
        (ws / "manifest.json").write_text('{"version": 1}\n')
    if case == "evaluate_out_link_to_checkpoint":
        (ws / "report.json").symlink_to(ckpt)
    if case in ("fetch_antimeridian_strip", "fetch_polar_cap"):
        ring = ([[179.9, 0.0], [-179.9, 0.0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0.0]]
                if case == "fetch_antimeridian_strip" else
                [[-180.0, 80.0], [180.0, 80.0], [180.0, 90.0], [-180.0, 90.0], [-180.0, 80.0]])  # fmt: skip
        polygon(ws / "strip.geojson", ring)
    card = ["predict", "--checkpoint", str(ws / "card.ckpt"), "--input", scene, "--out", out, "--quiet"]
    return {
        "aoi_nested_deep": ([*local, "--out", out, "--aoi", str(ws / "deep.geojson")], "deep.geojson"),
        "aoi_huge_number": ([*local, "--out", out, "--aoi", str(ws / "digits.geojson")], "digits.geojson"),
        "aoi_symlink_loop": ([*local, "--out", out, "--aoi", str(loop)], "--aoi"),
        "input_symlink_loop": (["predict", "--checkpoint", ckpt, "--input", str(loop), "--out", out], "--input"),
        "out_symlink_loop": ([*local, "--out", str(loop)], "--out"),
        "out_link_to_input": ([*local, "--out", str(ws / "link.tif")], "--input"),
        "scale_nan": ([*remote, "--scale", "nan"], "--scale"),
        "scale_millionth_of_a_metre": ([*remote, "--scale", "0.000001"], "--scale"),
        "tile_a_million": ([*local, "--out", out, "--tile", "1000000"], "--tile"),
        "threshold_above_one": ([*local, "--out", out, "--threshold", "1.5"], "--threshold"),
        "batch_size_zero": ([*local, "--out", out, "--batch-size", "0"], "--batch-size"),
        "date_in_year_9999": (on("9999-12-31"), "--date"),
        "date_before_sentinel": (on("2010-01-01"), "--date"),
        "keep_scene_with_input": ([*local, "--out", out, "--keep-scene", str(ws / "s1.tif")], "--keep-scene"),
        "card_three_means_for_two_bands": (card, "card.ckpt"),
        "card_zero_std": (card, "card.ckpt"),
        "card_threshold_above_one": (card, "card.ckpt"),
        "card_nan_weights": (card, "card.ckpt"),
        "evaluate_out_is_its_checkpoint": (
            ["evaluate", "--dataset", "synthetic", "--checkpoint", ckpt, "--out", ckpt, "--quiet"],
            "--out",
        ),  # fmt: skip
        "evaluate_out_link_to_checkpoint": (
            ["evaluate", "--dataset", "synthetic", "--checkpoint", ckpt, "--out", str(ws / "report.json"), "--quiet"],
            "--out",
        ),  # fmt: skip
        "stats_out_is_a_manifest": (
            [
                "data",
                "stats",
                "--dataset",
                "sen1floods11",
                "--root",
                str(ws),
                "--out",
                str(ws / "manifest.json"),
                "--quiet",
            ],
            "corpus manifest",
        ),  # fmt: skip
        "map_out_is_its_view": (["map", "--view", scene, "--out", scene], "--out"),
        "demo_threads_zero": (["demo", "--threads", "0", "--out", str(ws / "demo")], "--threads"),
        "demo_steps_a_billion": (["demo", "--steps", str(10**9), "--out", str(ws / "demo")], "--steps"),
        "input_truncated_cog": (
            ["predict", "--checkpoint", ckpt, "--input", str(ws / "trunc.tif"), "--out", out, "--quiet"],
            "trunc.tif",
        ),
        "out_name_too_long_for_its_temporary": ([*local, "--out", str(ws / ("f" * 240 + ".tif"))], "--out"),
        "fetch_dates_in_year_9999": ([*fetch, "--aoi", small, "--dates", "9999-01-01/9999-12-31"], "--dates"),
        "fetch_scale_nan": ([*fetch, "--aoi", small, "--dates", DATES, "--scale", "nan"], "--scale"),
        "fetch_scale_millionth_of_a_metre": (
            [*fetch, "--aoi", small, "--dates", DATES, "--scale", "0.000001"],
            "--scale",
        ),  # fmt: skip
        "fetch_aoi_symlink_loop": ([*fetch, "--aoi", str(loop), "--dates", DATES], "--aoi"),
        "fetch_antimeridian_strip": ([*fetch, "--aoi", str(ws / "strip.geojson"), "--dates", DATES], "strip.geojson"),
        "fetch_polar_cap": ([*fetch, "--aoi", str(ws / "strip.geojson"), "--dates", DATES], "strip.geojson"),
        "train_precision_bogus": ([*train, "--set", "trainer.precision=bogus"], "bogus"),
        "train_accelerator_tpu": ([*train, "--accelerator", "tpu"], "tpu"),
        "train_devices_minus_one": ([*train, "--devices", "-1"], "--devices"),
        "train_seed_two_to_the_64": ([*train, "--seed", str(2**64)], "trainer.seed"),
        "train_learning_rate_nan": ([*train, "--set", "optim.lr=nan"], "optim.lr"),
        "train_threads_zero": ([*train, "--set", "trainer.threads=0"], "trainer.threads"),
    }[case]


ISSUE27_CASES = ["aoi_nested_deep", "aoi_huge_number", "aoi_symlink_loop", "input_symlink_loop", "out_symlink_loop",
                 "out_link_to_input", "scale_nan", "scale_millionth_of_a_metre", "tile_a_million",
                 "threshold_above_one", "batch_size_zero", "date_in_year_9999", "date_before_sentinel",
                 "keep_scene_with_input", "card_three_means_for_two_bands", "card_zero_std",
                 "card_threshold_above_one", "card_nan_weights", "evaluate_out_is_its_checkpoint",
                 "evaluate_out_link_to_checkpoint", "stats_out_is_a_manifest", "map_out_is_its_view",
    "out_name_too_long_for_its_temporary",
    "input_truncated_cog",
    "demo_threads_zero",
    "demo_steps_a_billion",
                 "fetch_dates_in_year_9999", "fetch_scale_nan", "fetch_scale_millionth_of_a_metre",
                 "fetch_aoi_symlink_loop", "fetch_antimeridian_strip", "fetch_polar_cap", "train_precision_bogus",
                 "train_accelerator_tpu", "train_devices_minus_one", "train_seed_two_to_the_64",
                 "train_learning_rate_nan", "train_threads_zero"]  # fmt: skip


@pytest.mark.parametrize("case", ISSUE27_CASES)
def test_hostile_inputs_of_issue_27_are_one_line_with_exit_2(inputs, workspace, log_dir, case):
    """Bad input is refused before any work, in one line naming it, exit 2; inputs stay byte-identical."""
    argv, culprit = _issue27_case(inputs, workspace, case)
    before_inputs = {name: path.read_bytes() for name, path in inputs.items() if path.is_file()}
    before = snapshot(workspace)
    result = runner.invoke(app, argv)
    assert_one_line_error(result.output, culprit, result.exit_code)
    assert result.exit_code == 2, result.output
    assert snapshot(workspace) == before
    assert {name: path.read_bytes() for name, path in inputs.items() if path.is_file()} == before_inputs


def test_a_student_given_as_teacher_is_a_warning_line(inputs, workspace, log_dir):
    missing = f"data.root={workspace / 'no-such-dataset'}"
    argv = ["train", "student", "--teacher", str(inputs["ckpt"]), "--config", str(CONFIGS / "ombria_student.yaml"),
            "--out", str(workspace / "runs"), "--set", missing, "--quiet"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert_one_line_error(result.output, "no-such-dataset", result.exit_code)
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "student.ckpt" in warned[0] and "'student', not 'teacher'" in warned[0]


# ------------------------------------------------------------------- exit codes that tell the truth (issue 27)


def _tiny_train_argv(data: Path, out: Path, *extra: str, steps: int = 2) -> list[str]:
    from tests.fixtures.training import TINY_OMBRIA

    sets = {**TINY_OMBRIA, "data.root": str(data), "data.labelled_fraction": 1.0, "optim.max_steps": steps,
            "trainer.val_every_steps": steps}  # fmt: skip
    argv = ["train", "teacher", "--config", str(CONFIGS / "ombria_teacher.yaml"), "--seed", "0", "--out", str(out)]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    return [*argv, *extra]


@pytest.fixture(scope="module")
def tiny_ombria(tmp_path_factory) -> Path:
    from tests.fixtures.datasets import write_ombria_fixture

    return write_ombria_fixture(tmp_path_factory.mktemp("tiny-ombria") / "ombria", train=8, test=1)


def test_a_diverging_training_fails_in_one_line_and_writes_no_model(tiny_ombria, tmp_path, log_dir, monkeypatch):
    import gee_flood.training.module as module

    real_loss = module.supervised_loss
    monkeypatch.setattr(module, "supervised_loss", lambda *args, **kwargs: real_loss(*args, **kwargs) * float("nan"))
    result = runner.invoke(app, _tiny_train_argv(tiny_ombria, tmp_path / "runs"))
    line = assert_one_line_error(result.output, "training diverged", result.exit_code)
    assert "nan" in line and result.exit_code != 0
    assert not list((tmp_path / "runs").rglob("model.ckpt"))  # never a "finished" model


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    from gee_flood.errors import DataError
    from gee_flood.models import read_card

    good = tiny_checkpoint(tmp_path / "good.ckpt")
    model = build_model(read_card(good))
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    with pytest.raises(DataError, match="NaN or infinite"):
        save_checkpoint(model, read_card(good), tmp_path / "bad.ckpt")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["good.ckpt"]


def _signalled_train(argv: list[str], wait_for: Path, signum: int) -> tuple[int, str]:
    """Run ``gee-flood argv``; once ``wait_for`` exists (training under way) send ``signum``; return code, stderr."""
    process = subprocess.Popen([sys.executable, "-m", "gee_flood.cli", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not wait_for.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.5)
        process.send_signal(signum)
        try:
            _, stderr = process.communicate(timeout=120)  # seconds on an idle machine; minutes only under load
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(
                f"no exit after signal {signum}: {process.communicate()[1].decode()[-2000:]}"
            ) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr.decode(errors="replace")


def test_sigterm_and_ctrl_c_during_train_exit_143_and_130_and_overwrite_keeps_the_finished_run(tiny_ombria, tmp_path):
    """SIGTERM -> 143 and Ctrl-C -> 130, each with one line; an interrupted --overwrite leaves the old run whole."""
    terminated_out, interrupted_out = tmp_path / "terminated", tmp_path / "interrupted"
    finished = interrupted_out / "teacher-seed0"
    finished.mkdir(parents=True)
    (finished / "model.ckpt").write_bytes(b"finished weights")
    (finished / "config.yaml").write_text("name: teacher-seed0\n")
    staged = interrupted_out / ".teacher-seed0.overwrite" / "teacher-seed0" / "config.yaml"
    results: dict[str, tuple[int, str]] = {}
    jobs = [
        ("term", _tiny_train_argv(tiny_ombria, terminated_out, "--quiet", steps=100_000),
         terminated_out / "teacher-seed0" / "config.yaml", signal.SIGTERM),
        ("int", _tiny_train_argv(tiny_ombria, interrupted_out, "--quiet", "--overwrite", steps=100_000), staged,
         signal.SIGINT),
    ]  # fmt: skip
    threads = [
        threading.Thread(target=lambda name, *rest: results.__setitem__(name, _signalled_train(*rest)), args=job)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    code, stderr = results["term"]
    assert code == 143, stderr
    assert_one_line_error(stderr, "train teacher: terminated (SIGTERM)", code)
    code, stderr = results["int"]
    assert code == 130, stderr
    assert_one_line_error(stderr, "train teacher: interrupted (Ctrl-C)", code)
    assert (finished / "model.ckpt").read_bytes() == b"finished weights"  # the finished run is untouched
    assert sorted(path.name for path in interrupted_out.iterdir()) == ["teacher-seed0"]  # no staging left
    assert not list(terminated_out.rglob("model.ckpt"))


# ------------------------------------------------------------------------------------ bounded time (issue 27)


def test_retry_timeout_bounds_earth_engine_initialisation_against_a_stalling_endpoint(inputs, workspace):
    """An endpoint that accepts connections and never answers: ``ee.Initialize`` gives up after --retry-timeout."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept_and_stall() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept_and_stall, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    argv = ["predict", "--checkpoint", str(inputs["ckpt"]), "--aoi", str(inputs["small_aoi"]), "--date", "2019-03-05",
            "--out", str(workspace / "flood.tif"), "--ee-url", url, "--retry-timeout", "1", "--quiet"]  # fmt: skip
    outcome: list = []
    call = threading.Thread(target=lambda: outcome.append(runner.invoke(app, argv)), daemon=True)
    call.start()
    call.join(timeout=120)  # a generous bound far above 2 x 1 s: only a hang fails here
    server.close()
    for connection in held:
        connection.close()
    assert outcome, "predict hung on a stalling Earth Engine endpoint"
    line = assert_one_line_error(outcome[0].output, "could not initialise Earth Engine", outcome[0].exit_code)
    assert "timed out" in line


def test_a_second_identical_train_run_refuses_in_one_line(tiny_ombria, tmp_path):
    from filelock import FileLock

    out = tmp_path / "runs"
    out.mkdir()
    with FileLock(out / ".teacher-seed0.train.lock", timeout=0):  # what the first run holds while it trains
        result = runner.invoke(app, _tiny_train_argv(tiny_ombria, out, "--quiet"))
    assert_one_line_error(result.output, "another gee-flood train is writing it", result.exit_code)
    assert result.exit_code == 2 and not (out / "teacher-seed0").exists()


@pytest.mark.parametrize(
    "body",
    [
        "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n<body><h1>Forbidden</h1>\n</body></html>",
        "<html>\n<body>\n<p>Your request was blocked by the corporate proxy.</p>"
        + "<p>x</p>\n" * 500
        + "</body></html>",
    ],
)
def test_an_html_error_page_from_a_proxy_is_one_short_line(body):
    from gee_flood.earthengine.session import explain_error

    line = explain_error(Exception(body), what="pixels of chip c1")
    assert "\n" not in line and "<" not in line and len(line) < 300
    assert "HTML page" in line and ("403 Forbidden" in line or "title" not in line)


def test_a_full_disk_names_the_output_not_its_temporary(inputs, workspace, log_dir, monkeypatch):
    """ENOSPC while the report is written under its temporary name: the line names ``--out`` (exit 1)."""
    import errno as errno_codes

    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name.endswith(".part"):
            raise OSError(errno_codes.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    out = workspace / "report.json"
    argv = ["evaluate", "--dataset", "synthetic", "--method", "otsu", "--out", str(out), "--quiet"]
    line = run_refused(workspace, argv, f"cannot write {out}: No space left on device")
    assert ".part" not in line

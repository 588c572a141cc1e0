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

import json
import os
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
        (["--reference-kind", "depth"], "--reference-kind 'depth'"),
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

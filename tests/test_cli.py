"""The command line itself: every command's help, the version, completion, and one vocabulary across commands.

Library functions are replaced by recorders here, so these tests check only what the CLI passes down.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import gee_flood
from gee_flood import cli
from gee_flood.cli import app

runner = CliRunner()
CONSOLE_SCRIPT = Path(sys.executable).parent / "gee-flood"


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command of the tree under ``command``, with the words that invoke it (the root is ``()``)."""
    found = [(path, command)]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(typer.main.get_command(app))


def _squeeze(text: str) -> str:
    """``text`` without any whitespace (help is re-wrapped, words may be split at hyphens)."""
    return "".join(text.split())


def test_help_lists_every_command_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "fetch", "train", "evaluate", "predict", "map", "data"):
        assert command in result.output
    assert "emulator" not in {group.name for group in app.registered_groups}  # the emulator is `ee-emulator serve`


def test_the_walk_finds_every_command():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "demo", "fetch", "evaluate", "predict", "map", "data download", "data stats", "train teacher"} <= paths
    assert {"train student", "train baseline"} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) or "gee-flood" for path, _ in COMMANDS])
def test_every_command_renders_its_help(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and result.exception is None
    assert result.output.startswith("Usage: gee-flood")
    output = _squeeze(result.output)
    for param in command.params:
        assert (param.help or "").strip(), f"{' '.join(path)}: {param.name} has no help text"
        if param.hidden:
            continue
        for flag in [*param.opts, *param.secondary_opts]:
            assert flag in result.output, f"{' '.join(path)}: {flag} is not in the help"
        # The help text must print as written: a literal [...] is text, never a markup tag to drop or to fail on.
        assert _squeeze(param.help) in output, f"{' '.join(path)}: the help of {param.name} is altered"


def test_literal_brackets_in_help_print_as_they_are():
    # 'gs://bucket[/prefix]' made Rich raise MarkupError ("closing tag '[/prefix]'") and `map --help` exit 1.
    result = runner.invoke(app, ["map", "--help"])
    assert result.exit_code == 0, result.output
    assert "gs://bucket[/prefix]" in result.output
    for typer_app in (app, cli.data_app, cli.train_app):
        assert typer_app.rich_markup_mode is None  # help texts are plain text, whatever brackets they hold


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the gee-flood console script is not installed next to python")
@pytest.mark.parametrize("words", [["map"], ["data", "download"], ["train", "baseline"], ["fetch"]])
def test_console_script_renders_help_in_a_real_process(words):
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "TERM")}
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), *words, "--help"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: gee-flood {' '.join(words)}")
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    if words == ["map"]:
        assert "gs://bucket[/prefix]" in result.stdout


def test_module_runs_as_a_script():
    result = subprocess.run([sys.executable, "-m", "gee_flood.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"gee-flood {importlib.metadata.version('gee-flood')}\n"
    assert importlib.metadata.version("gee-flood") == gee_flood.__version__


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the gee-flood console script is not installed next to python")
def test_version_from_the_console_script():
    result = subprocess.run([str(CONSOLE_SCRIPT), "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, f"gee-flood {gee_flood.__version__}\n"), result.stderr


def test_shell_completion(monkeypatch):
    root_help = runner.invoke(app, ["--help"]).output
    assert "--install-completion" in root_help and "--show-completion" in root_help
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")  # take the shell as an argument
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0, result.output
    assert "_GEE_FLOOD_COMPLETE=complete_bash" in result.output and "complete " in result.output


def test_no_unused_helpers():
    assert not hasattr(cli, "_not_built")


# --- one vocabulary -------------------------------------------------------------------------------------------


class Recorder:
    """Stands in for the library functions the commands call; remembers each call's arguments."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.calls: dict[str, Any] = {}
        self.tmp_path = tmp_path
        patch = monkeypatch.setattr
        patch("gee_flood.earthengine.run_fetch", self._record("fetch", SimpleNamespace(line=lambda: "fetched")))
        patch("gee_flood.inference.command.run_predict", self._record("predict", self._predict_summary()))
        patch("gee_flood.earthengine.export.push_flood_map", self._record("push", self._push_result()))
        patch("gee_flood.mapping.write_map_html", self._record("html", tmp_path / "map.html"))
        patch("gee_flood.evaluation.evaluate.run_evaluation", self._record("evaluate", {}))
        patch("gee_flood.evaluation.evaluate.print_report", lambda report: None)
        patch("gee_flood.evaluation.evaluate.select_predictor", self._record("predictor", "otsu-predictor"))
        patch("gee_flood.data.download.download_dataset", self._record("download", SimpleNamespace(summary=str)))
        patch("gee_flood.data.dataset_config.compute_dataset_stats", self._record("stats", {}))
        patch("gee_flood.data.dataset_config.write_stats", lambda stats, out: None)
        patch("gee_flood.data.dataset_config.format_stats", lambda stats: "stats")
        patch("gee_flood.training.run.train_from_request", self._record("train", self._train_result()))
        patch("gee_flood.demo.pipeline.run_demo", self._record("demo", self._demo_result()))

    def _record(self, name: str, answer: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = SimpleNamespace(args=args, kwargs=kwargs)
            return answer

        return call

    def _predict_summary(self) -> Any:
        sizes = {"width": 1, "height": 1, "valid_pixels": 1, "tiles": 1, "seconds": 0.0, "water_fraction": 0.5,
                 "flooded_km2": 0.1, "excluded_km2": 0.0}  # fmt: skip
        return SimpleNamespace(output="f.tif", crs="EPSG:4326", device="cpu", scheduler="none", polygons=None, **sizes)

    def _push_result(self) -> Any:
        return SimpleNamespace(asset="projects/p/assets/a", already_done=False, mode="ingested", uri="gs://b/f.tif",
                               created_folders=[])  # fmt: skip

    def _train_result(self) -> Any:
        card = SimpleNamespace(labels=SimpleNamespace(threshold=0.5))
        return SimpleNamespace(run_dir="runs/x", checkpoint="runs/x/model.ckpt", best_val_iou=0.5, card=card,
                               summary={"steps": 1}, is_global_zero=True)  # fmt: skip

    def _demo_result(self) -> Any:
        report = self.tmp_path / "report.md"
        report.write_text("report\n")
        return SimpleNamespace(report_markdown=report, map_html="map.html", overview_png="overview.png")


@pytest.fixture
def recorder(monkeypatch, tmp_path) -> Recorder:
    monkeypatch.delenv("EE_PROJECT", raising=False)
    return Recorder(monkeypatch, tmp_path)


def _ok(args: list[str], **kwargs: Any) -> Any:
    result = runner.invoke(app, args, **kwargs)
    assert result.exit_code == 0, result.output
    assert "deprecated" not in result.output
    return result


def test_out_is_what_every_command_writes(recorder, tmp_path):
    _ok(["fetch", "--out", "corpus", "--aoi", "a.geojson", "--dates", "2019-03-01/2019-03-02"])
    assert recorder.calls["fetch"].args[0].out == Path("corpus")
    _ok(["predict", "--checkpoint", "s.ckpt", "--input", "s1.tif", "--out", "flood.tif"])
    assert recorder.calls["predict"].args[0].out == Path("flood.tif")
    _ok(["evaluate", "--dataset", "ombria", "--method", "otsu", "--out", "report.json"])
    assert recorder.calls["evaluate"].kwargs["json_path"] == Path("report.json")
    _ok(["data", "download", "--dataset", "sen1floods11", "--out", "data/s11"])
    assert recorder.calls["download"].args[:3] == ("sen1floods11", Path("data/s11"), "hand")
    _ok(["data", "stats", "--dataset", "ombria", "--root", "o", "--out", "stats.yaml"])
    _ok(["map", "--view", "flood.tif", "--out", "map.html"])
    assert recorder.calls["html"].args == (Path("flood.tif"), Path("map.html"))
    _ok(["train", "teacher", "--config", "ombria", "--out", "runs"])
    assert recorder.calls["train"].args[0].overrides["trainer.output_dir"] == "runs"
    _ok(["demo", "--out", str(tmp_path / "demo")])
    assert recorder.calls["demo"].args[0].out == tmp_path / "demo"


@pytest.mark.parametrize(
    ("old", "new", "call", "check"),
    [
        (["evaluate", "--dataset", "ombria", "--method", "otsu", "--json", "r.json"], "--out", "evaluate",
         lambda c: c.kwargs["json_path"] == Path("r.json")),
        (["data", "download", "sen1floods11", "--out", "d"], "--dataset", "download",
         lambda c: c.args[:2] == ("sen1floods11", Path("d"))),
        (["data", "download", "--dataset", "sen1floods11", "--dest", "d"], "--out", "download",
         lambda c: c.args[:2] == ("sen1floods11", Path("d"))),
        (["map", "--view", "flood.tif", "--html", "m.html"], "--out", "html",
         lambda c: c.args[1] == Path("m.html")),
        (["train", "baseline", "--kind", "weak", "--config", "ombria", "--output-dir", "runs"], "--out", "train",
         lambda c: c.args[0].overrides["trainer.output_dir"] == "runs"),
        (["demo", "--no-progress"], "--quiet", "demo", lambda c: c.args[0].progress is False),
    ],
    ids=["evaluate --json", "download DATASET", "download --dest", "map --html", "train --output-dir", "demo"],
)  # fmt: skip
def test_old_spellings_still_work_with_one_deprecation_line(recorder, old, new, call, check):
    result = runner.invoke(app, old)
    assert result.exit_code == 0, result.output
    assert check(recorder.calls[call])
    notes = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert len(notes) == 1 and notes[0].startswith("warning: ") and f"use {new}" in notes[0], result.stderr


def test_old_and_new_spelling_together_is_an_error(recorder):
    result = runner.invoke(app, ["evaluate", "--dataset", "ombria", "--method", "otsu", "--out", "a", "--json", "b"])
    assert result.exit_code == 2 and "error: give --out only, not --json too" in result.output
    assert "evaluate" not in recorder.calls


def test_old_spellings_are_hidden_from_help():
    for words, old in [(["evaluate"], "--json"), (["data", "download"], "--dest"), (["map"], "--html"),
                       (["train", "teacher"], "--output-dir"), (["demo"], "--no-progress")]:  # fmt: skip
        assert old not in runner.invoke(app, [*words, "--help"]).output


def test_download_needs_a_dataset_and_a_folder(recorder):
    result = runner.invoke(app, ["data", "download", "--out", "d"])
    assert result.exit_code == 2 and "missing option --dataset" in result.output
    result = runner.invoke(app, ["data", "download", "--dataset", "sen1floods11"])
    assert result.exit_code == 2 and "missing option --out" in result.output
    result = runner.invoke(app, ["data", "download", "--dataset", "ombria", "--out", "d"])
    assert result.exit_code == 2 and "Invalid value for '--dataset'" in result.output
    assert "download" not in recorder.calls


@pytest.mark.parametrize(
    ("args", "call", "check"),
    [
        (["fetch", "--out", "c", "--aoi", "a", "--dates", "d"], "fetch", lambda c: c.args[0].progress),
        (["predict", "--checkpoint", "c", "--input", "i", "--out", "o"], "predict",
         lambda c: c.args[0].options.progress),
        (["evaluate", "--dataset", "ombria", "--method", "otsu"], "evaluate", lambda c: c.kwargs["progress"]),
        (["data", "download", "--dataset", "sen1floods11", "--out", "d"], "download", lambda c: c.kwargs["progress"]),
        (["data", "stats", "--dataset", "ombria", "--root", "r", "--out", "s.yaml"], "stats",
         lambda c: c.kwargs["progress"]),
        (["map", "--mask", "f.tif", "--asset", "projects/p/assets/a", "--bucket", "gs://b"], "push",
         lambda c: c.kwargs["progress"]),
        (["train", "teacher", "--config", "ombria"], "train",
         lambda c: c.args[0].overrides.get("trainer.progress_bar", True)),
        (["demo"], "demo", lambda c: c.args[0].progress),
    ],
    ids=["fetch", "predict", "evaluate", "download", "stats", "map", "train", "demo"],
)  # fmt: skip
def test_quiet_silences_progress_everywhere(recorder, args, call, check):
    _ok(args)
    assert check(recorder.calls[call]) is True
    for quiet in ("--quiet", "-q"):
        _ok([*args, quiet])
        assert check(recorder.calls[call]) is False


def test_project_comes_from_the_option_or_ee_project(recorder):
    fetch = ["fetch", "--out", "c", "--aoi", "a", "--dates", "d"]
    predict = ["predict", "--checkpoint", "c", "--aoi", "a", "--date", "2019-03-01", "--out", "o"]
    push = ["map", "--mask", "f.tif", "--asset", "projects/p/assets/a", "--bucket", "gs://b", "--view", "f.tif"]
    push += ["--out", "m.html"]
    _ok(fetch)
    _ok(predict)
    _ok(push)
    assert recorder.calls["fetch"].args[0].project is None and recorder.calls["predict"].args[0].project is None
    assert recorder.calls["push"].kwargs["project"] is None and recorder.calls["html"].kwargs["project"] is None
    env = {"EE_PROJECT": "from-env"}
    _ok(fetch, env=env)
    _ok(predict, env=env)
    _ok(push, env=env)
    assert recorder.calls["fetch"].args[0].project == "from-env"
    assert recorder.calls["predict"].args[0].project == "from-env"
    assert recorder.calls["push"].kwargs["project"] == recorder.calls["html"].kwargs["project"] == "from-env"
    _ok([*fetch, "--project", "flag"], env=env)
    assert recorder.calls["fetch"].args[0].project == "flag"
    for words in (["fetch"], ["predict"], ["map"]):
        assert "EE_PROJECT" in runner.invoke(app, [*words, "--help"]).output


def test_ee_url_comes_from_the_option_or_gee_flood_ee_url(recorder):
    fetch = ["fetch", "--out", "c", "--aoi", "a", "--dates", "d"]
    predict = ["predict", "--checkpoint", "c", "--aoi", "a", "--date", "2019-03-01", "--out", "o"]
    push = ["map", "--mask", "f.tif", "--asset", "projects/p/assets/a", "--bucket", "gs://b", "--view", "f.tif",
            "--out", "m.html"]  # fmt: skip
    for args in (fetch, predict, push):
        _ok(args)
    assert recorder.calls["fetch"].args[0].ee_url is None and recorder.calls["predict"].args[0].ee_url is None
    assert recorder.calls["push"].kwargs["ee_url"] is None and recorder.calls["html"].kwargs["ee_url"] is None
    env = {"GEE_FLOOD_EE_URL": "http://127.0.0.1:8765"}
    for args in (fetch, predict, push):
        _ok(args, env=env)
    url = env["GEE_FLOOD_EE_URL"]
    assert recorder.calls["fetch"].args[0].ee_url == recorder.calls["predict"].args[0].ee_url == url
    assert recorder.calls["push"].kwargs["ee_url"] == recorder.calls["html"].kwargs["ee_url"] == url
    _ok([*fetch, "--ee-url", "http://localhost:9000"], env=env)
    assert recorder.calls["fetch"].args[0].ee_url == "http://localhost:9000"
    for words in (["fetch"], ["predict"], ["map"]):
        help_text = runner.invoke(app, [*words, "--help"]).output
        assert "--ee-url" in help_text and "GEE_FLOOD_EE_URL" in help_text


def test_choices_are_listed_passed_as_strings_and_typos_refused(recorder):
    help_text = runner.invoke(app, ["fetch", "--help"]).output
    assert "<ascending|descending|any>" in help_text and "<cloudscore|probability>" in help_text
    _ok(["fetch", "--out", "c", "--aoi", "a", "--dates", "d", "--orbit-pass", "ascending", "--cloud-mask",
         "PROBABILITY", "--endpoint", "Standard"])  # fmt: skip
    config = recorder.calls["fetch"].args[0]
    assert (config.orbit_pass, config.cloud_mask, config.endpoint) == ("ASCENDING", "probability", "standard")
    assert type(config.orbit_pass) is str
    _ok(["predict", "--checkpoint", "c", "--input", "i", "--out", "o", "--runtime", "torch", "--device", "cuda:1"])
    options = recorder.calls["predict"].args[0].options
    assert (options.runtime, options.device) == ("torch", "cuda:1") and type(options.runtime) is str
    _ok(["evaluate", "--dataset", "sen1floods11", "--method", "otsu", "--otsu", "tiled", "--labels", "s1otsu"])
    assert recorder.calls["predictor"].args == ("sen1floods11",)
    assert recorder.calls["predictor"].kwargs == {"method": "otsu", "otsu": "tiled", "band": None}
    assert recorder.calls["evaluate"].kwargs["labels"] == "s1otsu"
    _ok(["train", "baseline", "--kind", "supervised", "--config", "ombria"])
    assert recorder.calls["train"].args[0].kind == "supervised"
    assert recorder.calls["train"].args[0].config_path.name == "ombria_baseline_supervised.yaml"
    for args, flag in [
        (["fetch", "--out", "c", "--orbit-pass", "sideways"], "--orbit-pass"),
        (["predict", "--checkpoint", "c", "--out", "o", "--runtime", "tensorrt"], "--runtime"),
        (["predict", "--out", "o", "--method", "otsu"], "--method"),
        (["predict", "--checkpoint", "c", "--out", "o", "--reference-kind", "depth"], "--reference-kind"),
        (["evaluate", "--dataset", "nope"], "--dataset"),
        (["evaluate", "--dataset", "ombria", "--method", "unet"], "--method"),
        (["evaluate", "--dataset", "ombria", "--otsu", "local"], "--otsu"),
        (["data", "download", "--dataset", "sen1floods11", "--out", "d", "--part", "most"], "--part"),
        (["data", "stats", "--dataset", "x", "--root", "r", "--out", "o"], "--dataset"),
        (["train", "baseline", "--kind", "semi", "--config", "ombria"], "--kind"),
    ]:
        result = runner.invoke(app, args)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and len(errors) == 1 and f"Invalid value for '{flag}'" in errors[0], result.output
        assert "Traceback" not in result.output


def test_cli_choices_match_the_library():
    from gee_flood.data.download import DOWNLOADABLE, SEN1FLOODS11_PARTS
    from gee_flood.data.factory import known_datasets
    from gee_flood.data.sen1floods11 import LABEL_SOURCES
    from gee_flood.evaluation.evaluate import METHODS, OTSU_METHODS
    from gee_flood.inference.runner import RUNTIMES
    from gee_flood.service_requests import CloudMaskName, EndpointName, OrbitPassName, RuntimeName

    assert {m.value for m in cli.OrbitPass} == set(typing.get_args(OrbitPassName))
    assert {m.value for m in cli.CloudMask} == set(typing.get_args(CloudMaskName))
    assert {m.value for m in cli.Endpoint} == set(typing.get_args(EndpointName))
    assert {m.value for m in cli.Dataset} == set(known_datasets())
    assert {m.value for m in cli.DownloadDataset} == set(DOWNLOADABLE)
    assert {m.value for m in cli.DownloadPart} == set(SEN1FLOODS11_PARTS)
    assert {m.value for m in cli.Method} == set(METHODS)
    assert {m.value for m in cli.OtsuVariant} == set(OTSU_METHODS)
    assert {m.value for m in cli.Runtime} == set(RUNTIMES) == set(typing.get_args(RuntimeName))
    assert set(LABEL_SOURCES) <= {m.value for m in cli.Labels}


# --- requests: the CLI builds one frozen request and hands it over unchanged ----------------------------------

#: Options that set no request field of their own name: the command turns them into one (progress, retry).
_CLI_ONLY = {"quiet", "fast_retries"}


def _command_options(name: str) -> dict[str, Any]:
    import typer.main

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params if param.name not in ("help",)}


@pytest.mark.parametrize(
    ("command", "request_types", "library_only"),
    [
        ("fetch", ("FetchRequest",), {"max_candidates", "min_coverage", "byte_limit", "retry", "progress"}),
        ("predict", ("PredictRequest", "PredictOptions"), {"options", "window", "progress"}),
    ],
)
def test_every_option_sets_one_request_field_documented_once(command, request_types, library_only):
    import dataclasses

    from gee_flood import service_requests

    options = _command_options(command)
    fields = {}
    for type_name in request_types:
        request_type = getattr(service_requests, type_name)
        fields.update({item.name: item for item in dataclasses.fields(request_type)})
    assert set(options) - _CLI_ONLY == set(fields) - library_only - _CLI_ONLY
    for name, option in options.items():
        if name in _CLI_ONLY:
            continue
        field = fields[name]
        assert option.help == field.metadata["doc"], name  # the help is the field's documentation
        if field.default is dataclasses.MISSING:  # a required field is a required option
            assert option.required, name
            continue
        default = field.default.value if hasattr(field.default, "value") else field.default
        option_default = option.default.value if hasattr(option.default, "value") else option.default
        assert option_default == default, name
    for type_name in request_types:
        request_type = getattr(service_requests, type_name)
        assert request_type.__dataclass_params__.frozen and "Attributes:" in request_type.__doc__


def test_fetch_and_predict_hand_over_one_frozen_request(recorder):
    import dataclasses

    from gee_flood.service_requests import FetchRequest, PredictOptions, PredictRequest

    _ok(["fetch", "--out", "c", "--chips", "chips.geojson", "--max-days", "3", "--block-size", "512", "--scale",
         "20", "--orbit-pass", "descending", "--fast-retries", "-q"])  # fmt: skip
    request = recorder.calls["fetch"].args[0]
    assert isinstance(request, FetchRequest) and recorder.calls["fetch"].kwargs == {}
    assert (request.chips, request.max_days, request.block_px, request.scale) == (Path("chips.geojson"), 3, 512, 20)
    assert request.orbit_pass == "DESCENDING" and request.progress is False and request.retry.initial_delay_s < 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.max_days = 4
    _ok(["predict", "--checkpoint", "s.ckpt", "--aoi", "a.geojson", "--date", "2019-03-01", "--out", "o.tif",
         "--scale", "20", "--tile", "256", "--workers", "3"])  # fmt: skip
    request = recorder.calls["predict"].args[0]
    assert isinstance(request, PredictRequest) and recorder.calls["predict"].kwargs == {}
    assert request == PredictRequest(
        checkpoint=Path("s.ckpt"),
        out=Path("o.tif"),
        aoi=Path("a.geojson"),
        date="2019-03-01",
        scale_m=20.0,
        options=PredictOptions(tile=256, workers=3),
    )


def test_train_config_by_name_or_path_and_list_configs(recorder, tmp_path):
    from gee_flood.training.config import list_packaged_configs

    result = _ok(["train", "--list-configs"])
    assert result.output.split() == list_packaged_configs() and "ombria_teacher" in result.output
    _ok(["train", "teacher", "--config", "ombria"])
    assert recorder.calls["train"].args[0].role == "teacher"
    assert recorder.calls["train"].args[0].config_path.name == "ombria_teacher.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text("role: student\n")
    _ok(["train", "student", "--teacher", "t.ckpt", "--config", str(own)])
    request = recorder.calls["train"].args[0]
    assert request.config_path == own and request.teachers == (Path("t.ckpt"),)
    result = runner.invoke(app, ["train", "teacher", "--config", "nowhere"])
    assert result.exit_code == 2 and result.output.startswith("error: nowhere: no such config")
    bare = runner.invoke(app, ["train"])  # no arguments: the group's help, as before
    assert "--list-configs" in bare.output and "teacher" in bare.output


def test_readme_commands_use_the_new_spellings():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text().replace("\\\n", " ")
    commands = re.findall(r"gee-flood [^`\n]*", readme)  # examples, in code blocks and inline, continuations joined
    assert len(commands) > 20
    for command in commands:
        for old in ("--output-dir", "--dest ", "--html ", "--no-progress", "download sen1floods11", "--json "):
            assert old not in command, command

"""Two-process DDP on CPU: ``gee-flood train teacher --devices 2 --accelerator cpu`` (gloo) on a tiny fake OMBRIA.

Lightning's DDP launcher re-runs the command line for rank 1, so the run goes through the real CLI in a subprocess.
Only rank 0 writes: one run directory with exactly the files a single-process run writes, and a checkpoint that the
normal loader reads like a single-process one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import gee_flood
from gee_flood.data import open_dataset
from gee_flood.models import CheckpointPredictor, load_model
from gee_flood.training.config import parse_set_options, resolve_config
from gee_flood.training.request import TrainRequest
from gee_flood.training.run import train_from_request
from tests.fixtures.datasets import write_ombria_fixture as fake_ombria
from tests.fixtures.training import TINY_OMBRIA

#: What a run directory holds (the ombria teacher config keeps last.ckpt).
RUN_FILES = {
    "config.yaml",
    "metrics.csv",
    "curve.png",
    "model.ckpt",
    "summary.json",
    "checkpoints/best.ckpt",
    "checkpoints/last.ckpt",
}


def _sets(data: Path) -> list[str]:
    values = {**TINY_OMBRIA, "data.root": data, "data.labelled_fraction": 1.0, "optim.max_steps": 3}
    return [f"{key}={value}" for key, value in values.items()]


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def _keys(value: object, prefix: str = "") -> set[str]:
    """Every key path of a nested card dump (``training.extra.kind``...)."""
    if not isinstance(value, dict):
        return set()
    return {f"{prefix}{key}" for key in value} | {
        path for key, inner in value.items() for path in _keys(inner, f"{prefix}{key}.")
    }


def test_two_cpu_processes_write_one_run_that_loads_like_a_single_process_run(tmp_path):
    data = fake_ombria(tmp_path / "ombria", train=6, test=1)
    sets = _sets(data)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    source_root = str(Path(gee_flood.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "gee_flood.cli", "train", "teacher", "--config", "ombria", "--seed", "1"]
    command += ["--out", str(tmp_path / "ddp"), "--devices", "2", "--accelerator", "cpu", "--quiet"]
    command += [option for value in sets for option in ("--set", value)]
    finished = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert finished.stdout.count("run directory:") == 1, finished.stdout  # rank 0 reports, once

    run_dir = tmp_path / "ddp" / "teacher-seed1"
    assert _files(tmp_path / "ddp") == {f"teacher-seed1/{name}" for name in RUN_FILES}  # no partial or per-rank files
    assert _files(workdir) == set()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["processes"], summary["strategy"], summary["backend"]) == (2, "DDPStrategy", "gloo")
    assert summary["steps"] == 3

    overrides = {**parse_set_options(sets), "trainer.seed": 1, "trainer.output_dir": str(tmp_path / "single")}
    request = TrainRequest(role="teacher", config_path=resolve_config("ombria", role="teacher"), overrides=overrides)
    single = train_from_request(request)
    assert single.summary["processes"] == 1
    assert _files(single.run_dir) == RUN_FILES

    for name in ("model.ckpt", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert torch.serialization.get_unsafe_globals_in_checkpoint(run_dir / name) == []
    ddp_model, single_model = load_model(run_dir / "model.ckpt"), load_model(single.checkpoint)
    assert _keys(ddp_model.card.model_dump()) == _keys(single_model.card.model_dump())
    assert ddp_model.card.modality_names == single_model.card.modality_names
    assert ddp_model.card.training.steps == 3 and ddp_model.card.training.labelled_chips == 4
    ddp_weights, single_weights = ddp_model.model.state_dict(), single_model.model.state_dict()
    assert {k: v.shape for k, v in ddp_weights.items()} == {k: v.shape for k, v in single_weights.items()}
    assert not all(torch.equal(ddp_weights[k], single_weights[k]) for k in ddp_weights)  # it trained on 2 x data

    chip = open_dataset("ombria", data, "test")[0]
    for checkpoint in (run_dir / "model.ckpt", run_dir / "checkpoints" / "last.ckpt"):
        mask = CheckpointPredictor(checkpoint).predict(chip)
        assert mask.shape == chip.shape and set(mask.ravel().tolist()) <= {0, 1}

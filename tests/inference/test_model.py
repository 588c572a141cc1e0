"""gee_flood.open_model: loaded once, the card on show, picklable as its path."""

from __future__ import annotations

import pickle

import pytest

import gee_flood
from gee_flood.errors import InputError


def test_repr_shows_the_card(student_ckpt):
    model = gee_flood.open_model(student_ckpt)
    text = repr(model)
    for expected in ("role: student", "Unet / resnet18", "s1: VV, VH (dB)", "threshold: 0.5", "10 m"):
        assert expected in text
    assert "<table>" in model._repr_html_() and "VV, VH (dB)" in model._repr_html_()
    assert model.sar_only and model.threshold == 0.5


def test_runner_is_built_once_and_the_model_pickles_as_its_path(student_ckpt):
    model = gee_flood.open_model(student_ckpt)
    assert model.runner(device="cpu") is model.runner(device="cpu")
    copy = pickle.loads(pickle.dumps(model))
    assert copy.checkpoint == model.checkpoint and copy.card == model.card
    assert copy.runner(device="cpu").card == model.card
    # Unpickled copies (a Dask task each) share the process's runner: the checkpoint is loaded once per process.
    another = pickle.loads(pickle.dumps(model))
    assert another.runner(device="cpu") is copy.runner(device="cpu")


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        gee_flood.open_model(tmp_path / "nope.ckpt")


def test_a_second_device_does_not_move_the_first_runners_network(student_ckpt):
    model = gee_flood.open_model(student_ckpt)
    on_cpu = model.runner(device="cpu", runtime="torch")
    # "meta" stands in for a second device (CUDA) on any machine: building its runner must leave the CPU one alone.
    on_meta = model.runner(device="meta", runtime="torch")
    assert next(on_meta.model.parameters()).device.type == "meta"
    assert next(on_cpu.model.parameters()).device.type == "cpu"

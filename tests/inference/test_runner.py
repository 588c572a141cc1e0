"""The tile runner's runtimes: ONNX Runtime (the CPU default) and torch give the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.errors import InputError
from gee_flood.inference import TileRunner
from gee_flood.inference.runner import resolve_runtime
from gee_flood.models import ArchitectureSpec, LoadedModel, build_model

from .conftest import synthetic_s1, tiny_card, write_s1

#: The default student's encoder family (depthwise convolutions, squeeze-excitation, hard-swish), kept small.
MOBILENET = ArchitectureSpec(
    name="Unet", encoder_name="tu-mobilenetv3_small_050", encoder_depth=5, decoder_channels=[32, 16, 8, 8, 8]
)


def mobilenet_student(seed: int = 0) -> LoadedModel:
    card = tiny_card().model_copy(update={"architecture": MOBILENET})
    torch.manual_seed(seed)
    model = build_model(card).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so folding them into the convolutions matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return LoadedModel(model=model, card=card)


def test_onnxruntime_and_torch_agree_for_any_batch_and_tile_size():
    loaded = mobilenet_student()
    onnx = TileRunner(loaded, device="cpu", batch_size=2, runtime="onnxruntime")
    plain = TileRunner(mobilenet_student(), device="cpu", batch_size=3, runtime="torch")
    assert (onnx.runtime, plain.runtime) == ("onnxruntime", "torch")
    rng = np.random.default_rng(0)
    for count, size in [(3, 96), (1, 160)]:  # neither the export's example size (64) nor its batch (1)
        tiles = rng.normal(size=(count, 2, size, size)).astype(np.float32)
        a, b = onnx.probabilities(tiles), plain.probabilities(tiles)
        assert a.shape == b.shape == (count, size, size)
        assert np.abs(a - b).max() < 1e-4
        assert a.std() > 1e-3  # a network that answers, not a constant


def test_runtime_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_runtime("auto", cpu) == "onnxruntime"
    assert resolve_runtime(None, cpu) == "onnxruntime"
    assert resolve_runtime("auto", cuda) == "torch"
    assert resolve_runtime("torch", cpu) == "torch"
    with pytest.raises(InputError, match="runs on the CPU"):
        resolve_runtime("onnxruntime", cuda)
    with pytest.raises(InputError, match="expected one of auto, torch, onnxruntime"):
        resolve_runtime("openvino", cpu)


def test_predict_maps_are_the_same_with_either_runtime(tmp_path, student_ckpt):
    scene = write_s1(tmp_path / "s1.tif", synthetic_s1(300, 340))
    bands = {}
    for runtime in ("onnxruntime", "torch"):
        out = tmp_path / f"{runtime}.tif"
        result = CliRunner().invoke(
            app,
            ["predict", "--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(out),
             "--tile", "128", "--overlap", "32", "--runtime", runtime, "--quiet"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"cpu ({runtime})" in result.output
        with rasterio.open(out) as src:
            bands[runtime] = src.read().astype(int)
    probability = np.abs(bands["onnxruntime"][0] - bands["torch"][0])
    assert probability.max() <= 1  # percent, rounded: at most one step apart
    assert (bands["onnxruntime"][1] != bands["torch"][1]).mean() < 1e-3

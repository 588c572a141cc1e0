"""Run a SAR-only checkpoint on batches of tiles (normalisation from its card; ONNX Runtime on CPU, torch on CUDA).

On a CPU the network is exported to ONNX in memory once per process and run by ONNX Runtime, which fuses batch norm
into the convolutions and runs the depthwise convolutions of the default student faster than torch eager
(``python -m benchmarks.speed`` measures both; docs/benchmarks.md#speed). On CUDA, or with ``runtime="torch"``, the
torch module runs under ``torch.inference_mode`` in channels-last memory format.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gee_flood.data.chip import ModalitySpec
from gee_flood.errors import InputError, InputNotFoundError
from gee_flood.models import LoadedModel, ModelCard, Preprocessing, load_model


def check_sar_only(card: ModelCard, checkpoint: str | os.PathLike[str], available: Mapping[str, ModalitySpec]) -> None:
    """Refuse, in one line, a checkpoint that needs anything but the Sentinel-1 bands the scene provides.

    Raises:
        InputError: If the checkpoint needs optical input (a teacher) or another SAR product.
    """
    if not card.sar_only:
        needs = "; ".join(f"{m.name} ({', '.join(m.bands)}, {m.units})" for m in card.inputs)
        raise InputError(
            f"{checkpoint}: a {card.role} checkpoint that needs optical input [{needs}]; predict maps floods from "
            "Sentinel-1 alone and needs a SAR-only student (or baseline) checkpoint"
        )
    card.check_inputs(available, where=f"{checkpoint} on this scene")


def resolve_device(device: str | None) -> torch.device:
    """``"cuda"`` when present unless ``device`` says otherwise."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InputError(f"--device {device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    return resolved


#: torch.onnx.export keeps global state: one export at a time per process (Dask threads share the process).
_EXPORT_LOCK = threading.Lock()
#: One runner per checkpoint per process, built once even when several Dask threads ask at the same time.
_RUNNER_LOCK = threading.Lock()
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnxruntime")


def check_runtime(runtime: str | None) -> str:
    """Return ``runtime`` (``None`` = ``"auto"``) if it names a runtime; raise a one-line error otherwise."""
    runtime = runtime or "auto"
    if runtime not in RUNTIMES:
        raise InputError(f"--runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    return runtime


def resolve_runtime(runtime: str | None, device: torch.device) -> Literal["torch", "onnxruntime"]:
    """The runtime to use: ``auto`` is ONNX Runtime on a CPU (when installed), torch on CUDA.

    Raises:
        InputError: An unknown runtime, or ONNX Runtime asked for on CUDA or when it is not installed.
    """
    runtime = check_runtime(runtime)
    installed = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    if runtime == "auto":
        return "onnxruntime" if device.type == "cpu" and installed else "torch"
    if runtime == "onnxruntime":
        if device.type != "cpu":
            raise InputError(f"--runtime onnxruntime runs on the CPU, not {device}; use --runtime torch on CUDA")
        if not installed:
            raise InputError("--runtime onnxruntime: the onnxruntime and onnx packages are not installed")
    return runtime  # type: ignore[return-value]


class OnnxTileModel:
    """A network exported to ONNX (in memory, batch and tile size dynamic) and run by ONNX Runtime on the CPU.

    Args:
        model: The torch network (eval mode, on the CPU), ``(N, C, H, W)`` in, ``(N, 1, H, W)`` logits out.
        in_channels: Its input channels.
        threads: ONNX Runtime intra-op threads (default: torch's thread count).
    """

    def __init__(self, model: torch.nn.Module, in_channels: int, *, threads: int | None = None) -> None:
        import onnxruntime

        buffer = io.BytesIO()
        example = torch.zeros(1, in_channels, 64, 64)
        axes = {0: "batch", 2: "height", 3: "width"}
        with _EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about shape checks that hold for any 32-multiple
            torch.onnx.export(
                model, (example,), buffer,  # type: ignore[arg-type]  # torch accepts a file object; stubs say path
                input_names=["inputs"], output_names=["logits"],
                dynamic_axes={"inputs": axes, "logits": axes}, opset_version=17, dynamo=False,
            )  # fmt: skip
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The CPU memory arena stays on: without it the default student takes 1.76x as long per tile (94 vs 53 ms
        # for batches of 8 tiles of 512 px, 2 threads: benchmarks/onnx_options.py), though it keeps each session's
        # peak activations for good, once per model of an ensemble (docs/benchmarks.md, "Several models").
        # No memory pattern: with it ONNX Runtime keeps one planned block per input shape for every intermediate
        # tensor, about 200 MB more resident at 4 x 512 px tiles for no measurable speed (docs/benchmarks.md).
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``(N, 1, H, W)`` float32 for a ``(N, C, H, W)`` float32 batch."""
        return self.session.run(None, {"inputs": np.ascontiguousarray(batch, dtype=np.float32)})[0]


class TileRunner:
    """Turns raw VV, VH dB tiles into water probabilities with one checkpoint.

    Args:
        loaded: The network and its card.
        device: Where to run (``None``: CUDA when present).
        batch_size: Tiles per forward pass.
        runtime: ``auto`` (ONNX Runtime on a CPU, torch on CUDA), ``torch`` or ``onnxruntime``.

    Raises:
        InputError: A bad batch size or runtime, or a card that standardises each chip by its own statistics (a
            scene is read in row strips, so no strip is the chip the network was trained to see).
    """

    def __init__(
        self, loaded: LoadedModel, *, device: str | None = None, batch_size: int = 8, runtime: str | None = "auto"
    ) -> None:
        if batch_size < 1:
            raise InputError(f"--batch-size {batch_size}: expected at least 1")
        self.card = loaded.card
        if self.card.per_chip_standardized:
            raise InputError(
                f"the checkpoint standardises {', '.join(self.card.per_chip_standardized)} over each chip; a scene "
                "is predicted in strips, not chips: evaluate it on chips instead"
            )
        self.preprocessing = Preprocessing.from_card(self.card)
        self.device = resolve_device(device)
        self.runtime = resolve_runtime(runtime, self.device)
        self.model = loaded.model.to(self.device).eval()
        self._onnx: OnnxTileModel | None = None
        if self.runtime == "onnxruntime":
            self._onnx = OnnxTileModel(self.model, self.card.in_channels)
        else:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size = batch_size
        self.modality = self.card.inputs[0].name

    def normalize(self, s1_db: np.ndarray) -> np.ndarray:
        """Return the network input of a ``(2, rows, cols)`` dB array (the card's preprocessing; NaN becomes 0)."""
        return self.preprocessing.arrays_inputs({self.modality: s1_db})

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        """Return ``(N, T, T)`` float32 water probabilities for ``(N, 2, T, T)`` *normalised* tiles."""
        out = np.empty((tiles.shape[0], tiles.shape[2], tiles.shape[3]), np.float32)
        with torch.inference_mode():
            for start in range(0, tiles.shape[0], self.batch_size):
                batch = tiles[start : start + self.batch_size]
                if self._onnx is not None:
                    logits = torch.from_numpy(self._onnx(batch))
                else:
                    inputs = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
                    logits = self.model(inputs.contiguous(memory_format=torch.channels_last))
                out[start : start + batch.shape[0]] = torch.sigmoid(logits[:, 0].float()).cpu().numpy()
        return out


class EnsembleRunner:
    """Several checkpoints run as one tile runner: the likelihood of an ensemble is the mean of their probabilities.

    Each member normalises the scene by its own card; :meth:`normalize` stacks their inputs along the channel axis,
    :meth:`probabilities` splits a batch back per member and averages the probabilities. The streaming tiler then
    reads the scene once and blends the mean, which equals the mean of each member's blended map (blending is a
    weighted mean, linear in the probabilities).

    Args:
        runners: The members' runners (two or more).
    """

    def __init__(self, runners: Sequence[TileRunner]) -> None:
        self.runners = list(runners)
        self.batch_size = min(runner.batch_size for runner in self.runners)
        self.device = self.runners[0].device
        self.runtime = self.runners[0].runtime
        self._splits = np.cumsum([runner.card.in_channels for runner in self.runners])[:-1]

    def normalize(self, s1_db: np.ndarray) -> np.ndarray:
        """Each member's network input of a ``(2, rows, cols)`` dB array, stacked: ``(channels, rows, cols)``."""
        return np.concatenate([runner.normalize(s1_db) for runner in self.runners], axis=0)

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        """``(N, T, T)`` float32 mean water probability of the members for ``(N, C, T, T)`` stacked inputs."""
        from gee_flood.product.layers import mean_probability

        parts = np.split(tiles, self._splits, axis=1)
        members = [runner.probabilities(part) for runner, part in zip(self.runners, parts, strict=True)]
        return mean_probability(members).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _cached_runner(checkpoint: str, mtime_ns: int, device: str | None, batch_size: int, runtime: str) -> TileRunner:
    return TileRunner(load_model(checkpoint), device=device, batch_size=batch_size, runtime=runtime)


def runner_for(
    checkpoint: str | os.PathLike[str], *, device: str | None, batch_size: int, runtime: str | None = "auto"
) -> TileRunner:
    """A :class:`TileRunner` for ``checkpoint``, loaded once per process (Dask workers reuse it across tasks)."""
    path = Path(checkpoint).resolve()
    if not path.is_file():
        raise InputNotFoundError(f"{checkpoint}: checkpoint file not found")
    with _RUNNER_LOCK:
        return _cached_runner(str(path), path.stat().st_mtime_ns, device, batch_size, runtime or "auto")

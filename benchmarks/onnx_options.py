"""ONNX Runtime session options of ``gee-flood predict`` on a CPU: time per tile against the options' defaults.

    OMP_NUM_THREADS=2 python -m benchmarks.onnx_options --threads 2 --repeats 4

The default student (random weights: speed, not accuracy) is exported to ONNX once, as predict does, and run by
three sessions on the same batch of 8 tiles of 512 px, interleaved so that a busy machine slows each alike:
ONNX Runtime's defaults (the named baseline), predict's options (memory pattern off), and predict's options with
the CPU memory arena off too. Printed: the median milliseconds per tile of each and its ratio to the baseline.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from typing import Annotated

import numpy as np
import typer

#: (label, CPU memory arena, memory pattern), the baseline first.
SESSIONS: list[tuple[str, bool, bool]] = [
    ("ONNX Runtime defaults (baseline)", True, True),
    ("predict: memory pattern off", True, False),
    ("memory pattern and CPU arena off", False, False),
]


def main(
    threads: Annotated[int, typer.Option(help="ONNX Runtime intra-op threads.")] = 2,
    repeats: Annotated[int, typer.Option(help="Timed batches per session.")] = 4,
    batch: Annotated[int, typer.Option(help="Tiles per batch.")] = 8,
) -> None:
    """Time the default student's ONNX sessions, one line per option set, with its ratio to the defaults."""
    import onnxruntime
    import torch

    from benchmarks.speed import build_network

    torch.set_num_threads(threads)
    network, _ = build_network("student")
    network.eval()
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings, as in gee_flood.inference.runner
        torch.onnx.export(network, (torch.zeros(1, 2, 64, 64),), buffer, input_names=["inputs"],
                          output_names=["logits"], dynamic_axes={"inputs": axes, "logits": axes}, opset_version=17,
                          dynamo=False)  # fmt: skip

    def session(arena: bool, pattern: bool) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena, options.enable_mem_pattern = arena, pattern
        return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    sessions = {label: session(arena, pattern) for label, arena, pattern in SESSIONS}
    tiles = np.random.default_rng(0).normal(-15.0, 4.0, (batch, 2, 512, 512)).astype(np.float32)
    for run in sessions.values():  # warm-up
        run.run(None, {"inputs": tiles})
    times: dict[str, list[float]] = {label: [] for label in sessions}
    for _ in range(repeats):
        for label, run in sessions.items():
            start = time.perf_counter()
            run.run(None, {"inputs": tiles})
            times[label].append((time.perf_counter() - start) / batch * 1000.0)
    baseline = statistics.median(times[SESSIONS[0][0]])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:36s} {median:6.0f} ms per tile  {median / baseline:4.2f}x the baseline")


if __name__ == "__main__":
    typer.run(main)

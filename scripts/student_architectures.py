"""Student architecture choice: FLOPs and CPU inference throughput (km²/s) of candidate networks, against
torchvision FCN-ResNet50 and smp Unet-ResNet34 (accuracy as students is measured with `gee-flood train student
--set model.architecture=...`, see docs/benchmarks.md, section Speed; this script writes
docs/results/student_architectures.json).

    OMP_NUM_THREADS=2 python scripts/student_architectures.py --threads 2

Throughput: eval mode, fp32, 256 x 256 px tiles of 10 m pixels (6.5536 km² each), batch 4, one SAR channel
(student input; FCN-ResNet50 gets its 3 native channels), median of timed repeats after one warm-up batch.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from torch.utils.flop_counter import FlopCounterMode

from gee_flood.models.card import ArchitectureSpec

#: The repository root (this file is ``scripts/student_architectures.py``): the default JSON goes to its docs/results.
ROOT = Path(__file__).resolve().parents[1]

TILE_KM2 = 256 * 256 * 100 / 1e6

#: name -> smp architecture (student candidates and the heavier references).
CANDIDATES: dict[str, ArchitectureSpec] = {
    "unet-mobilenetv3l-narrow (default student)": ArchitectureSpec(
        name="Unet", encoder_name="tu-mobilenetv3_large_100", encoder_depth=5, decoder_channels=[64, 32, 16, 16, 8]
    ),
    "unet-mobilenetv2-narrow": ArchitectureSpec(
        name="Unet", encoder_name="mobilenet_v2", encoder_depth=5, decoder_channels=[64, 32, 16, 16, 8]
    ),
    "unet-efficientnet-lite0-narrow": ArchitectureSpec(
        name="Unet", encoder_name="timm-tf_efficientnet_lite0", encoder_depth=5, decoder_channels=[64, 32, 16, 16, 8]
    ),
    "unet-resnet18-narrow": ArchitectureSpec(
        name="Unet", encoder_name="resnet18", encoder_depth=5, decoder_channels=[128, 64, 32, 16, 8]
    ),
    "unet-resnet18": ArchitectureSpec(name="Unet", encoder_name="resnet18", encoder_depth=5),
    "unet-resnet34 (reference)": ArchitectureSpec(name="Unet", encoder_name="resnet34", encoder_depth=5),
}


def build(spec: ArchitectureSpec, in_channels: int) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    kwargs = {"decoder_channels": tuple(spec.decoder_channels)} if spec.decoder_channels else {}
    return getattr(smp, spec.name)(
        encoder_name=spec.encoder_name,
        encoder_depth=spec.encoder_depth,
        encoder_weights=None,
        in_channels=in_channels,
        classes=1,
        **kwargs,
    )


def measure(model: torch.nn.Module, in_channels: int, *, batch: int, repeats: int) -> dict[str, float]:
    model.eval()
    tiles = torch.randn(batch, in_channels, 256, 256)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(tiles[:1])
    times = []
    with torch.inference_mode():
        model(tiles)
        for _ in range(repeats):
            started = time.perf_counter()
            model(tiles)
            times.append(time.perf_counter() - started)
    seconds_per_tile = statistics.median(times) / batch
    return {
        "gflop_per_tile": counter.get_total_flops() / 1e9,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "seconds_per_tile": seconds_per_tile,
        "km2_per_second": TILE_KM2 / seconds_per_tile,
    }


def main(
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    batch: Annotated[int, typer.Option(help="Tiles per batch.")] = 4,
    repeats: Annotated[int, typer.Option(help="Timed batches per network.")] = 7,
    out: Annotated[Path, typer.Option(help="JSON output.")] = ROOT / "docs" / "results" / "student_architectures.json",
) -> None:
    """Measure every candidate and the references; write JSON and print a table."""
    import os

    import torchvision

    torch.set_num_threads(threads)
    results = {}
    fcn = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=1)
    results["fcn-resnet50 (torchvision, reference)"] = measure(fcn, 3, batch=batch, repeats=repeats)
    for name, spec in CANDIDATES.items():
        results[name] = {**measure(build(spec, 1), 1, batch=batch, repeats=repeats), "architecture": spec.model_dump()}
    fcn_speed = results["fcn-resnet50 (torchvision, reference)"]["km2_per_second"]
    unet34_speed = results["unet-resnet34 (reference)"]["km2_per_second"]
    for row in results.values():
        row["x_fcn_resnet50"] = row["km2_per_second"] / fcn_speed
        row["x_unet_resnet34"] = row["km2_per_second"] / unet34_speed
    payload = {
        "threads": threads,
        "batch": batch,
        "load_average_at_start": os.getloadavg()[0],
        "torch": torch.__version__,
        "networks": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'network':45s} {'GFLOP/tile':>10s} {'params M':>9s} {'km²/s':>8s} {'x FCN50':>8s} {'x Unet34':>9s}")
    for name, row in results.items():
        print(
            f"{name:45s} {row['gflop_per_tile']:10.2f} {row['params_m']:9.2f} {row['km2_per_second']:8.1f} "
            f"{row['x_fcn_resnet50']:8.1f} {row['x_unet_resnet34']:9.2f}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)

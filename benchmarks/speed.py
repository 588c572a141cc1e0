"""Speed: inference throughput, memory and FLOPs of the default SAR student against two baselines; training speed.

Inference throughput (km² per second at 10 m) and peak memory of the default SAR student against the Sen1Floods11
authors' FCN-ResNet50 and an smp U-Net-ResNet34, through the tiling of ``gee-flood predict``; the machine's dense
matmul peak, each network's FLOPs per km² and the share of that peak it reaches; training speed.

    OMP_NUM_THREADS=2 python -m benchmarks.speed --threads 2 --json out/speed.json

Every network sees the same synthetic S1 scene (VV, VH in dB, 2048 x 2048 px = 419 km² at 10 m) through
``gee_flood.inference.iter_probability_rows`` with predict's defaults (512 px tiles, 128 px overlap, Hann blending,
batches of 8): throughput is what predict gets between reading the scene and encoding the map (file I/O excluded).
Weights are random (speed, not accuracy); every measurement runs in a fresh process, so its peak RSS is its own.

Runtimes: ``torch-eager`` is plain PyTorch (fp32, contiguous NCHW, ``inference_mode``), how the baselines are
published; ``torch-channels-last`` is the torch path of ``gee-flood predict`` (``--runtime torch``, used on CUDA);
``onnxruntime`` is the CPU default of ``gee-flood predict`` (the network exported to ONNX, run by ONNX Runtime).
The last lines give the default student's throughput (onnxruntime) as a ratio to each baseline (torch-eager), then
against the U-Net-ResNet34 on the same runtime.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any

import typer

PIXEL_KM2 = 10 * 10 / 1e6  # one 10 m pixel
#: (network, runtime) pairs measured, in print order. The first two are the named baselines.
PLAN: list[tuple[str, str]] = [
    ("fcn-resnet50", "torch-eager"),
    ("unet-resnet34", "torch-eager"),
    ("unet-resnet34", "onnxruntime"),
    ("student", "torch-eager"),
    ("student", "torch-channels-last"),
    ("student", "onnxruntime"),
]
DEFAULT = ("student", "onnxruntime")  # what `gee-flood predict` runs on a CPU


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _card(architecture: Any) -> Any:
    from gee_flood.data.chip import S1
    from gee_flood.data.normalization import BandStats, NormalizationStats
    from gee_flood.models import InputModality, ModelCard

    stats = BandStats(bands=["VV", "VH"], mean=[-15.06, -23.30], std=[4.18, 5.62])  # configs/datasets/sen1floods11
    return ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(modalities={"s1": stats}),
        architecture=architecture,
    )


def build_network(name: str) -> tuple[Any, Any]:
    """Return (torch module in eval mode, model card) of a network with 2 input channels (VV, VH)."""
    import torch

    from gee_flood.models import ArchitectureSpec, build_model
    from gee_flood.training.config import ModelConfig

    if name == "student":
        card = _card(ModelConfig().architecture)  # the default student architecture of every config
        return build_model(card).eval(), card
    if name == "unet-resnet34":
        card = _card(ArchitectureSpec(name="Unet", encoder_name="resnet34", encoder_depth=5))
        return build_model(card).eval(), card
    if name == "fcn-resnet50":
        import torchvision

        # Sen1Floods11's baseline: torchvision FCN-ResNet50 with a 2-channel (VV, VH) first layer
        fcn = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=1)
        fcn.backbone.conv1 = torch.nn.Conv2d(2, 64, kernel_size=7, stride=2, padding=3, bias=False)

        class OutOnly(torch.nn.Module):
            def __init__(self, model: torch.nn.Module) -> None:
                super().__init__()
                self.model = model

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.model(x)["out"]

        # the card only carries inputs and normalisation here (TileRunner reads nothing else)
        return OutOnly(fcn).eval(), _card(ArchitectureSpec(name="FCN", encoder_name="resnet50", encoder_depth=3))
    raise typer.BadParameter(f"unknown network {name!r}")


def measure_inference(
    network: str, runtime: str, *, scene_px: int, tile: int, overlap: int, batch: int, threads: int,
    repeats: int, budget_s: float,
) -> dict[str, Any]:  # fmt: skip
    """One (network, runtime) in this (fresh) process: seconds per scene, FLOPs, peak RSS."""
    import numpy as np
    import torch
    from affine import Affine
    from torch.utils.flop_counter import FlopCounterMode

    from gee_flood.inference import ArraySceneSource, TilePlan, TileRunner, iter_probability_rows
    from gee_flood.models import LoadedModel

    torch.set_num_threads(threads)
    rss_imports = _rss_mib()
    model, card = build_network(network)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 2, tile, tile))
    flops_per_tile = counter.get_total_flops()

    class EagerRunner(TileRunner):
        """Plain PyTorch: fp32, contiguous NCHW (the baselines as published)."""

        def probabilities(self, tiles: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                logits = torch.cat(
                    [self.model(torch.from_numpy(np.ascontiguousarray(tiles[i : i + self.batch_size])))
                     for i in range(0, len(tiles), self.batch_size)]
                )  # fmt: skip
            return torch.sigmoid(logits[:, 0]).numpy()

    loaded = LoadedModel(model=model, card=card)
    if runtime == "torch-eager":
        runner: TileRunner = EagerRunner(loaded, device="cpu", batch_size=batch, runtime="torch")
        runner.model = runner.model.to(memory_format=torch.contiguous_format)
    elif runtime == "torch-channels-last":
        runner = TileRunner(loaded, device="cpu", batch_size=batch, runtime="torch")
    else:
        runner = TileRunner(loaded, device="cpu", batch_size=batch, runtime="onnxruntime")
    rng = np.random.default_rng(0)
    s1_db = np.stack([rng.normal(-12, 4, (scene_px, scene_px)), rng.normal(-19, 4, (scene_px, scene_px))])
    source = ArraySceneSource(s1_db.astype(np.float32), "EPSG:32633", Affine(10, 0, 500_000, 0, -10, 5_000_000))
    plan = TilePlan(scene_px, scene_px, tile, overlap)
    runner.probabilities(np.zeros((batch, 2, tile, tile), np.float32))  # warm-up (allocator, ORT arena)
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget_s):
        started = time.perf_counter()
        for _ in iter_probability_rows(source, runner, plan):
            pass
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    scene_km2 = scene_px * scene_px * PIXEL_KM2
    return {
        "network": network,
        "runtime": runtime,
        "scene_px": scene_px,
        "tiles": plan.tile_count,
        "seconds": seconds,
        "runs": len(times),
        "km2_per_second": scene_km2 / seconds,
        "gflop_per_tile": flops_per_tile / 1e9,
        "gflop_per_km2": flops_per_tile * plan.tile_count / scene_km2 / 1e9,
        "achieved_gflops": flops_per_tile * plan.tile_count / seconds / 1e9,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "peak_rss_mib": _rss_mib(),
        "rss_after_imports_mib": rss_imports,
    }


def measure_matmul(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 dense matmul throughput (GFLOP/s) of ``size`` x ``size`` matrices on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def measure_training(threads: int, steps: int, batch: int) -> dict[str, Any]:
    """Images per second of teacher and student training, on 128 px crops of a synthetic scene.

    Teacher (S1 + S2), student (S1, cached teacher) in channels-last and NCHW, and a U-Net-ResNet34 student, each
    with the OMBRIA configs' batch, crop and optimiser.
    """
    import tempfile

    import torch

    from gee_flood.data.synthetic import SceneConfig, generate_scene
    from gee_flood.training import ChipListDataset, Splits, config_from_dict, train

    torch.set_num_threads(threads)
    chips = generate_scene(SceneConfig(seed=0, height=512, width=512)).to_chips(128)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        splits = Splits(
            labelled=ChipListDataset(chips[:12], name="synthetic"),
            validation=ChipListDataset(chips[12:], name="synthetic"),
            unlabelled=None,
        )
        teacher_path = None
        runs = [
            ("teacher", ["s1", "s2"], None),
            ("student", ["s1"], None),
            ("student-nchw", ["s1"], None),
            ("student-unet-resnet34", ["s1"], {"name": "Unet", "encoder_name": "resnet34", "encoder_depth": 5}),
        ]
        for name, inputs, architecture in runs:
            role = "teacher" if name == "teacher" else "student"
            raw: dict[str, Any] = {
                "role": role,
                "data": {"dataset": "memory", "inputs": inputs, "crop_size": 128},
                "optim": {"lr": 0.002, "batch_size": batch, "max_steps": steps, "warmup_steps": 0},
                "trainer": {"seed": 0, "output_dir": work, "run_name": name, "val_every_steps": 10 * steps,
                            "progress_bar": False, "save_last": False, "threads": threads,
                            "channels_last": name != "student-nchw"},
            }  # fmt: skip
            if architecture is not None:
                raw["model"] = {"architecture": architecture}
            result = train(config_from_dict(raw), splits=splits, teacher=teacher_path if role == "student" else None)
            if name == "teacher":
                teacher_path = result.checkpoint
            fit = result.summary["fit_seconds"]
            results[name] = {"steps": result.summary["steps"], "fit_seconds": fit,
                             "images_per_second": result.summary["steps"] * batch / fit}  # fmt: skip
    results["peak_rss_mib"] = _rss_mib()
    return results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _in_fresh_process(function: Any, *args: Any, **kwargs: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args, **kwargs).result()


def main(
    threads: Annotated[int, typer.Option(help="torch / ONNX Runtime CPU threads.")] = 2,
    scene: Annotated[int, typer.Option(help="Scene side in pixels (10 m).")] = 2048,
    tile: Annotated[int, typer.Option(help="Tile side (predict's default).")] = 512,
    overlap: Annotated[int, typer.Option(help="Tile overlap (predict's default).")] = 128,
    batch_size: Annotated[int, typer.Option(help="Tiles per forward pass (predict's default).")] = 8,
    repeats: Annotated[int, typer.Option(help="Timed passes over the scene per network (median).")] = 3,
    budget: Annotated[float, typer.Option(help="Stop repeating a network after this many timed seconds.")] = 60.0,
    train_steps: Annotated[int, typer.Option(help="Optimizer steps per training measurement (0: skip).")] = 30,
    train_batch: Annotated[int, typer.Option(help="Training batch (the OMBRIA configs').")] = 16,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all figures here.")] = None,
) -> None:
    """Measure inference speed, memory, FLOPs and training speed; print a table and the student's ratios."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console()
    started = datetime.now(UTC)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("matmul peak", total=len(PLAN) + 1 + bool(train_steps))
        peak = _in_fresh_process(measure_matmul, threads)
        progress.advance(task)
        rows = []
        for network, runtime in PLAN:
            progress.update(task, description=f"{network} ({runtime})")
            rows.append(
                _in_fresh_process(
                    measure_inference,
                    network,
                    runtime,
                    scene_px=scene,
                    tile=tile,
                    overlap=overlap,
                    batch=batch_size,
                    threads=threads,
                    repeats=repeats,
                    budget_s=budget,
                )  # fmt: skip
            )
            progress.advance(task)
        training = None
        if train_steps:
            progress.update(task, description="training speed")
            training = _in_fresh_process(measure_training, threads, train_steps, train_batch)
            progress.advance(task)
    for row in rows:
        row["share_of_matmul_peak"] = row["achieved_gflops"] / peak
    by_key = {(row["network"], row["runtime"]): row for row in rows}
    student = by_key[DEFAULT]["km2_per_second"]
    ratios = {
        "fcn-resnet50": student / by_key[("fcn-resnet50", "torch-eager")]["km2_per_second"],
        "unet-resnet34": student / by_key[("unet-resnet34", "torch-eager")]["km2_per_second"],
        "unet-resnet34 (onnxruntime)": student / by_key[("unet-resnet34", "onnxruntime")]["km2_per_second"],
    }
    machine = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(),
        "date": started.strftime("%Y-%m-%d"), "load_average_at_start": os.getloadavg()[0],
    }  # fmt: skip
    import onnxruntime
    import torch

    machine.update(torch=torch.__version__, onnxruntime=onnxruntime.__version__)
    console.print(
        f"{machine['cpu']}, {machine['cores']} cores, {threads} threads; torch {machine['torch']}, onnxruntime "
        f"{machine['onnxruntime']}; scene {scene} x {scene} px ({scene * scene * PIXEL_KM2:.1f} km² at 10 m), "
        f"tiles {tile} px, overlap {overlap} px, batch {batch_size}"
    )
    console.print(f"dense fp32 matmul peak: {peak:.1f} GFLOP/s")
    header = (
        f"{'network':15s} {'runtime':20s} {'km²/s':>8s} {'s/scene':>8s} {'GFLOP/tile':>10s} {'GFLOP/km²':>10s} "
        f"{'GFLOP/s':>8s} {'% peak':>7s} {'peak RSS MiB':>12s}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['network']:15s} {row['runtime']:20s} {row['km2_per_second']:8.2f} {row['seconds']:8.2f} "
            f"{row['gflop_per_tile']:10.1f} {row['gflop_per_km2']:10.1f} {row['achieved_gflops']:8.1f} "
            f"{100 * row['share_of_matmul_peak']:6.1f}% {row['peak_rss_mib']:12.0f}"
        )
    if training:
        speeds = [f"{name} {v['images_per_second']:.1f}" for name, v in training.items() if name != "peak_rss_mib"]
        print(f"training images/s (128 px crops, batch {train_batch}): " + ", ".join(speeds))
        layout = training["student"]["images_per_second"] / training["student-nchw"]["images_per_second"]
        print(f"student training, channels-last vs NCHW: {layout:.2f}x")
    if json_out is not None:
        payload = {"machine": machine, "matmul_gflops": peak, "inference": rows, "training": training,
                   "ratios": ratios, "default": list(DEFAULT)}  # fmt: skip
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {json_out}")
    print(f"student vs fcn-resnet50: {ratios['fcn-resnet50']:.1f}x")
    print(f"student vs unet-resnet34: {ratios['unet-resnet34']:.1f}x")
    print(f"student vs unet-resnet34 on the same runtime (onnxruntime): {ratios['unet-resnet34 (onnxruntime)']:.1f}x")


if __name__ == "__main__":
    typer.run(main)

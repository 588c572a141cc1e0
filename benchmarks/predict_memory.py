"""Peak memory of `gee-flood predict` (streamed) against a whole-scene baseline, on synthetic Sentinel-1 scenes.

    python -m benchmarks.predict_memory --size 20000 --baseline-size 6000 --workdir /tmp/gee-flood-bench

1. Writes synthetic S1 GeoTIFFs (VV, VH dB; tiled, DEFLATE) window by window, so generating them needs little memory.
2. Saves a tiny SAR-only student checkpoint (smp Unet, encoder tu-lcnet_035, depth 1; random weights: memory, not
   accuracy, is measured).
3. Runs, each in its own subprocess, polled with psutil every 50 ms (peak RSS of the process and its children) and
   checked with resource.getrusage(RUSAGE_CHILDREN).ru_maxrss after it exits:
   - streamed: `python -m gee_flood.cli predict ...` on the baseline size and on the big size;
   - baseline "whole-scene": read the whole scene, run the same tiles and Hann blending into whole-scene
     float32 accumulators, encode, write one GeoTIFF (what a straightforward implementation does), baseline size only;
   - streamed with every layer of the flood product and its cleanup (``--product``): reference water, DEM (slope,
     shadow/layover), HAND and WorldCover rasters at 100 m over the big scene (resampled strip by strip), the
     minimum mapping unit (8 px) and a 3-px border-noise mask, on the big size.
``--runs`` picks which of ``baseline``, ``small``, ``big``, ``product`` run (default: all); ``ensemble`` (not in the
default) predicts the baseline size with ``--members`` checkpoints (repeated ``--checkpoint``: the likelihood is their
mean), beside ``small``:

    OMP_NUM_THREADS=1 python -m benchmarks.predict_memory --runs small,ensemble --members 3 --baseline-size 6000
Prints a table and the ratios.

With ``--api``: the notebook API on a *lazy* scene instead (``rioxarray.open_rasterio(..., chunks=2048)``, the
chunking of an xee read, each chunk read counted), ``gee_flood.write_cog(gee_flood.predict(...))``, on the baseline
size and the big size, beside the named baseline ``gee-flood predict`` (streamed) on the baseline size:

    OMP_NUM_THREADS=1 python -m benchmarks.predict_memory --api --size 20000 --baseline-size 6000

``--api --api-auxiliary`` adds the flood product's auxiliary rasters (reference water, DEM, HAND, WorldCover at
100 m, as in ``product``): given as GeoTIFF paths (the named baseline: read window by window through a warped VRT)
and as lazy DataArrays (``rioxarray.open_rasterio(..., chunks=...)``, as an xee read of them), on the baseline size,
and as lazy DataArrays on the big size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import rasterio
from rasterio.windows import Window

#: The repository root (this file is ``benchmarks/predict_memory.py``): the measured subprocesses run there, so
#: ``python -m gee_flood.cli`` imports this checkout's ``gee_flood`` as the benchmark itself does.
ROOT = Path(__file__).resolve().parents[1]


def write_scene(path: Path, size: int) -> None:
    """Synthetic S1 in dB: a meandering dark river/flood band on brighter land, quantised speckle (compresses well)."""
    if path.exists():
        return
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=2,
        dtype="float32",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500_000, 5_000_000, 10, 10),
        nodata=float("nan"),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        predictor=3,
        BIGTIFF="YES",
    )
    rng = np.random.default_rng(0)
    speckle = np.round(rng.normal(0, 1.0, (512, 512)) * 2) / 2
    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.set_band_description(1, "VV")
        dst.set_band_description(2, "VH")
        for row in range(0, size, 512):
            rows = min(512, size - row)
            y = np.arange(row, row + rows)[:, None]
            for col in range(0, size, 512):
                cols = min(512, size - col)
                x = np.arange(col, col + cols)[None, :]
                centre = size / 2 + size / 6 * np.sin(y / size * 12.0)
                water = np.abs(x - centre) < size / 12
                vv = np.where(water, -22.0, -8.0) + speckle[:rows, :cols]
                dst.write(np.stack([vv, vv - 7.0]).astype(np.float32), window=Window(col, row, cols, rows))
    tmp.rename(path)


def make_checkpoint(path: Path, seed: int = 0) -> None:
    """Save a tiny SAR-only student (random weights) at ``path``: memory, not accuracy, is measured."""
    import torch

    from gee_flood.data.chip import S1
    from gee_flood.data.normalization import BandStats, NormalizationStats
    from gee_flood.models import ArchitectureSpec, InputModality, ModelCard, build_model, save_checkpoint

    card = ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(
            modalities={"s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0])}
        ),
        architecture=ArchitectureSpec(name="Unet", encoder_name="tu-lcnet_035", encoder_depth=1, decoder_channels=[4]),
    )
    torch.manual_seed(seed)
    save_checkpoint(build_model(card).eval(), card, path)


def write_auxiliary(workdir: Path, size: int) -> list[str]:
    """Coarse (100 m) auxiliary rasters over the big scene; return predict's options that use them."""
    cells = max(1, size // 10)
    transform = rasterio.transform.from_origin(500_000, 5_000_000, 100, 100)
    y, x = np.mgrid[0:cells, 0:cells].astype(np.float32)
    layers = {
        "dem": (x * 5.0 + 40.0 * np.sin(y / 50.0), "float32"),  # 5 m per 100 m ramp: about 3 degrees, with hills
        "hand": (np.abs(np.sin(x / 80.0)) * 30.0, "float32"),
        "worldcover": (np.where((x.astype(int) // 200 + y.astype(int) // 200) % 7 == 0, 50, 40), "uint8"),
        "gsw": (np.where(np.abs(x - cells / 2) < cells / 40, 12, 0), "uint8"),
    }
    options = []
    for name, (values, dtype) in layers.items():
        path = workdir / f"{name}_{size}.tif"
        if not path.exists():
            profile = dict(driver="GTiff", width=cells, height=cells, count=1, dtype=dtype, crs="EPSG:32633",
                           transform=transform, tiled=True, compress="deflate")  # fmt: skip
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(values.astype(dtype), 1)
        option = "--reference-water" if name == "gsw" else f"--{name}"
        options += [option, str(path)]
    return [*options, "--min-mapping-unit", "8", "--border-noise", "3"]


BASELINE = r"""
import sys, numpy as np, rasterio, torch
from gee_flood.inference import TilePlan, TileRunner
from gee_flood.models import load_model
from gee_flood.product import block_layers
checkpoint, scene, out, tile, overlap, batch = sys.argv[1:7]
tile, overlap, batch = int(tile), int(overlap), int(batch)
runner = TileRunner(load_model(checkpoint), device="cpu", batch_size=batch)
with rasterio.open(scene) as src:
    s1_db = src.read().astype(np.float32)          # the whole scene
    profile = src.profile
plan = TilePlan(s1_db.shape[1], s1_db.shape[2], tile, overlap)
valid = np.isfinite(s1_db).all(axis=0)
normalised = runner.normalize(s1_db)
del s1_db
weighted = np.zeros(valid.shape, np.float32)     # whole-scene accumulators
weights = np.zeros(valid.shape, np.float32)
origins = [(y, x) for y in plan.row_origins for x in plan.col_origins]
for start in range(0, len(origins), batch):
    chunk = origins[start:start + batch]
    tiles = np.stack([normalised[:, y:y + tile, x:x + tile] for y, x in chunk])
    for (y, x), p in zip(chunk, runner.probabilities(tiles)):
        weighted[y:y + tile, x:x + tile] += p * plan.weights
        weights[y:y + tile, x:x + tile] += plan.weights
probability = np.where(valid, weighted / weights, np.nan)
bands = block_layers(probability, 0.5).stack()
profile.update(count=5, dtype="uint8", nodata=255, predictor=1)
with rasterio.open(out, "w", **profile) as dst:
    dst.write(bands)
"""


API = r"""
import collections, json, sys
import rioxarray
import gee_flood
checkpoint, scene, out, tile, overlap, batch, chunk, rows = sys.argv[1:9]
auxiliary = json.loads(sys.argv[9]) if len(sys.argv) > 9 else {}  # {"dem": [path, "files" | "arrays"], ...}
reads = collections.Counter()
def counted(block, block_info=None):
    reads[tuple(block_info[0]["chunk-location"])] += 1
    return block
array = rioxarray.open_rasterio(scene, chunks={"band": 2, "y": int(chunk), "x": int(chunk)}, lock=False)
array = array.copy(data=array.data.map_blocks(counted, dtype=array.dtype))
if int(rows):  # the first rows only: a task's memory depends on the width, the run time on the height
    array = array.isel(y=slice(0, int(rows)))
chunks = array.data.npartitions
layers = {name: path if how == "files" else rioxarray.open_rasterio(path, chunks=int(chunk)).squeeze("band", drop=True)
          for name, (path, how) in auxiliary.items()}  # lazy DataArrays, as an xee read of them would be
flood = gee_flood.predict(checkpoint, array, tile=int(tile), overlap=int(overlap), batch_size=int(batch), device="cpu",
                          **layers)
gee_flood.write_cog(flood, out)
print(json.dumps({"chunks": chunks, "chunks_read": len(reads), "reads": sum(reads.values()),
                  "max_reads_of_a_chunk": max(reads.values())}))
"""


def measure(command: list[str], label: str) -> dict:
    """Run ``command`` from the repository root; return its peak RSS in MiB, wall seconds and last output line.

    Peak RSS is polled with psutil over the process tree, and read from ``getrusage(RUSAGE_CHILDREN)`` afterwards.
    """
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watcher = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [watcher, *watcher.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    output = process.stdout.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{label} failed:\n{output[-3000:]}")
    return {
        "run": label,
        "peak_rss_mib_psutil": round(peak / 2**20, 1),
        "ru_maxrss_mib_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "output": output.strip().splitlines()[-1] if output.strip() else "",
    }


def main() -> None:
    """Write the scenes and the checkpoint, measure the whole-scene baseline and streamed predict, print a table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.predict_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=20000, help="side of the big scene (pixels)")
    parser.add_argument("--baseline-size", type=int, default=6000, help="side of the scene both methods run on")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gee-flood-bench"))
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--runs", default="baseline,small,big,product", help="which runs, comma-separated")
    parser.add_argument("--members", type=int, default=3, help="with --runs ensemble: checkpoints averaged")
    parser.add_argument("--api", action="store_true", help="measure the notebook API on a lazy scene (see above)")
    parser.add_argument("--chunk", type=int, default=2048, help="with --api: the lazy scene's chunk side (pixels)")
    parser.add_argument(
        "--api-rows", type=int, default=0, help="with --api: predict only the first rows of the big scene (0: all)"
    )
    parser.add_argument(
        "--api-auxiliary",
        action="store_true",
        help="with --api: also the product's auxiliary rasters, as GeoTIFF paths and as lazy DataArrays",
    )
    args = parser.parse_args()
    runs = set(args.runs.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.workdir / "tiny_student.ckpt"
    make_checkpoint(checkpoint)
    small, big = args.workdir / f"s1_{args.baseline_size}.tif", args.workdir / f"s1_{args.size}.tif"
    for path, size in ((small, args.baseline_size), (big, args.size)):
        started = time.perf_counter()
        write_scene(path, size)
        print(
            f"scene {path.name}: {path.stat().st_size / 2**20:.0f} MiB on disk ({time.perf_counter() - started:.0f} s)"
        )
    knobs = ["--tile", str(args.tile), "--overlap", str(args.overlap), "--batch-size", str(args.batch_size)]
    predict = [sys.executable, "-m", "gee_flood.cli", "predict", "--checkpoint", str(checkpoint), "--quiet", *knobs]
    if args.api:
        _measure_api(args, checkpoint, small, big, predict)
        return
    named = {}
    if "baseline" in runs:
        baseline_command = [sys.executable, "-c", BASELINE, str(checkpoint), str(small),
                            str(args.workdir / "baseline.tif"), str(args.tile), str(args.overlap),
                            str(args.batch_size)]  # fmt: skip
        named["baseline"] = measure(baseline_command, f"whole-scene baseline {args.baseline_size}^2")
    if "small" in runs:
        named["small"] = measure(
            [*predict, "--input", str(small), "--out", str(args.workdir / "small.tif")],
            f"streamed predict {args.baseline_size}^2",
        )
    if "big" in runs:
        named["big"] = measure(
            [*predict, "--input", str(big), "--out", str(args.workdir / "big.tif"), "--min-mapping-unit", "0"],
            f"streamed predict {args.size}^2 (no auxiliary data, no cleanup)",
        )
    if "ensemble" in runs:
        members = []
        for seed in range(1, args.members):
            members += ["--checkpoint", str(args.workdir / f"tiny_student_{seed}.ckpt")]
            make_checkpoint(args.workdir / f"tiny_student_{seed}.ckpt", seed)
        named["ensemble"] = measure(
            [*predict, *members, "--input", str(small), "--out", str(args.workdir / "ensemble.tif")],
            f"streamed predict {args.baseline_size}^2, {args.members} models (likelihood = their mean)",
        )
    if "product" in runs:
        auxiliary = write_auxiliary(args.workdir, args.size)
        named["product"] = measure(
            [*predict, "--input", str(big), "--out", str(args.workdir / "product.tif"), *auxiliary],
            f"streamed predict {args.size}^2, every layer + cleanup",
        )
    rows = list(named.values())
    print(
        f"\nmachine: {platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, {platform.platform()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '2')}"
    )
    print("| run | peak RSS (MiB, psutil) | seconds |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['peak_rss_mib_psutil']} | {row['seconds']} |")
    for numerator, denominator in (("baseline", "small"), ("big", "small"), ("product", "big"), ("ensemble", "small")):
        if numerator in named and denominator in named:
            ratio = named[numerator]["peak_rss_mib_psutil"] / named[denominator]["peak_rss_mib_psutil"]
            print(f"{named[numerator]['run']} / {named[denominator]['run']}: {ratio:.2f}x")
    print(json.dumps(rows, indent=1))


def _measure_api(args: argparse.Namespace, checkpoint: Path, small: Path, big: Path, predict: list[str]) -> None:
    """``write_cog(predict(lazy scene))`` on both sizes beside streamed ``gee-flood predict`` on the small one.

    The lazy scene stands in for an xee read, which has no GDAL block cache: GDAL's cache (5 % of RAM by default)
    is bounded to 128 MiB for the API runs (``GDAL_CACHEMAX``), as ``gee-flood predict`` bounds its own.
    """
    os.environ["GDAL_CACHEMAX"] = "128"
    knobs = [str(args.tile), str(args.overlap), str(args.batch_size), str(args.chunk)]
    api = [sys.executable, "-c", API, str(checkpoint)]
    big_rows = f" (first {args.api_rows} rows)" if args.api_rows else ""
    rows = [
        measure(
            [*predict, "--input", str(small), "--out", str(args.workdir / "small.tif")],
            f"baseline: streamed gee-flood predict {args.baseline_size}^2",
        ),
        measure(
            [api[0], *api[1:], str(small), str(args.workdir / "api_small.tif"), *knobs, "0"],
            f"API write_cog(predict(lazy)) {args.baseline_size}^2",
        ),  # fmt: skip
        measure(
            [api[0], *api[1:], str(big), str(args.workdir / "api_big.tif"), *knobs, str(args.api_rows)],
            f"API write_cog(predict(lazy)) {args.size}^2{big_rows}",
        ),  # fmt: skip
    ]
    if args.api_auxiliary:  # the product's rasters as GeoTIFF paths (the named baseline) and as lazy DataArrays
        options = write_auxiliary(args.workdir, args.size)
        paths = dict(zip(options[0:8:2], options[1:8:2], strict=True))
        names = {"--reference-water": "reference_water", "--dem": "dem", "--hand": "hand", "--worldcover": "worldcover"}
        for how, size, scene in (("files", args.baseline_size, small), ("arrays", args.baseline_size, small),
                                 ("arrays", args.size, big)):  # fmt: skip
            layers = json.dumps({names[option]: [path, how] for option, path in paths.items()})
            label = "GeoTIFF paths" if how == "files" else "lazy DataArrays"
            part = big_rows if scene == big else ""
            rows.append(measure(
                [api[0], *api[1:], str(scene), str(args.workdir / f"api_aux_{how}.tif"), *knobs,
                 str(args.api_rows if scene == big else 0), layers],
                f"API write_cog(predict(lazy)) {size}^2{part} + reference water, DEM, HAND, WorldCover as {label}",
            ))  # fmt: skip
    print(
        f"\nmachine: {platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, {platform.platform()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '2')}, lazy chunks {args.chunk}^2"
    )
    print("| run | peak RSS (MiB, psutil) | seconds | input chunk reads |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['peak_rss_mib_psutil']} | {row['seconds']} | {row['output']} |")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

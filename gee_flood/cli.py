"""The ``gee-flood`` command line. It only parses arguments and calls typed functions of the packages.

Every user error (:class:`gee_flood.errors.GeeFloodError`) is printed as one line on stderr with a non-zero exit
code; no traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gee_flood.errors import GeeFloodError, InputError, NotBuiltError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="gee-flood",
    help="Map flood extent from Sentinel-1 SAR, learnt from Sentinel-2 by cross-modal distillation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Download and inspect datasets (Sen1Floods11, OMBRIA).", no_args_is_help=True)
train_app = typer.Typer(help="Train a teacher (S1+S2), a SAR-only student, or a baseline.", no_args_is_help=True)
emulator_app = typer.Typer(help="The local Earth Engine emulator (no account needed).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(emulator_app, name="emulator")


def user_errors(func: F) -> F:
    """Turn :class:`GeeFloodError` raised by ``func`` into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeeFloodError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _not_built(command: str, issue: str) -> None:
    raise NotBuiltError(f"'gee-flood {command}' is not built yet ({issue})")


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output directory (kept; a second run reuses its corpus).")] = Path(
        "demo-out"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller scene and shorter training (about a minute).")
    ] = False,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps per trained model.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """Run the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator.

    Synthetic S1/S2 scene -> emulated Earth Engine -> fetch through xee -> teacher, weak baseline and student ->
    predict -> export to an emulated asset -> geemap HTML map and a report (no account, no network).
    """
    from gee_flood.demo.pipeline import DemoOptions, run_demo

    overrides = {"steps": steps} if steps is not None else {}
    options = DemoOptions.for_run(out, quick=quick, threads=threads, progress=not no_progress, **overrides)
    result = run_demo(options)
    typer.echo(result.report_markdown.read_text())
    typer.echo(f"report: {result.report_markdown}  map: {result.map_html}  overview: {result.overview_png}")


@app.command()
@user_errors
def fetch(
    out: Annotated[Path, typer.Option("--out", help="Corpus directory (created; a rerun resumes it).")],
    aoi: Annotated[Path | None, typer.Option("--aoi", help="Area of interest: GeoJSON Polygon in EPSG:4326.")] = None,
    dates: Annotated[
        str | None, typer.Option("--dates", help="UTC days START/END for --aoi, e.g. 2019-03-01/2019-03-20.")
    ] = None,
    chips: Annotated[
        Path | None,
        typer.Option(
            "--chips", help="FeatureCollection of chip footprints with s1_date/s2_date (or date), chip_id, event."
        ),
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Event name in chip ids (default: the file name).")
    ] = None,
    max_days: Annotated[int, typer.Option("--max-days", help="Largest gap between the S1 and S2 days.")] = 2,
    max_cloud: Annotated[
        float, typer.Option("--max-cloud", help="Largest cloudy fraction of a chip's S2 pixels.")
    ] = 0.5,
    max_scene_cloud: Annotated[
        float, typer.Option("--max-scene-cloud", help="Scene prefilter: largest CLOUDY_PIXEL_PERCENTAGE (0-100).")
    ] = 80.0,
    min_valid: Annotated[
        float, typer.Option("--min-valid", help="Smallest fraction of pixels with S1 and clear S2.")
    ] = 0.2,
    chip_size: Annotated[int, typer.Option("--chip-size", help="Chip side in pixels (--aoi).")] = 512,
    scale: Annotated[float, typer.Option("--scale", help="Pixel size in metres.")] = 10.0,
    crs: Annotated[
        str, typer.Option("--crs", help="utm, EPSG:4326 or EPSG:<code>; auto = UTM for --aoi, EPSG:4326 for --chips.")
    ] = "auto",
    orbit_pass: Annotated[str, typer.Option("--orbit-pass", help="ASCENDING, DESCENDING or any.")] = "any",
    cloud_mask: Annotated[
        str, typer.Option("--cloud-mask", help="cloudscore (Cloud Score+) or probability.")
    ] = "cloudscore",
    cloud_threshold: Annotated[
        float | None,
        typer.Option(
            "--cloud-threshold", help="Clear if cs >= this (default 0.6); cloudy if probability > this (default 50)."
        ),
    ] = None,
    permanent_water: Annotated[
        bool, typer.Option("--permanent-water", help="Also write JRC water occurrence.")
    ] = False,
    weak_labels: Annotated[
        bool, typer.Option("--weak-labels", help="Also write S1 Otsu and S2 NDWI weak labels.")
    ] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="Earth Engine Cloud project (else EE_PROJECT).")
    ] = None,
    endpoint: Annotated[str, typer.Option("--endpoint", help="highvolume or standard.")] = "highvolume",
    ee_url: Annotated[
        str | None, typer.Option("--ee-url", hidden=True, help="Earth Engine API URL (the emulator).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Concurrent chip-block tasks.")] = 4,
    io_threads: Annotated[int, typer.Option("--io-threads", help="Concurrent requests per task.")] = 2,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="threads, local (Dask LocalCluster) or tcp://host:port; default by job size."),
    ] = None,
    block_size: Annotated[
        int, typer.Option("--block-size", hidden=True, help="Pixels per side of a chip block.")
    ] = 2048,
    allow_large: Annotated[bool, typer.Option("--allow-large", help="Accept AOIs over 100,000 km2.")] = False,
    fast_retries: Annotated[
        bool, typer.Option("--fast-retries", hidden=True, help="Millisecond retry delays.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fetch paired S1/S2 chips from Earth Engine through xee into an on-disk corpus."""
    from gee_flood.earthengine import FetchConfig, RetryPolicy, run_fetch

    def choice(value: str, allowed: tuple[str, ...], flag: str) -> str:
        for option in allowed:
            if value.lower() == option.lower():
                return option
        raise InputError(f"{flag}: {value!r} must be one of {', '.join(allowed)}")

    config = FetchConfig(
        out=out,
        aoi=aoi,
        dates=dates,
        chips=chips,
        event=event,
        max_days=max_days,
        max_cloud=max_cloud,
        max_scene_cloud=max_scene_cloud,
        min_valid=min_valid,
        chip_size=chip_size,
        scale=scale,
        crs=crs,
        orbit_pass=choice(orbit_pass, ("ASCENDING", "DESCENDING", "any"), "--orbit-pass"),
        cloud_mask=choice(cloud_mask, ("cloudscore", "probability"), "--cloud-mask"),
        cloud_threshold=cloud_threshold,
        permanent_water=permanent_water,
        weak_labels=weak_labels,
        project=project,
        endpoint=choice(endpoint, ("highvolume", "standard"), "--endpoint"),
        ee_url=ee_url,
        workers=workers,
        io_threads=io_threads,
        scheduler=scheduler,
        block_px=block_size,
        allow_large=allow_large,
        retry=RetryPolicy.fast() if fast_retries else RetryPolicy(),
        progress=not quiet,
    )
    summary = run_fetch(config)
    typer.echo(summary.line())


@app.command()
@user_errors
def evaluate(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name: ombria or sen1floods11.")],
    root: Annotated[Path | None, typer.Option("--root", help="Dataset folder.")] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate on (ombria: test|train; sen1floods11: test|...).")] = (
        "test"
    ),
    method: Annotated[str | None, typer.Option(help="Method that needs no training: otsu.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A gee-flood checkpoint (teacher, student or baseline).")
    ] = None,
    otsu: Annotated[str, typer.Option(help="Otsu variant: global (per chip) or tiled (bimodal tiles).")] = "global",
    band: Annotated[
        str | None, typer.Option(help="SAR band to threshold as modality/band (default: s1/VV; OMBRIA's 8-bit SAR).")
    ] = None,
    labels: Annotated[str, typer.Option(help="Label source (auto = the dataset's hand labels).")] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report (JSON) here, atomically.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Evaluate a method or checkpoint on a labelled dataset (table + JSON, per event)."""
    from gee_flood.evaluation.evaluate import print_report, run_evaluation

    predictor = _evaluation_predictor(dataset, method=method, otsu=otsu, band=band, checkpoint=checkpoint)
    report = run_evaluation(dataset, root, split, predictor, labels=labels, json_path=json_out, progress=not quiet)
    print_report(report)
    if json_out is not None:
        typer.echo(f"wrote {json_out}")


def _evaluation_predictor(
    dataset: str, *, method: str | None, otsu: str, band: str | None, checkpoint: Path | None = None
) -> Any:
    """Choose what `gee-flood evaluate` runs from its options (one place: add new predictor options here)."""
    from gee_flood.evaluation.evaluate import select_predictor

    if checkpoint is not None:
        if method is not None:
            raise InputError("give either --method or --checkpoint, not both")
        from gee_flood.models import CheckpointPredictor

        return CheckpointPredictor(checkpoint)
    return select_predictor(dataset, method=method, otsu=otsu, band=band)


@app.command()
@user_errors
def predict(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="SAR-only student (or baseline) checkpoint.")],
    out: Annotated[Path, typer.Option("--out", help="Cloud-Optimized GeoTIFF to write (.tif).")],
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Local Sentinel-1 GeoTIFF: VV, VH in dB, any CRS.")
    ] = None,
    aoi: Annotated[
        Path | None, typer.Option("--aoi", help="GeoJSON area (EPSG:4326); with --input it cuts the scene.")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD: read S1 for --aoi from Earth Engine.")] = None,
    scale: Annotated[float, typer.Option("--scale", help="Pixel size (m) of the Earth Engine read.")] = 10.0,
    keep_scene: Annotated[
        Path | None, typer.Option("--keep-scene", help="Keep the S1 scene read from Earth Engine.")
    ] = None,
    polygons: Annotated[
        Path | None, typer.Option("--polygons", help="Also write water polygons (GeoJSON, EPSG:4326).")
    ] = None,
    permanent_water: Annotated[
        Path | None,
        typer.Option(
            "--permanent-water", help="Permanent-water raster (e.g. JRC occurrence %): adds a flood_class band."
        ),
    ] = None,
    permanent_threshold: Annotated[
        float, typer.Option("--permanent-threshold", help="Value >= this is permanent.")
    ] = 80.0,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Water probability threshold (default: card).")
    ] = None,
    tile: Annotated[int, typer.Option("--tile", help="Tile side in pixels (multiple of 32).")] = 512,
    overlap: Annotated[int, typer.Option("--overlap", help="Overlap between tiles in pixels.")] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N.")] = "auto",
    runtime: Annotated[
        str, typer.Option("--runtime", help="auto (ONNX Runtime on a CPU, torch on CUDA), torch, onnxruntime.")
    ] = "auto",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Run as Dask tasks: 'local' (local cluster) or tcp://host:port.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Workers of a --scheduler local cluster.")] = 2,
    block_rows: Annotated[int, typer.Option("--block-rows", help="Scene rows per Dask task.")] = 2048,
    project: Annotated[
        str | None, typer.Option("--project", help="Earth Engine Cloud project for --aoi/--date (else EE_PROJECT).")
    ] = None,
    ee_url: Annotated[
        str | None, typer.Option("--ee-url", hidden=True, help="Earth Engine API URL (the emulator).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Map floods from Sentinel-1 with a trained SAR-only student; writes a Cloud-Optimized GeoTIFF."""
    from gee_flood.inference.command import run_predict
    from gee_flood.inference.predict import PredictOptions

    options = PredictOptions(
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        runtime=runtime,
        threshold=threshold,
        scheduler=scheduler,
        workers=workers,
        block_rows=block_rows,
        progress=not quiet,
    )
    summary = run_predict(
        checkpoint,
        out,
        input_path=input_path,
        aoi=aoi,
        date=date,
        scale_m=scale,
        keep_scene=keep_scene,
        polygons=polygons,
        permanent_water=permanent_water,
        permanent_threshold=permanent_threshold,
        project=project,
        ee_url=ee_url,
        options=options,
    )
    typer.echo(
        f"wrote {summary.output}: {summary.width} x {summary.height} px, {summary.crs}, "
        f"water {100 * summary.water_fraction:.1f} % of {summary.valid_pixels} valid pixels "
        f"({summary.tiles} tiles, {summary.device}, {summary.scheduler}, {summary.seconds:.1f} s)"
    )
    if summary.polygons:
        typer.echo(f"wrote {summary.polygons}: {summary.polygon_count} polygons")


@app.command(name="map")
@user_errors
def map_command(
    mask: Annotated[
        Path | None, typer.Option("--mask", help="Flood map COG to push to Earth Engine (with --asset, --bucket).")
    ] = None,
    asset: Annotated[
        str | None, typer.Option("--asset", help="Earth Engine asset id projects/<project>/assets/<path>.")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Cloud Storage gs://bucket[/prefix] to upload to.")
    ] = None,
    cog_backed: Annotated[
        bool, typer.Option("--cog-backed", help="Register a COG-backed asset instead of ingesting.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing asset.")] = False,
    ee_url: Annotated[
        str | None, typer.Option("--ee-url", hidden=True, help="Earth Engine API URL (the emulator).")
    ] = None,
    view: Annotated[Path | None, typer.Option("--view", help="Flood map to show in an HTML page.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="HTML page to write (with --view).")] = None,
    s1: Annotated[Path | None, typer.Option("--s1", help="Sentinel-1 scene shown under the flood map.")] = None,
) -> None:
    """Push a flood mask to an Earth Engine asset and/or write an HTML map (geemap)."""
    if mask is None and view is None:
        raise InputError("give --mask flood.tif with --asset and --bucket, and/or --view flood.tif with --html")
    if view is not None and html is None:
        raise InputError("--view needs --html map.html")
    if mask is not None:
        if asset is None or bucket is None:
            raise InputError("--mask needs --asset projects/<project>/assets/<path> and --bucket gs://bucket[/prefix]")
        from gee_flood.earthengine.export import push_flood_map

        result = push_flood_map(
            mask, asset, bucket, cog_backed=cog_backed, overwrite=overwrite, ee_url=ee_url, progress=True
        )
        done = "already up to date" if result.already_done else result.mode
        typer.echo(f"asset {result.asset}: {done} from {result.uri}")
    if view is not None:
        from gee_flood.mapping import write_map_html

        page = write_map_html(view, html, s1=s1, asset=asset, ee_url=ee_url)
        typer.echo(f"wrote {page}")


@data_app.command("download")
@user_errors
def data_download(
    dataset: Annotated[str, typer.Argument(help="Dataset to download: sen1floods11.")],
    dest: Annotated[Path, typer.Option("--dest", help="Destination folder; it will hold v1.1/ as in the bucket.")],
    part: Annotated[str, typer.Option(help="hand, weak, splits, or all (~14 GB).")] = "hand",
    workers: Annotated[int, typer.Option(min=1, max=32, help="Files downloaded in parallel.")] = 4,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    list_url: Annotated[
        str | None, typer.Option("--list-url", hidden=True, envvar="GEE_FLOOD_SEN1FLOODS11_LIST_URL")
    ] = None,
    object_url: Annotated[
        str | None, typer.Option("--object-url", hidden=True, envvar="GEE_FLOOD_SEN1FLOODS11_OBJECT_URL")
    ] = None,
) -> None:
    """Download a public dataset (resumable, verified): rerun to resume; complete files are skipped."""
    from gee_flood.data.download import download_dataset

    report = download_dataset(
        dataset, dest, part, list_url=list_url, object_url=object_url, workers=workers, progress=not quiet
    )
    typer.echo(report.summary())


@data_app.command("stats")
@user_errors
def data_stats(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name: sen1floods11 or ombria.")],
    root: Annotated[Path, typer.Option("--root", help="Dataset folder (a fetched corpus is a sen1floods11 root).")],
    out: Annotated[Path, typer.Option("--out", help="Statistics YAML to write.")],
    split: Annotated[str, typer.Option(help="Split to compute from (the training split).")] = "train",
    modalities: Annotated[
        str | None, typer.Option(help="Comma-separated modality names, e.g. s1,s2 (default: all).")
    ] = None,
    part: Annotated[str | None, typer.Option(help="sen1floods11 only: hand or weak (default: detected).")] = None,
    max_chips: Annotated[int | None, typer.Option(help="Use a random subset of this many chips.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Compute per-band normalisation statistics (mean, std over valid pixels) from a training split."""
    from gee_flood.data.dataset_config import compute_dataset_stats, format_stats, write_stats

    names = [m.strip() for m in modalities.split(",") if m.strip()] if modalities else None
    options = {"part": part} if part is not None else {}
    stats = compute_dataset_stats(dataset, root, split, names, max_chips=max_chips, progress=not quiet, **options)
    write_stats(stats, out)
    typer.echo(format_stats(stats))
    typer.echo(f"wrote {out}")


_CONFIG_HELP = "Training config (YAML), e.g. configs/ombria_teacher.yaml."


def _train_overrides(
    seed: int | None,
    max_steps: int | None,
    output_dir: Path | None,
    devices: str | None,
    num_nodes: int | None,
    accelerator: str | None,
    set_: list[str] | None,
) -> dict[str, Any]:
    from gee_flood.training.config import parse_set_options

    overrides: dict[str, Any] = parse_set_options(set_ or [])
    parsed_devices: Any = devices
    if devices is not None and devices.isdigit():
        parsed_devices = int(devices)
    explicit = {
        "trainer.seed": seed,
        "optim.max_steps": max_steps,
        "trainer.output_dir": str(output_dir) if output_dir is not None else None,
        "trainer.devices": parsed_devices,
        "trainer.num_nodes": num_nodes,
        "trainer.accelerator": accelerator,
    }
    overrides.update({key: value for key, value in explicit.items() if value is not None})
    return overrides


def _report_training(result: Any) -> None:
    typer.echo(f"run directory: {result.run_dir}")
    typer.echo(f"checkpoint:    {result.checkpoint}")
    typer.echo(
        f"validation water IoU {result.best_val_iou:.4f} at threshold {result.card.labels.threshold:.2f} "
        f"({result.summary.get('steps')} steps)"
    )


_Config = Annotated[Path, typer.Option("--config", help=_CONFIG_HELP)]
_Seed = Annotated[int | None, typer.Option(help="Seed (overrides trainer.seed).")]
_Steps = Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps (overrides optim.max_steps).")]
_Out = Annotated[Path | None, typer.Option("--output-dir", help="Parent folder of run directories.")]
_Devices = Annotated[str | None, typer.Option(help="Devices per node ('auto', a count); more than one uses DDP.")]
_Nodes = Annotated[int | None, typer.Option("--num-nodes", help="Nodes for multi-node DDP.")]
_Accel = Annotated[str | None, typer.Option(help="Accelerator: auto (CUDA when present), cpu, gpu.")]
_Set = Annotated[list[str] | None, typer.Option("--set", help="Any config override, key.path=value (repeatable).")]


@train_app.command("teacher")
@user_errors
def train_teacher(
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train the teacher on paired S1 + S2 with hand labels."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("teacher", config, overrides=overrides))


@train_app.command("student")
@user_errors
def train_student(
    teacher: Annotated[
        list[Path],
        typer.Option("--teacher", help="Teacher checkpoint (model.ckpt or Lightning .ckpt); repeat to average."),
    ],
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train the SAR-only student from hand labels and a teacher."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("student", config, teacher=teacher, overrides=overrides))


@train_app.command("baseline")
@user_errors
def train_baseline(
    kind: Annotated[str, typer.Option("--kind", help="supervised (hand labels) or weak (weak labels, e.g. Otsu).")],
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    output_dir: _Out = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
) -> None:
    """Train a SAR-only baseline on hand labels or weak labels."""
    from gee_flood.training.run import train_from_config

    overrides = _train_overrides(seed, max_steps, output_dir, devices, num_nodes, accelerator, set_)
    _report_training(train_from_config("baseline", config, kind=kind, overrides=overrides))


@emulator_app.command("serve")
@user_errors
def emulator_serve(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog directory (catalog.json + GeoTIFFs).")],
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Loopback interface to listen on.")] = "127.0.0.1",
    faults: Annotated[
        Path | None, typer.Option("--faults", help="Fault-injection JSON: {seed, rules: [{endpoint, kind, ...}]}.")
    ] = None,
    assets_dir: Annotated[
        Path | None, typer.Option("--assets-dir", help="Keep ingested/exported assets here (default: temporary).")
    ] = None,
    bucket_dir: Annotated[
        Path | None, typer.Option("--bucket-dir", help="Local stand-in for gs:// buckets (<dir>/<bucket>/<object>).")
    ] = None,
    resampling: Annotated[
        str,
        typer.Option(
            "--resampling",
            help="Default warping of stored bands: 'nearest' (Earth Engine's) or 'bilinear' (float bands only).",
        ),
    ] = "nearest",
) -> None:
    """Serve the Earth Engine emulator over a catalog of GeoTIFFs on loopback (Ctrl-C stops)."""
    from gee_flood.emulator.serve import serve

    serve(catalog, host=host, port=port, faults_file=faults, assets_dir=assets_dir, bucket_dir=bucket_dir,
          default_resampling=resampling, announce=typer.echo)  # fmt: skip


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GeeFloodError as error:  # raised outside a command (e.g. in a callback)
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()

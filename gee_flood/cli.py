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
def demo() -> None:
    """Run the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator."""
    _not_built("demo", "see the README's roadmap")


@app.command()
@user_errors
def fetch() -> None:
    """Fetch paired S1/S2 chips from Earth Engine through xee into an on-disk corpus."""
    _not_built("fetch", "see the README's roadmap")


@app.command()
@user_errors
def evaluate() -> None:
    """Evaluate a method or checkpoint on a labelled dataset (table + JSON, per event)."""
    _not_built("evaluate", "see the README's roadmap")


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
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Run as Dask tasks: 'local' (local cluster) or tcp://host:port.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Workers of a --scheduler local cluster.")] = 2,
    block_rows: Annotated[int, typer.Option("--block-rows", help="Scene rows per Dask task.")] = 2048,
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
        from rich.console import Console
        from rich.progress import Progress

        from gee_flood.earthengine.export import push_flood_map

        with Progress(console=Console(stderr=True)) as bar:
            task = bar.add_task("Earth Engine ingestion", total=1.0)
            result = push_flood_map(
                mask,
                asset,
                bucket,
                cog_backed=cog_backed,
                overwrite=overwrite,
                on_progress=lambda fraction, _state: bar.update(task, completed=fraction),
            )
        done = "already up to date" if result.already_done else result.mode
        typer.echo(f"asset {result.asset}: {done} from {result.uri}")
    if view is not None:
        from gee_flood.mapping import write_map_html

        page = write_map_html(view, html, s1=s1, asset=asset)
        typer.echo(f"wrote {page}")


@data_app.command("download")
@user_errors
def data_download() -> None:
    """Download a public dataset (resumable, verified)."""
    _not_built("data download", "see the README's roadmap")


@train_app.command("teacher")
@user_errors
def train_teacher() -> None:
    """Train the teacher on paired S1 + S2 with hand labels."""
    _not_built("train teacher", "see the README's roadmap")


@train_app.command("student")
@user_errors
def train_student() -> None:
    """Train the SAR-only student from hand labels and a teacher."""
    _not_built("train student", "see the README's roadmap")


@train_app.command("baseline")
@user_errors
def train_baseline() -> None:
    """Train a SAR-only baseline on hand labels or weak labels."""
    _not_built("train baseline", "see the README's roadmap")


@emulator_app.command("serve")
@user_errors
def emulator_serve() -> None:
    """Serve the Earth Engine emulator over a catalog of GeoTIFFs on loopback."""
    _not_built("emulator serve", "see the README's roadmap")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GeeFloodError as error:  # raised outside a command (e.g. in a callback)
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()

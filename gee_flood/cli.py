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

from gee_flood.errors import GeeFloodError, NotBuiltError

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
def predict() -> None:
    """Map floods from Sentinel-1 with a trained SAR-only student; writes a Cloud-Optimized GeoTIFF."""
    _not_built("predict", "see the README's roadmap")


@app.command(name="map")
@user_errors
def map_command() -> None:
    """Push a flood mask to an Earth Engine asset and/or write an HTML map (geemap)."""
    _not_built("map", "see the README's roadmap")


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

"""The ``ee-emulator`` command line (also ``python -m ee_emulator``): serve a catalog of GeoTIFFs on loopback.

Every error the emulator raises to its caller (:class:`ee_emulator.errors.EmulatorError`: a missing catalog, a bad
fault file, a busy port) is printed as one line on stderr with exit code 2; no traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ee_emulator.errors import EmulatorError, InputError
from ee_emulator.serve import serve
from ee_emulator.storage import bucket_location_fields

app = typer.Typer(
    name="ee-emulator",
    help="A local Earth Engine: the EE REST API over a catalog of GeoTIFFs, on loopback (no account needed).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


class Resampling(StrEnum):
    """Default warping of the emulator's stored bands (``serve --resampling``)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"


@app.callback()
def _group() -> None:
    """A local Earth Engine: the EE REST API over a catalog of GeoTIFFs, on loopback (no account needed)."""


@app.command("serve")
def serve_command(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog folder (catalog.json + GeoTIFFs).")],
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
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="A Cloud project that exists (repeat; default: emulator)."),
    ] = None,
    bucket_location: Annotated[
        list[str] | None,
        typer.Option("--bucket-location", help="BUCKET=LOCATION of a --bucket-dir bucket (repeat; default US)."),
    ] = None,
    resampling: Annotated[
        Resampling,
        typer.Option(
            "--resampling",
            help="Default warping of stored bands: nearest (Earth Engine's) or bilinear (float bands only).",
        ),
    ] = Resampling.NEAREST,
) -> None:
    """Serve the Earth Engine emulator over a catalog of GeoTIFFs on loopback (Ctrl-C stops)."""
    try:
        locations = {}
        for item in bucket_location or []:
            name, sep, spec = item.partition("=")
            if not sep or not name or not spec:
                raise InputError(f"--bucket-location {item!r}: expected BUCKET=LOCATION, e.g. my-bucket=EUROPE-WEST1")
            bucket_location_fields(spec)  # a bad spec is one line now, not a failure at the first request
            locations[name] = spec
        serve(catalog, host=host, port=port, faults_file=faults, assets_dir=assets_dir, bucket_dir=bucket_dir,
              default_resampling=resampling.value, projects=project or None, bucket_locations=locations,
              announce=typer.echo)  # fmt: skip
    except EmulatorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    """Console-script entry point (``ee-emulator``)."""
    try:
        app()
    except EmulatorError as error:  # raised outside a command
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

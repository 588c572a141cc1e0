"""The ``gee-flood`` command line. It only parses arguments and calls typed functions of the packages.

Every failure of every command is printed as one line on stderr with a true exit code, by one app-level boundary
(:mod:`gee_flood._boundary`: the app's group class, so commands added later get it too); a traceback only with
``--debug`` or ``GEE_FLOOD_DEBUG=1``, and always in the log file the line names. Malformed command lines (an
unknown option, a value outside an option's choices) are refused by the CLI framework before any command runs, with
exit code 2.

Conventions shared by every command (also in the README's "Commands" section):

- ``--out`` is the main thing a command writes (a file or a folder; its help says which);
- ``--quiet``/``-q`` silences progress bars;
- ``--dataset`` names the dataset;
- a fixed set of choices is an :class:`enum.Enum`, so ``--help`` lists the values and a typo is refused;
- ``--project`` (or ``EE_PROJECT``) is the Earth Engine Cloud project of commands that talk to Earth Engine;
- ``--ee-url`` (or ``GEE_FLOOD_EE_URL``) points those commands at another Earth Engine-compatible REST endpoint.

Old spellings (``--dest``, ``--json``, ``--html``, ``--output-dir``, ``--no-progress``, ``data download DATASET``)
still work for one release as hidden options that print a deprecation line on stderr.

Help is rendered without Rich markup (``rich_markup_mode=None``): help texts hold literal brackets such as
``gs://bucket[/prefix]``, which Rich would read as markup tags.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from gee_flood._boundary import (
    BoundaryGroup,
    discard_empty_native_log,
    install_sigterm_handler,
    native_stderr_to_log,
)
from gee_flood._io import check_outputs
from gee_flood.errors import GeeFloodError, InputError
from gee_flood.service_requests import (
    EE_URL_DOC,
    RETRY_TIMEOUT_ENV,
    RETRY_TIMEOUT_S,
    FetchRequest,
    PredictOptions,
    PredictRequest,
    field_doc,
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: No Rich markup in help: a literal ``[...]`` in a help text must print as it is, never be parsed as a tag.
_MARKUP = None

app = typer.Typer(
    name="gee-flood",
    help="Map flood extent from Sentinel-1 SAR, learnt from Sentinel-2 by cross-modal distillation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=_MARKUP,
    cls=BoundaryGroup,
)
data_app = typer.Typer(
    help="Download and inspect datasets (Sen1Floods11, OMBRIA).", no_args_is_help=True, rich_markup_mode=_MARKUP
)
train_app = typer.Typer(
    help="Train a teacher (S1+S2), a SAR-only student, or a baseline.",
    no_args_is_help=True,
    rich_markup_mode=_MARKUP,
)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


class OrbitPass(StrEnum):
    """Sentinel-1 orbit direction (``fetch --orbit-pass``)."""

    ASCENDING = "ASCENDING"
    DESCENDING = "DESCENDING"
    ANY = "any"


class CloudMask(StrEnum):
    """Sentinel-2 cloud mask (``fetch --cloud-mask``)."""

    CLOUDSCORE = "cloudscore"
    PROBABILITY = "probability"


class Endpoint(StrEnum):
    """Earth Engine endpoint (``fetch --endpoint``)."""

    HIGHVOLUME = "highvolume"
    STANDARD = "standard"


class Dataset(StrEnum):
    """Datasets :func:`gee_flood.data.open_dataset` opens (``evaluate``, ``data stats``)."""

    SEN1FLOODS11 = "sen1floods11"
    OMBRIA = "ombria"
    SYNTHETIC = "synthetic"


class DownloadDataset(StrEnum):
    """Datasets ``data download`` can fetch (OMBRIA is not hosted for download: read it in place)."""

    SEN1FLOODS11 = "sen1floods11"


class DownloadPart(StrEnum):
    """Parts of Sen1Floods11 to download (``data download --part``)."""

    HAND = "hand"
    WEAK = "weak"
    SPLITS = "splits"
    ALL = "all"


class StatsPart(StrEnum):
    """Sen1Floods11 parts to compute statistics from (``data stats --part``)."""

    HAND = "hand"
    WEAK = "weak"


class Method(StrEnum):
    """Methods ``evaluate`` runs without training (``--method``)."""

    OTSU = "otsu"
    CHANGE = "change"


class PredictMethod(StrEnum):
    """How ``predict`` maps water (``--method``): a trained checkpoint, or UN-SPIDER change detection."""

    MODEL = "model"
    CHANGE = "change"


class ReferenceKind(StrEnum):
    """What a JRC reference-water raster holds (``predict --reference-kind``)."""

    SEASONALITY = "seasonality"
    OCCURRENCE = "occurrence"


class OtsuVariant(StrEnum):
    """Otsu thresholding variants (``evaluate --otsu``)."""

    GLOBAL = "global"
    TILED = "tiled"


class Labels(StrEnum):
    """Label sources (``evaluate --labels``)."""

    AUTO = "auto"
    HAND = "hand"
    S1OTSU = "s1otsu"
    S2INDEX = "s2index"
    TRUTH = "truth"


class Runtime(StrEnum):
    """Inference runtimes (``predict --runtime``)."""

    AUTO = "auto"
    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"


class BaselineKind(StrEnum):
    """Baseline label kinds (``train baseline --kind``)."""

    SUPERVISED = "supervised"
    WEAK = "weak"


def user_errors(func: F) -> F:
    """Mark a command as running inside the app-level boundary (kept so commands read alike; changes nothing).

    The boundary itself (:class:`gee_flood._boundary.BoundaryGroup`, the app's group class) turns every failure of
    every command into one ``error:`` line and an exit code: a :class:`GeeFloodError` its own line (exit 2 for bad
    input), an :class:`OSError` the file it is about (exit 1), anything else ``<command>: <Class>: <message>`` with
    the log file of its traceback (exit 1), Ctrl-C exit 130, SIGTERM exit 143.
    """
    return func


def renamed(new_value: T, old_value: T | None, *, new: str, old: str) -> T:
    """Return the value of an option given under its new spelling or its old, deprecated (hidden) one.

    The old spelling prints one deprecation line on stderr; it is kept for one release.

    Args:
        new_value: The value of the new spelling (``None``/``False`` when not given).
        old_value: The value of the old spelling (``None``/``False`` when not given).
        new: The new flag, e.g. ``--out``.
        old: The old flag, e.g. ``--dest``.

    Raises:
        InputError: Both spellings were given.
    """
    if old_value is None or old_value is False:
        return new_value
    typer.echo(f"warning: {old} is deprecated and will be removed in the next release; use {new}", err=True)
    if new_value is not None and new_value is not False:
        raise InputError(f"give {new} only, not {old} too")
    return old_value


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gee-flood")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from gee_flood import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gee-flood {_package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="GEE_FLOOD_DEBUG",
            help="On a failure, also print the traceback (always written to the log file the error line names).",
        ),
    ] = False,
) -> None:
    """Map flood extent from Sentinel-1 SAR, learnt from Sentinel-2 by cross-modal distillation."""
    ctx.find_root().meta["gee_flood.debug"] = debug


_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
_Project = Annotated[
    str | None,
    typer.Option("--project", envvar="EE_PROJECT", help="Earth Engine Cloud project (default: the credentials')."),
]
_EEUrl = Annotated[
    str | None,
    typer.Option(
        "--ee-url",
        envvar="GEE_FLOOD_EE_URL",
        help=EE_URL_DOC,
    ),
]


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder (kept; a second run reuses its corpus).")] = Path(
        "demo-out"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller scene and shorter training (about a minute).")
    ] = False,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps per trained model.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None,
    quiet: _Quiet = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", hidden=True, help="Deprecated: use --quiet.")] = False,
) -> None:
    """Run the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator.

    Synthetic S1/S2 scene -> emulated Earth Engine -> fetch through xee -> teacher, weak baseline and student ->
    predict -> export to an emulated asset -> geemap HTML map and a report (no account, no network).
    """
    from gee_flood.demo.pipeline import DemoOptions, run_demo

    quiet = renamed(quiet, no_progress, new="--quiet", old="--no-progress")
    check_outputs({"--out": out}, directories=frozenset({"--out"}))
    overrides = {"steps": steps} if steps is not None else {}
    options = DemoOptions.for_run(out, quick=quick, threads=threads, progress=not quiet, **overrides)
    result = run_demo(options)
    typer.echo(result.report_markdown.read_text())
    typer.echo(f"report: {result.report_markdown}  map: {result.map_html}  overview: {result.overview_png}")


def _request_values(request_type: type, ctx: typer.Context) -> dict[str, Any]:
    """Return the running command's parameters that are fields of ``request_type``, enums as their values.

    A command's parameters carry the names of the request fields they set, so a request is built once from them
    (plus the few CLI-only flags the command turns into fields itself).
    """
    import dataclasses

    names = {item.name for item in dataclasses.fields(request_type)}
    params = ctx.params
    return {name: value.value if isinstance(value, Enum) else value for name, value in params.items() if name in names}


@app.command()
@user_errors
def fetch(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help=field_doc(FetchRequest, "out"))],
    aoi: Annotated[Path | None, typer.Option("--aoi", help=field_doc(FetchRequest, "aoi"))] = None,
    dates: Annotated[str | None, typer.Option("--dates", help=field_doc(FetchRequest, "dates"))] = None,
    chips: Annotated[Path | None, typer.Option("--chips", help=field_doc(FetchRequest, "chips"))] = None,
    event: Annotated[str | None, typer.Option("--event", help=field_doc(FetchRequest, "event"))] = None,
    max_days: Annotated[int, typer.Option("--max-days", help=field_doc(FetchRequest, "max_days"))] = 2,
    max_cloud: Annotated[float, typer.Option("--max-cloud", help=field_doc(FetchRequest, "max_cloud"))] = 0.5,
    max_scene_cloud: Annotated[
        float, typer.Option("--max-scene-cloud", help=field_doc(FetchRequest, "max_scene_cloud"))
    ] = 80.0,
    min_valid: Annotated[float, typer.Option("--min-valid", help=field_doc(FetchRequest, "min_valid"))] = 0.2,
    chip_size: Annotated[int, typer.Option("--chip-size", help=field_doc(FetchRequest, "chip_size"))] = 512,
    scale: Annotated[float, typer.Option("--scale", help=field_doc(FetchRequest, "scale"))] = 10.0,
    crs: Annotated[str, typer.Option("--crs", help=field_doc(FetchRequest, "crs"))] = "auto",
    orbit_pass: Annotated[
        OrbitPass, typer.Option("--orbit-pass", case_sensitive=False, help=field_doc(FetchRequest, "orbit_pass"))
    ] = OrbitPass.ANY,
    cloud_mask: Annotated[
        CloudMask, typer.Option("--cloud-mask", case_sensitive=False, help=field_doc(FetchRequest, "cloud_mask"))
    ] = CloudMask.CLOUDSCORE,
    cloud_threshold: Annotated[
        float | None, typer.Option("--cloud-threshold", help=field_doc(FetchRequest, "cloud_threshold"))
    ] = None,
    permanent_water: Annotated[
        bool, typer.Option("--permanent-water", help=field_doc(FetchRequest, "permanent_water"))
    ] = False,
    weak_labels: Annotated[bool, typer.Option("--weak-labels", help=field_doc(FetchRequest, "weak_labels"))] = False,
    project: _Project = None,
    endpoint: Annotated[
        Endpoint, typer.Option("--endpoint", case_sensitive=False, help=field_doc(FetchRequest, "endpoint"))
    ] = Endpoint.HIGHVOLUME,
    ee_url: _EEUrl = None,
    retry_timeout: Annotated[
        float,
        typer.Option("--retry-timeout", envvar=RETRY_TIMEOUT_ENV, help=field_doc(FetchRequest, "retry_timeout")),
    ] = RETRY_TIMEOUT_S,
    workers: Annotated[int, typer.Option("--workers", help=field_doc(FetchRequest, "workers"))] = 4,
    io_threads: Annotated[int, typer.Option("--io-threads", help=field_doc(FetchRequest, "io_threads"))] = 2,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help=field_doc(FetchRequest, "scheduler"))] = None,
    block_px: Annotated[
        int, typer.Option("--block-size", hidden=True, help=field_doc(FetchRequest, "block_px"))
    ] = 2048,
    allow_large: Annotated[bool, typer.Option("--allow-large", help=field_doc(FetchRequest, "allow_large"))] = False,
    fast_retries: Annotated[
        bool, typer.Option("--fast-retries", hidden=True, help="Millisecond retry delays.")
    ] = False,
    quiet: _Quiet = False,
) -> None:
    """Fetch paired S1/S2 chips from Earth Engine through xee into an on-disk corpus."""
    from gee_flood.earthengine import RetryPolicy, run_fetch

    request = FetchRequest(
        **_request_values(FetchRequest, ctx), retry=RetryPolicy.fast() if fast_retries else None, progress=not quiet
    )
    summary = run_fetch(request)
    typer.echo(summary.line())


@app.command()
@user_errors
def evaluate(
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Dataset to evaluate on.")],
    root: Annotated[Path | None, typer.Option("--root", help="Dataset folder.")] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate on (ombria: test|train; sen1floods11: test|...).")] = (
        "test"
    ),
    method: Annotated[Method | None, typer.Option(help="Method that needs no training.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A gee-flood checkpoint (teacher, student or baseline).")
    ] = None,
    otsu: Annotated[
        OtsuVariant, typer.Option(help="Otsu variant: global (per chip) or tiled (bimodal tiles).")
    ] = OtsuVariant.GLOBAL,
    band: Annotated[
        str | None, typer.Option(help="SAR band to threshold as modality/band (default: s1/VV; OMBRIA's 8-bit SAR).")
    ] = None,
    labels: Annotated[Labels, typer.Option(help="Label source (auto = the dataset's hand labels).")] = Labels.AUTO,
    out: Annotated[Path | None, typer.Option("--out", help="File: the report (JSON), written atomically.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", hidden=True, help="Deprecated: use --out.")] = None,
    quiet: _Quiet = False,
) -> None:
    """Evaluate a method or checkpoint on a labelled dataset (table + JSON, per event)."""
    from gee_flood.evaluation.evaluate import print_report, run_evaluation

    out = renamed(out, json_out, new="--out", old="--json")
    check_outputs({"--out": out}, {"--checkpoint": checkpoint, "--root": root})
    predictor = _evaluation_predictor(
        dataset.value,
        method=method.value if method is not None else None,
        otsu=otsu.value,
        band=band,
        checkpoint=checkpoint,
    )
    report = run_evaluation(
        dataset.value, root, split, predictor, labels=labels.value, json_path=out, progress=not quiet
    )
    print_report(report)
    if out is not None:
        typer.echo(f"wrote {out}")


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


#: The flood product's local auxiliary rasters (``predict`` and ``watch``).
_ReferenceWater = Annotated[
    Path | None, typer.Option("--reference-water", help=field_doc(PredictRequest, "reference_water"))
]
_ReferenceKindOption = Annotated[
    ReferenceKind, typer.Option("--reference-kind", help=field_doc(PredictRequest, "reference_kind"))
]
_Dem = Annotated[Path | None, typer.Option("--dem", help=field_doc(PredictRequest, "dem"))]
_Hand = Annotated[Path | None, typer.Option("--hand", help=field_doc(PredictRequest, "hand"))]
_WorldCover = Annotated[Path | None, typer.Option("--worldcover", help=field_doc(PredictRequest, "worldcover"))]


@app.command()
@user_errors
def predict(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help=field_doc(PredictRequest, "out"))],
    checkpoint: Annotated[
        list[Path] | None, typer.Option("--checkpoint", help=field_doc(PredictRequest, "checkpoint"))
    ] = None,
    method: Annotated[
        PredictMethod, typer.Option("--method", help=field_doc(PredictRequest, "method"))
    ] = PredictMethod.MODEL,
    pre: Annotated[Path | None, typer.Option("--pre", help=field_doc(PredictRequest, "pre"))] = None,
    input_path: Annotated[Path | None, typer.Option("--input", help=field_doc(PredictRequest, "input_path"))] = None,
    aoi: Annotated[Path | None, typer.Option("--aoi", help=field_doc(PredictRequest, "aoi"))] = None,
    date: Annotated[str | None, typer.Option("--date", help=field_doc(PredictRequest, "date"))] = None,
    scale_m: Annotated[float, typer.Option("--scale", help=field_doc(PredictRequest, "scale_m"))] = 10.0,
    keep_scene: Annotated[
        Path | None, typer.Option("--keep-scene", help=field_doc(PredictRequest, "keep_scene"))
    ] = None,
    polygons: Annotated[Path | None, typer.Option("--polygons", help=field_doc(PredictRequest, "polygons"))] = None,
    reference_water: _ReferenceWater = None,
    reference_kind: _ReferenceKindOption = ReferenceKind.SEASONALITY,
    reference_threshold: Annotated[
        float | None, typer.Option("--reference-threshold", help=field_doc(PredictRequest, "reference_threshold"))
    ] = None,
    dem: _Dem = None,
    hand: _Hand = None,
    worldcover: _WorldCover = None,
    slope_max: Annotated[float, typer.Option("--slope-max", help=field_doc(PredictRequest, "slope_max"))] = 5.0,
    hand_max: Annotated[float, typer.Option("--hand-max", help=field_doc(PredictRequest, "hand_max"))] = 15.0,
    incidence_angle: Annotated[
        float, typer.Option("--incidence-angle", help=field_doc(PredictRequest, "incidence_angle"))
    ] = 37.0,
    look_azimuth: Annotated[
        float, typer.Option("--look-azimuth", help=field_doc(PredictRequest, "look_azimuth"))
    ] = 80.0,
    min_mapping_unit: Annotated[
        int, typer.Option("--min-mapping-unit", help=field_doc(PredictRequest, "min_mapping_unit"))
    ] = 8,
    border_noise: Annotated[int, typer.Option("--border-noise", help=field_doc(PredictRequest, "border_noise"))] = 0,
    ee_auxiliary: Annotated[
        bool, typer.Option("--ee-auxiliary", help=field_doc(PredictRequest, "ee_auxiliary"))
    ] = False,
    threshold: Annotated[float | None, typer.Option("--threshold", help=field_doc(PredictOptions, "threshold"))] = None,
    tile: Annotated[int, typer.Option("--tile", help=field_doc(PredictOptions, "tile"))] = 512,
    overlap: Annotated[int, typer.Option("--overlap", help=field_doc(PredictOptions, "overlap"))] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help=field_doc(PredictOptions, "batch_size"))] = 8,
    device: Annotated[str, typer.Option("--device", help=field_doc(PredictOptions, "device"))] = "auto",
    runtime: Annotated[Runtime, typer.Option("--runtime", help=field_doc(PredictOptions, "runtime"))] = Runtime.AUTO,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help=field_doc(PredictOptions, "scheduler"))] = None,
    workers: Annotated[int, typer.Option("--workers", help=field_doc(PredictOptions, "workers"))] = 2,
    block_rows: Annotated[int, typer.Option("--block-rows", help=field_doc(PredictOptions, "block_rows"))] = 2048,
    project: _Project = None,
    ee_url: _EEUrl = None,
    retry_timeout: Annotated[
        float,
        typer.Option("--retry-timeout", envvar=RETRY_TIMEOUT_ENV, help=field_doc(PredictRequest, "retry_timeout")),
    ] = RETRY_TIMEOUT_S,
    quiet: _Quiet = False,
) -> None:
    """Map floods from Sentinel-1 with a trained SAR-only student; writes a Cloud-Optimized GeoTIFF."""
    from gee_flood.inference.command import run_predict

    options = PredictOptions(**_request_values(PredictOptions, ctx), progress=not quiet)
    summary = run_predict(PredictRequest(**_request_values(PredictRequest, ctx), options=options))
    typer.echo(
        f"wrote {summary.output}: {summary.width} x {summary.height} px, {summary.crs}, "
        f"water {100 * summary.water_fraction:.1f} % of {summary.valid_pixels} valid pixels, "
        f"flooded {summary.flooded_km2:.3f} km², excluded {summary.excluded_km2:.3f} km² "
        f"({summary.tiles} tiles, {summary.device}, {summary.scheduler}, {summary.seconds:.1f} s)"
    )
    if summary.polygons:
        typer.echo(f"wrote {summary.polygons}: {summary.polygon_count} polygons")


@app.command()
@user_errors
def stats(
    out: Annotated[
        Path, typer.Option("--out", help="File: the statistics, .csv, or .geojson/.parquet (the zones with them).")
    ],
    flood_map: Annotated[
        Path | None, typer.Option("--map", help="Flood map COG written by gee-flood predict (the local route).")
    ] = None,
    asset: Annotated[
        str | None,
        typer.Option("--asset", help="Flood map asset in Earth Engine (the server-side route: reduceRegions)."),
    ] = None,
    project: _Project = None,
    ee_url: _EEUrl = None,
    zones: Annotated[
        Path | None, typer.Option("--zones", help="Zones: GeoJSON or GeoParquet polygons (default: the whole map).")
    ] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="Column naming each zone.")] = None,
    admin_level: Annotated[
        int | None,
        typer.Option(
            "--admin-level",
            help="With --asset: the zones are FAO GAUL 2015 level 1 or 2 units, in Earth "
            "Engine (FAO/GAUL/2015/level1, level2).",
        ),
    ] = None,
    population: Annotated[
        Path | None, typer.Option("--population", help="Population count raster (people per cell), any CRS.")
    ] = None,
    worldcover: Annotated[
        Path | None, typer.Option("--worldcover", help="ESA WorldCover raster (cropland 40, built-up 50), any CRS.")
    ] = None,
    ee_population: Annotated[
        str | None,
        typer.Option("--ee-population", help="With --asset: population image, e.g. JRC/GHSL/P2023A/GHS_POP/2020."),
    ] = None,
    ee_worldcover: Annotated[
        str | None,
        typer.Option("--ee-worldcover", help="With --asset: WorldCover image, e.g. ESA/WorldCover/v200/2021."),
    ] = None,
) -> None:
    """Flooded and excluded km² on the ground and exposure per zone of a flood map (local COG or Earth Engine)."""
    import math

    from gee_flood.product.stats import check_statistics_output, write_statistics, zone_statistics

    if (flood_map is None) == (asset is None):
        raise InputError("give --map flood.tif (computed here) or --asset projects/... (computed by Earth Engine)")
    check_statistics_output(out, inputs={"--map": flood_map, "--zones": zones, "--population": population,
                                         "--worldcover": worldcover})  # fmt: skip
    shaped = out.suffix.lower() in (".geojson", ".json", ".parquet")
    if shaped and zones is None and admin_level is None:
        raise InputError(f"--out {out}: GeoJSON/GeoParquet statistics need --zones; write a .csv for the whole map")
    shapes: Any = zones  # the zones' polygons (GeoJSON output)
    if admin_level is not None and asset is None:
        raise InputError(f"--admin-level {admin_level}: FAO GAUL is read in Earth Engine, with --asset; with --map "
                         "give the zones as a file (--zones)")  # fmt: skip
    if asset is not None:
        if population is not None or worldcover is not None:
            raise InputError("--population and --worldcover are files for --map; with --asset use --ee-population "
                             "and --ee-worldcover (Earth Engine image ids)")  # fmt: skip
        from gee_flood.earthengine import EESettings
        from gee_flood.product.ee_stats import ee_zone_statistics

        settings = EESettings(project=project or asset.split("/")[1], endpoint="standard", url=ee_url)
        frame = ee_zone_statistics(asset, zones, id_field=id_field, admin=admin_level, population=ee_population,
                                   worldcover=ee_worldcover, settings=settings)  # fmt: skip
        if admin_level is not None and shaped:
            from gee_flood.product.ee_stats import ee_admin_zones

            shapes = ee_admin_zones(asset, admin_level, settings=settings)  # the units' polygons, for the GeoJSON
    else:
        assert flood_map is not None
        frame = zone_statistics(flood_map, zones, id_field=id_field, population=population, worldcover=worldcover)
    write_statistics(frame, out, shapes, id_field=id_field if admin_level is None else None)
    for row in frame.itertuples():
        typer.echo(f"{row.zone}: flooded {row.flooded_km2:.3f} km², excluded {row.excluded_km2:.3f} km²"
                   + (f", {row.people_exposed:.0f} people" if "people_exposed" in frame
                      and not math.isnan(row.people_exposed) else "")
                   + (f", cropland {row.cropland_flooded_km2:.3f} km²" if "cropland_flooded_km2" in frame
                      and not math.isnan(row.cropland_flooded_km2) else ""))  # fmt: skip
    typer.echo(f"wrote {out}: {len(frame)} zone(s)")


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
    create_parents: Annotated[
        bool,
        typer.Option(
            "--create-parents/--no-create-parents",
            help="Create the asset's missing parent folders (default; each is printed); with --no-create-parents "
            "a missing one is an error.",
        ),
    ] = True,
    project: Annotated[
        str | None,
        typer.Option("--project", envvar="EE_PROJECT", help="Earth Engine Cloud project (default: the asset's)."),
    ] = None,
    ee_url: _EEUrl = None,
    start_time: Annotated[
        str | None,
        typer.Option(
            "--start-time",
            help="Acquisition time of the map (ISO 8601, UTC if no offset), set as the asset's startTime/endTime "
            "(default: the map's acquisition_start tag).",
        ),
    ] = None,
    retry_timeout: Annotated[
        float,
        typer.Option("--retry-timeout", envvar=RETRY_TIMEOUT_ENV, help=field_doc(PredictRequest, "retry_timeout")),
    ] = RETRY_TIMEOUT_S,
    view: Annotated[Path | None, typer.Option("--view", help="Flood map to show in an HTML page.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File: the HTML page to write (with --view).")] = None,
    html: Annotated[Path | None, typer.Option("--html", hidden=True, help="Deprecated: use --out.")] = None,
    s1: Annotated[Path | None, typer.Option("--s1", help="Sentinel-1 scene shown under the flood map.")] = None,
    quiet: _Quiet = False,
) -> None:
    """Push a flood mask to an Earth Engine asset and/or write an HTML map (geemap)."""
    out = renamed(out, html, new="--out", old="--html")
    if mask is None and view is None:
        raise InputError("give --mask flood.tif with --asset and --bucket, and/or --view flood.tif with --out map.html")
    if view is not None and out is None:
        raise InputError("--view needs --out map.html")
    check_outputs({"--out": out}, {"--mask": mask, "--view": view, "--s1": s1})
    if mask is not None:
        if asset is None or bucket is None:
            raise InputError("--mask needs --asset projects/<project>/assets/<path> and --bucket gs://bucket[/prefix]")
        from gee_flood.earthengine.export import push_flood_map
        from gee_flood.service_requests import RetryPolicy

        if not retry_timeout > 0 or retry_timeout == float("inf"):
            raise InputError(f"--retry-timeout: {retry_timeout} must be a positive number of seconds")
        result = push_flood_map(
            mask,
            asset,
            bucket,
            cog_backed=cog_backed,
            overwrite=overwrite,
            create_parents=create_parents,
            project=project,
            ee_url=ee_url,
            progress=not quiet,
            start_time=start_time,
            retry=RetryPolicy(timeout_s=retry_timeout),
        )
        for folder in result.created_folders:
            typer.echo(f"created folder {folder}")
        done = "already up to date" if result.already_done else result.mode
        typer.echo(f"asset {result.asset}: {done} from {result.uri}")
    if view is not None and out is not None:
        from gee_flood.mapping import write_map_html

        page = write_map_html(view, out, s1=s1, asset=asset, project=project, ee_url=ee_url)
        typer.echo(f"wrote {page}")


@app.command()
@user_errors
def watch(
    aoi: Annotated[Path, typer.Option("--aoi", help="GeoJSON area to watch (EPSG:4326).")],
    since: Annotated[str, typer.Option("--since", help="First UTC day YYYY-MM-DD.")],
    collection: Annotated[
        str, typer.Option("--collection", help="Earth Engine ImageCollection projects/<project>/assets/<path>.")
    ],
    bucket: Annotated[str, typer.Option("--bucket", help="Cloud Storage gs://bucket[/prefix] the maps go through.")],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="SAR-only student (or baseline) checkpoint (--method model).")
    ] = None,
    method: Annotated[
        PredictMethod,
        typer.Option("--method", help="model (a checkpoint) or change (UN-SPIDER change detection, checkpoint-free)."),
    ] = PredictMethod.MODEL,
    pre_days: Annotated[
        int | None,
        typer.Option(
            "--pre-days",
            help="--method change: the reference is the earliest pass of the same relative orbit in this many days "
            "before each acquisition (default 30).",
        ),
    ] = None,
    ee_auxiliary: Annotated[
        bool,
        typer.Option(
            "--ee-auxiliary",
            help="Read JRC GSW, SRTM, MERIT Hydro hnd, ESA WorldCover from Earth Engine (once per run): normal water "
            "is not flood; shadow/layover, slope, HAND, urban are excluded.",
        ),
    ] = False,
    reference_water: _ReferenceWater = None,
    reference_kind: _ReferenceKindOption = ReferenceKind.SEASONALITY,
    dem: _Dem = None,
    hand: _Hand = None,
    worldcover: _WorldCover = None,
    until: Annotated[str | None, typer.Option("--until", help="Last UTC day YYYY-MM-DD (default: today).")] = None,
    once: Annotated[bool, typer.Option("--once", help="One run, then exit (cron, CI).")] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between runs without --once.", min=1.0)
    ] = 3600.0,
    log: Annotated[Path | None, typer.Option("--log", help="File: append one JSON line per event.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Folder: keep each acquisition's map.")] = None,
    scale_m: Annotated[float, typer.Option("--scale", help="Pixel size (m) of the Sentinel-1 read.")] = 10.0,
    project: _Project = None,
    ee_url: _EEUrl = None,
) -> None:
    """Map every new Sentinel-1 acquisition over an area into an Earth Engine ImageCollection (the ledger)."""
    from gee_flood.watch import EventLog, WatchEvent, WatchRequest, watch_loop, watch_once

    request = WatchRequest(aoi=aoi, since=since, until=until, checkpoint=checkpoint, method=method.value,
                           pre_days=pre_days, ee_auxiliary=ee_auxiliary, reference_water=reference_water,
                           reference_kind=reference_kind.value, dem=dem, hand=hand, worldcover=worldcover,
                           collection=collection, bucket=bucket,
                           project=project, ee_url=ee_url, scale_m=scale_m, out_dir=out_dir)  # fmt: skip
    sink = EventLog(log) if log is not None else None

    def show(event: WatchEvent) -> None:
        typer.echo(event.line())
        if sink is not None:
            sink(event)

    try:
        if once:
            result = watch_once(request, on_event=show)
            typer.echo(
                f"{result.collection}: {result.found} found, {result.mapped} mapped, {result.pushed} pushed, "
                f"{result.skipped} skipped"
            )
        else:
            watch_loop(request, interval_s=interval, on_event=show)
    finally:
        if sink is not None:
            sink.close()


@data_app.command("download", context_settings={"allow_extra_args": True})
@user_errors
def data_download(
    ctx: typer.Context,
    dataset: Annotated[
        DownloadDataset | None,
        typer.Option(
            "--dataset", show_default=False, help="Dataset to download (OMBRIA is read in place).  [required]"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder: the destination; it will hold v1.1/ as in the bucket.  [required]"),
    ] = None,
    dest: Annotated[Path | None, typer.Option("--dest", hidden=True, help="Deprecated: use --out.")] = None,
    part: Annotated[DownloadPart, typer.Option(help="Part to download; all is ~14 GB.")] = DownloadPart.HAND,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Files downloaded in parallel.")] = 4,
    quiet: _Quiet = False,
    list_url: Annotated[
        str | None,
        typer.Option(
            "--list-url", hidden=True, envvar="GEE_FLOOD_SEN1FLOODS11_LIST_URL", help="Bucket listing URL (tests)."
        ),
    ] = None,
    object_url: Annotated[
        str | None,
        typer.Option(
            "--object-url", hidden=True, envvar="GEE_FLOOD_SEN1FLOODS11_OBJECT_URL", help="Object base URL (tests)."
        ),
    ] = None,
) -> None:
    """Download a public dataset (resumable, verified): rerun to resume; complete files are skipped."""
    from gee_flood.data.download import download_dataset

    # The old spelling 'data download sen1floods11' (a positional argument), kept out of the usage line.
    if len(ctx.args) > 1:
        raise InputError(f"unexpected arguments {' '.join(ctx.args)!r}; give the dataset as --dataset")
    positional = ctx.args[0] if ctx.args else None
    name = renamed(dataset.value if dataset else None, positional, new="--dataset", old="the DATASET argument")
    out = renamed(out, dest, new="--out", old="--dest")
    if name is None:
        raise InputError("missing option --dataset (sen1floods11)")
    if out is None:
        raise InputError("missing option --out (the destination folder)")
    check_outputs({"--out": out}, directories=frozenset({"--out"}))
    report = download_dataset(
        name, out, part.value, list_url=list_url, object_url=object_url, workers=workers, progress=not quiet
    )
    typer.echo(report.summary())


@data_app.command("stats")
@user_errors
def data_stats(
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Dataset to compute the statistics of.")],
    root: Annotated[Path, typer.Option("--root", help="Dataset folder (a fetched corpus is a sen1floods11 root).")],
    out: Annotated[Path, typer.Option("--out", help="File: the statistics YAML to write.")],
    split: Annotated[str, typer.Option(help="Split to compute from (the training split).")] = "train",
    modalities: Annotated[
        str | None, typer.Option(help="Comma-separated modality names, e.g. s1,s2 (default: all).")
    ] = None,
    part: Annotated[
        StatsPart | None, typer.Option(help="sen1floods11 only: the part to read (default: detected).")
    ] = None,
    max_chips: Annotated[int | None, typer.Option(help="Use a random subset of this many chips.")] = None,
    quiet: _Quiet = False,
) -> None:
    """Compute per-band normalisation statistics (mean, std over valid pixels) from a training split."""
    from gee_flood.data.dataset_config import compute_dataset_stats, format_stats, write_stats

    check_outputs({"--out": out}, {"--root": root})
    names = [m.strip() for m in modalities.split(",") if m.strip()] if modalities else None
    options: dict[str, Any] = {"part": part.value} if part is not None else {}
    stats = compute_dataset_stats(dataset.value, root, split, names, max_chips=max_chips, progress=not quiet, **options)
    write_stats(stats, out)
    typer.echo(format_stats(stats))
    typer.echo(f"wrote {out}")


def _list_configs(value: bool) -> None:
    if value:
        from gee_flood.training.config import list_packaged_configs

        for name in list_packaged_configs():
            typer.echo(name)
        raise typer.Exit()


@train_app.callback(invoke_without_command=True)
def train_group(
    ctx: typer.Context,
    list_configs: Annotated[
        bool,
        typer.Option(
            "--list-configs", is_eager=True, callback=_list_configs, help="Print the packaged config names and exit."
        ),
    ] = False,
) -> None:
    """Train a teacher (S1+S2), a SAR-only student, or a baseline."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _train_overrides(
    seed: int | None,
    max_steps: int | None,
    out: Path | None,
    devices: str | None,
    num_nodes: int | None,
    accelerator: str | None,
    set_: list[str] | None,
    quiet: bool,
) -> dict[str, Any]:
    from gee_flood.training.config import parse_set_options

    overrides: dict[str, Any] = parse_set_options(set_ or [])
    parsed_devices: Any = devices
    if devices is not None and devices.isdigit():
        parsed_devices = int(devices)
    explicit = {
        "trainer.seed": seed,
        "optim.max_steps": max_steps,
        "trainer.output_dir": str(out) if out is not None else None,
        "trainer.devices": parsed_devices,
        "trainer.num_nodes": num_nodes,
        "trainer.accelerator": accelerator,
        "trainer.progress_bar": False if quiet else None,
    }
    overrides.update({key: value for key, value in explicit.items() if value is not None})
    return overrides


def _train(
    role: Literal["teacher", "student", "baseline"],
    config: str,
    *,
    kind: BaselineKind | None = None,
    teacher: list[Path] | None = None,
    seed: int | None,
    max_steps: int | None,
    out: Path | None,
    output_dir: Path | None,
    devices: str | None,
    num_nodes: int | None,
    accelerator: str | None,
    set_: list[str] | None,
    quiet: bool,
    overwrite: bool = False,
) -> None:
    """Build the one :class:`TrainRequest`, train and report (the body of every ``train`` sub-command)."""
    from gee_flood.training.config import resolve_config
    from gee_flood.training.request import TrainRequest
    from gee_flood.training.run import train_from_request

    out = renamed(out, output_dir, new="--out", old="--output-dir")
    kind_value = kind.value if kind is not None else None
    request = TrainRequest(
        role=role,
        config_path=resolve_config(config, role=role, kind=kind_value),
        kind=kind_value,
        teachers=tuple(teacher or ()),
        overrides=_train_overrides(seed, max_steps, out, devices, num_nodes, accelerator, set_, quiet),
        overwrite=overwrite,
    )
    result = train_from_request(request)
    if not result.is_global_zero:
        return  # DDP: rank 0 reports
    typer.echo(f"run directory: {result.run_dir}")
    typer.echo(f"checkpoint:    {result.checkpoint}")
    typer.echo(
        f"validation water IoU {result.best_val_iou:.4f} at threshold {result.card.labels.threshold:.2f} "
        f"({result.summary.get('steps')} steps)"
    )


_Config = Annotated[
    str,
    typer.Option(
        "--config", help="Training config: a packaged name (see 'gee-flood train --list-configs') or a YAML path."
    ),
]
_Seed = Annotated[int | None, typer.Option(help="Seed (overrides trainer.seed).")]
_Steps = Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps (overrides optim.max_steps).")]
_Out = Annotated[
    Path | None, typer.Option("--out", help="Folder: the parent of run directories (overrides trainer.output_dir).")
]
_OutputDir = Annotated[Path | None, typer.Option("--output-dir", hidden=True, help="Deprecated: use --out.")]
_Devices = Annotated[str | None, typer.Option(help="Devices per node ('auto', a count); more than one uses DDP.")]
_Nodes = Annotated[int | None, typer.Option("--num-nodes", help="Nodes for multi-node DDP.")]
_Accel = Annotated[str | None, typer.Option(help="Accelerator: auto (CUDA when present), cpu, gpu.")]
_Set = Annotated[list[str] | None, typer.Option("--set", help="Any config override, key.path=value (repeatable).")]
_Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace the run directory if it exists (default: refuse a non-empty one).")
]


@train_app.command("teacher")
@user_errors
def train_teacher(
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    out: _Out = None,
    output_dir: _OutputDir = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
    overwrite: _Overwrite = False,
    quiet: _Quiet = False,
) -> None:
    """Train the teacher on paired S1 + S2 with hand labels."""
    _train("teacher", config, seed=seed, max_steps=max_steps, out=out, output_dir=output_dir, devices=devices,
           num_nodes=num_nodes, accelerator=accelerator, set_=set_, quiet=quiet,
           overwrite=overwrite)  # fmt: skip


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
    out: _Out = None,
    output_dir: _OutputDir = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
    overwrite: _Overwrite = False,
    quiet: _Quiet = False,
) -> None:
    """Train the SAR-only student from hand labels and a teacher."""
    _train("student", config, teacher=teacher, seed=seed, max_steps=max_steps, out=out, output_dir=output_dir,
           devices=devices, num_nodes=num_nodes, accelerator=accelerator, set_=set_, quiet=quiet,
           overwrite=overwrite)  # fmt: skip


@train_app.command("baseline")
@user_errors
def train_baseline(
    kind: Annotated[
        BaselineKind, typer.Option("--kind", help="supervised (hand labels) or weak (weak labels, e.g. Otsu).")
    ],
    config: _Config,
    seed: _Seed = None,
    max_steps: _Steps = None,
    out: _Out = None,
    output_dir: _OutputDir = None,
    devices: _Devices = None,
    num_nodes: _Nodes = None,
    accelerator: _Accel = None,
    set_: _Set = None,
    overwrite: _Overwrite = False,
    quiet: _Quiet = False,
) -> None:
    """Train a SAR-only baseline on hand labels or weak labels."""
    _train("baseline", config, kind=kind, seed=seed, max_steps=max_steps, out=out, output_dir=output_dir,
           devices=devices, num_nodes=num_nodes, accelerator=accelerator, set_=set_, quiet=quiet,
           overwrite=overwrite)  # fmt: skip


def main() -> None:
    """Console-script entry point: SIGTERM unwinds the command (exit 143), Ctrl-C too (130); see ``user_errors``."""
    install_sigterm_handler()
    native_stderr_to_log()
    try:
        app()
    except GeeFloodError as error:  # raised outside a command (e.g. in a root option's callback)
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except SystemExit as done:
        if done.code in (130, 143):
            _exit_now(done.code)
        raise


def _exit_now(code: int) -> None:
    """After Ctrl-C, end the process at once: no waiting for worker threads, no interpreter teardown.

    Python would wait for every non-daemon thread (a fetch's reader thread still inside an HTTP call) and then tear
    down the loaded libraries (about a second with torch and Earth Engine loaded). By now the command has unwound:
    its ``finally`` blocks ran and its outputs are whole (every writer renames a finished temporary into place;
    reader threads write nothing), so nothing is lost by not waiting.
    """
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    discard_empty_native_log()
    os._exit(code)


if __name__ == "__main__":
    main()

"""What ``gee-flood fetch`` and ``gee-flood predict`` are asked to do: frozen, keyword-only request objects.

The command line builds one request from its options and hands it, unchanged, to the service
(:func:`gee_flood.earthengine.run_fetch`, :func:`gee_flood.inference.command.run_predict`); a notebook builds the
same object. Each field is documented once, here: the text is the field's entry in the class docstring *and* the
``--help`` text of its command-line option.

This module imports only the standard library and :mod:`gee_flood.errors`, so the command line can read the field
documentation without loading Earth Engine, xarray or torch.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from gee_flood.errors import InputError

T = TypeVar("T")

#: ``fetch --orbit-pass`` values.
OrbitPassName = Literal["ASCENDING", "DESCENDING", "any"]
#: ``fetch --cloud-mask`` values.
CloudMaskName = Literal["cloudscore", "probability"]
#: ``fetch --endpoint`` values.
EndpointName = Literal["highvolume", "standard"]
#: ``predict --runtime`` values.
RuntimeName = Literal["auto", "torch", "onnxruntime"]
#: Blending windows of overlapping tiles.
WindowName = Literal["hann", "uniform"]


#: Default of ``--retry-timeout`` (seconds), and of :class:`RetryPolicy`'s bound.
RETRY_TIMEOUT_S = 120.0
#: Environment variable that sets ``--retry-timeout``.
RETRY_TIMEOUT_ENV = "GEE_FLOOD_RETRY_TIMEOUT"
#: Help of ``--retry-timeout`` (fetch, predict) and documentation of the ``retry_timeout`` request fields.
RETRY_TIMEOUT_DOC = (
    "Seconds to keep retrying a failing Earth Engine request before giving up (half of it is the HTTP timeout of one "
    f"request; env {RETRY_TIMEOUT_ENV})."
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry Earth Engine calls, at three levels.

    Attributes:
        ee_max_retries: Retries of one HTTP call inside the EE client (googleapiclient; 429 and 5xx only,
            sleeping ``rand() * 2**n`` seconds).
        xee_max_retries: Retries of one computePixels call by xee (any EE error, ``initial_delay_ms`` doubling
            with jitter). Kept small because xee also retries permanent 400s.
        xee_initial_delay_ms: First xee retry delay.
        attempts: Attempts of a whole read or query by gee-flood, on transient errors only (429, 5xx, network).
        initial_delay_s: First delay of that outer loop; doubles, with full jitter, up to ``max_delay_s``.
        max_delay_s: Longest outer delay.
        timeout_s: Bound on the outer loop, in seconds from the first attempt: no retry starts after it (a wait
            is cut short to end there). Half of it is the HTTP timeout of one request
            (:attr:`request_timeout_s`), so a request that stalls counts as a transient failure and is retried
            (with a ``warning:`` line) within the bound; a call thus gives up within about 1.5 times this.
    """

    # Few retries inside the EE client and xee: they sleep silently (up to 2**n s each, multiplied by xee's tries);
    # the outer loop, which says it retries and keeps to timeout_s, does the rest.
    ee_max_retries: int = 1
    xee_max_retries: int = 1
    xee_initial_delay_ms: int = 500
    attempts: int = 6
    initial_delay_s: float = 2.0
    max_delay_s: float = 60.0
    timeout_s: float = RETRY_TIMEOUT_S

    @property
    def request_timeout_s(self) -> float:
        """HTTP timeout of one Earth Engine request, in seconds: half the retry bound, so a stalled request is retried.

        A whole bound per request would leave no time to retry a request that timed out: a slow computePixels
        would end the run at its first timeout instead of being retried with a warning.
        """
        return self.timeout_s / 2.0

    @classmethod
    def fast(cls) -> RetryPolicy:
        """Return a policy with millisecond delays (tests and the emulator)."""
        return cls(
            ee_max_retries=0,
            xee_max_retries=1,
            xee_initial_delay_ms=5,
            attempts=10,
            initial_delay_s=0.01,
            max_delay_s=0.2,
        )


def _retry_timeout_ok(seconds: float) -> tuple[bool, str]:
    return (
        math.isfinite(seconds) and seconds > 0,
        f"--retry-timeout: {seconds} must be a positive number of seconds",
    )


#: Pixel sizes (metres) ``--scale`` accepts: Sentinel-1 GRD is 10 m; below 1 m is no more detail, only a read
#: millions of times larger; above 10 km a scene is a handful of pixels.
SCALE_RANGE_M = (1.0, 10_000.0)
#: Largest ``--tile`` (pixels): a batch of 4096 x 4096 tiles is already a few GiB of float32.
MAX_TILE_PX = 4096
#: Largest worker / thread / batch counts (a typo such as 10000 would start that many threads).
MAX_WORKERS = 256
MAX_BATCH = 1024


def _in_range(value: float, low: float, high: float, flag: str, unit: str = "", *, sep: str = ":") -> tuple[bool, str]:
    """A range check that also refuses NaN and infinities (``nan`` compares false with every bound)."""
    return (
        math.isfinite(value) and low <= value <= high,
        f"{flag}{sep} {value} must be a number from {low:g} to {high:g}{unit}",
    )


#: Help of ``--ee-url`` (fetch, predict, map) and documentation of the ``ee_url`` request fields.
EE_URL_DOC = "An Earth Engine-compatible REST endpoint such as a local emulator; default: Earth Engine."


def _documented(default: Any = MISSING, *, doc: str) -> Any:
    """Declare a dataclass field with its one documentation line (docstring entry and ``--help`` text)."""
    return field(default=default, metadata={"doc": doc})


def _with_field_docs(cls: type[T]) -> type[T]:
    """Append an ``Attributes:`` section built from the fields' documentation to the class docstring."""
    entries = "\n".join(f"        {item.name}: {item.metadata['doc']}" for item in fields(cls))  # type: ignore[arg-type]
    cls.__doc__ = f"{(cls.__doc__ or '').rstrip()}\n\n    Attributes:\n{entries}\n"
    return cls


def field_doc(request_type: type, name: str) -> str:
    """Return the documentation of field ``name`` of a request class (the ``--help`` text of its option).

    Raises:
        KeyError: If the class has no such field.
    """
    for item in fields(request_type):
        if item.name == name:
            return str(item.metadata["doc"])
    raise KeyError(f"{request_type.__name__} has no field {name!r}")


def request_fields(request_type: type) -> dict[str, Field[Any]]:
    """Return the fields of a request class by name."""
    return {item.name: item for item in fields(request_type)}


def _check(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise InputError(message)


def _check_choice(value: object, choices: Any, flag: str) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise InputError(f"{flag}: {value!r} is not one of {', '.join(map(str, allowed))}")


@_with_field_docs
@dataclass(frozen=True, kw_only=True)
class FetchRequest:
    """What ``gee-flood fetch`` builds: an on-disk corpus of paired Sentinel-1/Sentinel-2 chips.

    Give ``aoi`` with ``dates``, or ``chips``. Built by the CLI from its options and passed unchanged to
    :func:`gee_flood.earthengine.run_fetch` (:func:`gee_flood.fetch_corpus`); :meth:`validate_values` checks it there.

    Example:
        >>> request = FetchRequest(out=Path("corpus"), aoi=Path("po.geojson"), dates="2019-03-01/2019-03-20")
    """

    out: Path = _documented(doc="Corpus folder (created; a rerun resumes it).")
    aoi: Path | None = _documented(None, doc="Area of interest: GeoJSON Polygon in EPSG:4326.")
    dates: str | None = _documented(None, doc="UTC days START/END for --aoi, e.g. 2019-03-01/2019-03-20.")
    chips: Path | None = _documented(
        None, doc="FeatureCollection of chip footprints with s1_date/s2_date (or date), chip_id, event."
    )
    event: str | None = _documented(None, doc="Event name in chip ids (default: the file name).")
    max_days: int = _documented(2, doc="Largest gap between the S1 and S2 days.")
    max_cloud: float = _documented(0.5, doc="Largest cloudy fraction of a chip's S2 pixels.")
    max_scene_cloud: float = _documented(80.0, doc="Scene prefilter: largest CLOUDY_PIXEL_PERCENTAGE (0-100).")
    min_valid: float = _documented(0.2, doc="Smallest fraction of pixels with S1 and clear S2.")
    chip_size: int = _documented(512, doc="Chip side in pixels (--aoi).")
    scale: float = _documented(10.0, doc="Pixel size in metres.")
    crs: str = _documented("auto", doc="utm, EPSG:4326 or EPSG:<code>; auto = UTM for --aoi, EPSG:4326 for --chips.")
    orbit_pass: OrbitPassName = _documented("any", doc="Sentinel-1 orbit direction.")
    cloud_mask: CloudMaskName = _documented("cloudscore", doc="S2 clouds: Cloud Score+ or the s2cloudless probability.")
    cloud_threshold: float | None = _documented(
        None, doc="Clear if cs >= this (default 0.6); cloudy if probability > this (default 50)."
    )
    permanent_water: bool = _documented(False, doc="Also write JRC water occurrence.")
    weak_labels: bool = _documented(False, doc="Also write S1 Otsu and S2 NDWI weak labels.")
    project: str | None = _documented(None, doc="Earth Engine Cloud project (default: the credentials').")
    endpoint: EndpointName = _documented("highvolume", doc="Earth Engine endpoint for the pixel reads.")
    ee_url: str | None = _documented(None, doc=EE_URL_DOC)
    workers: int = _documented(4, doc="Concurrent chip-block tasks.")
    io_threads: int = _documented(2, doc="Concurrent requests per task.")
    scheduler: str | None = _documented(
        None, doc="threads, local (Dask LocalCluster) or tcp://host:port; default by job size."
    )
    block_px: int = _documented(2048, doc="Pixels per side of a chip block.")
    allow_large: bool = _documented(False, doc="Accept AOIs over 100,000 km2.")
    max_candidates: int = _documented(3, doc="S2 mosaics tried per chip before giving up.")
    min_coverage: float = _documented(0.99, doc="Smallest fraction of a chip a mosaic footprint must cover.")
    byte_limit: int | None = _documented(
        None, doc="Largest computePixels request in bytes (default: Earth Engine's 48 MiB limit)."
    )
    retry: RetryPolicy | None = _documented(
        None, doc="Retry policy of Earth Engine requests (default: standard); its timeout_s is retry_timeout."
    )
    retry_timeout: float = _documented(RETRY_TIMEOUT_S, doc=RETRY_TIMEOUT_DOC)
    progress: bool = _documented(True, doc="Show a progress bar.")

    def validate_values(self) -> None:
        """Check ranges, choices and combinations, one line per problem.

        Raises:
            InputError: On the first bad value.
        """
        if (self.aoi is None) == (self.chips is None):
            raise InputError("give either --aoi with --dates, or --chips (not both, not neither)")
        if self.aoi is not None and not self.dates:
            raise InputError("--aoi needs --dates START/END (e.g. 2019-03-01/2019-03-20)")
        if self.chips is not None and self.dates:
            raise InputError("--dates is not used with --chips (each chip carries its own dates)")
        _check_choice(self.orbit_pass, OrbitPassName, "--orbit-pass")
        _check_choice(self.cloud_mask, CloudMaskName, "--cloud-mask")
        _check_choice(self.endpoint, EndpointName, "--endpoint")
        _check(
            [
                (self.max_days >= 0, f"--max-days: {self.max_days} must be >= 0"),
                (0.0 <= self.max_cloud <= 1.0, f"--max-cloud: {self.max_cloud} must be a fraction between 0 and 1"),
                (0.0 <= self.max_scene_cloud <= 100.0, f"--max-scene-cloud: {self.max_scene_cloud} must be 0-100 (%)"),
                (0.0 <= self.min_valid <= 1.0, f"--min-valid: {self.min_valid} must be a fraction between 0 and 1"),
                (8 <= self.chip_size <= 8192, f"--chip-size: {self.chip_size} must be 8-8192 pixels"),
                _in_range(self.scale, *SCALE_RANGE_M, "--scale", " metres"),
                (1 <= self.workers <= MAX_WORKERS, f"--workers: {self.workers} must be 1-{MAX_WORKERS}"),
                (1 <= self.io_threads <= MAX_WORKERS, f"--io-threads: {self.io_threads} must be 1-{MAX_WORKERS}"),
                (1 <= self.block_px <= 32768, f"--block-size: {self.block_px} must be 1-32768 pixels"),
                (self.max_candidates >= 1, f"max_candidates: {self.max_candidates} must be >= 1"),
                (0.0 < self.min_coverage <= 1.0, f"min_coverage: {self.min_coverage} must be in (0, 1]"),
                (self.byte_limit is None or self.byte_limit >= 1, f"byte_limit: {self.byte_limit} must be >= 1"),
                _retry_timeout_ok(self.retry_timeout),
            ]
        )
        if self.cloud_threshold is not None:
            low, high = (0.0, 1.0) if self.cloud_mask == "cloudscore" else (0.0, 100.0)
            if not low <= self.cloud_threshold <= high:
                raise InputError(
                    f"--cloud-threshold: {self.cloud_threshold} must be {low:g}-{high:g} for --cloud-mask "
                    f"{self.cloud_mask}"
                )
        if self.scheduler not in (None, "threads", "local") and not str(self.scheduler).startswith("tcp://"):
            raise InputError(f"--scheduler: {self.scheduler!r} must be threads, local or tcp://host:port")


@_with_field_docs
@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """How to run prediction over a scene (tiling, batching, device, threshold, Dask).

    Passed to :func:`gee_flood.inference.predict_scene`, and inside a :class:`PredictRequest`.
    """

    tile: int = _documented(512, doc="Tile side in pixels (multiple of 32).")
    overlap: int = _documented(128, doc="Overlap between tiles in pixels.")
    batch_size: int = _documented(8, doc="Tiles per forward pass.")
    device: str | None = _documented("auto", doc="auto (CUDA when present), cpu, cuda, cuda:N.")
    runtime: RuntimeName = _documented("auto", doc="auto = ONNX Runtime on a CPU, torch on CUDA.")
    threshold: float | None = _documented(None, doc="Water probability threshold (default: card).")
    window: WindowName = _documented("hann", doc="Blending window of overlapping tiles (uniform: comparisons only).")
    block_rows: int = _documented(2048, doc="Scene rows per Dask task.")
    scheduler: str | None = _documented(None, doc="Run as Dask tasks: 'local' (local cluster) or tcp://host:port.")
    workers: int = _documented(2, doc="Workers of a --scheduler local cluster.")
    progress: bool = _documented(True, doc="Show a progress bar on stderr.")

    def validate_values(self) -> None:
        """Check ranges before any work (a ``--tile 1000000`` would allocate terabytes), one line per problem.

        Raises:
            InputError: On the first bad value.
        """
        _check(
            [
                (
                    32 <= self.tile <= MAX_TILE_PX and self.tile % 32 == 0,
                    f"--tile {self.tile}: expected a multiple of 32 pixels from 32 to {MAX_TILE_PX}",
                ),
                (
                    0 <= self.overlap < self.tile,
                    f"--overlap {self.overlap}: expected 0 <= overlap < tile ({self.tile})",
                ),
                (1 <= self.batch_size <= MAX_BATCH, f"--batch-size {self.batch_size}: expected 1-{MAX_BATCH}"),
                (1 <= self.workers <= MAX_WORKERS, f"--workers {self.workers}: expected 1-{MAX_WORKERS}"),
                (1 <= self.block_rows <= 1_000_000, f"--block-rows {self.block_rows}: expected 1-1000000"),
                (
                    _in_range(self.threshold, 0.0, 1.0, "--threshold", sep="")
                    if self.threshold is not None
                    else (True, "")
                ),
            ]
        )
        _check_choice(self.runtime, RuntimeName, "--runtime")
        _check_choice(self.window, WindowName, "window")


@_with_field_docs
@dataclass(frozen=True, kw_only=True)
class PredictRequest:
    """What ``gee-flood predict`` maps: a Sentinel-1 scene through a SAR-only checkpoint into a COG.

    Exactly one of ``input_path`` (a local scene; with ``aoi`` it is cut to the AOI) and ``aoi`` with ``date``
    (Earth Engine) selects the scene. Built by the CLI from its options and passed unchanged to
    :func:`gee_flood.inference.command.run_predict`, which checks it.
    """

    out: Path = _documented(doc="File: the Cloud-Optimized GeoTIFF to write (.tif).")
    checkpoint: Path | tuple[Path, ...] | list[Path] | None = _documented(
        None, doc="SAR-only student (or baseline) checkpoint (--method model); repeat it: likelihood = their mean."
    )
    method: str = _documented("model", doc="model (a checkpoint) or change (UN-SPIDER change detection, --pre).")
    pre: Path | None = _documented(None, doc="Pre-event S1 GeoTIFF (VV, VH dB) on --input's grid, for --method change.")
    input_path: Path | None = _documented(None, doc="Local Sentinel-1 GeoTIFF: VV, VH in dB, any CRS.")
    aoi: Path | None = _documented(None, doc="GeoJSON area (EPSG:4326); with --input it cuts the scene.")
    date: str | dt.date | None = _documented(None, doc="YYYY-MM-DD: read S1 for --aoi from Earth Engine.")
    scale_m: float = _documented(10.0, doc="Pixel size (m) of the Earth Engine read.")
    keep_scene: Path | None = _documented(None, doc="Keep the S1 scene read from Earth Engine.")
    polygons: Path | None = _documented(None, doc="Also write water polygons (GeoJSON, EPSG:4326).")
    reference_water: Path | None = _documented(
        None, doc="Reference-water raster (JRC Global Surface Water seasonality or occurrence), any CRS."
    )
    reference_kind: str = _documented("seasonality", doc="What --reference-water holds: seasonality or occurrence.")
    reference_threshold: float | None = _documented(
        None, doc="Reference value >= this is normal water (default: 10 months seasonality, 80 % occurrence)."
    )
    dem: Path | None = _documented(None, doc="Elevation raster (m) for slope and radar shadow/layover exclusion.")
    hand: Path | None = _documented(None, doc="Height above nearest drainage raster (m; MERIT Hydro hnd).")
    worldcover: Path | None = _documented(None, doc="ESA WorldCover raster: built-up (50) is excluded.")
    slope_max: float = _documented(5.0, doc="Exclude slopes steeper than this (degrees).")
    hand_max: float = _documented(15.0, doc="Exclude height above nearest drainage over this (m).")
    incidence_angle: float = _documented(37.0, doc="Radar incidence angle (degrees) for shadow/layover.")
    look_azimuth: float = _documented(80.0, doc="Radar look direction, clockwise from north (deg; ~80 asc, ~280 desc).")
    min_mapping_unit: int = _documented(8, doc="Remove flood regions of fewer pixels (8-connected); 0 disables.")
    border_noise: int = _documented(0, doc="Mask this many pixels along the scene's no-data edge (S1 border noise).")
    ee_auxiliary: bool = _documented(
        False, doc="With --aoi --date: read JRC GSW, SRTM, MERIT Hydro hnd, ESA WorldCover from Earth Engine."
    )
    project: str | None = _documented(None, doc="Earth Engine Cloud project (default: the credentials').")
    ee_url: str | None = _documented(None, doc=EE_URL_DOC)
    retry_timeout: float = _documented(RETRY_TIMEOUT_S, doc=RETRY_TIMEOUT_DOC)
    options: PredictOptions = _documented(PredictOptions(), doc="Tiling, batching, device, threshold and Dask.")

    def __post_init__(self) -> None:
        # One spelling per request: one checkpoint is a path, several a tuple (the CLI's repeated --checkpoint).
        if isinstance(self.checkpoint, tuple | list):
            paths = tuple(Path(path) for path in self.checkpoint)
            object.__setattr__(self, "checkpoint", None if not paths else paths[0] if len(paths) == 1 else paths)

    @property
    def checkpoints(self) -> list[Path]:
        """The checkpoints given (none, one, or several: an ensemble whose likelihood is their mean)."""
        if self.checkpoint is None:
            return []
        if isinstance(self.checkpoint, tuple | list):
            return [Path(path) for path in self.checkpoint]
        return [Path(self.checkpoint)]

    def validate_values(self) -> None:
        """Check ranges and options before any work, one line per problem.

        Raises:
            InputError: On the first bad value.
        """
        _check(
            [
                _in_range(self.scale_m, *SCALE_RANGE_M, "--scale", " metres"),
                _retry_timeout_ok(self.retry_timeout),
            ]
        )
        self.options.validate_values()

"""What ``gee-flood predict`` does with its request (:class:`~gee_flood.service_requests.PredictRequest`).

It picks the scene (a local file, optionally cut to an AOI, or Earth Engine for an AOI and date), then calls
:func:`gee_flood.inference.predict.predict_scene`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from gee_flood._io import check_outputs, temporary_directory
from gee_flood.errors import InputError
from gee_flood.geo import parse_date, read_aoi
from gee_flood.inference.aoi import fetch_s1_scene
from gee_flood.inference.predict import PredictionSummary, predict_change_scene, predict_scene
from gee_flood.inference.source import GeoTiffSceneSource
from gee_flood.models import read_card
from gee_flood.product.inputs import AuxRaster, ProductInputs
from gee_flood.product.layers import ProductSettings
from gee_flood.service_requests import PredictRequest, _check, _retry_timeout_ok


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """While predicting, make SIGTERM unwind like Ctrl-C so temporary files beside the output are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_predict(request: PredictRequest, *, console: Console | None = None) -> PredictionSummary:
    """Validate the request, get the scene, predict.

    Exactly one of ``request.input_path`` (a local S1 GeoTIFF; with ``aoi`` it is cut to the AOI) and
    ``request.aoi`` + ``request.date`` (Earth Engine) selects the scene. Everything cheap (checkpoint card, AOI, date,
    files) is checked before any remote read or heavy work.

    Args:
        request: What to map, as the CLI builds it (or a notebook does).
        console: Where progress and warnings go (stderr by default).

    Returns:
        A summary of what was written.

    Raises:
        InputError: A bad option, file, AOI (see :func:`gee_flood.geo.read_aoi`) or date, or a teacher checkpoint.
        DataError: No usable Sentinel-1 data.
    """
    with _interrupt_on_sigterm():
        return _run_predict(request, console or Console(stderr=True))


def _run_predict(request: PredictRequest, console: Console) -> PredictionSummary:
    request.validate_values()
    if request.method not in ("model", "change"):
        raise InputError(f"--method {request.method!r}: expected model (a checkpoint) or change (with --pre)")
    checkpoints = request.checkpoints
    if request.method == "change":
        if checkpoints or request.pre is None or request.input_path is None:
            raise InputError(
                "--method change maps --input against --pre (two local S1 scenes) and takes no --checkpoint"
            )
    elif not checkpoints:
        raise InputError("give --checkpoint student.ckpt (or --method change with --pre pre_event.tif)")
    for checkpoint in checkpoints:
        card = read_card(checkpoint)  # fails early on a missing or foreign checkpoint
        if not card.sar_only:
            from gee_flood.inference.runner import check_sar_only

            check_sar_only(card, checkpoint, {})
    if len(set(map(Path.resolve, checkpoints))) < len(checkpoints):
        raise InputError(f"--checkpoint {checkpoints}: each member of an ensemble once (a checkpoint is repeated)")
    out = Path(request.out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--out {out}: expected a .tif path for the Cloud-Optimized GeoTIFF")
    _refuse_clobbering(request)
    _check([_retry_timeout_ok(request.retry_timeout)])  # fetch's rule and message
    area = read_aoi(request.aoi) if request.aoi is not None else None
    aoi_geometry = area.geometry if area is not None else None
    product = product_inputs(request)
    with contextlib.ExitStack() as cleanup:
        if request.input_path is not None:
            if request.date is not None:
                raise InputError("--date applies to --aoi without --input (a local scene has its own date)")
            if request.ee_auxiliary:
                raise InputError("--ee-auxiliary applies to --aoi --date (give a local scene's auxiliary files)")
            if request.keep_scene is not None:
                raise InputError("--keep-scene keeps a scene read from Earth Engine (--aoi --date); --input is local")
            source = GeoTiffSceneSource(Path(request.input_path), aoi_wgs84=aoi_geometry)
            if request.method == "change":
                assert request.pre is not None
                pre = GeoTiffSceneSource(Path(request.pre), aoi_wgs84=aoi_geometry)
                return predict_change_scene(
                    pre, source, out, product=product, polygons=request.polygons, options=request.options
                )
        else:
            if area is None or request.date is None:
                raise InputError("give --input scene.tif, or --aoi region.geojson with --date YYYY-MM-DD")
            when = parse_date(request.date, what="--date")
            workdir = cleanup.enter_context(temporary_directory(out, label="s1"))
            scene_path = Path(request.keep_scene) if request.keep_scene else Path(workdir) / "s1.tif"
            from gee_flood.earthengine import EESettings, RetryPolicy  # xarray and ee load only for EE reads

            retry = RetryPolicy(timeout_s=request.retry_timeout)
            settings = EESettings(project=request.project, endpoint="standard", url=request.ee_url, retry=retry)
            if request.ee_auxiliary:  # cheap: a missing dataset fails before the scene is read
                from gee_flood.product.ee_inputs import check_auxiliary

                missing = tuple(name for name in _AUXILIARY_RESAMPLING if getattr(product, name) is None)
                check_auxiliary(settings, names=missing, reference_kind=product.settings.reference_kind)
            fetch_s1_scene(area, when, scene_path, scale_m=request.scale_m, ee_settings=settings, console=console)
            source = GeoTiffSceneSource(scene_path, aoi_wgs84=aoi_geometry, crop=False)
            if request.ee_auxiliary:
                _read_auxiliary_from_ee(product, scene_path, Path(workdir), settings)
        return predict_scene(
            checkpoints,
            source,
            out,
            options=request.options,
            polygons=request.polygons,
            product=product,
            console=console,
        )


def _refuse_clobbering(request: PredictRequest) -> None:
    """Refuse outputs that would overwrite an input, each other or a project file, or cannot be written.

    Raises:
        InputError: Naming the option and the path (:func:`gee_flood._io.check_outputs`).
    """
    inputs = {"--input": request.input_path, "--aoi": request.aoi,
              "--pre": request.pre, "--reference-water": request.reference_water, "--dem": request.dem,
              "--hand": request.hand, "--worldcover": request.worldcover,
              **_checkpoint_inputs(request.checkpoints)}  # fmt: skip
    check_outputs({"--out": request.out, "--polygons": request.polygons, "--keep-scene": request.keep_scene}, inputs)


def _checkpoint_inputs(checkpoints: list[Path]) -> dict[str, Path]:
    """``--checkpoint`` by option name: one, or each member of an ensemble by its path."""
    if len(checkpoints) == 1:
        return {"--checkpoint": checkpoints[0]}
    return {f"--checkpoint {path}": path for path in checkpoints}


#: PredictRequest field -> (ProductSettings field, CLI option) of the product's thresholds.
_SETTINGS = {
    "reference_kind": ("reference_kind", "--reference-kind"),
    "reference_threshold": ("reference_threshold", "--reference-threshold"),
    "slope_max": ("slope_max_deg", "--slope-max"),
    "hand_max": ("hand_max_m", "--hand-max"),
    "incidence_angle": ("incidence_deg", "--incidence-angle"),
    "look_azimuth": ("look_azimuth_deg", "--look-azimuth"),
    "min_mapping_unit": ("min_mapping_unit", "--min-mapping-unit"),
    "border_noise": ("border_px", "--border-noise"),
}


def product_settings(request: PredictRequest) -> ProductSettings:
    """The product's thresholds from the request, validated.

    Raises:
        InputError: One line naming the option, its value and what is expected.
    """
    from pydantic import ValidationError

    values = {target: getattr(request, name) for name, (target, _option) in _SETTINGS.items()}
    try:
        return ProductSettings(**values)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0])
        option = next(option for target, option in _SETTINGS.values() if target == field)
        raise InputError(f"{option} {values[field]!r}: {problem['msg'].lower()}") from None


def product_inputs(request: PredictRequest) -> ProductInputs:
    """The product's auxiliary rasters (checked: readable, georeferenced) and thresholds from the request."""
    rasters = {
        "reference": (request.reference_water, "--reference-water", "nearest"),
        "dem": (request.dem, "--dem", "bilinear"),
        "hand": (request.hand, "--hand", "bilinear"),
        "worldcover": (request.worldcover, "--worldcover", "nearest"),
    }
    given = {
        name: AuxRaster(Path(path), option, resampling)  # type: ignore[arg-type]
        for name, (path, option, resampling) in rasters.items()
        if path is not None
    }
    return ProductInputs(settings=product_settings(request), **given)


#: Auxiliary raster -> resampling onto the scene's grid.
_AUXILIARY_RESAMPLING = {"reference": "nearest", "dem": "bilinear", "hand": "bilinear", "worldcover": "nearest"}


def _read_auxiliary_from_ee(product: ProductInputs, scene: Path, workdir: Path, settings: object) -> None:
    """Fill the product's missing auxiliary rasters from Earth Engine, on the scene's grid (files given win)."""
    from gee_flood.product.ee_inputs import ee_datasets, fetch_auxiliary

    resampling = _AUXILIARY_RESAMPLING
    names = tuple(name for name in resampling if getattr(product, name) is None)
    kind = product.settings.reference_kind
    paths = fetch_auxiliary(scene, workdir, settings, names=names, reference_kind=kind)  # type: ignore[arg-type]
    datasets = ee_datasets(kind)
    for name, path in paths.items():
        what = f"{datasets[name].dataset_id} ({datasets[name].band})"
        setattr(product, name, AuxRaster(path, what, resampling[name]))  # type: ignore[arg-type]

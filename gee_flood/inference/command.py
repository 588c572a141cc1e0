"""What ``gee-flood predict`` does with its arguments.

It picks the scene (a local file, optionally cut to an AOI, or Earth Engine for an AOI and date), then calls
:func:`gee_flood.inference.predict.predict_scene`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from gee_flood.errors import InputError
from gee_flood.geo import parse_date, read_aoi
from gee_flood.inference.aoi import fetch_s1_scene
from gee_flood.inference.output import PermanentWater
from gee_flood.inference.predict import PredictionSummary, PredictOptions, predict_scene
from gee_flood.inference.source import GeoTiffSceneSource
from gee_flood.models import read_card


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


def run_predict(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    input_path: str | os.PathLike[str] | None = None,
    aoi: str | os.PathLike[str] | None = None,
    date: str | None = None,
    scale_m: float = 10.0,
    keep_scene: str | os.PathLike[str] | None = None,
    polygons: str | os.PathLike[str] | None = None,
    permanent_water: str | os.PathLike[str] | None = None,
    permanent_threshold: float = 80.0,
    project: str | None = None,
    ee_url: str | None = None,
    options: PredictOptions | None = None,
    console: Console | None = None,
) -> PredictionSummary:
    """Validate the arguments, get the scene, predict.

    Exactly one of ``input_path`` (a local S1 GeoTIFF; with ``aoi`` it is cut to the AOI) and ``aoi`` + ``date``
    (Earth Engine) selects the scene. Everything cheap (checkpoint card, AOI, date, files) is checked before any
    remote read or heavy work.
    """
    with _interrupt_on_sigterm():
        return _run_predict(
            checkpoint,
            out,
            input_path=input_path,
            aoi=aoi,
            date=date,
            scale_m=scale_m,
            keep_scene=keep_scene,
            polygons=polygons,
            permanent_water=permanent_water,
            permanent_threshold=permanent_threshold,
            project=project,
            ee_url=ee_url,
            options=options,
            console=console or Console(stderr=True),
        )


def _run_predict(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    input_path: str | os.PathLike[str] | None,
    aoi: str | os.PathLike[str] | None,
    date: str | None,
    scale_m: float,
    keep_scene: str | os.PathLike[str] | None,
    polygons: str | os.PathLike[str] | None,
    permanent_water: str | os.PathLike[str] | None,
    permanent_threshold: float,
    project: str | None,
    ee_url: str | None,
    options: PredictOptions | None,
    console: Console,
) -> PredictionSummary:
    card = read_card(checkpoint)  # fails early on a missing or foreign checkpoint
    if not card.sar_only:
        from gee_flood.inference.runner import check_sar_only

        check_sar_only(card, checkpoint, {})
    out = Path(out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--out {out}: expected a .tif path for the Cloud-Optimized GeoTIFF")
    area = read_aoi(aoi) if aoi is not None else None
    aoi_geometry = area.geometry if area is not None else None
    permanent = PermanentWater(Path(permanent_water), permanent_threshold) if permanent_water else None
    if input_path is not None:
        if date is not None:
            raise InputError("--date applies to --aoi without --input (a local scene has its own date)")
        source = GeoTiffSceneSource(Path(input_path), aoi_wgs84=aoi_geometry)
        return predict_scene(
            checkpoint, source, out, options=options, polygons=polygons, permanent_water=permanent, console=console
        )
    if area is None or date is None:
        raise InputError("give --input scene.tif, or --aoi region.geojson with --date YYYY-MM-DD")
    when = parse_date(date, what="--date")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.s1.") as workdir:
        scene_path = Path(keep_scene) if keep_scene else Path(workdir) / "s1.tif"
        from gee_flood.earthengine import EESettings

        settings = EESettings(project=project, endpoint="standard", url=ee_url)
        fetch_s1_scene(area, when, scene_path, scale_m=scale_m, ee_settings=settings, console=console)
        source = GeoTiffSceneSource(scene_path, aoi_wgs84=aoi_geometry, crop=False)
        return predict_scene(
            checkpoint, source, out, options=options, polygons=polygons, permanent_water=permanent, console=console
        )

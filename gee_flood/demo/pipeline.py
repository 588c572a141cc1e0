"""``gee-flood demo``: every stage of the tool, end to end, on a built-in synthetic flood, with no account or network.

Stages (each one a call of the same typed function the CLI command calls):

1. **scene**: a synthetic flood scene (UTM, 10 m) with S1 and S2 acquisitions before and after the flood, the
   post-event S2 partly cloudy (:mod:`gee_flood.data.synthetic`), written as a local Earth Engine catalog.
2. **emulator**: the local Earth Engine emulator serves that catalog on loopback; a Cloud Storage emulator
   (gcp-storage-emulator) stands in for the bucket.
3. **fetch**: ``gee-flood fetch`` over the scene's AOI for the event dates, through the real ``earthengine-api``
   and ``xee``: the unlabelled corpus of paired S1/S2 chips, with weak labels (S1 Otsu, S2 NDWI).
4. **teacher**: trained on S1 + S2 of a few *other* synthetic scenes with their true labels (standing in for a
   small hand-labelled set such as Sen1Floods11's).
5. **weak baseline**: a SAR-only model trained on the corpus's S1 Otsu weak labels.
6. **student**: SAR-only, trained on the hand labels plus the teacher's probabilities on the unlabelled corpus.
7. **predict**: ``gee-flood predict --aoi --date`` maps the flood from the event's S1 read through xee.
8. **export**: ``gee-flood map --mask ... --asset ... --bucket ...`` uploads the map to the storage emulator and
   ingests it into the Earth Engine emulator as an image asset.
9. **map + report**: the geemap HTML page, an overview picture, and a report comparing Otsu, the weak-label
   model, the student and the teacher with the scene's true water, including where clouds hid the flood from
   the optical image.

A second run with the same ``--out`` reuses the scene catalog and the fetched corpus.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from affine import Affine
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console

from gee_flood.errors import InputError

#: Project id the demo sends to the emulator.
EMULATOR_PROJECT = "gee-flood-demo"
DEMO_BUCKET = "gee-flood-demo"
DEMO_ASSET = f"projects/{EMULATOR_PROJECT}/assets/demo/flood_map"
#: The collection the demo's watch pushes every post-event acquisition into.
DEMO_WATCH = f"projects/{EMULATOR_PROJECT}/assets/demo/watch"


class DemoOptions(BaseModel):
    """Sizes and budgets of the demo.

    Attributes:
        out: Output directory (kept; a second run reuses its catalog and corpus).
        quick: Smaller scene and shorter training (what CI runs).
        scene_size: Event scene side (pixels of 10 m).
        chip_size: Corpus chip side (pixels).
        hand_scenes: Synthetic scenes whose true labels stand in for the hand-labelled set.
        steps: Optimizer steps of each trained model.
        seed: Seed of the event scene and of training.
        threads: torch CPU threads (None: torch's default).
        progress: Show progress bars.
    """

    out: Path = Path("demo-out")
    quick: bool = False
    scene_size: int = Field(1024, ge=256, le=4096)
    chip_size: int = Field(128, ge=64, le=512)
    hand_scenes: int = Field(3, ge=1, le=20)
    steps: int = Field(160, ge=10, le=100_000)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    threads: int | None = Field(None, ge=1, le=1024)
    progress: bool = True

    @classmethod
    def for_run(cls, out: Path, *, quick: bool = False, **overrides: Any) -> DemoOptions:
        """Return the default options, or the reduced ``--quick`` ones, for ``out``.

        Raises:
            InputError: An override out of range (``steps`` below 10...), naming its ``--option``.
        """
        sizes: dict[str, Any] = {"scene_size": 512, "hand_scenes": 2, "steps": 60} if quick else {}
        try:
            return cls(out=out, quick=quick, **{**sizes, **overrides})
        except ValidationError as error:
            first = error.errors()[0]
            option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "demo option"
            raise InputError(f"{option} {first.get('input')!r}: {first['msg']}") from None


@dataclasses.dataclass
class DemoResult:
    """Where the demo's outputs are."""

    out: Path
    report_json: Path
    report_markdown: Path
    map_html: Path
    overview_png: Path
    flood_map: Path
    asset: str
    report: dict[str, Any]


@dataclasses.dataclass
class _Run:
    """What every step of one demo run shares: its options, output folder, console and stage timings (seconds)."""

    options: DemoOptions
    out: Path
    console: Console
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    def stage(self, title: str, key: str) -> contextlib.AbstractContextManager[None]:
        """Return a context that prints ``title`` and records how long the block took under ``key``."""
        return _stage(self.console, title, self.timings, key)


@dataclasses.dataclass(frozen=True)
class _Event:
    """The synthetic event as the later steps see it.

    Attributes:
        scene: The synthetic scene (``gee_flood.data.synthetic.SyntheticScene``), snapped to the chip lattice.
        catalog_dir: Its Earth Engine emulator catalog.
        aoi: GeoJSON footprint (EPSG:4326).
        event_day: Day of the flood.
        fetch_dates: ``START/END`` (UTC days, end exclusive) covering every post-event acquisition.
        predict_date: Day of the last post-event acquisition (``YYYY-MM-DD``), the one mapped.
    """

    scene: Any
    catalog_dir: Path
    aoi: Path
    event_day: date
    fetch_dates: str
    predict_date: str


@dataclasses.dataclass(frozen=True)
class OfflineSession:
    """The demo's offline world, running: its synthetic flood served by the local emulators.

    Yielded by :func:`offline_session`, for a notebook (the quickstart) or the demo's own pipeline.

    Attributes:
        options: The demo's sizes and budgets (``options.out`` holds everything written).
        aoi: The event's AOI, a GeoJSON polygon (EPSG:4326).
        fetch_dates: ``START/END`` (UTC days, end exclusive) covering every post-event acquisition.
        predict_date: The day mapped (``YYYY-MM-DD``, the last post-event acquisition).
        ee_url: The Earth Engine emulator's URL (loopback), for ``ee_url=`` of the API and the requests.
        project: The Cloud project id to send to the emulator.
        bucket: The Cloud Storage emulator's bucket (``gs://<bucket>/...`` for exports).
        scene: The synthetic scene (``gee_flood.data.synthetic.SyntheticScene``: its true water, clouds...).

    Example:
        >>> with offline_session(DemoOptions.for_run(Path("demo"), quick=True)) as demo:  # doctest: +SKIP
        ...     pairs = gee_flood.open_pairs(demo.aoi, demo.fetch_dates, ee_url=demo.ee_url, project=demo.project)
        ...     gee_flood.write_corpus(pairs, demo.corpus)
        ...     student = demo.train_models()["student"]
    """

    options: DemoOptions
    aoi: Path
    fetch_dates: str
    predict_date: str
    ee_url: str
    scene: Any = dataclasses.field(repr=False)
    _run: _Run = dataclasses.field(repr=False)
    _event: _Event = dataclasses.field(repr=False)
    project: str = EMULATOR_PROJECT
    bucket: str = DEMO_BUCKET

    @property
    def corpus(self) -> Path:
        """Where the demo's corpus goes (``options.out / "corpus"``): :meth:`train_models` trains on it."""
        return self._run.out / "corpus"

    def train_models(self) -> dict[str, Path]:
        """Train the demo's teacher, weak-label baseline and SAR-only student on :attr:`corpus` (write it first).

        Returns:
            ``{"teacher": ..., "weak": ..., "student": ...}``: their ``model.ckpt`` paths.
        """
        return _train_models(self.options, self._run.out, self._run.console, self._run.timings)


@contextlib.contextmanager
def offline_session(options: DemoOptions, *, console: Console | None = None) -> Iterator[OfflineSession]:
    """Make the demo's synthetic flood (an Earth Engine catalog under ``options.out``) and serve it, on loopback.

    Steps 1 and 2 of ``gee-flood demo``: the scene (reused when unchanged), then the Earth Engine emulator and a
    Cloud Storage emulator, both stopped when the block ends. No account and no network are needed.

    Args:
        options: Sizes and the output folder (:meth:`DemoOptions.for_run`).
        console: Where stage headers go (default: stderr; ``Console(quiet=True)`` for none).

    Yields:
        The session: AOI, dates, emulator URL, project, bucket, and :meth:`OfflineSession.train_models`.

    Raises:
        InputError: An emulator cannot start (a busy port, gcp-storage-emulator missing), in one line.

    Example:
        >>> options = DemoOptions.for_run(Path("demo"), quick=True, progress=False)
        >>> with offline_session(options) as demo:  # doctest: +SKIP
        ...     print(demo.ee_url, demo.aoi, demo.fetch_dates)
    """
    run = _start_run(options, console or Console(stderr=True))
    event = _make_scene(run)
    with _serve_emulators(run, event.catalog_dir) as ee_url:
        yield OfflineSession(
            options=options,
            aoi=event.aoi,
            fetch_dates=event.fetch_dates,
            predict_date=event.predict_date,
            ee_url=ee_url,
            scene=event.scene,
            _run=run,
            _event=event,
        )


def run_demo(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the whole pipeline and write everything under ``options.out``.

    Args:
        options: Sizes, budgets and the output directory.
        console: Where stage headers and progress go (default: stderr).

    Returns:
        Paths of the report, map and flood map, and the report itself.
    """
    with offline_session(options, console=console) as session:
        run, event, ee_url = session._run, session._event, session.ee_url
        fetch = _fetch_corpus(run, event, ee_url)
        trained = session.train_models()
        predicted = _predict_flood_maps(run, event, trained, ee_url)
        asset = _export_flood_map(run, predicted["student"], ee_url)
        product = _flood_product(run, event, predicted["student"], asset, ee_url)
        watch = _watch_event(run, event, trained, ee_url)
        map_html, report, paths = _write_map_and_report(
            run, event, fetch, trained, predicted, asset, ee_url, product=product, watch=watch
        )
    return DemoResult(
        out=run.out,
        report_json=paths["json"],
        report_markdown=paths["markdown"],
        map_html=map_html,
        overview_png=paths["overview"],
        flood_map=predicted["student"],
        asset=asset,
        report=report,
    )


def _start_run(options: DemoOptions, console: Console) -> _Run:
    """Create the output folder and apply the torch thread count."""
    import torch

    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    if options.threads:
        torch.set_num_threads(options.threads)
    return _Run(options, out, console)


def _make_scene(run: _Run) -> _Event:
    """Step 1: generate the synthetic flood scene and write it as an emulator catalog (reused when unchanged)."""
    from gee_flood.data.synthetic import SceneConfig, generate_scene
    from gee_flood.demo.catalog import write_scene_catalog

    options = run.options
    with run.stage("1/9 scene: synthetic flood, S1 + S2 before and after, clouds", "scene"):
        config = SceneConfig(seed=options.seed, height=options.scene_size, width=options.scene_size, event_name="Demo")
        scene = _snap_to_chip_lattice(generate_scene(config), options.chip_size)
        catalog_dir = run.out / "catalog"
        stamp = {"seed": options.seed, "size": options.scene_size, "chip": options.chip_size, "tables": "gaul"}
        if _stamp_matches(catalog_dir, stamp):
            run.console.print(f"  reusing the catalog in {catalog_dir}")
        else:
            write_scene_catalog(scene, catalog_dir)
            _write_stamp(catalog_dir, stamp)
        aoi = _write_aoi(scene, run.out / "aoi.geojson")
        run.console.print(f"  {len(scene.acquisitions)} acquisitions; event {scene.event_date:%Y-%m-%d}; AOI {aoi}")
    post = [a for a in scene.acquisitions if a.post_event]
    first_post = min(a.time for a in post).date()
    last_post = max(a.time for a in post).date()
    return _Event(
        scene=scene,
        catalog_dir=catalog_dir,
        aoi=aoi,
        event_day=scene.event_date.date(),
        fetch_dates=f"{first_post:%Y-%m-%d}/{last_post + timedelta(days=1):%Y-%m-%d}",
        predict_date=f"{last_post:%Y-%m-%d}",
    )


@contextlib.contextmanager
def _serve_emulators(run: _Run, catalog_dir: Path) -> Iterator[str]:
    """Step 2: serve the catalog with the Earth Engine emulator and a Cloud Storage stand-in; yield the EE URL.

    Raises:
        InputError: If an emulator cannot start (a busy port, gcp-storage-emulator missing), in one line.
    """
    from ee_emulator import EmulatorError, EmulatorServer
    from ee_emulator.storage import storage_emulator
    from gee_flood.errors import InputError

    with contextlib.ExitStack() as stack:
        with run.stage("2/9 emulators: Earth Engine (loopback) and Cloud Storage", "emulators"):
            try:
                server = stack.enter_context(
                    EmulatorServer(catalog_dir, assets_dir=run.out / "ee-assets", projects=[EMULATOR_PROJECT])
                )
                storage_url = stack.enter_context(storage_emulator(DEMO_BUCKET))
            except EmulatorError as error:
                raise InputError(f"demo: {error}") from None
            run.console.print(f"  Earth Engine emulator at {server.url}; Cloud Storage emulator at {storage_url}")
        yield server.url


def _fetch_corpus(run: _Run, event: _Event, ee_url: str) -> Any:
    """Step 3: ``gee-flood fetch`` of the paired S1/S2 corpus through xee; return its summary."""
    from gee_flood.earthengine.fetch import run_fetch
    from gee_flood.service_requests import FetchRequest

    with run.stage(f"3/9 fetch: paired S1/S2 corpus through xee, {event.fetch_dates}", "fetch"):
        fetch = run_fetch(
            FetchRequest(
                out=run.out / "corpus",
                aoi=event.aoi,
                dates=event.fetch_dates,
                event="Demo",
                chip_size=run.options.chip_size,
                crs="utm",
                weak_labels=True,
                permanent_water=True,
                project=EMULATOR_PROJECT,
                endpoint="standard",
                ee_url=ee_url,
                scheduler="threads",
                workers=2,
                progress=run.options.progress,
            )
        )
        run.console.print(
            f"  {fetch.written} chips written, {fetch.already_done} reused, {len(fetch.skipped)} skipped "
            "(no full S1/S2 cover, or too cloudy)"
        )
    return fetch


def _predict_flood_maps(run: _Run, event: _Event, trained: dict[str, Path], ee_url: str) -> dict[str, Path]:
    """Step 7: ``gee-flood predict --aoi --date`` with the student and the weak baseline; return the map paths."""
    from gee_flood.inference.command import run_predict
    from gee_flood.service_requests import PredictOptions, PredictRequest

    predicted: dict[str, Path] = {}
    with run.stage(f"7/9 predict: flood map for {event.predict_date} from S1 via xee", "predict"):
        for name in ("student", "weak"):
            target = run.out / ("flood_map.tif" if name == "student" else "flood_map_weak.tif")
            request = PredictRequest(
                checkpoint=trained[name],
                out=target,
                aoi=event.aoi,
                date=event.predict_date,
                keep_scene=run.out / "s1_scene.tif",
                polygons=run.out / "flood_polygons.geojson" if name == "student" else None,
                project=EMULATOR_PROJECT,
                ee_url=ee_url,
                ee_auxiliary=name == "student",  # the flood product's layers from the catalog's datasets
                options=PredictOptions(tile=256, overlap=64, progress=run.options.progress),
            )
            run_predict(request, console=run.console)
            predicted[name] = target
        run.console.print(f"  {predicted['student']}")
    return predicted


def _flood_product(run: _Run, event: _Event, student_map: Path, asset: str, ee_url: str) -> dict[str, Any]:
    """Step 7b: the change-detection reference and the statistics per zone (:mod:`gee_flood.demo.product`)."""
    from gee_flood.demo.product import product_section
    from gee_flood.earthengine import EESettings

    pre_event = [a for a in event.scene.select("S1") if not a.post_event]
    settings = EESettings(project=EMULATOR_PROJECT, endpoint="standard", url=ee_url)
    with run.stage("7/9 flood product: change detection, statistics and exposure per zone", "product"):
        return product_section(
            scene=event.scene,
            out=run.out,
            aoi=event.aoi,
            student_map=student_map,
            asset=asset,
            pre_date=f"{pre_event[-1].time:%Y-%m-%d}",
            settings=settings,
            console=run.console,
            progress=run.options.progress,
        )


def _export_flood_map(run: _Run, flood_map: Path, ee_url: str) -> str:
    """Step 8: upload the flood map to the storage stand-in and ingest it as an Earth Engine asset; return its id."""
    from gee_flood.earthengine.export import push_flood_map

    with run.stage(f"8/9 export: Cloud Storage upload + Earth Engine ingestion to {DEMO_ASSET}", "export"):
        pushed = push_flood_map(
            flood_map,
            DEMO_ASSET,
            f"gs://{DEMO_BUCKET}/demo",
            overwrite=True,
            poll_s=0.2,
            ee_url=ee_url,
            progress=run.options.progress,
        )
        run.console.print(f"  asset {pushed.asset} ({pushed.mode}) from {pushed.uri}")
    return pushed.asset


def _watch_event(run: _Run, event: _Event, trained: dict[str, Path], ee_url: str) -> dict[str, Any]:
    """Step 8b: ``gee-flood watch --once`` over the post-event days: every S1 acquisition into a collection.

    Returns:
        The collection, per-acquisition flooded km² (and the time-series plot's path once the report is written).
    """
    from gee_flood.watch import WatchRequest, watch_once

    start, end = event.fetch_dates.split("/")
    until = (datetime.strptime(end, "%Y-%m-%d").date() - timedelta(days=1)).isoformat()
    with run.stage(f"8b/9 watch: every Sentinel-1 acquisition {start}..{until} into {DEMO_WATCH}", "watch"):
        request = WatchRequest(aoi=event.aoi, since=start, until=until, checkpoint=trained["student"],
                               collection=DEMO_WATCH, bucket=f"gs://{DEMO_BUCKET}/watch", project=EMULATOR_PROJECT,
                               ee_url=ee_url, out_dir=run.out / "watch", poll_s=0.2)  # fmt: skip
        result = watch_once(request, on_event=lambda e: run.console.print(f"  {e.line()}", highlight=False))
        summary: dict[str, Any] = {"collection": DEMO_WATCH, "found": result.found, "pushed": result.pushed}
        # the flood product's areas of each map (gee_flood.product.flood_areas): its flood and exclusion layers
        summary["flooded_km2"] = {e.time: e.flooded_km2 for e in result.events
                                  if e.event == "mapped" and e.flooded_km2 is not None}  # fmt: skip
        summary["excluded_km2"] = {e.time: e.excluded_km2 for e in result.events
                                   if e.event == "mapped" and e.excluded_km2 is not None}  # fmt: skip
        maps = {datetime.fromisoformat(e.time.replace("Z", "+00:00")): Path(e.map)
                for e in result.events if e.event == "mapped" and e.map}  # fmt: skip
        if maps:
            summary["series"] = _event_series(run, maps, start, until)
    return summary


def _event_series(run: _Run, maps: dict[datetime, Path], since: str, until: str) -> dict[str, Any]:
    """The event's time series from the watch's collection (Earth Engine) and from its kept maps (local COGs).

    Returns:
        Where the COGs are, the maximum extent (km²), the longest flood duration (days) and how many pixels the two
        routes disagree on (0 expected).
    """
    import numpy as np

    from gee_flood.product.stats import pixel_area_m2
    from gee_flood.watch.series import LAYERS, series_from_maps, series_image, series_image_pixels, write_series_cogs

    period = (date.fromisoformat(since), date.fromisoformat(until))
    local = series_from_maps(maps, *period)
    cogs = write_series_cogs(local, run.out / "watch_series")
    remote = series_image_pixels(series_image(DEMO_WATCH, *period), next(iter(maps.values())))
    differing = sum(
        int((~np.isclose(local[layer].values, remote[layer], atol=1e-3, equal_nan=True)).sum()) for layer in LAYERS
    )
    extent = local["max_extent"].values == 1
    # ground areas as the flood product's statistics compute them (one place: gee_flood.product.stats)
    area_m2 = pixel_area_m2(local.rio.crs, local.rio.transform(), 0, extent.shape[0], extent.shape[1])
    duration = local["flood_duration_days"].values
    return {
        "cogs": sorted(str(path.relative_to(run.out)) for path in cogs.values()),
        "max_extent_km2": round(float(area_m2[extent].sum()) / 1e6, 6),
        "longest_flood_days": round(float(np.nanmax(duration)), 4) if np.isfinite(duration).any() else 0.0,
        "pixels_differing_earth_engine_vs_local": differing,
    }


def _write_map_and_report(
    run: _Run,
    event: _Event,
    fetch: Any,
    trained: dict[str, Path],
    predicted: dict[str, Path],
    asset: str,
    ee_url: str,
    *,
    product: dict[str, Any] | None = None,
    watch: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any], dict[str, Path]]:
    """Step 9: the geemap HTML page, the report and the overview picture; return (map, report, report paths)."""
    from gee_flood.demo.report import build_report, write_report
    from gee_flood.mapping import write_map_html

    with run.stage("9/9 map and report", "report"):
        map_html = write_map_html(
            predicted["student"],
            run.out / "map.html",
            s1=run.out / "s1_scene.tif",
            asset=DEMO_ASSET,
            title="gee-flood demo: SAR-only student",
            ee_url=ee_url,
            console=run.console,
            statistics=_statistics_table(product),
        )
        report = build_report(
            event.scene,
            corpus=run.out / "corpus",
            flood_maps=predicted,
            s1_scene=run.out / "s1_scene.tif",
            checkpoints=trained,
            fetch_summary=fetch,
            asset=asset,
            event_day=event.event_day,
        )
        if product is not None:
            report["product"] = product
        report["timings_s"] = {k: round(v, 1) for k, v in run.timings.items()}
        report["options"] = json.loads(run.options.model_dump_json())
        if watch is not None:
            from gee_flood.watch.view import plot_flooded_km2

            points = {datetime.fromisoformat(t.replace("Z", "+00:00")): km2 for t, km2 in watch["flooded_km2"].items()}
            if points:
                watch["plot"] = plot_flooded_km2(points, run.out / "watch_flooded_km2.png").name
            report["watch"] = watch
        paths = write_report(report, event.scene, predicted["student"], run.out)
    return map_html, report, paths


def _statistics_table(product: dict[str, Any] | None) -> Any:
    """The page's statistics table (a DataFrame) of the product section."""
    if product is None:
        return None
    import pandas as pd  # type: ignore[import-untyped]

    columns = ["zone", "method", "flooded_km2", "truth_flooded_km2", "excluded_km2", "people_exposed",
               "cropland_flooded_km2"]  # fmt: skip
    return pd.DataFrame.from_records(product["zones"])[columns].round(3)


def _train_models(options: DemoOptions, out: Path, console: Console, timings: dict[str, float]) -> dict[str, Path]:
    """Train teacher, weak-label baseline and student; return their ``model.ckpt`` paths.

    The chips are chosen explicitly (the training configs record them): the "hand-labelled" set is a few other
    synthetic scenes with their true labels, validation is one more such scene (every model's threshold is tuned
    there, the same way), and the unlabelled corpus is what ``fetch`` wrote.
    """
    from gee_flood.data import open_dataset
    from gee_flood.training.config import TrainConfig
    from gee_flood.training.data import Splits
    from gee_flood.training.run import train

    hand: dict[str, Any] = {"size": 256, "chip_size": 128, "seed": 0}
    corpus = out / "corpus"
    both = ["s1", "s2"]
    hand_train = open_dataset("synthetic", None, "train", modalities=both, scenes=options.hand_scenes, **hand)
    hand_valid = open_dataset("synthetic", None, "valid", modalities=both, scenes=1, **hand)
    unlabelled = open_dataset("sen1floods11", corpus, "all", part="weak", modalities=both, labels=None)
    weak = open_dataset("sen1floods11", corpus, "all", part="weak", modalities=["s1"], labels="s1otsu")

    def splits(labelled: Any, pool: Any | None) -> Splits:
        summary = {
            "dataset": labelled.name,
            "split": "demo",
            "labelled_chips": len(labelled),
            "validation_chips": len(hand_valid),
            "unlabelled_chips": len(pool) if pool is not None else 0,
        }
        return Splits(labelled=labelled, validation=hand_valid, unlabelled=pool, summary=summary)

    common: dict[str, Any] = {
        "optim": {"max_steps": options.steps, "batch_size": 8, "warmup_steps": 5, "lr": 3e-3},
        "trainer": {
            "seed": options.seed,
            "output_dir": str(out / "runs"),
            "val_every_steps": max(10, options.steps // 4),
            "threads": options.threads,
            "progress_bar": options.progress,
        },
    }
    synthetic = {"dataset": "synthetic", "options": {**hand, "scenes": options.hand_scenes}, "crop_size": 96}
    corpus_data = {"dataset": "sen1floods11", "root": str(corpus), "split": "all", "options": {"part": "weak"}}
    plans: list[tuple[str, str, dict[str, Any], Splits]] = [
        (
            "teacher",
            "4/9 teacher: S1 + S2, trained on the hand-labelled scenes",
            {"role": "teacher", "data": {**synthetic, "inputs": both}},
            splits(hand_train, None),
        ),
        (
            "weak",
            "5/9 weak baseline: S1 only, trained on the corpus's Otsu weak labels",
            {"role": "baseline", "kind": "weak", "data": {**corpus_data, "inputs": ["s1"], "labels": "s1otsu",
                                                          "crop_size": 96}},
            splits(weak, None),
        ),
        (
            "student",
            "6/9 student: S1 only, hand labels + the teacher's probabilities on the corpus",
            {"role": "student", "data": {**synthetic, "inputs": ["s1"], "unlabelled": corpus_data}},
            splits(hand_train, unlabelled),
        ),
    ]  # fmt: skip
    trained: dict[str, Path] = {}
    for name, title, raw, chips in plans:
        config = TrainConfig.model_validate({**common, **raw})
        with _stage(console, title, timings, name):
            result = train(config, splits=chips, teacher=trained["teacher"] if name == "student" else None)
            trained[name] = result.checkpoint
            console.print(
                f"  {result.summary.get('steps')} steps, validation IoU {result.best_val_iou:.3f}, {result.checkpoint}"
            )
    return trained


@contextlib.contextmanager
def _stage(console: Console, title: str, timings: dict[str, float], key: str) -> Iterator[None]:
    console.rule(f"[bold]{title}")
    started = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - started
    console.print(f"  [dim]{timings[key]:.1f} s[/]")


def _snap_to_chip_lattice(scene: Any, chip_size: int) -> Any:
    """Move the scene's grid origin to a multiple of the chip side, so fetch's chip lattice covers it exactly.

    The scene is synthetic, so relabelling its coordinates by less than one chip changes nothing physical; it
    lets every corpus chip fall wholly inside the scene instead of losing the edge row and column.
    """
    step = chip_size * scene.georef.transform.a
    left, top = scene.georef.transform.c, scene.georef.transform.f
    snapped_left = (left // step) * step
    snapped_top = -((-top) // step) * step
    transform = Affine(scene.georef.transform.a, 0.0, snapped_left, 0.0, scene.georef.transform.e, snapped_top)
    return dataclasses.replace(scene, georef=dataclasses.replace(scene.georef, transform=transform))


def _write_aoi(scene: Any, path: Path) -> Path:
    """Write the scene's footprint, inset by half a pixel, as a GeoJSON polygon in EPSG:4326."""
    from pyproj import Transformer

    from gee_flood._io import write_json_atomic

    left, bottom, right, top = scene.georef.bounds
    inset = abs(scene.georef.transform.a) / 2
    to_lonlat = Transformer.from_crs(scene.georef.crs, "EPSG:4326", always_xy=True)
    corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
    ring = [
        list(to_lonlat.transform(x + (inset if x == left else -inset), y + (-inset if y == top else inset)))
        for x, y in corners
    ]
    write_json_atomic(path, {"type": "Feature", "properties": {"name": "gee-flood demo AOI"},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    return path


def _stamp_matches(catalog_dir: Path, stamp: dict[str, Any]) -> bool:
    try:
        return (
            json.loads((catalog_dir / "demo-stamp.json").read_text()) == stamp
            and (catalog_dir / "catalog.json").is_file()
        )
    except (OSError, ValueError):
        return False


def _write_stamp(catalog_dir: Path, stamp: dict[str, Any]) -> None:
    from gee_flood._io import write_json_atomic

    write_json_atomic(catalog_dir / "demo-stamp.json", stamp)

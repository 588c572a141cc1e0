"""``gee-flood fetch``: build the unlabelled distillation corpus of co-registered Sentinel-1/Sentinel-2 chips.

Steps: validate the inputs; lay chips (over an AOI on a UTM/EPSG:4326 lattice, or one per footprint of a chip
list); skip chips already in the corpus; ONE batched Earth Engine metadata request; pair S1/S2 mosaics per chip
locally; group chips into blocks; read blocks through xee as Dask tasks (a local cluster, threads for small jobs,
or ``--scheduler tcp://...``), each worker initialising Earth Engine itself; write each chip's COGs and update the
manifest as results arrive (on the driver, the only writer).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict

from gee_flood.earthengine import queries
from gee_flood.earthengine.blocks import BlockTask, ChipResult, ReadOptions, plan_blocks, process_block
from gee_flood.earthengine.corpus import Corpus
from gee_flood.earthengine.grid import ChipSpec, Lattice, grid_chip_list, lay_chips_over_aoi, resolve_crs
from gee_flood.earthengine.inputs import event_name, load_chip_list
from gee_flood.earthengine.pairing import Mosaic, PairChoice, candidate_pairs, closest_gap_days, group_mosaics
from gee_flood.earthengine.reads import REQUEST_BYTE_LIMIT
from gee_flood.earthengine.session import EESettings, RetryPolicy, initialize, with_retries
from gee_flood.errors import DataError, InputError
from gee_flood.geo import DateRange, parse_date_range, read_aoi

#: Jobs with at most this many blocks run on threads in this process instead of a local Dask cluster.
SMALL_JOB_BLOCKS = 8


class FetchConfig(BaseModel):
    """Options of ``gee-flood fetch`` (CLI flags in parentheses).

    Attributes:
        out: Corpus directory (``--out``).
        aoi: AOI GeoJSON (``--aoi``), with ``dates``.
        dates: ``START/END`` UTC days (``--dates``).
        chips: Chip-list GeoJSON (``--chips``) instead of an AOI.
        event: Event name for chip ids (``--event``; default: the AOI/chip-list file name).
        max_days: Largest S1-S2 gap in days (``--max-days``).
        max_cloud: Largest cloudy fraction of a chip's observed S2 pixels (``--max-cloud``).
        max_scene_cloud: Scene ``CLOUDY_PIXEL_PERCENTAGE`` prefilter, percent (``--max-scene-cloud``).
        min_valid: Smallest fraction of pixels with S1 and clear S2 (``--min-valid``).
        chip_size: Chip side in pixels for an AOI (``--chip-size``).
        scale: Pixel size in metres (``--scale``).
        crs: ``utm``, ``EPSG:4326`` or ``EPSG:<code>`` (``--crs``); ``auto``: UTM for an AOI, EPSG:4326 for a chip
            list (Sen1Floods11's grids).
        orbit_pass: ``ASCENDING``, ``DESCENDING`` or ``any`` (``--orbit-pass``).
        cloud_mask: ``cloudscore`` (Cloud Score+) or ``probability`` (``--cloud-mask``).
        cloud_threshold: Per-pixel cloud threshold (``--cloud-threshold``; default 0.6 cs / 50 %).
        permanent_water: Also write JRC occurrence (``--permanent-water``).
        weak_labels: Also write S1 Otsu / S2 NDWI weak labels (``--weak-labels``).
        project: Earth Engine project (``--project``).
        endpoint: ``highvolume`` or ``standard`` (``--endpoint``).
        ee_url: Explicit API URL, e.g. the local emulator (``--ee-url``).
        workers: Concurrent block tasks (``--workers``).
        scheduler: ``None`` (auto), ``threads``, ``local`` or ``tcp://host:port`` (``--scheduler``).
        io_threads: Concurrent requests per task (``--io-threads``).
        block_px: Side of a block of chips read together, pixels (``--block-size``).
        max_candidates: S2 mosaics tried per chip before giving up.
        min_coverage: Smallest fraction of a chip a mosaic footprint must cover.
        allow_large: Accept AOIs over 100,000 km² (``--allow-large``).
        byte_limit: Largest computePixels request in bytes.
        retry: Retry policy.
        progress: Show a progress bar.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    out: Path
    aoi: Path | None = None
    dates: str | None = None
    chips: Path | None = None
    event: str | None = None
    max_days: int = 2
    max_cloud: float = 0.5
    max_scene_cloud: float = 80.0
    min_valid: float = 0.2
    chip_size: int = 512
    scale: float = 10.0
    crs: str = "auto"
    orbit_pass: Literal["ASCENDING", "DESCENDING", "any"] = "any"
    cloud_mask: Literal["cloudscore", "probability"] = "cloudscore"
    cloud_threshold: float | None = None
    permanent_water: bool = False
    weak_labels: bool = False
    project: str | None = None
    endpoint: Literal["highvolume", "standard"] = "highvolume"
    ee_url: str | None = None
    workers: int = 4
    scheduler: str | None = None
    io_threads: int = 2
    block_px: int = 2048
    max_candidates: int = 3
    min_coverage: float = 0.99
    allow_large: bool = False
    byte_limit: int = REQUEST_BYTE_LIMIT
    retry: RetryPolicy = RetryPolicy()
    progress: bool = True

    def validate_values(self) -> None:
        """Check ranges and combinations, one line per problem.

        Raises:
            InputError: On the first bad value.
        """
        if (self.aoi is None) == (self.chips is None):
            raise InputError("give either --aoi with --dates, or --chips (not both, not neither)")
        if self.aoi is not None and not self.dates:
            raise InputError("--aoi needs --dates START/END (e.g. 2019-03-01/2019-03-20)")
        if self.chips is not None and self.dates:
            raise InputError("--dates is not used with --chips (each chip carries its own dates)")
        checks: list[tuple[bool, str]] = [
            (self.max_days >= 0, f"--max-days: {self.max_days} must be >= 0"),
            (0.0 <= self.max_cloud <= 1.0, f"--max-cloud: {self.max_cloud} must be a fraction between 0 and 1"),
            (0.0 <= self.max_scene_cloud <= 100.0, f"--max-scene-cloud: {self.max_scene_cloud} must be 0-100 (%)"),
            (0.0 <= self.min_valid <= 1.0, f"--min-valid: {self.min_valid} must be a fraction between 0 and 1"),
            (8 <= self.chip_size <= 8192, f"--chip-size: {self.chip_size} must be 8-8192 pixels"),
            (
                self.scale > 0 and math.isfinite(self.scale),
                f"--scale: {self.scale} must be a positive number of metres",
            ),
            (self.workers >= 1, f"--workers: {self.workers} must be >= 1"),
            (self.io_threads >= 1, f"--io-threads: {self.io_threads} must be >= 1"),
            (self.block_px >= 1, f"--block-size: {self.block_px} must be >= 1 pixel"),
            (self.max_candidates >= 1, f"max_candidates: {self.max_candidates} must be >= 1"),
            (0.0 < self.min_coverage <= 1.0, f"min_coverage: {self.min_coverage} must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        if self.cloud_threshold is not None:
            low, high = (0.0, 1.0) if self.cloud_mask == "cloudscore" else (0.0, 100.0)
            if not low <= self.cloud_threshold <= high:
                raise InputError(
                    f"--cloud-threshold: {self.cloud_threshold} must be {low:g}-{high:g} for --cloud-mask "
                    f"{self.cloud_mask}"
                )
        if self.scheduler not in (None, "threads", "local") and not str(self.scheduler).startswith("tcp://"):
            raise InputError(f"--scheduler: {self.scheduler!r} must be threads, local or tcp://host:port")

    def settings(self) -> EESettings:
        """Return the Earth Engine settings (what workers initialise with)."""
        return EESettings(project=self.project, endpoint=self.endpoint, url=self.ee_url, retry=self.retry)

    def data_options(self) -> dict[str, Any]:
        """Return the options that change the corpus (kept in the manifest; a rerun must match them)."""
        return {
            "source": "chips" if self.chips is not None else "aoi",
            "dates": self.dates,
            "crs": self.crs,
            "scale_m": self.scale,
            "chip_size": self.chip_size if self.aoi is not None else None,
            "max_days": self.max_days,
            "max_cloud": self.max_cloud,
            "max_scene_cloud_pct": self.max_scene_cloud,
            "min_valid": self.min_valid,
            "orbit_pass": self.orbit_pass,
            "cloud_mask": self.cloud_mask,
            "cloud_threshold": (
                self.cloud_threshold
                if self.cloud_threshold is not None
                else queries.DEFAULT_CLOUD_THRESHOLD[self.cloud_mask]
            ),
            "permanent_water": self.permanent_water,
            "weak_labels": self.weak_labels,
            "min_coverage": self.min_coverage,
            "max_candidates": self.max_candidates,
        }


@dataclass
class FetchSummary:
    """What a fetch did.

    Attributes:
        out: Corpus directory.
        chips_total: Chips laid out.
        already_done: Chips found finished in the corpus.
        written: Chips written by this run.
        skipped: Chip id -> reason, for chips not written (no pair, too cloudy...).
        blocks: Block tasks run.
        scheduler: What ran them.
    """

    out: Path
    chips_total: int = 0
    already_done: int = 0
    written: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    blocks: int = 0
    scheduler: str = ""

    def line(self) -> str:
        """Return a one-line summary (skip reasons counted by kind)."""
        kinds: dict[str, int] = defaultdict(int)
        for reason in self.skipped.values():
            kinds[reason.split(":", 1)[0]] += 1
        why = "; ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        return (
            f"{self.written} chips written, {self.already_done} already done, {len(self.skipped)} skipped"
            f"{f' ({why})' if why else ''} (of {self.chips_total}) -> {self.out}"
        )


@dataclass
class _Layout:
    chips: list[ChipSpec]
    lattices: dict[str, Lattice]
    queries: list[queries.SceneQuery]
    query_of: dict[str, str]
    where: str


def _layout(config: FetchConfig) -> _Layout:
    if config.aoi is not None:
        dates = parse_date_range(config.dates or "")
        aoi = read_aoi(config.aoi, allow_large=config.allow_large).geometry
        crs = resolve_crs("utm" if config.crs == "auto" else config.crs, aoi)
        event = event_name(config.event or Path(config.aoi).stem.split(".")[0])
        lattice, chips = lay_chips_over_aoi(
            aoi, crs=crs, scale_m=config.scale, chip_size=config.chip_size, event=event, dates=dates
        )
        region = shapely.convex_hull(shapely.union_all([chip.footprint for chip in chips]))
        query = queries.SceneQuery("aoi", region, dates, dates)
        bounds = ", ".join(f"{value:.4f}" for value in aoi.bounds)
        return _Layout(
            chips,
            {lattice.key: lattice},
            [query],
            {c.chip_id: "aoi" for c in chips},
            f"AOI {config.aoi} (bounds {bounds})",
        )
    footprints = load_chip_list(config.chips, default_event=config.event, max_days=config.max_days)  # type: ignore[arg-type]
    if config.crs != "auto":
        resolve_crs(config.crs, footprints[0].footprint)  # validate the flag once, before gridding every chip
    lattices, chips = grid_chip_list(
        footprints, crs="EPSG:4326" if config.crs == "auto" else config.crs, scale_m=config.scale
    )
    by_group: dict[tuple[str, DateRange, DateRange], list[ChipSpec]] = defaultdict(list)
    for chip in chips:
        by_group[(chip.event, chip.s1_dates, chip.s2_dates)].append(chip)
    query_list, query_of = [], {}
    for number, ((_event, s1_dates, s2_dates), members) in enumerate(
        sorted(by_group.items(), key=lambda item: (item[0][0], str(item[0][1]), str(item[0][2])))
    ):
        key = f"g{number}"
        region = shapely.convex_hull(shapely.union_all([chip.footprint for chip in members]))
        query_list.append(queries.SceneQuery(key, region, s1_dates, s2_dates))
        query_of.update({chip.chip_id: key for chip in members})
    return _Layout(chips, lattices, query_list, query_of, f"the {len(chips)} chips of {config.chips}")


def _describe_dates(layout: _Layout, sensor: str) -> str:
    windows = [query.s1_dates if sensor == "S1" else query.s2_dates for query in layout.queries]
    return f"{min(w.start for w in windows)} to {max(w.end for w in windows)}"


def _pair_chips(
    config: FetchConfig, layout: _Layout, pending: list[ChipSpec], scenes: dict[str, queries.GroupScenes]
) -> tuple[dict[str, list[PairChoice]], dict[str, str]]:
    s1_total = sum(len(group.s1) for group in scenes.values())
    s2_total = sum(len(group.s2) for group in scenes.values())
    orbit = config.orbit_pass
    if s1_total == 0:
        raise DataError(
            f"no scenes found in {queries.S1_COLLECTION} (IW, VV+VH, orbit pass {orbit}) from "
            f"{_describe_dates(layout, 'S1')} over {layout.where}"
        )
    if s2_total == 0:
        raise DataError(
            f"no scenes found in {queries.S2_COLLECTION} (CLOUDY_PIXEL_PERCENTAGE <= {config.max_scene_cloud:g}) "
            f"from {_describe_dates(layout, 'S2')} over {layout.where}"
        )
    cloud_id = queries.cloud_collection_id(config.cloud_mask)
    candidates: dict[str, list[PairChoice]] = {}
    all_s1: list[Mosaic] = []
    all_s2: list[Mosaic] = []
    masked_total = 0
    for key, group in scenes.items():
        s2_scenes = [scene for scene in group.s2 if scene.index in group.cloud_indexes]
        masked_total += len(s2_scenes)
        s1_mosaics, s2_mosaics = group_mosaics(group.s1), group_mosaics(s2_scenes)
        all_s1 += s1_mosaics
        all_s2 += s2_mosaics
        members = [chip for chip in pending if layout.query_of[chip.chip_id] == key]
        candidates.update(
            candidate_pairs(
                members,
                s1_mosaics,
                s2_mosaics,
                max_days=config.max_days,
                min_coverage=config.min_coverage,
                max_candidates=config.max_candidates,
            )
        )
    if masked_total == 0:
        raise DataError(
            f"none of the {s2_total} {queries.S2_COLLECTION} scenes found has a per-pixel cloud mask in {cloud_id}; "
            "try --cloud-mask " + ("probability" if config.cloud_mask == "cloudscore" else "cloudscore")
        )
    no_pair = {chip_id: "no S1/S2 pair covering the chip" for chip_id, found in candidates.items() if not found}
    if pending and len(no_pair) == len(pending):
        gap = closest_gap_days(all_s1, all_s2)
        found = f"found {len(all_s1)} S1 and {len(all_s2)} S2 mosaics"
        if gap is not None and gap <= config.max_days:
            raise DataError(
                f"no S1/S2 pairs within {config.max_days} days cover any chip of {layout.where}: {found} but none "
                f"pair covers {config.min_coverage:.0%} of a chip; check the AOI against the scene footprints"
            )
        gap_text = f"the closest are {gap} days apart" if gap is not None else "none to pair"
        raise DataError(
            f"no S1/S2 pairs within {config.max_days} days cover any chip of {layout.where}: {found}, {gap_text}; "
            "widen --max-days or the dates"
        )
    return candidates, no_pair


@contextlib.contextmanager
def _runner(config: FetchConfig, n_blocks: int) -> Iterator[tuple[str, Callable, Callable]]:
    """Yield ``(description, submit, as_completed)`` for threads, a local Dask cluster or a remote scheduler."""
    scheduler = config.scheduler
    if scheduler is None:
        scheduler = "threads" if n_blocks <= SMALL_JOB_BLOCKS or config.workers == 1 else "local"
    if scheduler == "threads":
        with concurrent.futures.ThreadPoolExecutor(max_workers=config.workers) as pool:
            yield f"{config.workers} threads", pool.submit, concurrent.futures.as_completed
        return
    import distributed

    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=config.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, distributed.Client(cluster) as client:
            yield f"local Dask cluster of {config.workers} workers", client.submit, distributed.as_completed
        return
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except OSError as error:
        raise InputError(f"--scheduler: cannot reach Dask scheduler {scheduler} ({error})") from None
    with client:
        yield f"Dask scheduler {scheduler}", client.submit, distributed.as_completed


def _progress(enabled: bool) -> Any:
    """Return a rich progress bar on stderr (stdout keeps the one-line summary)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]fetch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        disable=not enabled,
    )


def run_fetch(config: FetchConfig) -> FetchSummary:
    """Fetch (or resume fetching) a corpus.

    Returns:
        A :class:`FetchSummary`.

    Raises:
        InputError: Bad inputs or options.
        DataError: No scenes, no pairs.
        RemoteError: Earth Engine refused or kept failing.
    """
    config.validate_values()
    layout = _layout(config)
    corpus = Corpus(config.out, config.data_options())
    corpus.load()
    corpus.check_same_place(layout.chips)
    summary = FetchSummary(out=config.out, chips_total=len(layout.chips))
    pending = [chip for chip in layout.chips if not corpus.is_done(chip)]
    summary.already_done = len(layout.chips) - len(pending)
    summary.skipped.update({chip_id: reason for chip_id, reason in corpus.skipped.items()})
    if not pending:
        return summary
    settings = config.settings()
    initialize(settings)
    needed = {layout.query_of[chip.chip_id] for chip in pending}
    layout.queries = [query for query in layout.queries if query.key in needed]
    request = queries.metadata_request(
        layout.queries,
        queries.QueryOptions(
            orbit_pass=None if config.orbit_pass == "any" else config.orbit_pass,
            max_scene_cloud_pct=config.max_scene_cloud,
            cloud_mask=config.cloud_mask,
        ),
    )
    info = with_retries(request.getInfo, policy=settings.retry, what="the scene metadata query")
    scenes = queries.parse_metadata(info, layout.queries)
    candidates, no_pair = _pair_chips(config, layout, pending, scenes)
    summary.skipped.update(no_pair)
    options = ReadOptions(
        cloud_mask=config.cloud_mask,
        cloud_threshold=config.cloud_threshold,
        max_cloud=config.max_cloud,
        min_valid=config.min_valid,
        with_occurrence=config.permanent_water,
        weak_labels=config.weak_labels,
        io_threads=config.io_threads,
        byte_limit=config.byte_limit,
        chunk_multiple=config.chip_size if config.aoi is not None else 1,
    )
    tasks = plan_blocks(
        pending, candidates, layout.lattices, options=options, settings=settings, block_px=config.block_px
    )
    summary.blocks = len(tasks)
    chips_by_id = {chip.chip_id: chip for chip in layout.chips}
    n_chips = sum(len(task.jobs) for task in tasks)
    with _progress(config.progress) as progress, _runner(config, len(tasks)) as (name, submit, completed):
        summary.scheduler = name
        bar = progress.add_task("fetch", total=n_chips, note="")
        for results in _run_bounded(tasks, submit, completed, in_flight=config.workers + 2):
            for result in results:
                chip = chips_by_id[result.chip_id]
                if result.ok:
                    corpus.write_chip(chip, result)
                    summary.written += 1
                else:
                    corpus.record_skip(result.chip_id, result.reason)
                    summary.skipped[result.chip_id] = result.reason
                progress.update(bar, advance=1, note=result.chip_id)
    return summary


def _run_bounded(
    tasks: list[BlockTask], submit: Callable, completed: Callable, *, in_flight: int
) -> Iterator[list[ChipResult]]:
    """Submit tasks keeping at most ``in_flight`` outstanding; yield results as they finish.

    On an error the outstanding tasks are cancelled and the error is raised (finished chips are already written).
    """
    queue = list(reversed(tasks))
    running: set = set()

    def top_up() -> None:
        while queue and len(running) < in_flight:
            running.add(submit(process_block, queue.pop()))

    top_up()
    try:
        while running:
            done = next(iter(completed(list(running))))
            running.discard(done)
            results = done.result()
            top_up()
            yield results
    finally:
        for future in running:
            future.cancel()

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
import dataclasses
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely

from gee_flood._io import check_outputs
from gee_flood.data.corpus_layout import CORPUS_LOCK_NAME
from gee_flood.earthengine import queries
from gee_flood.earthengine.blocks import BlockTask, ChipResult, ReadOptions, plan_blocks, process_block
from gee_flood.earthengine.corpus import Corpus
from gee_flood.earthengine.grid import ChipSpec, Lattice, grid_chip_list, lay_chips_over_aoi, resolve_crs
from gee_flood.earthengine.inputs import event_name, load_chip_list
from gee_flood.earthengine.pairing import Mosaic, PairChoice, candidate_pairs, closest_gap_days, group_mosaics
from gee_flood.earthengine.reads import REQUEST_BYTE_LIMIT
from gee_flood.earthengine.session import EESettings, RetryPolicy, bind_cancel_event, initialize, with_retries
from gee_flood.errors import DataError, InputError
from gee_flood.geo import DateRange, parse_date_range, read_aoi
from gee_flood.service_requests import FetchRequest

#: Jobs with at most this many blocks run on threads in this process instead of a local Dask cluster.
SMALL_JOB_BLOCKS = 8


def ee_settings(request: FetchRequest) -> EESettings:
    """Return the Earth Engine settings of a fetch (what workers initialise with)."""
    retry = request.retry if request.retry is not None else RetryPolicy()
    retry = dataclasses.replace(retry, timeout_s=request.retry_timeout)
    return EESettings(project=request.project, endpoint=request.endpoint, url=request.ee_url, retry=retry)


def data_options(request: FetchRequest) -> dict[str, Any]:
    """Return the options that change the corpus (kept in the manifest; a rerun must match them)."""
    return {
        "source": "chips" if request.chips is not None else "aoi",
        "dates": request.dates,
        "crs": request.crs,
        "scale_m": request.scale,
        "chip_size": request.chip_size if request.aoi is not None else None,
        "max_days": request.max_days,
        "max_cloud": request.max_cloud,
        "max_scene_cloud_pct": request.max_scene_cloud,
        "min_valid": request.min_valid,
        "orbit_pass": request.orbit_pass,
        "cloud_mask": request.cloud_mask,
        "cloud_threshold": (
            request.cloud_threshold
            if request.cloud_threshold is not None
            else queries.DEFAULT_CLOUD_THRESHOLD[request.cloud_mask]
        ),
        "permanent_water": request.permanent_water,
        "weak_labels": request.weak_labels,
        "min_coverage": request.min_coverage,
        "max_candidates": request.max_candidates,
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
class ChipLayout:
    """The chips of a fetch, their lattices and the scene metadata queries that serve them.

    Attributes:
        chips: Every chip laid (EPSG:4326 footprints, grids in the fetch CRS).
        lattices: Lattice key -> the pixel grid chips share (one for an AOI).
        queries: The scene metadata queries (one for an AOI; one per event and date windows for a chip list).
        query_of: Chip id -> key of the query that finds its scenes.
        where: What to call the area in messages.
    """

    chips: list[ChipSpec]
    lattices: dict[str, Lattice]
    queries: list[queries.SceneQuery]
    query_of: dict[str, str]
    where: str


def lay_out_chips(request: FetchRequest) -> ChipLayout:
    """Lay the chips of a fetch (over its AOI, or from its chip list) and the scene queries that serve them.

    Args:
        request: What to fetch (validated with :meth:`FetchRequest.validate_values` first).

    Returns:
        The chips, their lattices and the metadata queries (one per AOI, or per event and date windows).
    """
    if request.aoi is not None:
        dates = parse_date_range(request.dates or "")
        aoi = read_aoi(request.aoi, allow_large=request.allow_large).geometry
        crs = resolve_crs("utm" if request.crs == "auto" else request.crs, aoi)
        event = event_name(request.event or Path(request.aoi).stem.split(".")[0])
        lattice, chips = lay_chips_over_aoi(
            aoi, crs=crs, scale_m=request.scale, chip_size=request.chip_size, event=event, dates=dates
        )
        region = shapely.convex_hull(shapely.union_all([chip.footprint for chip in chips]))
        query = queries.SceneQuery("aoi", region, dates, dates)
        bounds = ", ".join(f"{value:.4f}" for value in aoi.bounds)
        return ChipLayout(
            chips,
            {lattice.key: lattice},
            [query],
            {c.chip_id: "aoi" for c in chips},
            f"AOI {request.aoi} (bounds {bounds})",
        )
    footprints = load_chip_list(request.chips, default_event=request.event, max_days=request.max_days)  # type: ignore[arg-type]
    if request.crs != "auto":
        resolve_crs(request.crs, footprints[0].footprint)  # validate the flag once, before gridding every chip
    lattices, chips = grid_chip_list(
        footprints, crs="EPSG:4326" if request.crs == "auto" else request.crs, scale_m=request.scale
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
    return ChipLayout(chips, lattices, query_list, query_of, f"the {len(chips)} chips of {request.chips}")


def _describe_dates(layout: ChipLayout, sensor: str) -> str:
    windows = [query.s1_dates if sensor == "S1" else query.s2_dates for query in layout.queries]
    return f"{min(w.start for w in windows)} to {max(w.end for w in windows)}"


def _pair_chips(
    request: FetchRequest, layout: ChipLayout, pending: list[ChipSpec], scenes: dict[str, queries.GroupScenes]
) -> tuple[dict[str, list[PairChoice]], dict[str, str]]:
    s1_total = sum(len(group.s1) for group in scenes.values())
    s2_total = sum(len(group.s2) for group in scenes.values())
    orbit = request.orbit_pass
    if s1_total == 0:
        raise DataError(
            f"no scenes found in {queries.S1_COLLECTION} (IW, VV+VH, orbit pass {orbit}) from "
            f"{_describe_dates(layout, 'S1')} over {layout.where}"
        )
    if s2_total == 0:
        raise DataError(
            f"no scenes found in {queries.S2_COLLECTION} (CLOUDY_PIXEL_PERCENTAGE <= {request.max_scene_cloud:g}) "
            f"from {_describe_dates(layout, 'S2')} over {layout.where}"
        )
    cloud_id = queries.cloud_collection_id(request.cloud_mask)
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
                max_days=request.max_days,
                min_coverage=request.min_coverage,
                max_candidates=request.max_candidates,
            )
        )
    if masked_total == 0:
        raise DataError(
            f"none of the {s2_total} {queries.S2_COLLECTION} scenes found has a per-pixel cloud mask in {cloud_id}; "
            "try --cloud-mask " + ("probability" if request.cloud_mask == "cloudscore" else "cloudscore")
        )
    no_pair = {chip_id: "no S1/S2 pair covering the chip" for chip_id, found in candidates.items() if not found}
    if pending and len(no_pair) == len(pending):
        gap = closest_gap_days(all_s1, all_s2)
        found = f"found {len(all_s1)} S1 and {len(all_s2)} S2 mosaics"
        if gap is not None and gap <= request.max_days:
            raise DataError(
                f"no S1/S2 pairs within {request.max_days} days cover any chip of {layout.where}: {found} but none "
                f"pair covers {request.min_coverage:.0%} of a chip; check the AOI against the scene footprints"
            )
        gap_text = f"the closest are {gap} days apart" if gap is not None else "none to pair"
        raise DataError(
            f"no S1/S2 pairs within {request.max_days} days cover any chip of {layout.where}: {found}, {gap_text}; "
            "widen --max-days or the dates"
        )
    return candidates, no_pair


@contextlib.contextmanager
def _runner(request: FetchRequest, n_blocks: int) -> Iterator[tuple[str, Callable, Callable]]:
    """Yield ``(description, submit, as_completed)`` for threads, a local Dask cluster or a remote scheduler."""
    scheduler = request.scheduler
    if scheduler is None:
        scheduler = "threads" if n_blocks <= SMALL_JOB_BLOCKS or request.workers == 1 else "local"
    if scheduler == "threads":
        with _cancellable_threads(request.workers) as pool:
            yield f"{request.workers} threads", pool.submit, concurrent.futures.as_completed
        return
    import distributed

    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=request.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, distributed.Client(cluster) as client:
            yield f"local Dask cluster of {request.workers} workers", client.submit, distributed.as_completed
        return
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except OSError as error:
        raise InputError(f"--scheduler: cannot reach Dask scheduler {scheduler} ({error})") from None
    with client:
        yield f"Dask scheduler {scheduler}", client.submit, distributed.as_completed


@contextlib.contextmanager
def _cancellable_threads(workers: int) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """A thread pool that, when the block fails (Ctrl-C, an error), does not wait for its busy threads.

    The pending tasks are cancelled and the pool's own cancellation event (bound to its threads with
    :func:`~gee_flood.earthengine.session.bind_cancel_event`) ends the retry waits of the running ones, so Ctrl-C is
    honoured at once; a thread still inside an HTTP request is left to finish on its own (reads only: the driver
    thread is the only writer, so nothing is half-written). Other runs' threads are not touched.
    """
    cancelled = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=workers,
        thread_name_prefix="gee-flood-fetch",
        initializer=bind_cancel_event,
        initargs=(cancelled,),
    )
    try:
        yield pool
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _progress(enabled: bool) -> Any:
    """Return the progress bar on stderr (stdout keeps the one-line summary; nothing off a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from gee_flood._progress import rich_progress

    return rich_progress(
        TextColumn("[bold]fetch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        enabled=enabled,
    )


def find_pairs(
    request: FetchRequest, layout: ChipLayout, pending: list[ChipSpec]
) -> tuple[EESettings, dict[str, list[PairChoice]], dict[str, str]]:
    """Initialise Earth Engine, run the ONE batched metadata query and pair S1/S2 mosaics for ``pending`` chips.

    The pairing and scene rules of ``gee-flood fetch`` (used by :func:`run_fetch` and by the notebook API's
    :func:`gee_flood.api.open_pairs`).

    Args:
        request: The fetch options (dates, orbit pass, cloud rules, gap, coverage).
        layout: From :func:`lay_out_chips`; its queries are narrowed to those ``pending`` chips need.
        pending: Chips to pair.

    Returns:
        ``(settings, candidates, no_pair)``: the Earth Engine settings, each chip's ranked candidate pairs, and
        chip id -> reason for chips without any.

    Raises:
        DataError: No S1 or S2 scenes, no cloud masks, or no pair for any chip.
        RemoteError: Earth Engine refused or kept failing.
    """
    settings = ee_settings(request)
    initialize(settings)
    needed = {layout.query_of[chip.chip_id] for chip in pending}
    layout.queries = [query for query in layout.queries if query.key in needed]
    metadata_request = queries.metadata_request(
        layout.queries,
        queries.QueryOptions(
            orbit_pass=None if request.orbit_pass == "any" else request.orbit_pass,
            max_scene_cloud_pct=request.max_scene_cloud,
            cloud_mask=request.cloud_mask,
        ),
    )
    info = with_retries(metadata_request.getInfo, policy=settings.retry, what="the scene metadata query")
    scenes = queries.parse_metadata(info, layout.queries)
    candidates, no_pair = _pair_chips(request, layout, pending, scenes)
    return settings, candidates, no_pair


def run_fetch(request: FetchRequest) -> FetchSummary:
    """Fetch (or resume fetching) a corpus.

    The output folder is checked writable before anything else, and locked for the whole run (a second run into
    it refuses at once); the options are compared with the corpus's manifest under that lock.

    Args:
        request: What to fetch, as the CLI builds it (or a notebook does).

    Returns:
        A :class:`FetchSummary`.

    Raises:
        InputError: Bad inputs or options, an unwritable ``--out``, a corpus another run is writing or one fetched
            with other options.
        DataError: No scenes, no pairs.
        RemoteError: Earth Engine refused or kept failing.
    """
    request.validate_values()
    inputs = {"--aoi": request.aoi, "--chips": request.chips}
    check_outputs({"--out": request.out}, inputs, directories=frozenset({"--out"}))
    with corpus_lock(Path(request.out)):
        return _fetch(request)


def corpus_lock_holder(out: Path) -> int | None:
    """Return the pid recorded in the corpus folder's lock file (the run holding it, or the last one), if any."""
    try:
        text = (out / CORPUS_LOCK_NAME).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def corpus_lock(out: Path) -> Iterator[None]:
    """Hold the lock of corpus folder ``out`` (created if missing) for a ``with`` block; refuse if another run has it.

    The lock is :mod:`filelock`'s ``flock`` on ``out/.gee-flood-fetch.lock`` (released by the kernel if the process
    dies, so a killed run never leaves it held). While held, the file holds the holder's pid (for the refusal
    message); it is emptied on release and kept, because removing a lock file races with a run opening it. A folder
    this run created is removed again if the run leaves nothing in it.

    Raises:
        InputError: Another process holds the lock (naming the folder and that process's pid).
    """
    from filelock import FileLock, Timeout

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out / CORPUS_LOCK_NAME

    def record_holder(descriptor: int) -> None:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)

    lock = FileLock(lock_path, timeout=0, on_acquired=record_holder)
    try:
        lock.acquire()
    except Timeout:
        holder = corpus_lock_holder(out)
        who = f" (pid {holder})" if holder is not None else ""
        raise InputError(
            f"--out {out}: another gee-flood fetch{who} is writing this corpus; wait for it to finish, or use "
            "another --out"
        ) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.truncate(lock_path, 0)
        lock.release()
        if created and [entry.name for entry in out.iterdir()] == [CORPUS_LOCK_NAME]:
            with contextlib.suppress(OSError):
                lock_path.unlink()
                out.rmdir()


def _fetch(request: FetchRequest) -> FetchSummary:
    """The body of :func:`run_fetch`, under the corpus lock (``request`` already validated)."""
    layout = lay_out_chips(request)
    corpus = Corpus(request.out, data_options(request))
    corpus.load()
    corpus.check_same_place(layout.chips)
    summary = FetchSummary(out=request.out, chips_total=len(layout.chips))
    pending = [chip for chip in layout.chips if not corpus.is_done(chip)]
    summary.already_done = len(layout.chips) - len(pending)
    summary.skipped.update({chip_id: reason for chip_id, reason in corpus.skipped.items()})
    if not pending:
        return summary
    settings, candidates, no_pair = find_pairs(request, layout, pending)
    summary.skipped.update(no_pair)
    options = ReadOptions(
        cloud_mask=request.cloud_mask,
        cloud_threshold=request.cloud_threshold,
        max_cloud=request.max_cloud,
        min_valid=request.min_valid,
        with_occurrence=request.permanent_water,
        weak_labels=request.weak_labels,
        io_threads=request.io_threads,
        byte_limit=request.byte_limit if request.byte_limit is not None else REQUEST_BYTE_LIMIT,
        chunk_multiple=request.chip_size if request.aoi is not None else 1,
    )
    tasks = plan_blocks(
        pending, candidates, layout.lattices, options=options, settings=settings, block_px=request.block_px
    )
    summary.blocks = len(tasks)
    chips_by_id = {chip.chip_id: chip for chip in layout.chips}
    n_chips = sum(len(task.jobs) for task in tasks)
    with _progress(request.progress) as progress, _runner(request, len(tasks)) as (name, submit, completed):
        summary.scheduler = name
        bar = progress.add_task("fetch", total=n_chips, note="")
        for results in _run_bounded(tasks, submit, completed, in_flight=request.workers + 2):
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

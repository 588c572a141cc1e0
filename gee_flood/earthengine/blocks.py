"""Units of fetch work: blocks of neighbouring chips that share a pair, read together on one worker.

:func:`plan_blocks` groups chips (on the driver) into :class:`BlockTask`: chips on the same lattice with the same
first-choice S1/S2 pair, within ``block_px`` pixels of each other, so one ``computePixels`` request can serve
several chips. :func:`process_block` (on a Dask worker or a thread) reads Sentinel-2 first, drops chips that are
too cloudy (moving them to their next candidate S2 mosaic), reads Sentinel-1 for the rest, and returns
:class:`ChipResult` arrays; the driver writes them. A chip's result depends only on its own candidates and the
imagery, never on which chips shared its block, so a resumed run reproduces it exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gee_flood.earthengine import queries
from gee_flood.earthengine.grid import ChipSpec, Lattice
from gee_flood.earthengine.pairing import PairChoice
from gee_flood.earthengine.queries import S1_BANDS, S2_BANDS
from gee_flood.earthengine.reads import REQUEST_BYTE_LIMIT, StackReader, s1_stack, s2_stack
from gee_flood.earthengine.session import EESettings, initialize
from gee_flood.geo import PixelGrid

#: Sentinel-1 band the Otsu weak label thresholds.
S1_LABEL_BAND = "VV"


@dataclass(frozen=True)
class ReadOptions:
    """How chips are read and accepted.

    Attributes:
        cloud_mask: ``"cloudscore"`` or ``"probability"``.
        cloud_threshold: Per-pixel threshold (``None``: the method's default).
        max_cloud: Largest cloudy fraction of a chip's observed S2 pixels.
        min_valid: Smallest fraction of chip pixels with S1 data and clear S2 data.
        with_occurrence: Also read JRC surface-water occurrence.
        weak_labels: Also compute S1 Otsu and S2 NDWI weak labels.
        io_threads: Concurrent requests per read.
        byte_limit: Largest computePixels request in bytes.
        chunk_multiple: Preferred request tile side multiple (pixels).
    """

    cloud_mask: queries.CloudMask = "cloudscore"
    cloud_threshold: float | None = None
    max_cloud: float = 0.5
    min_valid: float = 0.2
    with_occurrence: bool = False
    weak_labels: bool = False
    io_threads: int = 4
    byte_limit: int = REQUEST_BYTE_LIMIT
    chunk_multiple: int = 1


@dataclass(frozen=True)
class ChipJob:
    """One chip of a block: where it sits on the block grid and its ranked candidate pairs."""

    chip: ChipSpec
    row_px: int
    col_px: int
    candidates: tuple[PairChoice, ...]


@dataclass(frozen=True)
class BlockTask:
    """Chips read together: a grid (the lattice or the chip's own) and the chips on it."""

    task_id: str
    grid: PixelGrid
    jobs: tuple[ChipJob, ...]
    options: ReadOptions
    settings: EESettings


@dataclass
class ChipResult:
    """What a worker hands back for one chip.

    Attributes:
        chip_id: The chip.
        ok: True if the chip was fetched; False if it was skipped (``reason`` says why).
        reason: Why it was skipped (empty if ok).
        pair: The pair used (ok) or last tried.
        s1_db: ``(2, H, W)`` float32 VV, VH in dB, NaN = no data.
        s2_dn: ``(13, H, W)`` int16 reflectance * 10000, 0 = no data or cloud.
        cloud: ``(H, W)`` bool, True where S2 is cloudy.
        occurrence: ``(H, W)`` uint8 JRC occurrence (0-100) or None.
        s1_label: ``(H, W)`` int16 Otsu weak label (1/0/-1) or None.
        s2_label: ``(H, W)`` int16 NDWI weak label (1/0/-1) or None.
        cloud_fraction: Cloudy fraction of the observed S2 pixels.
        valid_fraction: Fraction of pixels with S1 data and clear S2 data.
    """

    chip_id: str
    ok: bool
    reason: str = ""
    pair: PairChoice | None = None
    s1_db: np.ndarray | None = None
    s2_dn: np.ndarray | None = None
    cloud: np.ndarray | None = None
    occurrence: np.ndarray | None = None
    s1_label: np.ndarray | None = None
    s2_label: np.ndarray | None = None
    cloud_fraction: float = 1.0
    valid_fraction: float = 0.0


def plan_blocks(
    chips: Sequence[ChipSpec],
    candidates: dict[str, list[PairChoice]],
    lattices: dict[str, Lattice],
    *,
    options: ReadOptions,
    settings: EESettings,
    block_px: int = 2048,
) -> list[BlockTask]:
    """Group chips with candidates into blocks (sorted by task id, i.e. by their first chip id).

    Chips on a lattice are grouped by first-choice pair and by the ``block_px``-sized square of the lattice their
    top-left pixel falls in; the block grid is the whole lattice (so every block of a mosaic reuses one xee open).
    Standalone chips are one block each.
    """
    groups: dict[tuple, list[ChipSpec]] = defaultdict(list)
    standalone: list[ChipSpec] = []
    span = max(1, block_px)
    for chip in chips:
        if not candidates.get(chip.chip_id):
            continue
        if chip.lattice is None or chip.lattice not in lattices:
            standalone.append(chip)
            continue
        first = candidates[chip.chip_id][0].key
        groups[(chip.lattice, first, chip.row_px // span, chip.col_px // span)].append(chip)
    tasks: list[BlockTask] = []
    for (lattice_key, *_), members in groups.items():
        lattice = lattices[lattice_key]
        grid = PixelGrid(lattice.crs, lattice.transform, lattice.width, lattice.height)
        members = sorted(members, key=lambda chip: chip.chip_id)
        jobs = tuple(ChipJob(chip, chip.row_px, chip.col_px, tuple(candidates[chip.chip_id])) for chip in members)
        tasks.append(BlockTask(members[0].chip_id, grid, jobs, options, settings))
    for chip in standalone:
        grid = PixelGrid(chip.crs, chip.transform, chip.width, chip.height)
        jobs = (ChipJob(chip, 0, 0, tuple(candidates[chip.chip_id])),)
        tasks.append(BlockTask(chip.chip_id, grid, jobs, options, settings))
    return sorted(tasks, key=lambda task: task.task_id)


def _window(jobs: Sequence[ChipJob]) -> tuple[int, int, int, int]:
    return (
        min(job.row_px for job in jobs),
        max(job.row_px + job.chip.height for job in jobs),
        min(job.col_px for job in jobs),
        max(job.col_px + job.chip.width for job in jobs),
    )


def _cut(values: np.ndarray, window: tuple[int, int, int, int], job: ChipJob) -> np.ndarray:
    row0, _, col0, _ = window
    top, left = job.row_px - row0, job.col_px - col0
    return values[:, top : top + job.chip.height, left : left + job.chip.width]


@dataclass
class _S2Chip:
    dn: np.ndarray  # (13, H, W) float32 DN, NaN = no data
    observed: np.ndarray  # bool
    cloudy: np.ndarray  # bool
    occurrence: np.ndarray | None
    cloud_fraction: float


def _s2_chip(values: np.ndarray, options: ReadOptions) -> _S2Chip:
    dn = values[: len(S2_BANDS)]
    state = values[len(S2_BANDS)]
    observed = np.isfinite(state)
    cloudy = observed & (state >= 1.5)
    n_observed = int(observed.sum())
    cloud_fraction = float(cloudy.sum()) / n_observed if n_observed else 1.0
    occurrence = None
    if options.with_occurrence:
        raw = values[len(S2_BANDS) + 1]
        occurrence = np.clip(np.nan_to_num(raw, nan=0.0), 0, 100).astype(np.uint8)
    return _S2Chip(dn, observed, cloudy, occurrence, cloud_fraction)


def _finish(job: ChipJob, pair: PairChoice, s2: _S2Chip, s1_db: np.ndarray, options: ReadOptions) -> ChipResult:
    s1_ok = np.isfinite(s1_db).all(axis=0)
    s2_clear = s2.observed & ~s2.cloudy & np.isfinite(s2.dn).all(axis=0)
    valid = s1_ok & s2_clear
    valid_fraction = float(valid.mean())
    s2_int = np.where(s2_clear[None], np.nan_to_num(s2.dn, nan=0.0), 0.0)
    s2_dn = np.clip(np.rint(s2_int), 0, np.iinfo(np.int16).max).astype(np.int16)
    result = ChipResult(
        chip_id=job.chip.chip_id,
        ok=True,
        pair=pair,
        s1_db=s1_db.astype(np.float32),
        s2_dn=s2_dn,
        cloud=s2.cloudy,
        occurrence=s2.occurrence,
        cloud_fraction=s2.cloud_fraction,
        valid_fraction=valid_fraction,
    )
    if options.weak_labels:
        from gee_flood.data.weak_labels import s2_index_label  # imported only when asked (gee_flood.data loads torch)

        result.s1_label = _s1_label(s1_db, s1_ok)
        reflectance = np.where(s2_clear[None], s2.dn / 10000.0, np.nan).astype(np.float32)
        result.s2_label = s2_index_label(reflectance, S2_BANDS, cloud=~s2_clear).astype(np.int16)
    return result


def _s1_label(s1_db: np.ndarray, s1_ok: np.ndarray) -> np.ndarray:
    from gee_flood.data.weak_labels import s1_weak_label

    return s1_weak_label(s1_db[S1_BANDS.index(S1_LABEL_BAND)], s1_ok).astype(np.int16)


def process_block(task: BlockTask) -> list[ChipResult]:
    """Fetch every chip of a block (runs on a worker; initialises Earth Engine there if needed).

    Returns:
        One :class:`ChipResult` per chip, in the block's chip order.
    """
    initialize(task.settings)
    options = task.options
    reader = StackReader(
        task.settings,
        io_threads=options.io_threads,
        byte_limit=options.byte_limit,
        chunk_multiple=options.chunk_multiple,
    )
    jobs = {job.chip.chip_id: job for job in task.jobs}
    position = {job.chip.chip_id: 0 for job in task.jobs}
    tried_s2: dict[str, set[str]] = {chip_id: set() for chip_id in jobs}
    reasons: dict[str, str] = {}
    results: dict[str, ChipResult] = {}
    pending = sorted(jobs)

    def advance(chip_id: str, reason: str) -> str | None:
        reasons[chip_id] = reason
        candidates = jobs[chip_id].candidates
        index = position[chip_id] + 1
        while index < len(candidates) and candidates[index].s2.key in tried_s2[chip_id]:
            index += 1
        position[chip_id] = index
        if index >= len(candidates):
            last = candidates[-1] if candidates else None
            results[chip_id] = ChipResult(chip_id, ok=False, reason=reason, pair=last)
            return None
        return chip_id

    while pending:
        by_pair: dict[str, list[str]] = defaultdict(list)
        for chip_id in pending:
            by_pair[jobs[chip_id].candidates[position[chip_id]].key].append(chip_id)
        next_round: list[str] = []
        for pair_key in sorted(by_pair):
            members = [jobs[chip_id] for chip_id in sorted(by_pair[pair_key])]
            pair = members[0].candidates[position[members[0].chip.chip_id]]
            window = _window(members)
            s2_values = reader.read(
                s2_stack(
                    pair.s2.indexes,
                    cloud_mask=options.cloud_mask,
                    cloud_threshold=options.cloud_threshold,
                    with_occurrence=options.with_occurrence,
                ),
                task.grid,
                window,
                what=f"Sentinel-2 mosaic {pair.s2.key}",
            )
            accepted: list[tuple[ChipJob, _S2Chip]] = []
            for job in members:
                tried_s2[job.chip.chip_id].add(pair.s2.key)
                s2 = _s2_chip(_cut(s2_values, window, job), options)
                reason = ""
                if not s2.observed.any():
                    reason = f"no Sentinel-2 data: {pair.s2.key} has no pixel with a cloud mask over the chip"
                elif s2.cloud_fraction > options.max_cloud:
                    reason = f"too cloudy: {s2.cloud_fraction:.0%} of observed Sentinel-2 pixels in {pair.s2.key}"
                if reason:
                    if advance(job.chip.chip_id, reason):
                        next_round.append(job.chip.chip_id)
                    continue
                accepted.append((job, s2))
            if not accepted:
                continue
            s1_window = _window([job for job, _ in accepted])
            s1_values = reader.read(
                s1_stack(pair.s1.indexes), task.grid, s1_window, what=f"Sentinel-1 mosaic {pair.s1.key}"
            )
            for job, s2 in accepted:
                result = _finish(job, pair, s2, _cut(s1_values, s1_window, job), options)
                if result.valid_fraction < options.min_valid:
                    reason = f"too little valid data: {result.valid_fraction:.0%} of pixels in {pair.key}"
                    if advance(job.chip.chip_id, reason):
                        next_round.append(job.chip.chip_id)
                    continue
                results[job.chip.chip_id] = result
        pending = sorted(next_round)
    return [results[job.chip.chip_id] for job in task.jobs]

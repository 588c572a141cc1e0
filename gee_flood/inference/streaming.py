"""Streamed, blended tile inference: row strips in, finished probability rows out.

Only one tile row of the scene is ever held: the input strip it covers (``tile`` rows x scene width x 2 bands), and
``tile``-row accumulators of ``sum(p * w)`` and ``sum(w)``. Once tile row ``k`` has been added, every scene row above
the origin of tile row ``k + 1`` is final (no later tile touches it), so those rows are divided out, yielded and
dropped, and the accumulators shift up. Memory is therefore ``O(tile x width)``, whatever the scene height.

A column range narrows the strips to the tiles covering it (the same global tile grid: the pixels do not depend on
the range), so a block of a few columns reads and predicts a few columns' tiles, not the scene's width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from gee_flood.inference.runner import EnsembleRunner, TileRunner
from gee_flood.inference.source import SceneSource, check_decibels
from gee_flood.inference.tiling import TilePlan
from gee_flood.product.layers import NODATA

__all__ = ["NODATA", "ProbabilityRows", "iter_probability_rows", "read_window"]


@dataclass
class ProbabilityRows:
    """Finished rows of the scene.

    Attributes:
        row_start: First scene row.
        probability: ``(rows, width)`` float32 water probability 0-1; NaN where the input had no data.
    """

    row_start: int
    probability: np.ndarray


def iter_probability_rows(
    source: SceneSource,
    runner: TileRunner | EnsembleRunner,
    plan: TilePlan,
    *,
    row_start: int = 0,
    row_stop: int | None = None,
    col_start: int = 0,
    col_stop: int | None = None,
    on_tile_row: Callable[[int], None] | None = None,
) -> Iterator[ProbabilityRows]:
    """Predict scene rows ``[row_start, row_stop)`` and yield them, top to bottom, as soon as they are final.

    The same global tile grid is used whatever the row and column range, so predicting a scene in several blocks
    (Dask tasks) gives the same pixels as predicting it in one go.

    Args:
        source: The scene.
        runner: The checkpoint to run (or an ensemble of checkpoints: the mean of their probabilities).
        plan: The tile grid of the whole scene.
        row_start: First scene row wanted.
        row_stop: One past the last scene row wanted (default: the scene height).
        col_start: First scene column wanted.
        col_stop: One past the last scene column wanted (default: the scene width). Only the tiles covering
            ``[col_start, col_stop)`` are read and predicted.
        on_tile_row: Called with the number of tiles after each tile row (progress).

    Yields:
        Consecutive finished row strips covering exactly ``[row_start, row_stop)`` x ``[col_start, col_stop)``.
    """
    height, tile = source.height, plan.tile
    row_stop = height if row_stop is None else row_stop
    col_stop = source.width if col_stop is None else col_stop
    origins = plan.row_origins_touching(row_start, row_stop)
    columns = plan.col_origins_touching(col_start, col_stop)
    # The strips cover the columns of those tiles only: [span_start, span_start + width) of the scene.
    span_start = columns[0]
    width = min(columns[-1] + tile, source.width) - span_start
    weights = plan.weights
    padded_width = max(width, tile)
    weighted_sum = np.zeros((tile, padded_width), np.float32)
    weight_sum = np.zeros((tile, padded_width), np.float32)
    valid = np.zeros((tile, padded_width), bool)
    base = origins[0]
    for origin in origins:
        shift = origin - base
        if shift:
            for buffer in (weighted_sum, weight_sum, valid):
                buffer[:-shift] = buffer[shift:]
                buffer[-shift:] = 0
            base = origin
        rows = min(tile, height - origin)
        s1_db = read_window(source, origin, origin + rows, span_start, span_start + width)
        check_decibels(s1_db, source.name)  # every source, every strip: no map of linear or DN input
        strip_valid = np.isfinite(s1_db).all(axis=0)
        valid[:rows, :width] = strip_valid
        normalised = runner.normalize(s1_db)  # NaN -> 0 (the band mean)
        del s1_db
        if rows < tile or width < tile:  # only a scene smaller than one tile needs padding
            normalised = np.pad(normalised, ((0, 0), (0, tile - rows), (0, padded_width - width)))
        for start in range(0, len(columns), runner.batch_size):
            chunk = [x - span_start for x in columns[start : start + runner.batch_size]]
            batch = np.stack([normalised[:, :, x : x + tile] for x in chunk])
            for x, probability in zip(chunk, runner.probabilities(batch), strict=True):
                weighted_sum[:, x : x + tile] += probability * weights
                weight_sum[:, x : x + tile] += weights
        del normalised
        if on_tile_row is not None:
            on_tile_row(len(columns))
        final_stop = min(plan.next_row_origin(origin), row_stop)
        final_start = max(origin, row_start)
        if final_stop > final_start:
            lo, hi = final_start - base, final_stop - base
            left, right = col_start - span_start, col_stop - span_start
            probability = weighted_sum[lo:hi, left:right] / weight_sum[lo:hi, left:right]
            probability[~valid[lo:hi, left:right]] = np.nan
            yield ProbabilityRows(final_start, probability)


def read_window(source: SceneSource, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
    """``(2, rows, cols)`` float32 dB of a window of the scene: the source's ``read_window`` when it has one."""
    if col_start == 0 and col_stop == source.width:
        return source.read_rows(row_start, row_stop)
    window = getattr(source, "read_window", None)
    if window is not None:
        return window(row_start, row_stop, col_start, col_stop)
    return source.read_rows(row_start, row_stop)[:, :, col_start:col_stop]

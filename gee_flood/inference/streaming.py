"""Streamed, blended tile inference: full-width row strips in, finished probability rows out.

Only one tile row of the scene is ever held: the input strip it covers (``tile`` rows x scene width x 2 bands), and
``tile``-row accumulators of ``sum(p * w)`` and ``sum(w)``. Once tile row ``k`` has been added, every scene row above
the origin of tile row ``k + 1`` is final (no later tile touches it), so those rows are divided out, yielded and
dropped, and the accumulators shift up. Memory is therefore ``O(tile x width)``, whatever the scene height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from gee_flood.inference.runner import EnsembleRunner, TileRunner
from gee_flood.inference.source import SceneSource, check_decibels
from gee_flood.inference.tiling import TilePlan
from gee_flood.product.layers import NODATA

__all__ = ["NODATA", "ProbabilityRows", "iter_probability_rows"]


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
    on_tile_row: Callable[[int], None] | None = None,
) -> Iterator[ProbabilityRows]:
    """Predict scene rows ``[row_start, row_stop)`` and yield them, top to bottom, as soon as they are final.

    The same global tile grid is used whatever the row range, so predicting a scene in several row blocks (Dask
    tasks) gives the same pixels as predicting it in one go.

    Args:
        source: The scene.
        runner: The checkpoint to run (or an ensemble of checkpoints: the mean of their probabilities).
        plan: The tile grid of the whole scene.
        row_start: First scene row wanted.
        row_stop: One past the last scene row wanted (default: the scene height).
        on_tile_row: Called with the number of tiles after each tile row (progress).

    Yields:
        Consecutive finished row strips covering exactly ``[row_start, row_stop)``.
    """
    height, width, tile = source.height, source.width, plan.tile
    row_stop = height if row_stop is None else row_stop
    origins = plan.row_origins_touching(row_start, row_stop)
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
        s1_db = source.read_rows(origin, origin + rows)
        check_decibels(s1_db, source.name)  # every source, every strip: no map of linear or DN input
        strip_valid = np.isfinite(s1_db).all(axis=0)
        valid[:rows, :width] = strip_valid
        normalised = runner.normalize(s1_db)  # NaN -> 0 (the band mean)
        del s1_db
        if rows < tile or width < tile:  # only a scene smaller than one tile needs padding
            normalised = np.pad(normalised, ((0, 0), (0, tile - rows), (0, padded_width - width)))
        columns = plan.col_origins
        for start in range(0, len(columns), runner.batch_size):
            chunk = columns[start : start + runner.batch_size]
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
            probability = weighted_sum[lo:hi, :width] / weight_sum[lo:hi, :width]
            probability[~valid[lo:hi, :width]] = np.nan
            yield ProbabilityRows(final_start, probability)

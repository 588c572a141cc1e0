"""The tile grid of a scene and the smooth blending weights that hide tile borders.

Tiles of ``tile`` x ``tile`` pixels are laid on a regular grid with ``overlap`` pixels shared between neighbours; the
last row and column of tiles are pulled back so they end exactly at the scene edge (a scene smaller than one tile is
covered by one tile, padded). Every tile's probabilities are multiplied by a 2-D Hann window (``sin^2`` along each
axis, i.e. a squared cosine centred on the tile) and the scene probability is ``sum(p * w) / sum(w)``: a network's
unreliable tile borders get almost no weight wherever a neighbouring tile covers the same pixel, so no seams show.

Written by hand because no library we depend on offers overlap-tile blending over a *streamed* raster (MONAI's
sliding-window inferer and pytorch-toolbelt need the whole image in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from gee_flood.errors import InputError

WeightKind = Literal["hann", "uniform"]


def blend_weights(tile: int, kind: WeightKind = "hann") -> np.ndarray:
    """Return the ``(tile, tile)`` float32 blending weights of one tile.

    Args:
        tile: Tile side in pixels.
        kind: ``"hann"``: ``sin^2(pi (i + 0.5) / tile)`` along each axis (1 at the centre, small but > 0 at the
            border so scene-edge pixels covered by one tile keep a defined value); ``"uniform"``: all ones (plain
            averaging; shows seams with real networks, kept for comparison).

    Returns:
        Weights, strictly positive.
    """
    if kind == "uniform":
        return np.ones((tile, tile), np.float32)
    if kind != "hann":
        raise InputError(f"unknown blending window {kind!r}; expected 'hann' or 'uniform'")
    ramp = np.sin(np.pi * (np.arange(tile, dtype=np.float64) + 0.5) / tile) ** 2
    return np.outer(ramp, ramp).astype(np.float32)


def _origins(length: int, tile: int, stride: int) -> tuple[int, ...]:
    if length <= tile:
        return (0,)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # the last tile ends exactly at the edge
    return tuple(sorted(set(starts)))


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of a ``height`` x ``width`` scene lie.

    Attributes:
        height: Scene height in pixels.
        width: Scene width in pixels.
        tile: Tile side in pixels (a multiple of 32 suits every segmentation-models-pytorch encoder).
        overlap: Pixels shared by neighbouring tiles (``0 <= overlap < tile``).
        window: Blending window, see :func:`blend_weights`.
    """

    height: int
    width: int
    tile: int = 512
    overlap: int = 128
    window: WeightKind = "hann"

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise InputError(f"scene of {self.height} x {self.width} pixels has nothing to predict")
        if self.tile < 32 or self.tile % 32:
            raise InputError(f"--tile {self.tile}: expected a multiple of 32 pixels, at least 32")
        if not 0 <= self.overlap < self.tile:
            raise InputError(f"--overlap {self.overlap}: expected 0 <= overlap < tile ({self.tile})")

    @property
    def stride(self) -> int:
        """Distance between neighbouring tile origins (pixels)."""
        return self.tile - self.overlap

    @cached_property
    def row_origins(self) -> tuple[int, ...]:
        """First row of every tile row, ascending."""
        return _origins(self.height, self.tile, self.stride)

    @cached_property
    def col_origins(self) -> tuple[int, ...]:
        """First column of every tile column, ascending."""
        return _origins(self.width, self.tile, self.stride)

    @cached_property
    def weights(self) -> np.ndarray:
        """The ``(tile, tile)`` blending weights."""
        return blend_weights(self.tile, self.window)

    @property
    def tile_count(self) -> int:
        """Number of tiles over the whole scene."""
        return len(self.row_origins) * len(self.col_origins)

    def row_origins_touching(self, row_start: int, row_stop: int) -> tuple[int, ...]:
        """Origins of the tile rows that cover any scene row in ``[row_start, row_stop)``."""
        return tuple(y for y in self.row_origins if y < row_stop and y + self.tile > row_start)

    def col_origins_touching(self, col_start: int, col_stop: int) -> tuple[int, ...]:
        """Origins of the tile columns that cover any scene column in ``[col_start, col_stop)``."""
        return tuple(x for x in self.col_origins if x < col_stop and x + self.tile > col_start)

    def next_row_origin(self, origin: int) -> int:
        """The tile row origin after ``origin``, or the scene height after the last one."""
        later = [y for y in self.row_origins if y > origin]
        return later[0] if later else self.height

    def row_blocks(self, block_rows: int) -> list[tuple[int, int]]:
        """Split the scene rows into ``[start, stop)`` blocks of ``block_rows`` rows (the last may be shorter)."""
        if block_rows <= 0:
            raise InputError(f"block of {block_rows} rows: expected a positive number")
        return [(start, min(start + block_rows, self.height)) for start in range(0, self.height, block_rows)]

    def col_blocks(self, block_cols: int) -> list[tuple[int, int]]:
        """Split the scene columns into ``[start, stop)`` blocks of ``block_cols`` columns (the last may be shorter)."""
        if block_cols <= 0:
            raise InputError(f"block of {block_cols} columns: expected a positive number")
        return [(start, min(start + block_cols, self.width)) for start in range(0, self.width, block_cols)]

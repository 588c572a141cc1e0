"""The pixel grid type used throughout the emulator.

It has the same fields as ``gee_flood.geo.PixelGrid`` (``crs``, ``transform``, ``width``, ``height``)
and accepts any object shaped like it, but lives here so that serving the emulator does not import the data
package (and with it PyTorch): ``gee-flood emulator serve`` starts in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from affine import Affine


class GridLike(Protocol):
    """Anything with a CRS, an affine transform and a size (``gee_flood.geo.PixelGrid`` is one)."""

    @property
    def crs(self) -> str:
        """CRS as an authority string or WKT."""

    @property
    def transform(self) -> Affine:
        """Affine transform from (col, row) pixel corners to CRS coordinates."""

    @property
    def width(self) -> int:
        """Width in pixels."""

    @property
    def height(self) -> int:
        """Height in pixels."""


@dataclass(frozen=True)
class PixelGrid:
    """A north-up (or any affine) pixel grid.

    Attributes:
        crs: CRS as an authority string or WKT (``"EPSG:32633"``).
        transform: Affine transform from (col, row) pixel corners to CRS coordinates.
        width: Width in pixels (0 for a projection without a fixed extent).
        height: Height in pixels (0 for a projection without a fixed extent).
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, grid: GridLike | Any) -> PixelGrid:
        """Copy any grid-shaped object (e.g. a ``gee_flood.geo.PixelGrid``)."""
        if isinstance(grid, PixelGrid):
            return grid
        transform = grid.transform if isinstance(grid.transform, Affine) else Affine(*list(grid.transform)[:6])
        return cls(str(grid.crs), transform, int(grid.width), int(grid.height))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        corners = [self.transform @ (col, row) for col in (0, self.width) for row in (0, self.height)]
        xs = [x for x, _ in corners]
        ys = [y for _, y in corners]
        return (min(xs), min(ys), max(xs), max(ys))

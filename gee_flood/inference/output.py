"""The flood map file: a tiled GeoTIFF written in whole block rows, then made a Cloud-Optimized GeoTIFF.

Bands: the flood product's layers, named and valued as :mod:`gee_flood.product.layers` says (docs/flood-product.md):
``likelihood`` (percent, 0-100), ``water``, ``flood``, ``reference_water`` (0/1) and ``exclusion`` (bit flags),
all uint8, 255 = no data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from gee_flood._io import atomic_path
from gee_flood.errors import DataError
from gee_flood.product.cleanup import CleanupSummary
from gee_flood.product.layers import FLOOD, LAYER_MEANINGS, LAYERS, LIKELIHOOD, NODATA, WATER

#: Output block (and COG tile) size in pixels.
BLOCK = 512


class FloodMapWriter:
    """Writes encoded rows into a tiled GeoTIFF (temporary), one or more whole block rows at a time.

    Rows may arrive in any order as long as each write starts on a block row boundary and covers whole block rows
    (or ends at the bottom of the scene); :meth:`write_any` buffers rows that arrive in order but unaligned.

    Args:
        path: The temporary GeoTIFF to create.
        crs: Output CRS (the scene's).
        transform: Output transform (the scene's).
        width: Columns.
        height: Rows.
        bands: The layer names, in band order (default: every layer of the product).
        tags: Dataset metadata tags.
    """

    def __init__(
        self,
        path: Path,
        *,
        crs: CRS,
        transform: Affine,
        width: int,
        height: int,
        bands: tuple[str, ...] = LAYERS,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.height, self.width = height, width
        self.names = bands
        self.bands = len(bands)
        self.dataset = rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=self.bands,
            dtype="uint8",
            crs=crs,
            transform=transform,
            nodata=NODATA,
            tiled=True,
            blockxsize=BLOCK,
            blockysize=BLOCK,
            compress="deflate",
            zlevel=1,
            BIGTIFF="IF_SAFER",
        )
        for index, name in enumerate(bands, start=1):
            self.dataset.set_band_description(index, name)
            if name in LAYER_MEANINGS:
                self.dataset.update_tags(index, meaning=LAYER_MEANINGS[name])
            if name == LIKELIHOOD:
                self.dataset.update_tags(index, units="percent")
        self.dataset.update_tags(**(tags or {}))
        self._pending: list[np.ndarray] = []
        self._pending_start = 0
        self.valid_pixels = 0
        self.water_pixels = 0
        self.flood_pixels = 0
        self.cleanup = CleanupSummary()

    def write_block_rows(self, row_start: int, encoded: np.ndarray) -> None:
        """Write ``(bands, rows, width)`` uint8 layers starting at an aligned ``row_start``."""
        rows = encoded.shape[1]
        if row_start % BLOCK or (rows % BLOCK and row_start + rows != self.height):
            raise ValueError(f"unaligned write of rows {row_start}..{row_start + rows}")
        if encoded.shape[0] != self.bands:
            raise ValueError(f"{encoded.shape[0]} bands written to a {self.bands}-band flood map")
        layer = dict(zip(self.names, encoded, strict=True))
        if FLOOD in layer:
            self.flood_pixels += int(np.count_nonzero(layer[FLOOD] == 1))
        if WATER in layer:
            self.valid_pixels += int(np.count_nonzero(layer[WATER] != NODATA))
            self.water_pixels += int(np.count_nonzero(layer[WATER] == 1))
        self.dataset.write(encoded, window=rasterio.windows.Window(0, row_start, self.width, rows))

    def write_any(self, row_start: int, encoded: np.ndarray) -> None:
        """Accept consecutive rows of any height; write them out in whole block rows."""
        if not self._pending:
            self._pending_start = row_start
        self._pending.append(encoded)
        buffered = sum(part.shape[1] for part in self._pending)
        end = self._pending_start + buffered
        aligned = (end // BLOCK) * BLOCK if end < self.height else end
        if aligned - self._pending_start >= BLOCK or end == self.height:
            joined = np.concatenate(self._pending, axis=1)
            cut = aligned - self._pending_start
            self.write_block_rows(self._pending_start, joined[:, :cut])
            rest = joined[:, cut:]
            self._pending = [rest] if rest.shape[1] else []
            self._pending_start = aligned

    def close(self) -> None:
        """Close the file after every row was written."""
        if self._pending:
            raise ValueError("rows left unwritten")
        self.abort()

    def abort(self) -> None:
        """Close the file whatever state it is in (after an error; the caller discards it)."""
        self.dataset.close()


def to_cog(tiled: Path, final: str | os.PathLike[str]) -> Path:
    """Convert a tiled GeoTIFF to a validated Cloud-Optimized GeoTIFF at ``final`` (atomically).

    DEFLATE-compressed 512 px tiles, nearest-neighbour overviews (class and mask values stay exact), band
    descriptions and tags kept. Raises :class:`DataError` (and leaves nothing at ``final``) if rio-cogeo does not
    validate the result.
    """
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER")
    final = Path(final)
    with atomic_path(final, suffix=".tif") as tmp:
        cog_translate(
            tiled,
            tmp,
            profile,
            overview_resampling="nearest",
            in_memory=False,
            quiet=True,
            allow_intermediate_compression=True,
            forward_band_tags=True,
        )
        valid, errors, _warnings = cog_validate(tmp, quiet=True)
        if not valid:
            raise DataError(f"{final}: the written file is not a valid Cloud-Optimized GeoTIFF ({'; '.join(errors)})")
    return final

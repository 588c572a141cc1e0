"""The flood map file: a tiled GeoTIFF written in whole block rows, then made a Cloud-Optimized GeoTIFF.

Bands: the flood product's layers, named and valued as :mod:`gee_flood.product.layers` says (docs/flood-product.md):
``likelihood`` (percent, 0-100), ``water``, ``flood``, ``reference_water`` (0/1) and ``exclusion`` (bit flags),
all uint8, 255 = no data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def _layer_tags(name: str) -> dict[str, str]:
    tags = {"meaning": LAYER_MEANINGS[name]} if name in LAYER_MEANINGS else {}
    if name == LIKELIHOOD:
        tags["units"] = "percent"
    return tags


#: The tags of the flood map's own bands (layer name -> GDAL band metadata).
BAND_TAGS: dict[str, dict[str, str]] = {name: _layer_tags(name) for name in LAYERS}


@dataclass(frozen=True)
class BandSpec:
    """One band of a written map: its description (name) and GDAL metadata tags."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def named(cls, name: str, tags: dict[str, str] | None = None) -> BandSpec:
        """A band with the flood product's tags for a layer name (:data:`BAND_TAGS`), else ``tags``."""
        return cls(name, dict(BAND_TAGS.get(name, tags or {})))


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
        bands: The bands in order: layer names (default: every layer of the product, with their tags) or
            :class:`BandSpec` (:func:`gee_flood.write_cog` of any variables); every write brings them all, encoded.
        tags: Dataset metadata tags.
        dtype: The bands' stored dtype.
        nodata: Their no-data value (NaN for a float map without one).
    """

    def __init__(
        self,
        path: Path,
        *,
        crs: CRS,
        transform: Affine,
        width: int,
        height: int,
        bands: Sequence[str | BandSpec] = LAYERS,
        tags: dict[str, str] | None = None,
        dtype: str = "uint8",
        nodata: float = NODATA,
    ) -> None:
        self.height, self.width = height, width
        specs = [band if isinstance(band, BandSpec) else BandSpec.named(band) for band in bands]
        self.bands = len(specs)
        self.names = [band.name for band in specs]
        self.nodata = nodata
        self.dataset = rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=self.bands,
            dtype=dtype,
            crs=crs,
            transform=transform,
            nodata=nodata,
            tiled=True,
            blockxsize=BLOCK,
            blockysize=BLOCK,
            compress="deflate",
            zlevel=1,
            BIGTIFF="IF_SAFER",
        )
        for index, band in enumerate(specs, start=1):
            self.dataset.set_band_description(index, band.name)
        self.dataset.update_tags(**(tags or {}))
        for index, band in enumerate(specs, start=1):
            if band.tags:
                self.dataset.update_tags(index, **band.tags)
        self._pending: list[np.ndarray] = []
        self._pending_start = 0
        self.valid_pixels = 0
        self.water_pixels = 0
        self.flood_pixels = 0
        self.cleanup = CleanupSummary()

    def _count(self, encoded: np.ndarray) -> None:
        layer = dict(zip(self.names, encoded, strict=True))
        first = layer.get(WATER, encoded[0])
        valid = np.isfinite(first) if np.isnan(self.nodata) else first != self.nodata
        self.valid_pixels += int(np.count_nonzero(valid))
        if WATER in layer:
            self.water_pixels += int(np.count_nonzero(layer[WATER] == 1))
        if FLOOD in layer:
            self.flood_pixels += int(np.count_nonzero(layer[FLOOD] == 1))

    def write_block_rows(self, row_start: int, encoded: np.ndarray) -> None:
        """Write ``(bands, rows, width)`` encoded bands starting at an aligned ``row_start``."""
        rows = encoded.shape[1]
        if row_start % BLOCK or (rows % BLOCK and row_start + rows != self.height):
            raise ValueError(f"unaligned write of rows {row_start}..{row_start + rows}")
        if encoded.shape[0] != self.bands:
            raise ValueError(f"{encoded.shape[0]} bands written to a {self.bands}-band flood map")
        self._count(encoded)
        self.dataset.write(encoded, window=rasterio.windows.Window(0, row_start, self.width, rows))

    def write_window(self, row_start: int, col_start: int, encoded: np.ndarray) -> None:
        """Write ``(bands, rows, cols)`` encoded bands at a window of whole blocks (or reaching the scene's edge)."""
        rows, cols = encoded.shape[1:]
        for start, size, end in ((row_start, rows, self.height), (col_start, cols, self.width)):
            if start % BLOCK or (size % BLOCK and start + size != end):
                raise ValueError(f"unaligned write of the window {cols} x {rows} px at ({col_start}, {row_start})")
        if encoded.shape[0] != self.bands:
            raise ValueError(f"{encoded.shape[0]} bands written to a {self.bands}-band flood map")
        self._count(encoded)
        self.dataset.write(encoded, window=rasterio.windows.Window(col_start, row_start, cols, rows))

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
        errors = cog_errors(tmp)
        if errors:
            raise DataError(f"{final}: the written file is not a valid Cloud-Optimized GeoTIFF ({'; '.join(errors)})")
    return final


def _untiled_images(path: Path) -> list[int]:
    """Indexes of the TIFF images (0 the full resolution, then the overviews) stored in strips, not tiles.

    Read from the TIFF tags themselves (tifffile): GDAL (hence rasterio) reports a tiled image exactly one tile
    wide with the same block shape as a stripped one, so the block shape cannot tell them apart.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return [index for index, page in enumerate(tif.pages) if not getattr(page, "is_tiled", False)]


def cog_errors(path: str | os.PathLike[str]) -> list[str]:
    """rio-cogeo's COG validation errors of ``path`` (empty: a valid COG), without its tiling false positive.

    rio-cogeo (>= 5) calls an image "not tiled" when its block is as wide as the image, which is also true of a
    tiled image exactly one tile (512 px) wide: a 1500 x 1024 scene's first overview (750 x 512), a 513 x 512
    scene. Those errors are kept only when the TIFF tags say the image really is stored in strips.
    """
    path = Path(path)
    _valid, errors, _warnings = cog_validate(path, quiet=True)
    tiling = [error for error in errors if "not tiled" in error]
    if tiling:
        untiled = _untiled_images(path)
        kept = []
        for error in tiling:
            index = 0 if error.startswith("The file is greater") else int(error.split("index ")[1].split()[0]) + 1
            if index in untiled:
                kept.append(error)
        errors = [error for error in errors if error not in tiling] + kept
    return errors

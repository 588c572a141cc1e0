"""The flood map file: a tiled GeoTIFF written in whole block rows, then made a Cloud-Optimized GeoTIFF.

Bands (all uint8, 255 = no data):

1. ``water_probability``: probability of water in percent, 0-100.
2. ``water_mask``: 1 water (probability >= the checkpoint's threshold), 0 not water.
3. ``flood_class`` (only with a permanent-water reference): 0 not water, 1 flood water (mapped water outside
   permanent water), 2 permanent water (permanent according to the reference, whatever the scene shows there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from gee_flood._io import atomic_path
from gee_flood.errors import DataError, InputError, InputNotFoundError
from gee_flood.inference.encoding import NODATA

#: Output block (and COG tile) size in pixels.
BLOCK = 512
BAND_PROBABILITY = "water_probability"
BAND_MASK = "water_mask"
BAND_CLASS = "flood_class"
CLASS_NONE, CLASS_FLOOD, CLASS_PERMANENT = 0, 1, 2
#: The COG band of each :func:`gee_flood.predict` variable (any other variable is a band of its own name).
COG_BAND_NAMES = {"probability": BAND_PROBABILITY, "water": BAND_MASK, "flood_class": BAND_CLASS}


@dataclass
class PermanentWater:
    """A permanent-water reference raster (e.g. JRC Global Surface Water ``occurrence``, percent), any CRS.

    Pixels with value ``>= threshold`` are permanent water; the raster is resampled (nearest) onto the output grid
    strip by strip through a GDAL warped VRT, so it may be larger than the scene or in another projection.

    Args:
        path: The reference GeoTIFF (band 1 is used).
        threshold: Value at or above which a pixel is permanent water (JRC occurrence: percent of months with water).
    """

    path: Path
    threshold: float = 80.0
    _vrt: Any = field(default=None, init=False, repr=False)
    _dataset: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise InputNotFoundError(f"{self.path}: permanent-water raster not found")
        try:
            with rasterio.open(self.path) as src:
                if src.crs is None:
                    raise InputError(f"{self.path}: permanent-water GeoTIFF has no CRS")
        except RasterioIOError as error:
            raise InputError(f"{self.path}: not a readable GeoTIFF ({str(error).splitlines()[0]})") from None

    def attach(self, crs: CRS, transform: Affine, width: int, height: int) -> None:
        """Resample onto the output grid from now on."""
        self.close()
        self._dataset = rasterio.open(self.path)
        self._vrt = WarpedVRT(
            self._dataset,
            crs=crs,
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.nearest,
            nodata=self._dataset.nodata,
        )

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:
        """Return ``(rows, width)`` bool: permanent water on the output grid (False outside the reference)."""
        window = rasterio.windows.Window(0, row_start, self._vrt.width, row_stop - row_start)
        values = self._vrt.read(1, window=window, masked=True)
        return np.ma.filled(values >= self.threshold, False)

    def close(self) -> None:
        """Release the files."""
        if self._vrt is not None:
            self._vrt.close()
            self._vrt = None
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None


def add_flood_class(encoded: np.ndarray, permanent: np.ndarray) -> np.ndarray:
    """Append the ``flood_class`` band to ``(2, rows, cols)`` encoded bands given a ``(rows, cols)`` bool reference."""
    water = encoded[1]
    classes = np.where(water == 1, CLASS_FLOOD, CLASS_NONE).astype(np.uint8)
    classes[permanent] = CLASS_PERMANENT
    classes[water == NODATA] = NODATA
    return np.concatenate([encoded, classes[None]])


#: The tags of the flood map's own bands (band name -> GDAL band metadata).
BAND_TAGS: dict[str, dict[str, str]] = {
    BAND_PROBABILITY: {"units": "percent", "meaning": "probability of water, 0-100; 255 no data"},
    BAND_MASK: {"meaning": "1 water, 0 not water; 255 no data"},
    BAND_CLASS: {"meaning": "0 not water, 1 flood water, 2 permanent water; 255 no data"},
}


@dataclass(frozen=True)
class BandSpec:
    """One band of a written map: its description (name) and GDAL metadata tags."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def named(cls, name: str, tags: dict[str, str] | None = None) -> BandSpec:
        """A band with the flood map's tags for its name (:data:`BAND_TAGS`), else ``tags``."""
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
        permanent: Optional permanent-water reference (adds the ``flood_class`` band, derived from it).
        classes: Add the ``flood_class`` band without a reference: every write then brings it as a third band
            already computed (a :func:`gee_flood.predict` result's ``flood_class``).
        tags: Dataset metadata tags.
        bands: The bands, in order, when they are not the flood map's own (:func:`gee_flood.write_cog` of any
            variables); every write then brings them all, encoded.
        dtype: Their stored dtype.
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
        permanent: PermanentWater | None = None,
        classes: bool = False,
        tags: dict[str, str] | None = None,
        bands: list[BandSpec] | None = None,
        dtype: str = "uint8",
        nodata: float = NODATA,
    ) -> None:
        self.height, self.width = height, width
        self.permanent = permanent
        if bands is None:
            count = 3 if permanent is not None or classes else 2
            bands = [BandSpec.named(name) for name in (BAND_PROBABILITY, BAND_MASK, BAND_CLASS)[:count]]
        elif permanent is not None:
            raise ValueError("a permanent-water reference derives the flood map's own bands only")
        self.bands = len(bands)
        self.names = [band.name for band in bands]
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
        for index, band in enumerate(bands, start=1):
            self.dataset.set_band_description(index, band.name)
        self.dataset.update_tags(**(tags or {}))
        for index, band in enumerate(bands, start=1):
            if band.tags:
                self.dataset.update_tags(index, **band.tags)
        if permanent is not None:
            permanent.attach(crs, transform, width, height)
        self._pending: list[np.ndarray] = []
        self._pending_start = 0
        self.valid_pixels = 0
        self.water_pixels = 0
        self.flood_pixels = 0

    def _count(self, encoded: np.ndarray) -> None:
        first = encoded[0]
        valid = np.isfinite(first) if np.isnan(self.nodata) else first != self.nodata
        self.valid_pixels += int(np.count_nonzero(valid))
        if BAND_MASK in self.names:
            self.water_pixels += int(np.count_nonzero(encoded[self.names.index(BAND_MASK)] == 1))
        if BAND_CLASS in self.names:
            self.flood_pixels += int(np.count_nonzero(encoded[self.names.index(BAND_CLASS)] == CLASS_FLOOD))

    def write_block_rows(self, row_start: int, encoded: np.ndarray) -> None:
        """Write ``(bands, rows, width)`` encoded bands starting at an aligned ``row_start``."""
        rows = encoded.shape[1]
        if row_start % BLOCK or (rows % BLOCK and row_start + rows != self.height):
            raise ValueError(f"unaligned write of rows {row_start}..{row_start + rows}")
        if self.permanent is not None:
            encoded = add_flood_class(encoded, self.permanent.read_rows(row_start, row_start + rows))
        if encoded.shape[0] != self.bands:
            raise ValueError(f"{encoded.shape[0]} bands written to a {self.bands}-band flood map")
        self._count(encoded)
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
        """Close the file (and the permanent-water reference) after every row was written."""
        if self._pending:
            raise ValueError("rows left unwritten")
        self.abort()

    def abort(self) -> None:
        """Close the file whatever state it is in (after an error; the caller discards it)."""
        self.dataset.close()
        if self.permanent is not None:
            self.permanent.close()


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

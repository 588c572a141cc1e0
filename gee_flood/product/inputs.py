"""The auxiliary rasters of the flood product, resampled onto the flood map's grid one row block at a time.

Reference water (JRC Global Surface Water), the DEM for slope and radar geometry, height above nearest drainage
(MERIT Hydro ``hnd``), land cover (ESA WorldCover) and, optionally, the scene's incidence angle. Each is a GeoTIFF
(any CRS; a GDAL warped VRT reads just the rows asked for, so it may be larger than the scene) or a georeferenced
``xarray.DataArray`` (likewise: only the part under each window is read and reprojected). :class:`ProductInputs`
turns a block's water probability into the product's layers (:func:`gee_flood.product.layers.block_layers`); it
pickles small, so each Dask task gets it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT

from gee_flood.errors import InputError
from gee_flood.product.exclusion import exclusion_bits
from gee_flood.product.layers import ProductSettings, block_layers, reference_rows

#: Metres per degree of latitude (mean; for the slope of a DEM on a geographic grid).
M_PER_DEGREE = 111_320.0
#: Rows whose layers are computed at once (bounds the terrain arithmetic's float64 temporaries).
CHUNK_ROWS = 128


@dataclass(frozen=True)
class Grid:
    """The flood map's pixel grid (north-up)."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    def pixel_m(self, row_start: int, row_stop: int) -> tuple[float | np.ndarray, float]:
        """Pixel width (per row on a geographic grid, ``(rows, 1)``) and height in metres."""
        if self.crs.is_geographic:
            rows = np.arange(row_start, row_stop) + 0.5
            lat = self.transform.f + self.transform.e * rows
            dx = abs(self.transform.a) * M_PER_DEGREE * np.cos(np.radians(lat))[:, None]
            return dx, abs(self.transform.e) * M_PER_DEGREE
        unit = self.crs.linear_units_factor[1] if self.crs.linear_units_factor else 1.0
        return abs(self.transform.a) * unit, abs(self.transform.e) * unit


@dataclass
class AuxRaster:
    """One auxiliary raster on the flood map's grid.

    Args:
        source: A GeoTIFF path (band 1) or a georeferenced DataArray (rioxarray CRS).
        what: The option or argument it came from (for messages).
        resampling: ``nearest`` for classes and masks, ``bilinear`` for the DEM and HAND.
    """

    source: Path | Any
    what: str
    resampling: Literal["nearest", "bilinear"] = "nearest"

    def __post_init__(self) -> None:
        if isinstance(self.source, str | os.PathLike):
            self.source = Path(self.source)
            if not self.source.is_file():
                raise InputError(f"{self.what} {self.source}: raster not found")
            try:
                with rasterio.open(self.source) as src:
                    if src.crs is None:
                        raise InputError(f"{self.what} {self.source}: GeoTIFF has no CRS")
            except RasterioIOError as error:
                raise InputError(
                    f"{self.what} {self.source}: not a readable GeoTIFF ({str(error).splitlines()[0]})"
                ) from None
        else:
            import xarray as xr

            if not isinstance(self.source, xr.DataArray) or self.source.rio.crs is None:
                raise InputError(f"{self.what}: expected a GeoTIFF path or a DataArray with a CRS (rioxarray)")

    def attach(self, grid: Grid) -> None:
        """Get ready to be read on ``grid``: nothing to do now (a lazy DataArray stays lazy until a block needs it)."""

    def _array_window(self, grid: Grid, window: rasterio.windows.Window) -> np.ndarray:
        """A DataArray source reprojected onto one window of ``grid``: only the part under the window is read.

        Reading the window's footprint (in the source's CRS, two source pixels wider for bilinear) and warping
        that is what a GDAL warped VRT does for a file; rioxarray's ``reproject`` alone would read (and warp) the
        whole source for every window, or hold the whole grid in memory (1.6 GB of float32 at 20,000²).
        """
        import rioxarray  # noqa: F401 - the .rio accessor
        from rasterio.warp import transform_bounds
        from rioxarray.exceptions import NoDataInBounds, OneDimensionalRaster

        assert not isinstance(self.source, Path)
        # As float with NaN for no data: an integer source reprojected as it is would fill what it does not
        # cover with its dtype's default no data and count it as a value.
        array = self.source.squeeze(drop=True)
        nodata = array.rio.nodata
        shape = (int(window.height), int(window.width))
        left, bottom, right, top = transform_bounds(
            grid.crs, array.rio.crs, *rasterio.windows.bounds(window, grid.transform), densify_pts=21
        )
        x_res, y_res = (abs(value) for value in array.rio.resolution())
        try:
            part = array.rio.clip_box(
                left - 2 * x_res, bottom - 2 * y_res, right + 2 * x_res, top + 2 * y_res, auto_expand=True
            )
        except (NoDataInBounds, OneDimensionalRaster):
            return np.full(shape, np.nan)
        part = part.astype(np.float32)
        if nodata is not None and not np.isnan(nodata):
            part = part.where(part != nodata)
        on_window = part.rio.write_nodata(np.nan).rio.reproject(
            grid.crs.to_wkt(),
            transform=rasterio.windows.transform(window, grid.transform),
            shape=shape,
            resampling=getattr(Resampling, self.resampling),
            nodata=np.nan,
        )
        return np.asarray(on_window.values, np.float64)

    def rows(
        self, grid: Grid, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray:
        """``(rows, cols)`` float64 values of a window (default: whole rows), NaN where the raster has none.

        Rows ``[row_start, row_stop)``, columns ``[col_start, col_stop)`` (default: to the grid's width).
        """
        col_stop = grid.width if col_stop is None else col_stop
        window = rasterio.windows.Window(col_start, row_start, col_stop - col_start, row_stop - row_start)
        if not isinstance(self.source, Path):
            return self._array_window(grid, window)
        with (
            rasterio.open(self.source) as dataset,
            WarpedVRT(
                dataset,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=getattr(Resampling, self.resampling),
                nodata=dataset.nodata,
            ) as vrt,
        ):
            values = vrt.read(1, window=window, masked=True)
        return np.ma.filled(values.astype(np.float64), np.nan)

    def rows_with_halo(
        self, grid: Grid, row_start: int, row_stop: int, col_start: int = 0, col_stop: int | None = None
    ) -> np.ndarray:
        """Rows ``[row_start - 1, row_stop + 1)``, the scene's first/last row repeated beyond its edges."""
        lo, hi = max(0, row_start - 1), min(grid.height, row_stop + 1)
        values = self.rows(grid, lo, hi, col_start, col_stop)
        return np.pad(values, ((lo - (row_start - 1), (row_stop + 1) - hi), (0, 0)), mode="edge")


@dataclass
class ProductInputs:
    """Everything that turns a block's water probability into the product's layers, beyond the probability.

    Attributes:
        settings: Thresholds and viewing geometry.
        reference: JRC Global Surface Water ``seasonality`` or ``occurrence`` (``settings.reference_kind``).
        dem: Elevation (m) for slope and radar shadow/layover.
        hand: Height above nearest drainage (m).
        worldcover: ESA WorldCover classes.
        incidence: Incidence angle per pixel (degrees); default ``settings.incidence_deg`` everywhere.
    """

    settings: ProductSettings = field(default_factory=ProductSettings)
    reference: AuxRaster | None = None
    dem: AuxRaster | None = None
    hand: AuxRaster | None = None
    worldcover: AuxRaster | None = None
    incidence: AuxRaster | None = None
    grid: Grid | None = field(default=None, init=False)

    def attach(self, grid: Grid) -> ProductInputs:
        """Put every raster on the flood map's grid; returns ``self``."""
        self.grid = grid
        for raster in (self.reference, self.dem, self.hand, self.worldcover, self.incidence):
            if raster is not None:
                raster.attach(grid)
        return self

    def layers(self, probability: np.ndarray, threshold: float, row_start: int, col_start: int = 0) -> np.ndarray:
        """``(5, rows, cols)`` uint8 layers (:data:`gee_flood.product.LAYERS` order) of a block of probability.

        The block's top-left pixel is (``row_start``, ``col_start``) of the grid (full-width rows by default).
        Computed :data:`CHUNK_ROWS` rows at a time: the terrain arithmetic holds several float64 copies of the rows
        it works on, which for a whole 20,000-px-wide block would dominate predict's memory. The slope of a block's
        first and last columns is one-sided unless they are the grid's: a caller splitting the width gives each block
        a column of halo on each side and drops it (:meth:`gee_flood.inference.predict.ScenePrediction.layers`).
        """
        parts = [
            self._layers(probability[lo : lo + CHUNK_ROWS], threshold, row_start + lo, col_start)
            for lo in range(0, probability.shape[0], CHUNK_ROWS)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _layers(self, probability: np.ndarray, threshold: float, row_start: int, col_start: int = 0) -> np.ndarray:
        grid = self.grid
        if grid is None:
            raise ValueError("ProductInputs.attach(grid) first")
        row_stop = row_start + probability.shape[0]
        cols = (col_start, col_start + probability.shape[1])
        reference = None
        if self.reference is not None:
            reference = reference_rows(self.reference.rows(grid, row_start, row_stop, *cols), self.settings)
        exclusion = None
        if any(raster is not None for raster in (self.dem, self.hand, self.worldcover)):
            dx, dy = grid.pixel_m(row_start - 1, row_stop + 1)
            exclusion = exclusion_bits(
                self.settings,
                dem=self.dem.rows_with_halo(grid, row_start, row_stop, *cols) if self.dem is not None else None,
                dx_m=dx,
                dy_m=dy,
                hand=self.hand.rows(grid, row_start, row_stop, *cols) if self.hand is not None else None,
                worldcover=self.worldcover.rows(grid, row_start, row_stop, *cols)
                if self.worldcover is not None
                else None,
                incidence_deg=self.incidence.rows(grid, row_start, row_stop, *cols)
                if self.incidence is not None
                else None,
                shape=probability.shape,
            )
        return block_layers(probability, threshold, reference=reference, exclusion=exclusion).stack()

    @property
    def sources(self) -> dict[str, str]:
        """Which auxiliary inputs were given (for the map's tags)."""
        named = {"reference_water": self.reference, "dem": self.dem, "hand": self.hand,
                 "worldcover": self.worldcover, "incidence": self.incidence}  # fmt: skip
        return {
            name: (raster.source.name if isinstance(raster.source, Path) else "DataArray")
            for name, raster in named.items()
            if raster is not None
        }

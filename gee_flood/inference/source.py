"""Where predict reads Sentinel-1 from: a local GeoTIFF (any CRS), optionally cut to an AOI, or an in-memory array.

A scene source hands out full-width row strips of ``(2, rows, width)`` float32 VV, VH backscatter in dB with NaN
where there is no data, so inference never holds more than a strip. Sources are picklable (a GeoTIFF source reopens
its file after unpickling), so Dask workers can read their own blocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from gee_flood.data.chip import S1, ModalitySpec
from gee_flood.errors import DataError, InputError


@runtime_checkable
class SceneSource(Protocol):
    """A georeferenced Sentinel-1 scene read in row strips.

    Attributes:
        height: Rows (pixels).
        width: Columns (pixels).
        crs: Coordinate reference system of the pixel grid.
        transform: Affine transform of the pixel grid (CRS units, pixel corners).
        name: What to call the scene in messages (a path).
    """

    height: int
    width: int
    crs: CRS
    transform: Affine
    name: str

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:
        """Return ``(2, row_stop - row_start, width)`` float32 VV, VH in dB; NaN = no data."""
        ...

    @property
    def modalities(self) -> dict[str, ModalitySpec]:
        """The modalities the source provides (for :meth:`ModelCard.check_inputs`)."""
        ...


@dataclass
class ArraySceneSource:
    """An in-memory ``(2, H, W)`` VV, VH dB array with its georeference (tests, small scenes)."""

    array: np.ndarray
    crs: CRS
    transform: Affine
    name: str = "array"

    def __post_init__(self) -> None:
        if self.array.ndim != 3 or self.array.shape[0] != 2:
            raise DataError(f"{self.name}: expected a (2, H, W) VV, VH array, got shape {self.array.shape}")
        self.crs = CRS.from_user_input(self.crs)

    @property
    def height(self) -> int:  # noqa: D102 - documented on the protocol
        return int(self.array.shape[1])

    @property
    def width(self) -> int:  # noqa: D102
        return int(self.array.shape[2])

    @property
    def modalities(self) -> dict[str, ModalitySpec]:  # noqa: D102
        return {"s1": S1}

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:  # noqa: D102
        return np.asarray(self.array[:, row_start:row_stop], dtype=np.float32)


class XarraySceneSource:
    """A ``(band, y, x)`` ``xarray.DataArray`` of Sentinel-1 VV, VH in dB, NumPy- or Dask-backed (the notebook API).

    Rows are read with ``.isel(y=...)`` as the tiler asks for them, so a lazy (Dask, e.g. xee) array is computed one
    strip at a time. The georeference is rioxarray's (``array.rio.crs``, ``array.rio.transform()``), unless given.

    Args:
        array: The scene, dims ``(band, y, x)`` with band labels ``VV`` and ``VH`` (or exactly two unlabelled
            bands, VV then VH), dB, NaN = no data.
        crs: Its CRS (default: ``array.rio.crs``).
        transform: Its affine transform (default: ``array.rio.transform()``).
        name: What to call the scene in messages.

    Raises:
        DataError: No VV/VH bands, wrong dimensions, or no georeference.
    """

    def __init__(
        self, array: Any, *, crs: Any = None, transform: Affine | None = None, name: str = "xarray scene"
    ) -> None:
        self.name = name
        if set(array.dims) != {"band", "y", "x"}:
            raise DataError(f"{name}: expected dims (band, y, x), got {tuple(array.dims)}")
        labels = [str(value) for value in array["band"].values] if "band" in array.coords else []
        if {"VV", "VH"} <= set(labels):
            array = array.sel(band=["VV", "VH"])
        elif labels or array.sizes["band"] != 2:
            raise DataError(f"{name}: expected Sentinel-1 bands VV and VH in dB, found bands {labels}")
        if crs is None or transform is None:
            import rioxarray  # noqa: F401  - registers the .rio accessor

            if array.rio.crs is None:
                raise DataError(f"{name}: the array has no CRS (set one with array.rio.write_crs(...))")
            crs = crs if crs is not None else array.rio.crs
            transform = transform if transform is not None else array.rio.transform()
        self.crs: CRS = CRS.from_user_input(crs)
        self.transform: Affine = transform
        self.array = array.transpose("band", "y", "x")
        self.height: int = int(self.array.sizes["y"])
        self.width: int = int(self.array.sizes["x"])

    @property
    def modalities(self) -> dict[str, ModalitySpec]:  # noqa: D102 - documented on the protocol
        return {"s1": S1}

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:  # noqa: D102
        values = np.asarray(self.array.isel(y=slice(row_start, row_stop)).values, dtype=np.float32)
        # A new array: ``values`` may be a view of the caller's (possibly read-only) NumPy data.
        return np.where(np.isfinite(values), values, np.float32(np.nan))


def _quiet_open(path: Path) -> Any:
    """Open a raster without rasterio's NotGeoreferencedWarning (we report a missing CRS ourselves, in one line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def find_s1_bands(descriptions: tuple[str | None, ...], where: str) -> tuple[int, int]:
    """Return the 1-based band indexes of VV and VH from band descriptions.

    A file whose bands carry no descriptions must have exactly two bands, taken as VV then VH (the order of
    ``COPERNICUS/S1_GRD`` and of Sen1Floods11's S1 chips).

    Raises:
        DataError: If VV and VH cannot be identified.
    """
    names = [(d or "").strip().upper() for d in descriptions]
    if "VV" in names and "VH" in names:
        return names.index("VV") + 1, names.index("VH") + 1
    if len(names) == 2 and not any(names):
        return 1, 2
    shown = [d or "(none)" for d in descriptions]
    raise DataError(
        f"{where}: expected Sentinel-1 bands VV and VH in dB (band descriptions 'VV', 'VH', or exactly two "
        f"undescribed bands), found {len(names)} band(s) described {shown}"
    )


@dataclass
class GeoTiffSceneSource:
    """A local Sentinel-1 GeoTIFF (VV, VH in dB, any CRS), optionally cut to an area of interest.

    Pixels equal to the file's nodata value, non-finite pixels and (with an AOI) pixels outside the AOI polygon are
    NaN in the strips. With an AOI the scene is the window of the file covering the AOI's bounds.

    Args:
        path: The GeoTIFF.
        aoi_wgs84: Area of interest in EPSG:4326 (lon, lat), or None for the whole file.
        crop: With an AOI, cut the scene to the AOI's bounding window (False: keep the file's grid, only mask
            pixels outside the AOI, as for a scene already read for that AOI).
    """

    path: Path
    aoi_wgs84: BaseGeometry | None = None
    crop: bool = True
    name: str = ""
    crs: CRS = field(init=False)
    transform: Affine = field(init=False)
    height: int = field(init=False)
    width: int = field(init=False)
    _window: rasterio.windows.Window = field(init=False, repr=False)
    _bands: tuple[int, int] = field(init=False, repr=False)
    _nodata: float | None = field(init=False, repr=False)
    _aoi_native: dict[str, Any] | None = field(init=False, repr=False, default=None)
    _dataset: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or str(self.path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: input scene not found")
        try:
            with _quiet_open(self.path) as src:
                if src.crs is None:
                    raise InputError(
                        f"{self.path}: GeoTIFF has no CRS; predict needs a georeferenced Sentinel-1 scene "
                        "(set one with 'rio edit-info --crs EPSG:XXXX')"
                    )
                self.crs = src.crs
                self._bands = find_s1_bands(src.descriptions, str(self.path))
                self._nodata = src.nodata
                full = rasterio.windows.Window(0, 0, src.width, src.height)
                window = full
                if self.aoi_wgs84 is not None:
                    native = rasterio.warp.transform_geom("EPSG:4326", src.crs, mapping(self.aoi_wgs84))
                    self._aoi_native = native
                    from shapely.geometry import shape

                    aoi_native = shape(native)
                    scene_box = box(*src.bounds)
                    if not aoi_native.intersects(scene_box) or aoi_native.intersection(scene_box).area == 0:
                        scene_bounds = tuple(round(v, 3) for v in src.bounds)
                        aoi_bounds = tuple(round(v, 5) for v in self.aoi_wgs84.bounds)
                        raise DataError(
                            f"{self.path}: the scene does not overlap the AOI (scene bounds {scene_bounds} in "
                            f"{describe_crs(src.crs)}, AOI bounds {aoi_bounds} in EPSG:4326)"
                        )
                    window = (
                        full
                        if not self.crop
                        else (
                            rasterio.windows.from_bounds(*aoi_native.bounds, transform=src.transform)
                            .round_offsets(op="floor")
                            .round_lengths(op="ceil")
                            .intersection(full)
                        )
                    )
                self._window = rasterio.windows.Window(
                    int(window.col_off), int(window.row_off), int(window.width), int(window.height)
                )
                self.transform = rasterio.windows.transform(self._window, src.transform)
                self.height = int(self._window.height)
                self.width = int(self._window.width)
        except RasterioIOError as error:
            raise InputError(f"{self.path}: not a readable GeoTIFF ({str(error).splitlines()[0]})") from None
        if self.height == 0 or self.width == 0:
            raise DataError(f"{self.path}: the scene does not overlap the AOI")

    @property
    def modalities(self) -> dict[str, ModalitySpec]:  # noqa: D102 - documented on the protocol
        return {"s1": S1}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_dataset"] = None  # an open GDAL handle does not pickle; reopen on the worker
        return state

    def _open(self) -> Any:
        if self._dataset is None:
            self._dataset = rasterio.open(self.path)
        return self._dataset

    def close(self) -> None:
        """Close the underlying file (it reopens on the next read)."""
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:  # noqa: D102
        window = rasterio.windows.Window(
            self._window.col_off, self._window.row_off + row_start, self._window.width, row_stop - row_start
        )
        try:
            data = self._open().read(list(self._bands), window=window, out_dtype=np.float32)
        except RasterioIOError as error:  # a truncated or damaged file: its header read, its pixels do not
            reason = " ".join(str(error.__cause__ or error).split())[:200]
            raise DataError(
                f"{self.path}: rows {row_start}-{row_stop} cannot be read, truncated or damaged ({reason})"
            ) from None
        if self._nodata is not None and np.isfinite(self._nodata):
            data[data == np.float32(self._nodata)] = np.nan
        data[~np.isfinite(data)] = np.nan
        if self._aoi_native is not None:
            outside = rasterio.features.geometry_mask(
                [self._aoi_native],
                out_shape=(row_stop - row_start, self.width),
                transform=rasterio.windows.transform(window, self._open().transform),
                all_touched=True,
            )
            data[:, outside] = np.nan
        return data


def describe_crs(crs: CRS) -> str:
    """Short human name of a CRS (``EPSG:32633`` or the WKT's name)."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]

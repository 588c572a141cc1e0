"""Where predict reads Sentinel-1 from: a local GeoTIFF (any CRS), optionally cut to an AOI, or an in-memory array.

A scene source hands out full-width row strips of ``(2, rows, width)`` float32 VV, VH backscatter in dB with NaN
where there is no data, so inference never holds more than a strip. Sources are picklable (a GeoTIFF source reopens
its file after unpickling), so Dask workers can read their own blocks.
"""

from __future__ import annotations

import math
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
from gee_flood.errors import DataError, InputError, InputNotFoundError


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

    def read_window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
        """``(2, rows, cols)`` float32 VV, VH dB of a window; NaN = no data."""
        return np.asarray(self.array[:, row_start:row_stop, col_start:col_stop], dtype=np.float32)


#: Spatial dimension names accepted besides rioxarray's own detection (``x``/``y``, ``longitude``/``latitude`` and
#: CF ``axis``/``standard_name`` attributes), as ``(x, y)``.
SPATIAL_DIM_NAMES = (("lon", "lat"), ("X", "Y"), ("easting", "northing"))


def _spatial_dims(array: Any, name: str) -> tuple[str, str]:
    """``(x_dim, y_dim)`` of a DataArray: rioxarray's ``rio.x_dim``/``rio.y_dim``, else a known name pair."""
    from rioxarray.exceptions import MissingSpatialDimensionError

    try:
        return str(array.rio.x_dim), str(array.rio.y_dim)
    except MissingSpatialDimensionError:
        pass
    for x_dim, y_dim in SPATIAL_DIM_NAMES:
        if x_dim in array.dims and y_dim in array.dims:
            return x_dim, y_dim
    raise DataError(
        f"{name}: no spatial dimensions among {tuple(array.dims)}; expected x/y, longitude/latitude, lon/lat or "
        "dims rioxarray recognises (set them with array.rio.set_spatial_dims(x_dim=..., y_dim=...))"
    )


def _band_labels(array: Any) -> list[str]:
    """Band labels: string ``band`` coordinates, else rasterio's ``long_name``, else none.

    ``rioxarray.open_rasterio`` gives ``band`` = 1, 2 and ``long_name`` = ('VV', 'VH').
    """
    if "band" in array.coords and array["band"].dtype.kind in "UOS":
        return [str(value) for value in array["band"].values]
    long_name = array.attrs.get("long_name")
    if isinstance(long_name, list | tuple) and len(long_name) == array.sizes["band"]:
        return [str(value) for value in long_name]
    return []


def scene_nodata(array: Any) -> list[float]:
    """The no-data values of a DataArray (NaN is always no data besides these).

    ``rio.nodata`` (the ``_FillValue`` attribute of an unmasked read) and ``rio.encoded_nodata`` (the ``_FillValue``
    encoding of a masked one).
    """
    values = []
    for value in (array.rio.nodata, array.rio.encoded_nodata, array.attrs.get("_FillValue")):
        if value is not None and np.isfinite(value):
            values.append(float(value))
    return sorted(set(values))


def is_ee_object(value: Any, name: str) -> bool:
    """Whether ``value`` is an Earth Engine object of class ``name`` (``"Image"``, ``"Geometry"``...).

    Told without importing ``ee`` (slow to import, needed only when the user passes Earth Engine objects).
    """
    module = type(value).__module__ or ""
    return module.startswith("ee") and type(value).__name__ == name


def s1_of_dataset(dataset: Any) -> Any:
    """The VV, VH ``(band, y, x)`` array of a Dataset: its ``s1`` variable (one pair) or ``VV``/``VH`` variables.

    An :func:`gee_flood.open_pairs` Dataset (one pair), or xee's Dataset of an image (``VV``, ``VH``).
    """
    if "s1" in dataset:
        array = dataset["s1"]
        if "pair" in array.dims:
            if array.sizes["pair"] != 1:
                raise InputError(
                    f"the dataset has {array.sizes['pair']} pairs; select one first, e.g. pairs.isel(pair=0)"
                )
            array = array.isel(pair=0)
        array = array.rename(s1_band="band") if "s1_band" in array.dims else array
        return array.drop_vars([c for c in array.coords if c not in array.dims and c != "spatial_ref"])
    if "VV" in dataset and "VH" in dataset:
        array = dataset[["VV", "VH"]].to_dataarray("band")
        # What the variables say and ``to_dataarray`` drops: xee's per-variable CRS, their no-data value.
        for key in ("crs", "_FillValue"):
            value = dataset["VV"].attrs.get(key)
            if value is not None and key not in array.attrs:
                array.attrs[key] = value
        fill = dataset["VV"].encoding.get("_FillValue")
        if fill is not None:
            array.encoding["_FillValue"] = fill
        return array
    raise InputError(f"the dataset has no 's1' variable nor 'VV' and 'VH' variables (has {list(dataset.data_vars)})")


class XarraySceneSource:
    """A Sentinel-1 VV, VH ``xarray.DataArray`` in dB, NumPy- or Dask-backed (the notebook API).

    What rioxarray and xee produce is taken as it is (the one place that reads user arrays):

    - dims ``(band, y, x)`` in any order, the spatial dims found by ``rio.x_dim``/``rio.y_dim`` or named
      ``lon``/``lat``, ``X``/``Y``; an extra dim of length 1 (``time`` from xee or a time series) is dropped, a longer
      one is refused;
    - bands labelled ``VV`` and ``VH`` by the ``band`` coordinate, or by ``long_name`` (``open_rasterio`` gives
      ``band`` = 1, 2 and ``long_name`` = ('VV', 'VH')), or exactly two unlabelled bands (VV then VH);
    - the CRS from ``rio.crs``, or xee's per-variable ``crs`` attribute;
    - no data where values are NaN or equal ``rio.nodata``/``_FillValue``/``rio.encoded_nodata``.

    Rows are read with ``.isel`` as the tiler asks for them, so a lazy (Dask, e.g. xee) array is computed one strip
    at a time. The input's own ``x``/``y`` coordinates are kept (:attr:`coords`), so results align exactly.

    Args:
        array: The scene.
        crs: Its CRS (default: ``array.rio.crs``).
        transform: Its affine transform (default: ``array.rio.transform()``).
        name: What to call the scene in messages.

    Raises:
        DataError: No VV/VH bands, wrong dimensions, or no georeference.
    """

    def __init__(
        self, array: Any, *, crs: Any = None, transform: Affine | None = None, name: str = "xarray scene"
    ) -> None:
        import rioxarray  # noqa: F401  - registers the .rio accessor

        self.name = name
        if "band" not in array.dims:
            raise DataError(f"{name}: expected a band dimension with VV and VH, got dims {tuple(array.dims)}")
        x_dim, y_dim = _spatial_dims(array, name)
        for dim in array.dims:
            if dim in ("band", x_dim, y_dim):
                continue
            if array.sizes[dim] != 1:
                raise DataError(
                    f"{name}: dimension {dim!r} has {array.sizes[dim]} steps; select one scene first, "
                    f"e.g. scene.isel({dim}=0)"
                )
            array = array.isel({dim: 0}, drop=True)
        labels = _band_labels(array)
        if {"VV", "VH"} <= set(labels):
            array = array.assign_coords(band=labels).sel(band=["VV", "VH"])
        elif labels or array.sizes["band"] != 2:
            raise DataError(f"{name}: expected Sentinel-1 bands VV and VH in dB, found bands {labels}")
        xee_crs = array.attrs.get("crs")
        if crs is None and array.rio.crs is None and isinstance(xee_crs, str):
            crs = xee_crs  # xee writes the grid's CRS as a per-variable attribute
        if (x_dim, y_dim) != ("x", "y"):
            array = array.rename({x_dim: "x", y_dim: "y"}).rio.set_spatial_dims(x_dim="x", y_dim="y")
        if crs is None and array.rio.crs is None:
            raise DataError(f"{name}: the array has no CRS (set one with array.rio.write_crs(...))")
        crs = crs if crs is not None else array.rio.crs
        transform = transform if transform is not None else array.rio.transform(recalc=True)
        self.crs: CRS = CRS.from_user_input(crs)
        self.transform: Affine = transform
        self.nodata = scene_nodata(array)
        self.array = array.transpose("band", "y", "x")
        self.coords: dict[str, np.ndarray] = {"x": np.asarray(array["x"].values), "y": np.asarray(array["y"].values)}
        self.x_dim, self.y_dim = x_dim, y_dim
        self.height: int = int(self.array.sizes["y"])
        self.width: int = int(self.array.sizes["x"])

    @property
    def modalities(self) -> dict[str, ModalitySpec]:  # noqa: D102 - documented on the protocol
        return {"s1": S1}

    @property
    def lazy(self) -> Any:
        """The scene's Dask array ``(2, height, width)`` (VV, VH) if it is lazy, else ``None``.

        A prediction then takes its rows as graph dependencies (:func:`gee_flood.predict`), so one compute reads
        each input chunk once, however many row blocks need it.
        """
        from dask.base import is_dask_collection

        return self.array.data if is_dask_collection(self.array.data) else None

    def clean(self, values: Any, *, copy: bool = True) -> np.ndarray:
        """Rows as read: float32, NaN where not finite or equal to a no-data value.

        ``copy``: work on a copy (``values`` may be a view of the caller's, possibly read-only, data); ``False`` for
        a fresh array of one's own (no second copy of a block's rows).
        """
        values = np.array(values, dtype=np.float32, copy=True if copy else None)
        values[~np.isfinite(values)] = np.nan
        for nodata in self.nodata:
            values[values == np.float32(nodata)] = np.nan
        return values

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:  # noqa: D102
        return self.clean(self.array.isel(y=slice(row_start, row_stop)).values)

    def read_window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
        """``(2, rows, cols)`` float32 VV, VH dB of a window; NaN = no data."""
        return self.clean(self.array.isel(y=slice(row_start, row_stop), x=slice(col_start, col_stop)).values)


#: Fraction of sampled VV/VH values at or above 0 from which a scene is taken not to be in dB: Sentinel-1 GRD
#: backscatter in dB is overwhelmingly negative (VV around -12 dB, VH around -19 dB over land, below -20 dB over
#: water; only bright urban or steep terrain reaches 0 dB), whereas linear power, amplitude and digital numbers are
#: never negative.
NON_NEGATIVE_LIMIT = 0.9
#: At least this many valid sampled values before the units are judged (too few say nothing).
UNITS_MIN_SAMPLE = 1000


def check_decibels(s1: np.ndarray, name: str) -> None:
    """Refuse a ``(2, rows, cols)`` VV, VH strip whose values are not backscatter in dB.

    A robust check on a sample (every 4th row and column of the strip, NaN ignored): if at least
    :data:`NON_NEGATIVE_LIMIT` of the values are >= 0 the strip is linear power, amplitude or digital numbers, which
    the model (trained on dB, as the model card says) would map as all water or no water without a word.

    Raises:
        DataError: The values are not dB, naming the scene, the median and what the input looks like.
    """
    sample = s1[:, ::4, ::4]
    sample = sample[np.isfinite(sample)]
    if sample.size < UNITS_MIN_SAMPLE:
        return
    non_negative = float(np.count_nonzero(sample >= 0)) / sample.size
    if non_negative < NON_NEGATIVE_LIMIT:
        return
    median = float(np.median(sample))
    looks = "digital numbers (DN)" if median > 20 else "linear power or amplitude"
    raise DataError(
        f"{name}: VV/VH values look like {looks}, not backscatter in dB ({non_negative:.0%} of sampled values >= 0, "
        f"median {median:.3g}); the model expects dB: convert first, e.g. 10 * log10(power) or 20 * log10(amplitude)"
    )


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


def _covering_window(
    bounds: tuple[float, float, float, float], transform: Affine, full: rasterio.windows.Window
) -> rasterio.windows.Window:
    """The whole pixels of ``full`` that ``bounds`` (in the scene's CRS) touch: at least one.

    Even an AOI smaller than a pixel gets its pixel (rasterio's ``round_lengths`` rounds a 0.01-pixel width to 0,
    an empty window).
    """
    exact = rasterio.windows.from_bounds(*bounds, transform=transform)
    col0, row0 = math.floor(exact.col_off), math.floor(exact.row_off)
    col1 = max(math.ceil(exact.col_off + exact.width), col0 + 1)
    row1 = max(math.ceil(exact.row_off + exact.height), row0 + 1)
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0).intersection(full)


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
            raise InputNotFoundError(f"{self.path}: input scene not found")
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
                    window = full if not self.crop else _covering_window(aoi_native.bounds, src.transform, full)
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
        return self.read_window(row_start, row_stop, 0, self.width)

    def read_window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
        """``(2, rows, cols)`` float32 VV, VH dB of a window of the scene; NaN = no data (or outside the AOI)."""
        window = rasterio.windows.Window(
            self._window.col_off + col_start,
            self._window.row_off + row_start,
            col_stop - col_start,
            row_stop - row_start,
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
                out_shape=(row_stop - row_start, col_stop - col_start),
                transform=rasterio.windows.transform(window, self._open().transform),
                all_touched=True,
            )
            data[:, outside] = np.nan
        return data


def describe_crs(crs: CRS) -> str:
    """Short human name of a CRS (``EPSG:32633`` or the WKT's name)."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]

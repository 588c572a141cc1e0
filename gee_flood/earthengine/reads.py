"""Pixel reads through xee: ``xr.open_dataset(collection, engine="ee", crs=..., crs_transform=..., shape_2d=...)``.

A multi-band image is opened as a *band stack* (:func:`~gee_flood.earthengine.queries.bands_as_collection`), so
each ``computePixels`` request returns every band of a window. ``io_chunks`` are planned so that one request
stays under Earth Engine's 48 MiB limit (50,331,648 bytes, counted as xee does: one mask byte per value on top of
the data bytes). Requests run in xee's thread pool (``executor_kwargs``: bounded concurrency) with xee's retries
(``getitem_kwargs``) under an outer retry with backoff and jitter (:func:`~gee_flood.earthengine.session.with_retries`);
permanent errors (HTTP 400: memory limit, bad band, payload too large) become one-line
:class:`~gee_flood.errors.RemoteError`.

Opened datasets are cached per process (an open costs one ``value:compute`` request), so the chips of one mosaic
share one open on a worker.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from shapely.geometry import MultiPolygon, Polygon

from gee_flood.earthengine import queries
from gee_flood.earthengine.session import EESettings, initialize, with_retries
from gee_flood.errors import DataError
from gee_flood.geo import AreaOfInterest, DateRange, PixelGrid, as_area_of_interest

#: Earth Engine's computePixels limit (48 MiB), as in xee's ``REQUEST_BYTE_LIMIT``.
REQUEST_BYTE_LIMIT = 50_331_648

#: Value xee writes where the Sentinel-1 stack is masked (then turned into NaN); never a real dB value.
S1_MASK_VALUE = -9999
#: Value xee writes where the Sentinel-2 stack is masked; 0 is L1C's own no-data DN.
S2_MASK_VALUE = 0


@dataclass(frozen=True)
class StackSpec:
    """A band stack to open: which image, which bands, how Earth Engine encodes them.

    Attributes:
        key: Identifies the image expression (e.g. ``"s2|cloudscore|0.6|<indexes>"``).
        bands: Band names, in the order read.
        itemsize: Bytes per value Earth Engine returns (4 for float32, 2 for uint16).
        mask_value: Value xee fills masked pixels with before turning them into NaN.
        build: Builds the ``ee.Image`` (called only when the stack is opened, on the process that reads).
    """

    key: str
    bands: tuple[str, ...]
    itemsize: int
    mask_value: float
    build: Callable[[], Any]


def request_bytes(n_bands: int, itemsize: int, height: int, width: int) -> int:
    """Return the size of one computePixels request as Earth Engine counts it (one mask byte per value)."""
    return n_bands * height * width * (itemsize + 1)


def plan_io_chunks(
    n_bands: int, itemsize: int, *, byte_limit: int = REQUEST_BYTE_LIMIT, multiple: int = 1
) -> dict[str, int]:
    """Return xee ``io_chunks`` (all bands in one request) with the largest square tile under ``byte_limit``.

    Args:
        n_bands: Bands per request.
        itemsize: Bytes per value.
        byte_limit: Request byte limit.
        multiple: Round the tile side down to a multiple of this (e.g. the chip size), when possible.

    Raises:
        DataError: If not even one pixel of all bands fits.
    """
    per_pixel = n_bands * (itemsize + 1)
    side = int(math.isqrt(byte_limit // per_pixel)) if per_pixel <= byte_limit else 0
    if side < 1:
        raise DataError(f"{n_bands} bands of {itemsize} bytes do not fit in a {byte_limit}-byte request")
    if multiple > 1 and side >= multiple:
        side -= side % multiple
    elif side >= 256:
        side -= side % 256
    assert request_bytes(n_bands, itemsize, side, side) <= byte_limit
    return {"index": n_bands, "height": side, "width": side}


class StackReader:
    """Opens band stacks with xee (cached per process) and reads windows with retries.

    Args:
        settings: Earth Engine settings (the reader initialises EE in its process if needed).
        io_threads: Concurrent computePixels requests per read (xee's thread pool).
        byte_limit: Largest request.
        chunk_multiple: Preferred tile side multiple (the chip size).
        cache_size: Open datasets kept per process.
    """

    _lock = threading.Lock()
    _cache: OrderedDict[tuple, xr.DataArray] = OrderedDict()
    _opening: dict[tuple, threading.Lock] = {}

    def __init__(
        self,
        settings: EESettings,
        *,
        io_threads: int = 4,
        byte_limit: int = REQUEST_BYTE_LIMIT,
        chunk_multiple: int = 1,
        cache_size: int = 16,
    ) -> None:
        self.settings = settings
        self.io_threads = max(1, io_threads)
        self.byte_limit = byte_limit
        self.chunk_multiple = chunk_multiple
        self.cache_size = cache_size

    def _open_kwargs(self, spec: StackSpec, grid: PixelGrid) -> dict[str, Any]:
        policy = self.settings.retry
        return {
            "engine": "ee",
            "crs": grid.crs,
            "crs_transform": grid.crs_transform,
            "shape_2d": (grid.width, grid.height),
            "io_chunks": plan_io_chunks(
                len(spec.bands), spec.itemsize, byte_limit=self.byte_limit, multiple=self.chunk_multiple
            ),
            "primary_dim_name": "band",
            "primary_dim_property": queries.BAND_ORDER_PROPERTY,
            "ee_mask_value": spec.mask_value,
            "request_byte_limit": self.byte_limit,
            "executor_kwargs": {"max_workers": self.io_threads},
            "getitem_kwargs": {"max_retries": policy.xee_max_retries, "initial_delay": policy.xee_initial_delay_ms},
        }

    def open(self, spec: StackSpec, grid: PixelGrid, *, what: str, dask_chunks: bool = False) -> xr.DataArray:
        """Return the stack as a lazy ``(band, y, x)`` float32 DataArray (NaN = masked), opening it if needed."""
        key = (self.settings.url, self.settings.project, self.settings.endpoint, spec.key, grid.key, dask_chunks)
        with self._lock:
            key_lock = self._opening.setdefault(key, threading.Lock())
        with key_lock:  # threads wanting the same stack wait for one open instead of each opening it
            return self._open_once(key, spec, grid, what=what, dask_chunks=dask_chunks)

    def _open_once(self, key: tuple, spec: StackSpec, grid: PixelGrid, *, what: str, dask_chunks: bool) -> xr.DataArray:
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        initialize(self.settings)

        def do_open() -> xr.DataArray:
            collection = queries.bands_as_collection(spec.build(), spec.bands)
            with warnings.catch_warnings():
                # xee warns when computed images carry no system:id / time; the band axis is labelled below.
                warnings.simplefilter("ignore")
                dataset = xr.open_dataset(
                    collection, chunks={} if dask_chunks else None, **self._open_kwargs(spec, grid)
                )
            array = dataset[queries.STACK_VARIABLE]
            if array.sizes["band"] != len(spec.bands):
                raise DataError(
                    f"{what}: Earth Engine returned {array.sizes['band']} bands, expected {len(spec.bands)}"
                )
            return array.assign_coords(band=list(spec.bands))

        array = with_retries(do_open, policy=self.settings.retry, what=f"opening {what}")
        with self._lock:
            self._cache[key] = array
            while len(self._cache) > self.cache_size:
                evicted, _ = self._cache.popitem(last=False)
                self._opening.pop(evicted, None)
        return array

    def read(self, spec: StackSpec, grid: PixelGrid, window: tuple[int, int, int, int], *, what: str) -> np.ndarray:
        """Read rows ``[row0, row1)`` and columns ``[col0, col1)`` of the stack as ``(bands, h, w)`` float32."""
        row0, row1, col0, col1 = window
        array = self.open(spec, grid, what=what)

        def do_read() -> np.ndarray:
            return np.asarray(array[:, row0:row1, col0:col1].values, dtype=np.float32)

        values = with_retries(do_read, policy=self.settings.retry, what=f"reading pixels of {what}")
        expected = (len(spec.bands), row1 - row0, col1 - col0)
        if values.shape != expected:
            raise DataError(f"{what}: Earth Engine returned pixels of shape {values.shape}, expected {expected}")
        return values

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every open dataset of this process."""
        with cls._lock:
            cls._cache.clear()
            cls._opening.clear()


def s1_stack(indexes: Sequence[str]) -> StackSpec:
    """Return the band stack of a Sentinel-1 VV/VH mosaic (float32 dB)."""
    ordered = tuple(indexes)
    return StackSpec(
        key="s1|" + ",".join(ordered),
        bands=queries.S1_BANDS,
        itemsize=4,
        mask_value=S1_MASK_VALUE,
        build=lambda: queries.s1_mosaic(ordered),
    )


def s2_stack(
    indexes: Sequence[str],
    *,
    cloud_mask: queries.CloudMask,
    cloud_threshold: float | None,
    with_occurrence: bool,
) -> StackSpec:
    """Return the band stack of a Sentinel-2 mosaic: 13 DN bands, the cloud state, optionally JRC occurrence."""
    ordered = tuple(indexes)
    return StackSpec(
        key=f"s2|{cloud_mask}|{cloud_threshold}|{with_occurrence}|" + ",".join(ordered),
        bands=queries.s2_read_bands(with_occurrence),
        itemsize=2,
        mask_value=S2_MASK_VALUE,
        build=lambda: queries.s2_mosaic(
            ordered, cloud_mask=cloud_mask, cloud_threshold=cloud_threshold, with_occurrence=with_occurrence
        ),
    )


def read_s1_scene(
    aoi: str | Path | dict[str, Any] | Polygon | MultiPolygon | AreaOfInterest,
    date: dt.date,
    *,
    scale_m: float = 10.0,
    crs: str | None = None,
    max_days: int = 3,
    orbit_pass: queries.OrbitPass | None = None,
    settings: EESettings | None = None,
    io_threads: int = 4,
    allow_large: bool = False,
    image_ids: Sequence[str] | None = None,
) -> xr.DataArray:
    """Read the Sentinel-1 VV/VH mosaic closest to ``date`` over an AOI, lazily, through xee (Dask chunks).

    The scenes are found with the same query and metadata request as ``gee-flood fetch``; the mosaic chosen is
    the one (same day, same orbit) covering most of the AOI, nearest in time to ``date`` among those covering at
    least 99 % of the best coverage, or, with ``image_ids``, exactly the mosaic of those scenes (one acquisition,
    as ``gee_flood.watch.find_acquisitions`` lists it: two passes on one day are told apart).

    Args:
        aoi: GeoJSON path, GeoJSON geometry/Feature dict, shapely polygon or :class:`~gee_flood.geo.AreaOfInterest`,
            in EPSG:4326; validated by :func:`gee_flood.geo.read_aoi`'s rules before any Earth Engine request.
        date: Day of interest (UTC).
        scale_m: Pixel size in metres (degrees are derived for geographic CRSs).
        crs: Output CRS code; ``None`` or ``"utm"`` for the UTM zone of the AOI.
        max_days: Search ``date`` +- this many days.
        orbit_pass: Restrict to one orbit pass.
        settings: Earth Engine settings; default: standard endpoint, project from the environment.
        io_threads: Concurrent requests per chunk read.
        allow_large: Accept AOIs over :data:`gee_flood.geo.MAX_AOI_AREA_KM2`.
        image_ids: ``COPERNICUS/S1_GRD/<index>`` of the mosaic to read (sensed around ``date``); None: choose.

    Returns:
        ``DataArray`` (band, y, x), bands ``VV``, ``VH`` in dB, float32, NaN where no data, chunked with Dask
        (one chunk per computePixels request). ``attrs``: ``crs`` (code), ``transform`` ([a, b, c, d, e, f]),
        ``s1_ids``, ``s1_time`` (ISO UTC).

    Raises:
        InputError: If the AOI breaks a rule of :func:`gee_flood.geo.read_aoi` (e.g. too large).
        DataError: If no Sentinel-1 scene covers the AOI in the window.
    """
    from gee_flood.earthengine.grid import pixel_size, resolve_crs
    from gee_flood.earthengine.pairing import group_mosaics

    settings = settings or EESettings(endpoint="standard")
    geometry = as_area_of_interest(aoi, allow_large=allow_large).geometry
    grid_crs = resolve_crs(crs or "utm", geometry)
    px = pixel_size(grid_crs, scale_m)
    window = DateRange(date, date).widened(max_days)
    initialize(settings)
    query = queries.SceneQuery("scene", geometry, window, window)

    def fetch_metadata() -> Any:
        import ee

        s1 = queries.s1_collection(geometry, window, orbit_pass)
        return ee.Dictionary({"scene": ee.Dictionary({"s1": queries._scene_table(s1, queries.S1_METADATA)})}).getInfo()

    info = with_retries(fetch_metadata, policy=settings.retry, what="the Sentinel-1 metadata query")
    scenes = queries.parse_metadata(info, [query])["scene"].s1
    mosaics = group_mosaics(scenes)
    if not mosaics:
        raise DataError(
            f"no {queries.S1_COLLECTION} scenes (IW, VV+VH, pass {orbit_pass or 'any'}) between {window.start} "
            f"and {window.end} over the AOI (bounds {tuple(round(v, 4) for v in geometry.bounds)})"
        )
    if image_ids is not None:
        mosaics = [m for m in mosaics if set(m.image_ids) == set(image_ids)]
        if not mosaics:
            raise DataError(
                f"no Sentinel-1 mosaic of exactly {', '.join(sorted(image_ids))} around {date} over the AOI"
            )
    area = geometry.area or 1.0
    coverage = {m.key: m.footprint.intersection(geometry).area / area for m in mosaics}
    best = max(coverage.values())
    target = dt.datetime.combine(date, dt.time(12), tzinfo=dt.UTC)
    chosen = min(
        (m for m in mosaics if coverage[m.key] >= 0.99 * best),
        key=lambda m: (abs((m.time - target).total_seconds()), m.key),
    )
    from xee import helpers

    grid_params = helpers.fit_geometry(geometry, geometry_crs="EPSG:4326", grid_crs=grid_crs, grid_scale=(px, -px))
    width, height = grid_params["shape_2d"]
    grid = PixelGrid(grid_crs, Affine(*grid_params["crs_transform"]), int(width), int(height))
    reader = StackReader(settings, io_threads=io_threads)
    array = reader.open(s1_stack(chosen.indexes), grid, what=f"Sentinel-1 mosaic {chosen.key}", dask_chunks=True)
    array = array.rename("s1")
    array.attrs.update(
        {
            "crs": grid.crs,
            "transform": list(grid.crs_transform),
            "s1_ids": list(chosen.image_ids),
            "s1_time": chosen.time.isoformat().replace("+00:00", "Z"),
            "units": "dB",
        }
    )
    return array

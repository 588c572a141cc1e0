"""Reducers and the algorithms using them: reduceColumns, reduceRegion, ImageCollection.reduce and composites.

``ImageCollection.median()`` and friends are the ``reduce.*`` algorithms (bands keep their names);
``ImageCollection.reduce(reducer)`` suffixes band names with the reducer output (``VV_mean``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS

from ee_emulator.algorithms.geometry import as_geometry, crs_of
from ee_emulator.algorithms.images import as_image, images_of, stack_by_name
from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.objects import Band, Date, EECollection, EEImage, Reducer, as_list, get_property, require
from ee_emulator.pixeltypes import FLOAT, PixelType
from ee_emulator.raster import RenderContext, StackReduce, geometry_mask
from ee_emulator.registry import algorithm


def _finite(values: list[Any]) -> np.ndarray:
    array = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    return array[np.isfinite(array)]


def _stat(function: Callable[[np.ndarray], float]) -> Callable[[list[Any]], list[Any]]:
    def reduce(values: list[Any]) -> list[Any]:
        array = _finite(values)
        return [float(function(array)) if array.size else None]

    return reduce


_SIMPLE: dict[str, Callable[[np.ndarray], float]] = {
    "mean": np.mean,
    "sum": np.sum,
    "min": np.min,
    "max": np.max,
    "median": np.median,
    "stdDev": lambda a: np.std(a),
    "variance": lambda a: np.var(a),
}


def _register_simple(name: str) -> None:
    # Optional Earth Engine arguments (maxBuckets, numInputs...) are accepted and ignored.
    def build(**_: Any) -> Reducer:
        return Reducer(name, [name], _stat(_SIMPLE[name]))

    build.__doc__ = f"``ee.Reducer.{name}()``."
    algorithm(f"Reducer.{name}")(build)


for _name in _SIMPLE:
    _register_simple(_name)


@algorithm("Reducer.count")
def reducer_count() -> Reducer:
    """Number of non-null values."""
    return Reducer("count", ["count"], lambda values: [len(_finite(values))])


@algorithm("Reducer.first")
def reducer_first() -> Reducer:
    """The first non-null value."""
    return Reducer("first", ["first"], lambda values: [next((v for v in values if v is not None), None)])


@algorithm("Reducer.minMax")
def reducer_min_max() -> Reducer:
    """Minimum and maximum (outputs ``min``, ``max``)."""

    def reduce(values: list[Any]) -> list[Any]:
        array = _finite(values)
        return [float(array.min()), float(array.max())] if array.size else [None, None]

    return Reducer("minMax", ["min", "max"], reduce)


@algorithm("Reducer.toList")
def reducer_to_list(tupleSize: Any = None, numOptional: Any = None) -> Reducer:
    """All values as a list (output ``list``)."""
    return Reducer("toList", ["list"], lambda values: [list(values)])


@algorithm("Reducer.frequencyHistogram")
def reducer_frequency_histogram() -> Reducer:
    """Value -> count dictionary (output ``histogram``)."""

    def reduce(values: list[Any]) -> list[Any]:
        counts: dict[str, int] = {}
        for value in values:
            if value is None:
                continue
            key = str(int(value)) if isinstance(value, float) and float(value).is_integer() else str(value)
            counts[key] = counts.get(key, 0) + 1
        return [counts]

    return Reducer("frequencyHistogram", ["histogram"], reduce)


@algorithm("Reducer.repeat")
def reducer_repeat(reducer: Reducer, count: int) -> Reducer:
    """Apply a reducer to ``count`` inputs independently; each output is a list of ``count`` results."""
    return Reducer(reducer.name, list(reducer.outputs), reducer.function, repeat=int(count))


def _reduce_columns(reducer: Reducer, columns: list[list[Any]], where: str) -> dict[str, Any]:
    if reducer.repeat:
        if len(columns) != reducer.repeat:
            raise EEError(f"{where}: the reducer takes {reducer.repeat} inputs but {len(columns)} selectors were given")
        per_column = [reducer.function(column) for column in columns]
        return {name: [result[i] for result in per_column] for i, name in enumerate(reducer.outputs)}
    if len(columns) != 1:
        raise EEError(f"{where}: the reducer takes 1 input but {len(columns)} selectors were given")
    return dict(zip(reducer.outputs, reducer.function(columns[0]), strict=True))


@algorithm("Collection.reduceColumns")
def collection_reduce_columns(
    collection: Any, reducer: Any, selectors: Any, weightSelectors: Any = None
) -> dict[str, Any]:
    """Reduce property columns of a collection (``Reducer.toList().repeat(n)`` gives one list per selector)."""
    members = require(collection, EECollection, "Collection.reduceColumns", "collection")
    function = require(reducer, Reducer, "Collection.reduceColumns", "reducer")
    columns = []
    for selector in as_list(selectors):
        column = []
        for member in members.elements:
            value = get_property(member, str(selector))
            column.append(value.millis if isinstance(value, Date) else value)
        columns.append(column)
    return _reduce_columns(function, columns, "Collection.reduceColumns")


@algorithm("Image.reduceRegion")
def image_reduce_region(
    image: Any,
    reducer: Any,
    geometry: Any = None,
    scale: Any = None,
    crs: Any = None,
    crsTransform: Any = None,
    bestEffort: bool = False,
    maxPixels: float = 1e7,
    tileScale: float = 1.0,
) -> dict[str, Any]:
    """Reduce the pixels whose centres fall in ``geometry`` on a grid of ``scale`` metres (or ``crsTransform``).

    The grid is the image's first-band projection (or ``crs``) at the given scale, as Earth Engine chooses it.
    Output keys are band names (one-output reducers) or ``<band>_<output>``.
    """
    img = as_image(image, "Image.reduceRegion")
    function = require(reducer, Reducer, "Image.reduceRegion", "reducer")
    if not img.bands:
        return {}
    grid = region_grid(img, geometry, scale, crs, crsTransform, float(maxPixels), bool(bestEffort))
    region = as_geometry(geometry, "Image.reduceRegion") if geometry is not None else img.geometry()
    inside = geometry_mask(_mapping(region), region.crs, grid)
    ctx = RenderContext(grid)
    out: dict[str, Any] = {}
    for band in img.bands:
        values, mask = band.node.render(ctx)
        valid = mask & inside
        results = function.function(values[valid].tolist())
        if len(function.outputs) == 1:
            out[band.name] = results[0]
        else:
            for name, result in zip(function.outputs, results, strict=True):
                out[f"{band.name}_{name}"] = result
    return out


def _mapping(geometry: Any) -> dict[str, Any]:
    import shapely.geometry

    return shapely.geometry.mapping(geometry.shape)


def region_grid(
    image: EEImage,
    geometry: Any,
    scale: Any,
    crs: Any,
    crs_transform: Any,
    max_pixels: float,
    best_effort: bool,
) -> PixelGrid:
    """The pixel grid Earth Engine would reduce ``geometry`` on."""
    first = image.bands[0].native
    grid_crs = crs_of(crs) if crs is not None else (first.crs if first is not None else "EPSG:4326")
    if crs_transform is not None:
        base = Affine(*[float(v) for v in as_list(crs_transform)][:6])
    elif scale is not None:
        size = float(scale)
        if CRS.from_user_input(grid_crs).is_geographic:
            size /= 6378137.0 * math.pi / 180.0
        base = Affine(size, 0, 0, 0, -size, 0)
    elif first is not None and crs is None:
        base = first.transform
    else:
        raise EEError("Image.reduceRegion: the scale (or crsTransform) is required for this image.")
    region = as_geometry(geometry, "Image.reduceRegion") if geometry is not None else image.geometry()
    bounds = rasterio.warp.transform_bounds(region.crs, grid_crs, *region.shape.bounds, densify_pts=21)
    inverse = ~base
    corners = [inverse @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])]
    col0 = math.floor(min(c for c, _ in corners))
    row0 = math.floor(min(r for _, r in corners))
    col1 = math.ceil(max(c for c, _ in corners))
    row1 = math.ceil(max(r for _, r in corners))
    width, height = max(1, col1 - col0), max(1, row1 - row0)
    if width * height > max_pixels:
        if not best_effort:
            raise EEError(
                f"Image.reduceRegion: Too many pixels in the region. Found {width * height}, but maxPixels allows "
                f"only {int(max_pixels)}. Ensure that you are not aggregating at a higher resolution than you "
                "intended; that is a frequent cause of this error. If not, then you may set the 'maxPixels' "
                "argument to a limit suitable for your computation; set 'bestEffort' to true to aggregate at "
                "whatever scale results in 'maxPixels' total pixels; or both."
            )
        factor = math.ceil(math.sqrt(width * height / max_pixels))
        base = base @ Affine.scale(factor)
        return region_grid(image, geometry, None, grid_crs, list(base)[:6], max_pixels, best_effort)
    return PixelGrid(grid_crs, base @ Affine.translation(col0, row0), width, height)


# ---------------------------------------------------------------------------------------------------------------
# Image collection composites


def _pixel_reducer(name: str) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def reduce(stack: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = masks.sum(axis=0)
        valid = count > 0
        if name == "count":
            return count.astype(np.float64), np.ones_like(valid)
        data = np.where(masks, stack, np.nan)
        with np.errstate(all="ignore"), _quiet():
            if name == "mean":
                out = np.nanmean(data, axis=0)
            elif name == "median":
                out = np.nanmedian(data, axis=0)
            elif name == "min":
                out = np.nanmin(data, axis=0)
            elif name == "max":
                out = np.nanmax(data, axis=0)
            elif name == "sum":
                out = np.nansum(data, axis=0)
            elif name == "first":
                index = np.argmax(masks, axis=0)
                out = np.take_along_axis(stack, index[None], axis=0)[0]
            elif name == "stdDev":
                out = np.nanstd(data, axis=0)
            else:  # pragma: no cover - guarded by the registration below
                raise EEError(f"reducer {name} is not implemented by the gee-flood emulator")
        return np.nan_to_num(out), valid

    return reduce


class _quiet:
    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *args: Any) -> None:
        self._catch.__exit__(*args)


def _composite(collection: Any, name: str, where: str, suffix: bool) -> EEImage:
    images = images_of(collection, where)
    bands = []
    for band_name, group in stack_by_name(images):
        ptype = group[0].ptype
        for band in group[1:]:
            ptype = ptype.union(band.ptype)
        if name in ("mean", "median", "stdDev"):
            ptype = ptype if ptype.precision == "double" else FLOAT
        elif name == "count":
            ptype = PixelType.int_range(0, max(1, len(group)))
        elif name == "sum" and ptype.precision == "int":
            ptype = PixelType("double")
        node = StackReduce(tuple(b.node for b in group), _pixel_reducer(name))
        out_name = f"{band_name}_{name}" if suffix else band_name
        bands.append(Band(out_name, ptype, node, None))
    return EEImage(bands)


_COMPOSITES = ("mean", "median", "min", "max", "sum", "count", "first", "stdDev")

for _composite_name in ("mean", "median", "min", "max", "sum", "count"):

    def _make(name: str) -> Callable[[Any], EEImage]:
        def composite(collection: Any) -> EEImage:
            return _composite(collection, name, f"reduce.{name}", suffix=False)

        composite.__doc__ = f"``ImageCollection.{name}()``: per-pixel {name} over valid pixels, bands by name."
        return composite

    algorithm(f"reduce.{_composite_name}")(_make(_composite_name))


@algorithm("ImageCollection.reduce")
def collection_reduce(collection: Any, reducer: Any, parallelScale: float = 1.0) -> EEImage:
    """Per-pixel reduction; output bands are ``<band>_<reducer output>``."""
    function = require(reducer, Reducer, "ImageCollection.reduce", "reducer")
    if function.name not in _COMPOSITES:
        raise EEError(
            f"ImageCollection.reduce: reducer {function.name} is not implemented by the gee-flood emulator "
            f"(implemented: {', '.join(_COMPOSITES)})"
        )
    return _composite(collection, function.name, "ImageCollection.reduce", suffix=True)

"""Lazy per-band pixel recipes, materialised only on a requested grid.

An emulated band is a tree of :class:`Node` objects (a GeoTIFF band, a constant, arithmetic, a mask update, a
mosaic...). Nothing is read until :meth:`Node.render` is called with a :class:`RenderContext` naming the output
grid (CRS, affine transform, width, height), as Earth Engine does: every computation happens in the requested
output projection, and source pixels are warped into it with ``rasterio.warp.reproject``.

Resampling follows Earth Engine: nearest neighbour by default, bilinear or bicubic only after
``Image.resample(mode)``. Masks are always warped with nearest neighbour (a pixel is valid or not; Earth Engine's
fractional masks are reduced to booleans). Pyramids are not emulated: a coarse request reads the full-resolution
pixels through the chosen kernel, where Earth Engine would read a pre-reduced pyramid level.

Working values are float64 (exact for every integer type up to 32 bits); each node knows its Earth Engine
:class:`~ee_emulator.pixeltypes.PixelType` and values are converted to it when they are sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, SupportsFloat

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
import rasterio.windows
import shapely.geometry
from affine import Affine
from rasterio.enums import Resampling
from typing_extensions import override

from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.pixeltypes import PixelType

RESAMPLING = {"nearest": Resampling.nearest, "bilinear": Resampling.bilinear, "bicubic": Resampling.cubic}

Rendered = tuple[np.ndarray, np.ndarray]  # (float64 values, bool mask), each (height, width)


@dataclass
class RenderContext:
    """One materialisation: the output grid plus a per-request cache of rendered nodes.

    Attributes:
        grid: Output pixel grid.
        cache: ``id(node)`` -> rendered ``(values, mask)``; shared sub-trees render once.
        footprints: ``id(node)`` -> rendered footprint mask.
    """

    grid: PixelGrid
    cache: dict[int, Rendered] = field(default_factory=dict)
    footprints: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the output grid."""
        return self.grid.height, self.grid.width

    def derived(self, grid: PixelGrid) -> RenderContext:
        """A fresh context on another grid (neighbourhood padding, ``reproject``)."""
        return RenderContext(grid)


class Node:
    """A lazy per-band pixel recipe. Subclasses implement :meth:`_render` (and :meth:`_footprint` if special)."""

    def children(self) -> tuple[Node, ...]:
        """The nodes this node reads."""
        return ()

    def render(self, ctx: RenderContext) -> Rendered:
        """Return ``(values float64, mask bool)`` on ``ctx.grid``; masked values are 0."""
        key = id(self)
        if key not in ctx.cache:
            values, mask = self._render(ctx)
            ctx.cache[key] = (np.where(mask, values, 0.0), mask)
        return ctx.cache[key]

    def footprint(self, ctx: RenderContext) -> np.ndarray:
        """Return the bool mask of output pixels inside this band's footprint."""
        key = id(self)
        if key not in ctx.footprints:
            ctx.footprints[key] = self._footprint(ctx)
        return ctx.footprints[key]

    def _render(self, ctx: RenderContext) -> Rendered:
        raise NotImplementedError

    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        result = np.ones(ctx.shape, dtype=bool)
        for child in self.children():
            result &= child.footprint(ctx)
        return result

    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        """Return a copy of this tree with every :class:`SourceBand` replaced by ``function(source)``."""
        return self


@dataclass(eq=False)
class SourceBand(Node):
    """One band of a GeoTIFF, warped into the output grid.

    Attributes:
        path: GeoTIFF path.
        band_index: 1-based band index in the file.
        nodata: The file's no-data value for the band (NaN is always no data for floats).
        resampling: ``"nearest"`` (Earth Engine's default), ``"bilinear"`` or ``"bicubic"``.
    """

    path: Path
    band_index: int
    nodata: float | None = None
    resampling: str = "nearest"

    def _read(self, ctx: RenderContext, *, footprint_only: bool) -> np.ndarray:
        grid = ctx.grid
        height, width = ctx.shape
        with rasterio.open(self.path) as dataset:
            window = _source_window(dataset, grid)
            if window is None:
                return np.full((height, width), np.nan)
            if footprint_only:
                source = np.ones((int(window.height), int(window.width)), dtype=np.float32)
                resampling = Resampling.nearest
            else:
                source = dataset.read(self.band_index, window=window, out_dtype="float64")
                valid = dataset.read_masks(self.band_index, window=window) > 0
                if self.nodata is not None and not math.isnan(self.nodata):
                    valid &= source != self.nodata
                source[~valid] = np.nan
                resampling = RESAMPLING[self.resampling]
            destination = np.full((height, width), np.nan, dtype=source.dtype)
            rasterio.warp.reproject(
                source,
                destination,
                src_transform=dataset.window_transform(window),
                src_crs=dataset.crs,
                src_nodata=np.nan,
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                dst_nodata=np.nan,
                resampling=resampling,
                init_dest_nodata=True,
            )
        return destination.astype(np.float64, copy=False)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values = self._read(ctx, footprint_only=False)
        mask = np.isfinite(values)
        return np.nan_to_num(values, nan=0.0), mask

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        return np.isfinite(self._read(ctx, footprint_only=True))

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return function(self)


def _source_window(dataset: Any, grid: PixelGrid) -> rasterio.windows.Window | None:
    """The window of ``dataset`` covering ``grid`` (plus a margin for resampling kernels), or None if disjoint."""
    try:
        left, bottom, right, top = rasterio.warp.transform_bounds(grid.crs, dataset.crs, *grid.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - a grid that cannot be projected into the source CRS reads it whole
        return rasterio.windows.Window(0, 0, dataset.width, dataset.height)
    if not all(map(math.isfinite, (left, bottom, right, top))):
        return rasterio.windows.Window(0, 0, dataset.width, dataset.height)
    window = rasterio.windows.from_bounds(left, bottom, right, top, transform=dataset.transform)
    margin = 3
    col0 = max(0, math.floor(window.col_off) - margin)
    row0 = max(0, math.floor(window.row_off) - margin)
    col1 = min(dataset.width, math.ceil(window.col_off + window.width) + margin)
    row1 = min(dataset.height, math.ceil(window.row_off + window.height) + margin)
    if col1 <= col0 or row1 <= row0:
        return None
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)


@dataclass(eq=False)
class Constant(Node):
    """A constant value everywhere (unbounded footprint)."""

    value: float

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        return np.full(ctx.shape, float(self.value)), np.ones(ctx.shape, dtype=bool)


@dataclass(eq=False)
class FullyMasked(Node):
    """A band with no valid pixel (e.g. a ``linkCollection`` band with no matching image)."""

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        return np.zeros(ctx.shape), np.zeros(ctx.shape, dtype=bool)


@dataclass(eq=False)
class Cast(Node):
    """Convert to another pixel type (ints truncate toward zero and clamp to the type's range)."""

    child: Node
    ptype: PixelType

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        if self.ptype.precision == "int":
            values = np.clip(np.trunc(values), self.ptype.min, self.ptype.max)
        elif self.ptype.precision == "float":
            values = values.astype(np.float32).astype(np.float64)
        return values, mask

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


def _unary_functions() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "abs": np.abs,
        "not": lambda v: (v == 0).astype(np.float64),
        "log": np.log,
        "log10": np.log10,
        "exp": np.exp,
        "sqrt": np.sqrt,
        "round": np.round,
        "floor": np.floor,
        "ceil": np.ceil,
        "mask_of": lambda v: v,
    }


UNARY = _unary_functions()


@dataclass(eq=False)
class Unary(Node):
    """An element-wise function of one band; invalid results (NaN/inf, e.g. log of 0) are masked."""

    op: str
    child: Node
    ptype: PixelType

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        with np.errstate(all="ignore"):
            out = UNARY[self.op](values)
        finite = np.isfinite(out)
        return np.where(finite, out, 0.0), mask & finite

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


def _divide(a: np.ndarray, b: np.ndarray, integer: bool) -> np.ndarray:
    safe = np.where(b == 0, 1.0, b)
    quotient = a / safe
    if integer:
        quotient = np.trunc(quotient)
    return np.where(b == 0, 0.0, quotient)


BINARY: dict[str, Callable[[np.ndarray, np.ndarray, bool], np.ndarray]] = {
    "add": lambda a, b, i: a + b,
    "subtract": lambda a, b, i: a - b,
    "multiply": lambda a, b, i: a * b,
    "divide": _divide,
    "pow": lambda a, b, i: np.power(a, b),
    "min": lambda a, b, i: np.minimum(a, b),
    "max": lambda a, b, i: np.maximum(a, b),
    "mod": lambda a, b, i: np.where(b == 0, 0.0, np.fmod(a, np.where(b == 0, 1.0, b))),
    "gt": lambda a, b, i: (a > b).astype(np.float64),
    "gte": lambda a, b, i: (a >= b).astype(np.float64),
    "lt": lambda a, b, i: (a < b).astype(np.float64),
    "lte": lambda a, b, i: (a <= b).astype(np.float64),
    "eq": lambda a, b, i: (a == b).astype(np.float64),
    "neq": lambda a, b, i: (a != b).astype(np.float64),
    "and": lambda a, b, i: ((a != 0) & (b != 0)).astype(np.float64),
    "or": lambda a, b, i: ((a != 0) | (b != 0)).astype(np.float64),
    "atan2": lambda a, b, i: np.arctan2(a, b),
}


@dataclass(eq=False)
class Binary(Node):
    """An element-wise function of two bands; valid where both inputs are."""

    op: str
    left: Node
    right: Node
    ptype: PixelType

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        a, mask_a = self.left.render(ctx)
        b, mask_b = self.right.render(ctx)
        with np.errstate(all="ignore"):
            out = BINARY[self.op](a, b, self.ptype.precision == "int")
        finite = np.isfinite(out)
        if self.ptype.precision == "int":
            out = np.clip(out, self.ptype.min, self.ptype.max)
        return np.where(finite, out, 0.0), mask_a & mask_b & finite

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, left=self.left.map_sources(function), right=self.right.map_sources(function))


@dataclass(eq=False)
class NormalizedDifference(Node):
    """``(a - b) / (a + b)``; Earth Engine masks pixels where either input is negative."""

    first: Node
    second: Node

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.first, self.second)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        a, mask_a = self.first.render(ctx)
        b, mask_b = self.second.render(ctx)
        total = a + b
        with np.errstate(all="ignore"):
            out = np.where(total == 0, 0.0, (a - b) / np.where(total == 0, 1.0, total))
        return out.astype(np.float32).astype(np.float64), mask_a & mask_b & (a >= 0) & (b >= 0)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, first=self.first.map_sources(function), second=self.second.map_sources(function))


@dataclass(eq=False)
class UpdateMask(Node):
    """``updateMask`` (mask = old mask AND new) or the ``mask(mask)`` setter (mask = new mask, values kept)."""

    child: Node
    mask_node: Node
    replace_mask: bool = False

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child, self.mask_node)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        mask_values, mask_mask = self.mask_node.render(ctx)
        new_mask = (mask_values != 0) & mask_mask
        if self.replace_mask:
            # Earth Engine fills pixels that become valid with zeros; masked values are already 0 here.
            return values, new_mask & self.child.footprint(ctx)
        return values, mask & new_mask

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        return self.child.footprint(ctx)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function), mask_node=self.mask_node.map_sources(function))


@dataclass(eq=False)
class MaskOf(Node):
    """``Image.mask()``: the band's mask as values 0/1, valid everywhere."""

    child: Node

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        _, mask = self.child.render(ctx)
        return mask.astype(np.float64), np.ones(ctx.shape, dtype=bool)

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        return np.ones(ctx.shape, dtype=bool)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


@dataclass(eq=False)
class Unmask(Node):
    """``unmask(value, sameFootprint)``: masked pixels take the value (and mask) of another band."""

    child: Node
    value: Node
    same_footprint: bool = True

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child, self.value)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        fill, fill_mask = self.value.render(ctx)
        out = np.where(mask, values, fill)
        out_mask = mask | fill_mask
        if self.same_footprint:
            out_mask &= self.child.footprint(ctx)
        return out, out_mask

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        if self.same_footprint:
            return self.child.footprint(ctx)
        return self.child.footprint(ctx) | self.value.footprint(ctx)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function), value=self.value.map_sources(function))


@dataclass(eq=False)
class Where(Node):
    """``where(test, value)``: take ``value`` where ``test`` is non-zero (and valid)."""

    child: Node
    test: Node
    value: Node

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child, self.test, self.value)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        test, test_mask = self.test.render(ctx)
        replacement, replacement_mask = self.value.render(ctx)
        use = (test != 0) & test_mask
        return np.where(use, replacement, values), np.where(use, replacement_mask, mask)

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        return self.child.footprint(ctx)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(
            self,
            child=self.child.map_sources(function),
            test=self.test.map_sources(function),
            value=self.value.map_sources(function),
        )


@dataclass(eq=False)
class Clip(Node):
    """Mask pixels whose centre is outside a geometry (GeoJSON in ``crs``)."""

    child: Node
    geometry: dict[str, Any]
    crs: str = "EPSG:4326"

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    def _inside(self, ctx: RenderContext) -> np.ndarray:
        return geometry_mask(self.geometry, self.crs, ctx.grid)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        return values, mask & self._inside(ctx)

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        return self.child.footprint(ctx) & self._inside(ctx)

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


def geometry_mask(geometry: dict[str, Any], crs: str, grid: PixelGrid) -> np.ndarray:
    """Bool mask of the grid pixels whose centre lies inside ``geometry`` (GeoJSON in ``crs``)."""
    projected = rasterio.warp.transform_geom(crs, grid.crs, geometry, precision=-1) if crs != grid.crs else geometry
    if shapely.geometry.shape(projected).is_empty:
        return np.zeros((grid.height, grid.width), dtype=bool)
    return rasterio.features.geometry_mask(
        [projected], out_shape=(grid.height, grid.width), transform=grid.transform, invert=True
    )


@dataclass(eq=False)
class Mosaic(Node):
    """``ImageCollection.mosaic``: per pixel, the last valid input wins (last image on top)."""

    layers: tuple[Node, ...]

    @override
    def children(self) -> tuple[Node, ...]:
        return self.layers

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values = np.zeros(ctx.shape)
        mask = np.zeros(ctx.shape, dtype=bool)
        for layer in self.layers:
            layer_values, layer_mask = layer.render(ctx)
            values = np.where(layer_mask, layer_values, values)
            mask |= layer_mask
        return values, mask

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        result = np.zeros(ctx.shape, dtype=bool)
        for layer in self.layers:
            result |= layer.footprint(ctx)
        return result

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, layers=tuple(layer.map_sources(function) for layer in self.layers))


@dataclass(eq=False)
class QualityMosaic(Node):
    """``ImageCollection.qualityMosaic``: per pixel, the input whose quality band is highest."""

    layers: tuple[Node, ...]
    qualities: tuple[Node, ...]

    @override
    def children(self) -> tuple[Node, ...]:
        return self.layers + self.qualities

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values = np.zeros(ctx.shape)
        mask = np.zeros(ctx.shape, dtype=bool)
        best = np.full(ctx.shape, -np.inf)
        for layer, quality in zip(self.layers, self.qualities, strict=True):
            layer_values, layer_mask = layer.render(ctx)
            quality_values, quality_mask = quality.render(ctx)
            better = layer_mask & quality_mask & (quality_values > best)
            values = np.where(better, layer_values, values)
            best = np.where(better, quality_values, best)
            mask |= better
        return values, mask

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        result = np.zeros(ctx.shape, dtype=bool)
        for layer in self.layers:
            result |= layer.footprint(ctx)
        return result

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(
            self,
            layers=tuple(layer.map_sources(function) for layer in self.layers),
            qualities=tuple(q.map_sources(function) for q in self.qualities),
        )


@dataclass(eq=False)
class StackReduce(Node):
    """Reduce a stack of bands per pixel (``ImageCollection.reduce`` and ``mean()``/``median()``...)."""

    layers: tuple[Node, ...]
    reducer: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

    @override
    def children(self) -> tuple[Node, ...]:
        return self.layers

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        if not self.layers:
            return np.zeros(ctx.shape), np.zeros(ctx.shape, dtype=bool)
        rendered = [layer.render(ctx) for layer in self.layers]
        stack = np.stack([values for values, _ in rendered])
        masks = np.stack([mask for _, mask in rendered])
        return self.reducer(stack, masks)

    @override
    def _footprint(self, ctx: RenderContext) -> np.ndarray:
        result = np.zeros(ctx.shape, dtype=bool)
        for layer in self.layers:
            result |= layer.footprint(ctx)
        return result

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, layers=tuple(layer.map_sources(function) for layer in self.layers))


@dataclass(eq=False)
class Remap(Node):
    """``Image.remap``: map listed values to others; unlisted values get ``default`` or are masked."""

    child: Node
    sources: tuple[float, ...]
    targets: tuple[float, ...]
    default: float | None

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        values, mask = self.child.render(ctx)
        out = np.full(ctx.shape, 0.0 if self.default is None else float(self.default))
        hit = np.zeros(ctx.shape, dtype=bool)
        for source, target in zip(self.sources, self.targets, strict=True):
            here = values == source
            out = np.where(here, target, out)
            hit |= here
        out_mask = mask & (hit if self.default is None else True)
        return out, out_mask

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


@dataclass(eq=False)
class Focal(Node):
    """A neighbourhood filter (``focal_median``/``focal_mean``/``focal_max``/``focal_min``) in output pixels.

    Like Earth Engine, the kernel is applied in the *output* projection; a radius in metres is converted with the
    output pixel size. The child is rendered on a grid padded by the radius so chunk edges are exact.
    """

    child: Node
    statistic: str
    radius: float
    kernel_type: str = "circle"
    units: str = "pixels"
    iterations: int = 1

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    def _radius_px(self, grid: PixelGrid) -> float:
        if self.units == "pixels":
            return float(self.radius)
        return float(self.radius) / nominal_scale_m(grid.crs, grid.transform)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        from scipy import ndimage

        radius = self._radius_px(ctx.grid)
        pad = int(math.ceil(radius)) * max(1, self.iterations)
        padded = pad_grid(ctx.grid, pad)
        values, mask = self.child.render(ctx.derived(padded))
        size = 2 * int(math.ceil(radius)) + 1
        offsets = np.arange(size) - size // 2
        footprint = np.ones((size, size), dtype=bool)
        if self.kernel_type == "circle":
            footprint = (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2 + 1e-9
        data = np.where(mask, values, np.nan)
        for _ in range(max(1, self.iterations)):
            data = ndimage.generic_filter(
                data, _FOCAL[self.statistic], footprint=footprint, mode="constant", cval=np.nan
            )
        crop = data[pad : pad + ctx.grid.height, pad : pad + ctx.grid.width]
        valid = np.isfinite(crop)
        return np.nan_to_num(crop), valid

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


def _nan_stat(function: Callable[[np.ndarray], SupportsFloat]) -> Callable[[np.ndarray], float]:
    def apply(window: np.ndarray) -> float:
        finite = window[np.isfinite(window)]
        return float(function(finite)) if finite.size else float("nan")

    return apply


_FOCAL = {
    "median": _nan_stat(np.median),
    "mean": _nan_stat(np.mean),
    "max": _nan_stat(np.max),
    "min": _nan_stat(np.min),
    "mode": _nan_stat(lambda v: np.bincount(v.astype(np.int64) - int(v.min())).argmax() + int(v.min())),
}


@dataclass(eq=False)
class Reproject(Node):
    """``Image.reproject``: compute the child on a fixed grid, then nearest-neighbour it into the output grid."""

    child: Node
    crs: str
    transform: Affine

    @override
    def children(self) -> tuple[Node, ...]:
        return (self.child,)

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        grid = covering_grid(ctx.grid, self.crs, self.transform)
        if grid is None:
            return np.zeros(ctx.shape), np.zeros(ctx.shape, dtype=bool)
        values, mask = self.child.render(ctx.derived(grid))
        source = np.where(mask, values, np.nan)
        destination = np.full(ctx.shape, np.nan)
        rasterio.warp.reproject(
            source,
            destination,
            src_transform=grid.transform,
            src_crs=grid.crs,
            src_nodata=np.nan,
            dst_transform=ctx.grid.transform,
            dst_crs=ctx.grid.crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
        valid = np.isfinite(destination)
        return np.nan_to_num(destination), valid

    @override
    def map_sources(self, function: Callable[[SourceBand], Node]) -> Node:
        return replace(self, child=self.child.map_sources(function))


def pad_grid(grid: PixelGrid, pad: int) -> PixelGrid:
    """The same grid grown by ``pad`` pixels on every side."""
    transform = grid.transform @ Affine.translation(-pad, -pad)
    return PixelGrid(grid.crs, transform, grid.width + 2 * pad, grid.height + 2 * pad)


def covering_grid(target: PixelGrid, crs: str, transform: Affine, *, max_pixels: int = 64_000_000) -> PixelGrid | None:
    """The part of the infinite grid ``(crs, transform)`` that covers ``target`` (plus one pixel)."""
    bounds = rasterio.warp.transform_bounds(target.crs, crs, *target.bounds, densify_pts=21)
    inverse = ~transform
    corners = [inverse @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])]
    col0 = math.floor(min(c for c, _ in corners)) - 1
    row0 = math.floor(min(r for _, r in corners)) - 1
    col1 = math.ceil(max(c for c, _ in corners)) + 1
    row1 = math.ceil(max(r for _, r in corners)) + 1
    width, height = col1 - col0, row1 - row0
    if width <= 0 or height <= 0:
        return None
    if width * height > max_pixels:
        raise EEError(
            f"Image.reproject: the requested area needs {width}x{height} pixels at the reprojection scale, "
            f"more than the emulator's limit of {max_pixels}"
        )
    return PixelGrid(crs, transform @ Affine.translation(col0, row0), width, height)


def nominal_scale_m(crs: str, transform: Affine | Sequence[float]) -> float:
    """Pixel size in metres of a grid (degrees are converted at the equator, as Earth Engine does)."""
    affine = transform if isinstance(transform, Affine) else Affine(*list(transform)[:6])
    scale = math.sqrt(abs(affine.a * affine.e - affine.b * affine.d))
    try:
        from rasterio.crs import CRS

        parsed = CRS.from_user_input(crs)
        if parsed.is_geographic:
            return scale * 6378137.0 * math.pi / 180.0
        factor = parsed.linear_units_factor[1] if parsed.linear_units_factor else 1.0
        return scale * factor
    except Exception:  # noqa: BLE001 - unknown CRS: assume metres
        return scale

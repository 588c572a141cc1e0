"""Images: loading, band selection, masks, arithmetic, casts, composites, linking, resampling.

Band pairing follows Earth Engine: for a binary operation, a one-band image is used against every band of the
other; otherwise bands pair in order and the counts must match; outputs are named after the longer input (image1 on
a tie). Math and comparisons drop the input's properties (as Earth Engine does); ``select``, ``rename``, mask
operations, ``clip``, ``resample`` and casts keep them.
"""

from __future__ import annotations

import math
import re
from typing import Any

import rasterio.crs
import shapely.geometry
from affine import Affine

from ee_emulator.algorithms.geometry import as_geometry, crs_of
from ee_emulator.catalog import CatalogImage
from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.objects import (
    WGS84,
    Band,
    Date,
    EECollection,
    EEImage,
    Geometry,
    Projection,
    as_list,
    get_property,
    require,
    type_name,
)
from ee_emulator.pixeltypes import BOOLEAN, CASTS, FLOAT, PixelType
from ee_emulator.raster import (
    BINARY,
    UNARY,
    Binary,
    Cast,
    Clip,
    Constant,
    Focal,
    FullyMasked,
    MaskOf,
    Mosaic,
    NormalizedDifference,
    QualityMosaic,
    Remap,
    Reproject,
    SourceBand,
    Unary,
    Unmask,
    UpdateMask,
    Where,
)
from ee_emulator.registry import EvalContext, algorithm

# ---------------------------------------------------------------------------------------------------------------
# Loading


def image_from_catalog(record: CatalogImage, default_resampling: str = "nearest") -> EEImage:
    """An emulated image reading a catalog GeoTIFF (bands, properties, footprint, id, version).

    Args:
        record: The catalog image.
        default_resampling: ``"nearest"`` (Earth Engine's default for every band) or ``"bilinear"`` (then applied
            to floating-point bands only; integer bands such as labels and masks stay nearest-neighbour).
    """
    bands = []
    for name, dtype, nodata, source in zip(record.bands, record.dtypes, record.nodata, record.sources(), strict=True):
        ptype = PixelType.from_dtype(dtype)
        resampling = default_resampling if ptype.precision != "int" else "nearest"
        # Each band on its own native grid (Sentinel-2's 10/20/60 m bands), warped to the request grid on read.
        node = SourceBand(source.path, source.band_index, nodata, resampling)
        bands.append(Band(name, ptype, node, source.grid))
    properties = dict(record.properties)
    properties["system:index"] = record.index
    footprint = shapely.geometry.shape(record.footprint)
    if footprint.geom_type == "Polygon":
        footprint = shapely.geometry.LinearRing(footprint.exterior.coords)
    properties["system:footprint"] = Geometry(footprint, WGS84, geodesic=True)
    properties.setdefault("system:asset_size", record.size_bytes())
    return EEImage(bands, properties, record.image_id, record.version)


@algorithm("Image.load")
def image_load(ctx: EvalContext, id: str, version: Any = None) -> EEImage:  # noqa: A002 - Earth Engine name
    """``ee.Image(asset_id)``."""
    record = ctx.catalog.find_image(str(id))
    if record is None:
        if ctx.catalog.find_collection(str(id)) is not None:
            raise EEError(f"Image.load: Asset '{id}' is not an Image.")
        raise EEError(f"Image.load: Image asset '{id}' not found (does not exist or caller does not have access).")
    return image_from_catalog(record, ctx.default_resampling)


def constant_image(value: Any) -> EEImage:
    """``ee.Image.constant``: one band ``constant`` (or ``constant_0``, ``constant_1``... for a list)."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise EEError("Image.constant: value must not be empty")
    bands = []
    for index, number in enumerate(values):
        if isinstance(number, list | tuple) or not isinstance(number, int | float):
            raise EEError(f"Image.constant: expected a number, got {type_name(number)}")
        name = "constant" if len(values) == 1 else f"constant_{index}"
        bands.append(Band(name, PixelType.of_value(number), Constant(float(number))))
    return EEImage(bands)


@algorithm("Image.constant")
def image_constant(value: Any) -> EEImage:
    """A constant image."""
    return constant_image(value)


def as_image(value: Any, where: str, argument: str = "image") -> EEImage:
    """An Image argument; numbers (and lists of numbers) become constant images, as Earth Engine promotes them."""
    if isinstance(value, EEImage):
        return value
    if isinstance(value, bool):
        return constant_image(int(value))
    if isinstance(value, int | float) or (
        isinstance(value, list) and value and all(isinstance(v, int | float) for v in value)
    ):
        return constant_image(value)
    require(value, EEImage, where, argument)
    raise AssertionError  # unreachable: require raised


# ---------------------------------------------------------------------------------------------------------------
# Bands


def select_bands(image: EEImage, selectors: list[Any], where: str) -> list[Band]:
    """Bands matching names, RE2-style full-match regexes, or indices, in selector order."""
    chosen: list[Band] = []
    names = image.band_names()
    for selector in selectors:
        if isinstance(selector, bool):
            raise EEError(f"{where}: invalid band selector {selector!r}")
        if isinstance(selector, int | float):
            index = int(selector)
            if not 0 <= index < len(names):
                raise EEError(f"{where}: Band index out of bounds: {index} (the image has {len(names)} bands).")
            chosen.append(image.bands[index])
            continue
        if not isinstance(selector, str):
            raise EEError(f"{where}: invalid band selector {selector!r}")
        if selector in names:
            chosen.append(image.bands[names.index(selector)])
            continue
        try:
            pattern = re.compile(selector)
        except re.error:
            pattern = None
        matches = [band for band in image.bands if pattern is not None and pattern.fullmatch(band.name)]
        if not matches:
            raise EEError(f"{where}: Pattern '{selector}' did not match any bands. Available bands: {names}")
        chosen.extend(matches)
    return chosen


@algorithm("Image.select")
def image_select(input: Any, bandSelectors: Any, newNames: Any = None) -> EEImage:  # noqa: A002
    """Select (and optionally rename) bands."""
    image = as_image(input, "Image.select", "input")
    selectors = _flatten(as_list(bandSelectors))
    bands = select_bands(image, selectors, "Image.select")
    if newNames is not None:
        names = as_list(newNames)
        if len(names) != len(bands):
            raise EEError(
                f"Image.select: Number of new names ({len(names)}) does not match number of selected bands "
                f"({len(bands)})."
            )
        bands = [band.renamed(str(name)) for band, name in zip(bands, names, strict=True)]
    _check_unique([band.name for band in bands], "Image.select")
    return image.with_bands(bands)


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        out.extend(_flatten(list(value)) if isinstance(value, list | tuple) else [value])
    return out


def _check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise EEError(f"{where}: Duplicate band name '{name}'.")
        seen.add(name)


@algorithm("Image.rename")
def image_rename(input: Any, names: Any) -> EEImage:  # noqa: A002
    """Rename every band."""
    image = as_image(input, "Image.rename", "input")
    new_names = [str(n) for n in as_list(names)]
    if len(new_names) != len(image.bands):
        raise EEError(
            f"Image.rename: The number of names ({len(new_names)}) must match the number of bands ({len(image.bands)})."
        )
    _check_unique(new_names, "Image.rename")
    return image.with_bands([band.renamed(name) for band, name in zip(image.bands, new_names, strict=True)])


@algorithm("Image.bandNames")
def image_band_names(image: Any) -> list[str]:
    """Band names."""
    return as_image(image, "Image.bandNames").band_names()


@algorithm("Image.bandTypes")
def image_band_types(image: Any) -> dict[str, Any]:
    """Band name -> pixel type info."""
    return {band.name: band.ptype.to_info() for band in as_image(image, "Image.bandTypes").bands}


@algorithm("Image.addBands")
def image_add_bands(dstImg: Any, srcImg: Any, names: Any = None, overwrite: bool = False) -> EEImage:
    """Append bands of ``srcImg`` (all or ``names``); clashing names get ``_1``, ``_2``... unless ``overwrite``."""
    destination = as_image(dstImg, "Image.addBands", "dstImg")
    source = as_image(srcImg, "Image.addBands", "srcImg")
    added = select_bands(source, as_list(names), "Image.addBands") if names is not None else list(source.bands)
    bands = list(destination.bands)
    for band in added:
        existing = [b.name for b in bands]
        if band.name in existing:
            if overwrite:
                bands[existing.index(band.name)] = band
                continue
            suffix = 1
            while f"{band.name}_{suffix}" in existing:
                suffix += 1
            band = band.renamed(f"{band.name}_{suffix}")
        bands.append(band)
    return destination.with_bands(bands)


@algorithm("Image.projection")
def image_projection(image: Any) -> Projection:
    """The projection of the image's bands (they must share one)."""
    img = as_image(image, "Image.projection")
    if not img.bands:
        return Projection(WGS84)
    projections = {_band_projection(band) for band in img.bands}
    if len(projections) > 1:
        raise EEError(
            "Image.projection: The bands of the specified image contains different projections. "
            "Use Image.select to pick a single band."
        )
    crs, transform = projections.pop()
    return Projection(crs, transform)


def _band_projection(band: Band) -> tuple[str, tuple[float, float, float, float, float, float]]:
    if band.native is None:
        return WGS84, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    a, b, c, d, e, f = (float(v) for v in band.native.transform[:6])
    return band.native.crs, (a, b, c, d, e, f)


@algorithm("Image.date")
def image_date(image: Any) -> Date:
    """``system:time_start`` as a Date."""
    millis = get_property(as_image(image, "Image.date"), "system:time_start")
    if millis is None:
        raise EEError("Image.date: Image does not have a 'system:time_start' property.")
    return Date(float(millis))


@algorithm("Image.id")
def image_id(element: Any) -> str | None:
    """``system:index``."""
    return get_property(as_image(element, "Image.id", "element"), "system:index")


# ---------------------------------------------------------------------------------------------------------------
# Masks


def _broadcast(image: EEImage, other: EEImage, where: str) -> list[Band]:
    if len(other.bands) == 1:
        return [other.bands[0]] * len(image.bands)
    if len(other.bands) != len(image.bands):
        raise EEError(
            f"{where}: Images must contain the same number of bands or only 1 band. Got {len(image.bands)} and "
            f"{len(other.bands)}."
        )
    return list(other.bands)


@algorithm("Image.updateMask")
def image_update_mask(image: Any, mask: Any) -> EEImage:
    """Mask = old mask AND (mask image != 0, where valid)."""
    img = as_image(image, "Image.updateMask")
    masks = _broadcast(img, as_image(mask, "Image.updateMask", "mask"), "Image.updateMask")
    bands = [Band(b.name, b.ptype, UpdateMask(b.node, m.node), b.native) for b, m in zip(img.bands, masks, strict=True)]
    return img.with_bands(bands)


@algorithm("Image.mask")
def image_mask(image: Any, mask: Any = None) -> EEImage:
    """Without ``mask``: the mask as 0/1 values. With ``mask``: replace the mask (deprecated setter)."""
    img = as_image(image, "Image.mask")
    if mask is None:
        return img.with_bands([Band(b.name, FLOAT, MaskOf(b.node), b.native) for b in img.bands])
    masks = _broadcast(img, as_image(mask, "Image.mask", "mask"), "Image.mask")
    bands = [
        Band(b.name, b.ptype, UpdateMask(b.node, m.node, replace_mask=True), b.native)
        for b, m in zip(img.bands, masks, strict=True)
    ]
    return img.with_bands(bands)


@algorithm("Image.selfMask")
def image_self_mask(image: Any) -> EEImage:
    """Mask pixels whose value is 0."""
    img = as_image(image, "Image.selfMask")
    return img.with_bands([Band(b.name, b.ptype, UpdateMask(b.node, b.node), b.native) for b in img.bands])


@algorithm("Image.unmask")
def image_unmask(input: Any, value: Any = None, sameFootprint: bool = True) -> EEImage:  # noqa: A002
    """Masked pixels take ``value`` (0 by default); the type becomes the union of both types."""
    img = as_image(input, "Image.unmask", "input")
    fill = as_image(value if value is not None else 0, "Image.unmask", "value")
    fills = _broadcast(img, fill, "Image.unmask")
    bands = [
        Band(b.name, b.ptype.union(f.ptype), Unmask(b.node, f.node, bool(sameFootprint)), b.native)
        for b, f in zip(img.bands, fills, strict=True)
    ]
    return img.with_bands(bands)


@algorithm("Image.where")
def image_where(input: Any, test: Any, value: Any) -> EEImage:  # noqa: A002
    """Replace values where ``test`` is non-zero."""
    img = as_image(input, "Image.where", "input")
    tests = _broadcast(img, as_image(test, "Image.where", "test"), "Image.where")
    values = _broadcast(img, as_image(value, "Image.where", "value"), "Image.where")
    bands = [
        Band(b.name, b.ptype.union(v.ptype), Where(b.node, t.node, v.node), b.native)
        for b, t, v in zip(img.bands, tests, values, strict=True)
    ]
    return img.with_bands(bands)


@algorithm("Image.clip")
def image_clip(input: Any, geometry: Any) -> EEImage:  # noqa: A002
    """Mask everything outside a geometry (or a feature's geometry)."""
    img = as_image(input, "Image.clip", "input")
    geom = as_geometry(geometry, "Image.clip")
    mapping = shapely.geometry.mapping(geom.shape)
    return img.with_bands([Band(b.name, b.ptype, Clip(b.node, mapping, geom.crs), b.native) for b in img.bands])


@algorithm("Image.clipToBoundsAndScale")
def image_clip_to_bounds_and_scale(
    input: Any,  # noqa: A002
    geometry: Any = None,
    width: Any = None,
    height: Any = None,
    maxDimension: Any = None,
    scale: Any = None,
) -> EEImage:
    """Clip to a geometry's bounding box and fix the output grid (what exports and thumbnails render on).

    The grid is in the image's default projection (its first band's), aligned with that projection's origin, with
    pixels of ``scale`` metres, or sized to ``width`` x ``height`` / ``maxDimension``, or at the native scale.
    """
    img = as_image(input, "Image.clipToBoundsAndScale", "input")
    if geometry is None:
        return img
    geom = as_geometry(geometry, "Image.clipToBoundsAndScale")
    native = img.bands[0].native if img.bands else None
    crs = native.crs if native is not None else WGS84
    base = native.transform if native is not None else Affine.identity()
    left, bottom, right, top = geom.to_crs(crs).bounds
    if scale is not None:
        size = float(scale)
        if rasterio.crs.CRS.from_user_input(crs).is_geographic:
            size /= 6378137.0 * math.pi / 180.0
        base = Affine(size, 0, base.c, 0, -size, base.f)
    elif width is not None or height is not None or maxDimension is not None:
        span = max(right - left, top - bottom)
        pixels = float(maxDimension or max(float(width or 0), float(height or 0)))
        size = span / pixels if pixels else abs(base.a)
        base = Affine(size, 0, left, 0, -size, top)
    inverse = ~base
    corners = [inverse @ (x, y) for x in (left, right) for y in (bottom, top)]
    col0 = math.floor(min(c for c, _ in corners) + 1e-6)
    row0 = math.floor(min(r for _, r in corners) + 1e-6)
    col1 = math.ceil(max(c for c, _ in corners) - 1e-6)
    row1 = math.ceil(max(r for _, r in corners) - 1e-6)
    grid = PixelGrid(crs, base @ Affine.translation(col0, row0), max(1, col1 - col0), max(1, row1 - row0))
    box = shapely.geometry.mapping(shapely.geometry.box(left, bottom, right, top))
    bands = [Band(b.name, b.ptype, Clip(b.node, box, crs), b.native) for b in img.bands]
    return EEImage(bands, dict(img.properties), img.image_id, img.version, default_grid=grid)


@algorithm("Image.setDefaultProjection")
def image_set_default_projection(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> EEImage:
    """Set the projection the bands report (and exports align to); pixels are unchanged."""
    img = as_image(image, "Image.setDefaultProjection")
    crs_text = crs_of(crs)
    if crsTransform is not None:
        transform = Affine(*[float(v) for v in as_list(crsTransform)][:6])
    elif scale is not None:
        transform = Affine(float(scale), 0, 0, 0, -float(scale), 0)
    elif isinstance(crs, Projection):
        transform = crs.affine
    else:
        transform = Affine.identity()
    native = PixelGrid(crs_text, transform, 0, 0)
    return img.with_bands([Band(b.name, b.ptype, b.node, native) for b in img.bands])


# ---------------------------------------------------------------------------------------------------------------
# Arithmetic, comparisons, casts


_BOOLEAN_OPS = {"gt", "gte", "lt", "lte", "eq", "neq", "and", "or"}


def _binary_image(op: str, image1: Any, image2: Any) -> EEImage:
    where = f"Image.{op}"
    left = as_image(image1, where, "image1")
    right = as_image(image2, where, "image2")
    if not left.bands or not right.bands:
        raise EEError(f"{where}: Images must contain the same number of bands or only 1 band. Got "
                      f"{len(left.bands)} and {len(right.bands)}.")  # fmt: skip
    n_left, n_right = len(left.bands), len(right.bands)
    if n_left == 1 and n_right > 1:
        pairs = [(left.bands[0], b) for b in right.bands]
        names = [b.name for b in right.bands]
    elif n_right == 1 or n_left == n_right:
        pairs = list(zip(left.bands, right.bands * n_left if n_right == 1 else right.bands, strict=False))
        names = [b.name for b in left.bands]
    else:
        raise EEError(
            f"{where}: Images must contain the same number of bands or only 1 band. Got {n_left} and {n_right}."
        )
    bands = []
    for name, (a, b) in zip(names, pairs, strict=True):
        ptype = BOOLEAN if op in _BOOLEAN_OPS else a.ptype.union(b.ptype)
        if op == "atan2":
            ptype = FLOAT if ptype.precision != "double" else ptype
        native = a.native if a.native is not None else b.native
        bands.append(Band(name, ptype, Binary(op, a.node, b.node, ptype), native))
    return EEImage(bands)


def _register_binary(op: str) -> None:
    def operation(image1: Any, image2: Any) -> EEImage:
        return _binary_image(op, image1, image2)

    operation.__doc__ = f"Image.{op}, band by band."
    algorithm(f"Image.{op}")(operation)


for _op in BINARY:
    _register_binary(_op)


def _register_unary(op: str) -> None:
    def operation(value: Any) -> EEImage:
        img = as_image(value, f"Image.{op}", "value")
        bands = []
        for band in img.bands:
            if op == "not":
                ptype = BOOLEAN
            elif op in ("abs", "round", "floor", "ceil"):
                ptype = band.ptype
            else:
                ptype = band.ptype if band.ptype.precision == "double" else FLOAT
            bands.append(Band(band.name, ptype, Unary(op, band.node, ptype), band.native))
        return EEImage(bands)

    operation.__doc__ = f"Image.{op}, pixel by pixel."
    algorithm(f"Image.{op}")(operation)


for _op in UNARY:
    if _op != "mask_of":
        _register_unary(_op)


def _register_cast(name: str, ptype: PixelType) -> None:
    def operation(value: Any) -> EEImage:
        img = as_image(value, f"Image.{name}", "value")
        return img.with_bands([Band(b.name, ptype, Cast(b.node, ptype), b.native) for b in img.bands])

    operation.__doc__ = f"Cast every band to {ptype.to_info()}."
    algorithm(f"Image.{name}")(operation)


for _name, _ptype in CASTS.items():
    _register_cast(_name, _ptype)


@algorithm("Image.cast")
def image_cast(image: Any, bandTypes: dict[str, Any], bandOrder: Any = None) -> EEImage:
    """Cast named bands to ``PixelType`` dicts (``{"type": "PixelType", "precision": ...}``) or type names."""
    img = as_image(image, "Image.cast")
    bands = []
    for band in img.bands:
        wanted = bandTypes.get(band.name)
        if wanted is None:
            bands.append(band)
            continue
        ptype = _parse_pixel_type(wanted)
        bands.append(Band(band.name, ptype, Cast(band.node, ptype), band.native))
    return img.with_bands(bands)


def _parse_pixel_type(value: Any) -> PixelType:
    if isinstance(value, PixelType):
        return value
    if isinstance(value, str):
        if value in CASTS:
            return CASTS[value]
        raise EEError(f"Image.cast: unknown pixel type {value!r}")
    if isinstance(value, dict):
        spec: dict[str, Any] = value
        precision = spec.get("precision", "float")
        if precision == "int":
            return PixelType("int", int(spec.get("minValue", spec.get("min", -(2**31)))),
                             int(spec.get("maxValue", spec.get("max", 2**31 - 1))))  # fmt: skip
        return PixelType("double" if precision == "double" else "float")
    raise EEError(f"Image.cast: invalid pixel type {value!r}")


@algorithm("PixelType")
def pixel_type(precision: str, minValue: Any = None, maxValue: Any = None, dimensions: Any = None) -> PixelType:
    """``ee.PixelType``."""
    return _parse_pixel_type({"precision": precision, "minValue": minValue, "maxValue": maxValue})


@algorithm("Image.normalizedDifference")
def image_normalized_difference(input: Any, bandNames: Any = None) -> EEImage:  # noqa: A002
    """``(first - second) / (first + second)`` as band ``nd``; negative inputs are masked."""
    img = as_image(input, "Image.normalizedDifference", "input")
    chosen = select_bands(img, as_list(bandNames), "Image.normalizedDifference") if bandNames else img.bands[:2]
    if len(chosen) != 2:
        raise EEError(f"Image.normalizedDifference: needs exactly 2 bands, got {len(chosen)}.")
    first, second = chosen
    return EEImage([Band("nd", FLOAT, NormalizedDifference(first.node, second.node), first.native)])


@algorithm("Image.clamp")
def image_clamp(input: Any, low: float, high: float) -> EEImage:  # noqa: A002
    """Clamp values to ``[low, high]``."""
    img = as_image(input, "Image.clamp", "input")
    bands = []
    for band in img.bands:
        ptype = band.ptype.union(PixelType.of_value(low)).union(PixelType.of_value(high))
        if band.ptype.precision == "int" and ptype.precision == "int":
            ptype = PixelType.int_range(max(band.ptype.min or 0, low), min(band.ptype.max or 0, high))
        node = Binary("min", Binary("max", band.node, Constant(float(low)), ptype), Constant(float(high)), ptype)
        bands.append(Band(band.name, ptype, node, band.native))
    return img.with_bands(bands)


@algorithm("Image.unitScale")
def image_unit_scale(input: Any, low: float, high: float) -> EEImage:  # noqa: A002
    """``(value - low) / (high - low)`` as float."""
    img = as_image(input, "Image.unitScale", "input")
    span = float(high) - float(low)
    bands = [
        Band(
            b.name,
            FLOAT,
            Binary("divide", Binary("subtract", b.node, Constant(float(low)), FLOAT), Constant(span), FLOAT),
            b.native,
        )
        for b in img.bands
    ]
    return EEImage(bands)


@algorithm("Image.remap", rename={"from": "from_values"})
def image_remap(
    image: Any, from_values: list[Any], to: list[Any], defaultValue: Any = None, bandName: Any = None
) -> EEImage:
    """Map listed values to others; unlisted pixels get ``defaultValue`` or are masked. Output band ``remapped``."""
    img = as_image(image, "Image.remap")
    band = select_bands(img, [bandName], "Image.remap")[0] if bandName is not None else img.bands[0]
    if len(from_values) != len(to):
        raise EEError("Image.remap: 'from' and 'to' must have the same length.")
    targets = [float(v) for v in to] + ([] if defaultValue is None else [float(defaultValue)])
    ptype = PixelType.of_value(targets[0])
    for value in targets[1:]:
        ptype = ptype.union(PixelType.of_value(value))
    node = Remap(band.node, tuple(float(v) for v in from_values), tuple(float(v) for v in to),
                 None if defaultValue is None else float(defaultValue))  # fmt: skip
    return EEImage([Band("remapped", ptype, node, band.native)], dict(img.properties), img.image_id, img.version)


# ---------------------------------------------------------------------------------------------------------------
# Resampling, reprojection, neighbourhoods


@algorithm("Image.resample")
def image_resample(image: Any, mode: str = "bilinear") -> EEImage:
    """Use bilinear or bicubic interpolation (instead of nearest neighbour) when warping source pixels."""
    if mode not in ("bilinear", "bicubic"):
        raise EEError(f"Image.resample: Unknown resampling mode '{mode}'. Expected 'bilinear' or 'bicubic'.")
    img = as_image(image, "Image.resample")

    def resampled(source: SourceBand) -> SourceBand:
        return SourceBand(source.path, source.band_index, source.nodata, mode)

    return img.with_bands([Band(b.name, b.ptype, b.node.map_sources(resampled), b.native) for b in img.bands])


@algorithm("Image.reproject")
def image_reproject(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> EEImage:
    """Force computation on a fixed grid (``crsTransform``, or ``scale`` metres in ``crs``)."""
    img = as_image(image, "Image.reproject")
    crs_text = crs_of(crs)
    if crsTransform is not None:
        transform = Affine(*[float(v) for v in as_list(crsTransform)][:6])
    elif isinstance(crs, Projection) and scale is None:
        transform = crs.affine
    else:
        if scale is None:
            raise EEError("Image.reproject: one of crsTransform or scale is required.")
        size = float(scale)
        from rasterio.crs import CRS

        if CRS.from_user_input(crs_text).is_geographic:
            size = size / (6378137.0 * math.pi / 180.0)
        transform = Affine(size, 0, 0, 0, -size, 0)
    # A reprojected band reports the new CRS and transform but no fixed dimensions.
    native = PixelGrid(crs_text, transform, 0, 0)
    return img.with_bands([Band(b.name, b.ptype, Reproject(b.node, crs_text, transform), native) for b in img.bands])


def _register_focal(statistic: str, names: tuple[str, ...]) -> None:
    def operation(
        image: Any,
        radius: float = 1.5,
        kernelType: str = "circle",
        units: str = "pixels",
        iterations: int = 1,
        kernel: Any = None,
    ) -> EEImage:
        if kernel is not None:
            raise EEError(f"{names[0]}: custom kernels are not implemented by the gee-flood emulator")
        if kernelType not in ("circle", "square"):
            raise EEError(f"{names[0]}: kernelType '{kernelType}' is not implemented by the gee-flood emulator")
        if units not in ("pixels", "meters"):
            raise EEError(f"{names[0]}: units must be 'pixels' or 'meters', got '{units}'")
        img = as_image(image, names[0])
        bands = []
        for band in img.bands:
            ptype = band.ptype if statistic in ("max", "min", "mode") else (
                band.ptype if band.ptype.precision == "double" else FLOAT
            )  # fmt: skip
            node = Focal(band.node, statistic, float(radius), kernelType, units, int(iterations))
            bands.append(Band(band.name, ptype, node, band.native))
        return img.with_bands(bands)

    operation.__doc__ = f"Focal {statistic} in a circle/square of ``radius`` pixels or metres."
    algorithm(*names)(operation)


for _statistic in ("median", "mean", "max", "min", "mode"):
    _register_focal(_statistic, (f"Image.focal_{_statistic}", f"Image.focal{_statistic.capitalize()}"))


# ---------------------------------------------------------------------------------------------------------------
# Collections of images


def _images(collection: Any, where: str) -> list[EEImage]:
    require(collection, EECollection, where, "collection")
    images = [member for member in collection.elements if isinstance(member, EEImage)]
    if len(images) != len(collection.elements):
        raise EEError(f"{where}: the collection contains elements that are not images")
    return images


def _bands_by_name(images: list[EEImage]) -> list[tuple[str, list[Band]]]:
    order: list[str] = []
    groups: dict[str, list[Band]] = {}
    for image in images:
        for band in image.bands:
            if band.name not in groups:
                order.append(band.name)
                groups[band.name] = []
            groups[band.name].append(band)
    return [(name, groups[name]) for name in order]


def _union_type(bands: list[Band]) -> PixelType:
    ptype = bands[0].ptype
    for band in bands[1:]:
        ptype = ptype.union(band.ptype)
    return ptype


@algorithm("ImageCollection.mosaic")
def collection_mosaic(collection: Any) -> EEImage:
    """Last image on top, where its mask is valid (bands matched by name)."""
    images = _images(collection, "ImageCollection.mosaic")
    bands = [
        Band(name, _union_type(group), Mosaic(tuple(b.node for b in group)), None)
        for name, group in _bands_by_name(images)
    ]
    return EEImage(bands)


@algorithm("ImageCollection.qualityMosaic")
def collection_quality_mosaic(collection: Any, qualityBand: str) -> EEImage:
    """Per pixel, the image with the highest ``qualityBand`` value."""
    images = _images(collection, "ImageCollection.qualityMosaic")
    qualities = {}
    for image in images:
        selected = select_bands(image, [qualityBand], "ImageCollection.qualityMosaic")
        qualities[id(image)] = selected[0].node
    bands = []
    for name, _ in _bands_by_name(images):
        layers, quality_nodes, members = [], [], []
        for image in images:
            for band in image.bands:
                if band.name == name:
                    layers.append(band.node)
                    quality_nodes.append(qualities[id(image)])
                    members.append(band)
        bands.append(Band(name, _union_type(members), QualityMosaic(tuple(layers), tuple(quality_nodes)), None))
    return EEImage(bands)


@algorithm("ImageCollection.fromImages")
def collection_from_images(images: Any) -> EECollection:
    """An image collection from a list of images."""
    members = [as_image(image, "ImageCollection.fromImages", "images") for image in as_list(images)]
    return EECollection("ImageCollection", members)


@algorithm("ImageCollection.load")
def collection_load(ctx: EvalContext, id: str, version: Any = None) -> EECollection:  # noqa: A002
    """``ee.ImageCollection(asset_id)``."""
    records = ctx.catalog.find_collection(str(id))
    if records is None:
        if ctx.catalog.find_image(str(id)) is not None:
            raise EEError(f"ImageCollection.load: Asset '{id}' is not an ImageCollection.")
        raise EEError(
            f"ImageCollection.load: ImageCollection asset '{id}' not found (does not exist or caller does not have "
            "access)."
        )
    images = [image_from_catalog(record, ctx.default_resampling) for record in records]
    version_number = max((image.version or 0 for image in images), default=0) or None
    properties = dict(ctx.catalog.collection_properties.get(str(id), {}))
    return EECollection("ImageCollection", images, properties, str(id), version_number)


@algorithm("ImageCollection.merge")
def collection_merge_images(collection1: Any, collection2: Any) -> EECollection:
    """Both collections' images (ids are prefixed ``1_``/``2_``, as in Earth Engine)."""
    first = _images(collection1, "ImageCollection.merge")
    second = _images(collection2, "ImageCollection.merge")
    members = []
    for prefix, images in (("1_", first), ("2_", second)):
        for image in images:
            properties = dict(image.properties)
            if "system:index" in properties:
                properties["system:index"] = prefix + str(properties["system:index"])
            members.append(EEImage(image.bands, properties, image.image_id, image.version))
    return EECollection("ImageCollection", members)


@algorithm("ImageCollection.toBands")
def collection_to_bands(collection: Any) -> EEImage:
    """All bands of all images, named ``<system:index>_<band>``."""
    images = _images(collection, "ImageCollection.toBands")
    bands: list[Band] = []
    for position, image in enumerate(images):
        prefix = str(image.properties.get("system:index", position))
        bands.extend(band.renamed(f"{prefix}_{band.name}") for band in image.bands)
    return EEImage(bands)


@algorithm("Image.linkCollection")
def image_link_collection(
    input: Any,  # noqa: A002
    imageCollection: Any,
    linkedBands: Any = None,
    linkedProperties: Any = None,
    matchPropertyName: str = "system:index",
) -> EEImage:
    """Add bands/properties from the collection image whose ``matchPropertyName`` equals the input's.

    Without a match, the linked bands are fully masked and linked properties are null (Earth Engine's rule).
    """
    img = as_image(input, "Image.linkCollection", "input")
    images = _images(imageCollection, "Image.linkCollection")
    key = get_property(img, matchPropertyName)
    match = next((other for other in images if key is not None and get_property(other, matchPropertyName) == key), None)
    band_names = [str(n) for n in as_list(linkedBands)]
    bands = list(img.bands)
    properties = dict(img.properties)
    for name in band_names:
        if match is not None:
            new = select_bands(match, [name], "Image.linkCollection")[0]
        else:
            template = next((b for other in images for b in other.bands if b.name == name), None)
            ptype = template.ptype if template is not None else FLOAT
            new = Band(name, ptype, FullyMasked(), template.native if template is not None else None)
        existing = [b.name for b in bands]
        if name in existing:
            bands[existing.index(name)] = new
        else:
            bands.append(new)
    for prop in [str(p) for p in as_list(linkedProperties)]:
        properties[prop] = get_property(match, prop) if match is not None else None
    return EEImage(bands, properties, img.image_id, img.version)


def stack_by_name(images: list[EEImage]) -> list[tuple[str, list[Band]]]:
    """Bands of a list of images grouped by name (first-appearance order)."""
    return _bands_by_name(images)


def images_of(collection: Any, where: str) -> list[EEImage]:
    """The images of a collection argument."""
    return _images(collection, where)

"""Pixel grids for the fetched chips: choosing the CRS, laying chips over an AOI, gridding a chip list.

A chip is a ``height x width`` block of pixels on an explicit grid (CRS + affine transform), which is exactly what
xee needs (``crs``, ``crs_transform``, ``shape_2d``). Chips laid over an AOI share one *lattice* (same CRS, pixel
size and origin), so neighbouring chips can be read from Earth Engine in one request; chips from a chip list each
keep their own grid (Sen1Floods11's chips are not on a common lattice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import shapely
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from gee_flood.earthengine.inputs import ChipFootprint
from gee_flood.errors import InputError
from gee_flood.geo import DateRange

#: Metres per degree of latitude/longitude at the equator (WGS84 semi-major axis * pi / 180); Sen1Floods11's
#: 10 m pixels are 10 / this = 8.983e-5 degrees.
METRES_PER_DEGREE = 111_319.49079327357


@dataclass(frozen=True)
class Lattice:
    """A pixel grid several chips lie on (same CRS, pixel size and pixel phase).

    Attributes:
        key: Identifier of the lattice within a run.
        crs: CRS code (``"EPSG:32633"``).
        transform: Affine transform of the lattice's top-left pixel corner (CRS units per pixel).
        width: Lattice width in pixels.
        height: Lattice height in pixels.
    """

    key: str
    crs: str
    transform: Affine
    width: int
    height: int


@dataclass(frozen=True)
class ChipSpec:
    """Where one chip is and when to look for imagery.

    Attributes:
        chip_id: ``{Event}_{id}``.
        event: Event name (no underscore).
        crs: CRS code of the chip grid.
        transform: Affine transform of the chip's top-left pixel (CRS units).
        width: Width in pixels.
        height: Height in pixels.
        footprint: Chip outline in EPSG:4326 (degrees), edges densified.
        s1_dates: Days to search Sentinel-1 in.
        s2_dates: Days to search Sentinel-2 in.
        lattice: Key of the :class:`Lattice` the chip lies on, or ``None`` for a standalone chip.
        row_px: Row of the chip's top-left pixel on the lattice (0 if standalone).
        col_px: Column of the chip's top-left pixel on the lattice (0 if standalone).
    """

    chip_id: str
    event: str
    crs: str
    transform: Affine
    width: int
    height: int
    footprint: Polygon
    s1_dates: DateRange
    s2_dates: DateRange
    lattice: str | None = None
    row_px: int = 0
    col_px: int = 0

    @property
    def transform_list(self) -> list[float]:
        """Return the GDAL-order-free affine ``[a, b, c, d, e, f]`` (as in the manifest and xee)."""
        return [float(value) for value in self.transform[:6]]

    def footprint_geojson(self) -> dict:
        """Return the footprint as a GeoJSON Polygon (EPSG:4326), coordinates rounded to 1e-9 degree."""
        return _rounded(mapping(self.footprint))


def _rounded(geojson: dict) -> dict:
    def walk(value):
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        if isinstance(value, float):
            return round(value, 9)
        return value

    return {"type": geojson["type"], "coordinates": walk(geojson["coordinates"])}


def utm_crs_for(lon: float, lat: float) -> str:
    """Return the WGS84 UTM zone CRS code (``EPSG:326zz`` north, ``EPSG:327zz`` south) containing a point."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def resolve_crs(spec: str, geometry: Polygon | MultiPolygon) -> str:
    """Turn ``--crs`` (``utm``, ``EPSG:4326`` or ``EPSG:xxxx``) into a CRS code for ``geometry`` (EPSG:4326).

    Raises:
        InputError: If the CRS is unknown.
    """
    text = spec.strip()
    if text.lower() == "utm":
        centroid = geometry.centroid
        return utm_crs_for(centroid.x, centroid.y)
    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise InputError(f"--crs: {spec!r} is not a known CRS; expected utm, EPSG:4326 or EPSG:<code>") from None
    code = crs.to_epsg()
    if code is None:
        raise InputError(f"--crs: {spec!r} has no EPSG code; expected utm, EPSG:4326 or EPSG:<code>")
    return f"EPSG:{code}"


def pixel_size(crs_code: str, scale_m: float) -> float:
    """Return the pixel size in CRS units for a nominal ``scale_m`` metres (degrees for geographic CRSs)."""
    if scale_m <= 0:
        raise InputError(f"--scale: {scale_m} must be a positive number of metres")
    crs = CRS.from_user_input(crs_code)
    if crs.is_geographic:
        return scale_m / METRES_PER_DEGREE
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return scale_m / (factor or 1.0)


def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_crs(geometry: shapely.Geometry, src: str, dst: str, *, densify_deg: float | None = None) -> shapely.Geometry:
    """Reproject a shapely geometry (optionally densifying lon/lat edges first, in degrees)."""
    if densify_deg:
        geometry = shapely.segmentize(geometry, densify_deg)
    if CRS.from_user_input(src) == CRS.from_user_input(dst):
        return geometry
    transformer = _transformer(src, dst)
    return shapely.transform(geometry, lambda x, y: transformer.transform(x, y), interleaved=False)


def _footprint_lonlat(crs_code: str, transform: Affine, width: int, height: int) -> Polygon:
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    outline = box(min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    step = max(abs(right - left), abs(bottom - top)) / 2  # edge midpoints: enough for chip-sized outlines
    outline = shapely.segmentize(outline, step)
    polygon = to_crs(outline, crs_code, "EPSG:4326")
    return shapely.normalize(polygon)


def lay_chips_over_aoi(
    aoi: Polygon | MultiPolygon,
    *,
    crs: str,
    scale_m: float,
    chip_size: int,
    event: str,
    dates: DateRange,
) -> tuple[Lattice, list[ChipSpec]]:
    """Tile an AOI (EPSG:4326) with ``chip_size`` chips on a lattice snapped to multiples of the chip extent.

    Chips whose area intersects the AOI are kept. Chip ids are ``{event}_{row}{col}`` (zero-padded, row-major).
    Both sensors are searched within ``dates``.

    Returns:
        The lattice and its chips.

    Raises:
        InputError: If the chip size is not positive or the AOI yields no chip.
    """
    if chip_size <= 0:
        raise InputError(f"--chip-size: {chip_size} must be a positive number of pixels")
    px = pixel_size(crs, scale_m)
    step = chip_size * px
    projected = to_crs(aoi, "EPSG:4326", crs, densify_deg=0.01)
    if not projected.is_valid:
        projected = shapely.make_valid(projected)
    min_x, min_y, max_x, max_y = projected.bounds
    origin_x = math.floor(min_x / step) * step
    origin_y = math.ceil(max_y / step) * step
    cols = max(1, math.ceil((max_x - origin_x) / step - 1e-9))
    rows = max(1, math.ceil((origin_y - min_y) / step - 1e-9))
    lattice_transform = Affine(px, 0.0, origin_x, 0.0, -px, origin_y)
    lattice = Lattice("aoi", crs, lattice_transform, cols * chip_size, rows * chip_size)
    digits = max(3, len(str(max(rows, cols) - 1)))
    shapely.prepare(projected)
    chips: list[ChipSpec] = []
    for row in range(rows):
        for col in range(cols):
            x0, y0 = origin_x + col * step, origin_y - row * step
            cell = box(x0, y0 - step, x0 + step, y0)
            # keep chips holding a real part of the AOI, not slivers from an AOI edge on a chip boundary
            if not projected.intersects(cell) or projected.intersection(cell).area <= 1e-4 * cell.area:
                continue
            transform = Affine(px, 0.0, x0, 0.0, -px, y0)
            chips.append(
                ChipSpec(
                    chip_id=f"{event}_{row:0{digits}d}{col:0{digits}d}",
                    event=event,
                    crs=crs,
                    transform=transform,
                    width=chip_size,
                    height=chip_size,
                    footprint=_footprint_lonlat(crs, transform, chip_size, chip_size),
                    s1_dates=dates,
                    s2_dates=dates,
                    lattice=lattice.key,
                    row_px=row * chip_size,
                    col_px=col * chip_size,
                )
            )
    if not chips:
        raise InputError(
            f"--aoi: the area of interest ({projected.area:.3g} m²) is too small to hold any chip: a chip "
            f"({chip_size} px, {step:g} m square) is kept when the AOI covers at least 1/10,000 of it; draw a larger "
            "AOI or lower --chip-size"
        )
    return lattice, chips


def grid_chip_list(
    footprints: list[ChipFootprint], *, crs: str, scale_m: float
) -> tuple[dict[str, Lattice], list[ChipSpec]]:
    """Give each chip of a chip list its own grid: origin at the footprint's top-left corner, ``scale_m`` pixels.

    ``crs`` is ``utm`` (each chip's own UTM zone), ``EPSG:4326`` (Sen1Floods11's grids) or another code. The
    pixel count is the footprint extent divided by the pixel size, rounded. Chips of one event whose grids are
    whole pixels apart (chips tiled from one raster, as Sen1Floods11's are) are put on a shared :class:`Lattice`
    so that neighbours can be read together; the others stay standalone.

    Returns:
        The lattices found (by key) and the chips, in input order.
    """
    chips: list[ChipSpec] = []
    for footprint in footprints:
        chip_crs = resolve_crs(crs, footprint.footprint)
        px = pixel_size(chip_crs, scale_m)
        projected = to_crs(footprint.footprint, "EPSG:4326", chip_crs, densify_deg=0.005)
        min_x, min_y, max_x, max_y = projected.bounds
        width = max(1, round((max_x - min_x) / px))
        height = max(1, round((max_y - min_y) / px))
        transform = Affine(px, 0.0, min_x, 0.0, -px, max_y)
        chips.append(
            ChipSpec(
                chip_id=footprint.chip_id,
                event=footprint.event,
                crs=chip_crs,
                transform=transform,
                width=width,
                height=height,
                footprint=_footprint_lonlat(chip_crs, transform, width, height),
                s1_dates=footprint.s1_dates,
                s2_dates=footprint.s2_dates,
            )
        )
    return align_chips(chips)


#: Pixels of tolerance when deciding that two chip grids share a lattice.
ALIGN_TOLERANCE_PX = 1e-3
#: Largest lattice side in pixels (chips farther apart get separate lattices).
MAX_LATTICE_PX = 32_768


def align_chips(chips: list[ChipSpec]) -> tuple[dict[str, Lattice], list[ChipSpec]]:
    """Put chips whose grids are whole pixels apart on shared lattices (same event, CRS, pixel size and phase).

    Returns:
        The lattices (each holding two chips or more) and the chips, with ``lattice``, ``row_px`` and ``col_px``
        set for those on a lattice.
    """
    groups: dict[tuple, list[int]] = {}
    for position, chip in enumerate(chips):
        t = chip.transform
        if t.b != 0 or t.d != 0:
            continue
        col_f, row_f = t.c / t.a, t.f / t.e
        phase = (round(col_f - round(col_f), 2), round(row_f - round(row_f), 2))
        tile = (math.floor(col_f / (MAX_LATTICE_PX // 2)), math.floor(row_f / (MAX_LATTICE_PX // 2)))
        groups.setdefault((chip.event, chip.crs, t.a, t.e, phase, tile), []).append(position)
    lattices: dict[str, Lattice] = {}
    result = list(chips)
    for key in sorted(groups, key=repr):
        members = groups[key]
        reference = chips[members[0]].transform
        aligned: list[tuple[int, int, int]] = []
        for index in members:
            t = chips[index].transform
            d_col, d_row = (t.c - reference.c) / reference.a, (t.f - reference.f) / reference.e
            if abs(d_col - round(d_col)) <= ALIGN_TOLERANCE_PX and abs(d_row - round(d_row)) <= ALIGN_TOLERANCE_PX:
                aligned.append((index, round(d_row), round(d_col)))
        if len(aligned) < 2:
            continue
        row0 = min(d_row for _, d_row, _ in aligned)
        col0 = min(d_col for _, _, d_col in aligned)
        width = max(d_col - col0 + chips[index].width for index, _, d_col in aligned)
        height = max(d_row - row0 + chips[index].height for index, d_row, _ in aligned)
        if width > MAX_LATTICE_PX or height > MAX_LATTICE_PX:
            continue
        lattice = Lattice(
            f"list{len(lattices)}", chips[members[0]].crs, reference @ Affine.translation(col0, row0), width, height
        )
        lattices[lattice.key] = lattice
        for index, d_row, d_col in aligned:
            result[index] = replace(chips[index], lattice=lattice.key, row_px=d_row - row0, col_px=d_col - col0)
    return lattices, result

"""The shared geographic types: a pixel grid, an area of interest and a range of UTC days.

This is a ground-floor module: it imports nothing from :mod:`gee_flood` except :mod:`gee_flood.errors`, so every
package (data readers, Earth Engine fetch, inference) can use it without import cycles.

- :class:`PixelGrid`: where pixels are on Earth (CRS, affine transform, width, height).
- :class:`AreaOfInterest` and :func:`read_aoi`: one set of validation rules for every GeoJSON area of interest
  (``fetch --aoi`` and ``predict --aoi``): valid (multi)polygons, EPSG:4326/CRS84, at most
  :data:`MAX_AOI_AREA_KM2` unless ``allow_large``.
- :class:`DateRange`, :func:`parse_date` and :func:`parse_date_range`: UTC calendar days as users type them.

Every problem is a one-line :class:`~gee_flood.errors.InputError` naming the file, option or value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from affine import Affine
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gee_flood.errors import InputError

# --------------------------------------------------------------------------------------------------- pixel grids


@dataclass(frozen=True)
class PixelGrid:
    """Where an array's pixels are on Earth.

    Attributes:
        crs: Coordinate reference system as an authority string or WKT (e.g. ``"EPSG:32633"``, ``"EPSG:4326"``).
        transform: Affine transform from (col, row) pixel corners to CRS coordinates (metres or degrees); its
            origin is the top-left corner of the top-left pixel.
        width: Width in pixels (columns).
        height: Height in pixels (rows).
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(height, width)`` in pixels, the order of a NumPy array."""
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Return ``(left, bottom, right, top)`` in CRS units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def crs_transform(self) -> tuple[float, float, float, float, float, float]:
        """Return the transform as ``(a, b, c, d, e, f)`` floats (Earth Engine's and xee's ``crs_transform``)."""
        a, b, c, d, e, f = (float(value) for value in self.transform[:6])
        return a, b, c, d, e, f

    @property
    def key(self) -> str:
        """Return a stable text key of the grid (CRS, exact transform, size), e.g. for caches."""
        return f"{self.crs}|{','.join(repr(v) for v in self.crs_transform)}|{self.width}x{self.height}"

    def same_grid(self, other: PixelGrid, *, tolerance_px: float = 0.01) -> bool:
        """Return True if ``other`` has the same CRS, shape and pixel grid (within ``tolerance_px`` pixels)."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if _normalise_crs(self.crs) != _normalise_crs(other.crs):
            return False
        pixel = max(abs(self.transform.a), abs(self.transform.e))
        return all(
            abs(a - b) <= tolerance_px * pixel for a, b in zip(self.transform[:6], other.transform[:6], strict=True)
        )


def _normalise_crs(crs: str) -> str:
    try:
        from rasterio.crs import CRS

        return str(CRS.from_user_input(crs).to_string())
    except Exception:  # pragma: no cover - unparsable CRS strings compare verbatim
        return crs


# ------------------------------------------------------------------------------------------- areas of interest

#: Largest area of interest accepted without ``allow_large`` (km²). Sen1Floods11's 11 events cover 120,406 km².
MAX_AOI_AREA_KM2 = 100_000.0

_GEOD = Geod(ellps="WGS84")
_WGS84_NAMES = {
    "epsg:4326",
    "urn:ogc:def:crs:epsg::4326",
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:ogc::crs84",
    "crs84",
    "ogc:crs84",
    "wgs84",
}


@dataclass(frozen=True)
class AreaOfInterest:
    """A validated area of interest in EPSG:4326.

    Attributes:
        geometry: Valid, non-empty (multi)polygon in longitude/latitude degrees (EPSG:4326); several features are
            unioned into one geometry.
        source: Where it came from (the file path, or a description of an in-memory geometry); errors name it.
        area_km2: Geodesic area on the WGS84 ellipsoid, km².
    """

    geometry: Polygon | MultiPolygon
    source: str
    area_km2: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Return ``(west, south, east, north)`` in degrees."""
        west, south, east, north = self.geometry.bounds
        return float(west), float(south), float(east), float(north)


def geodesic_area_km2(geometry: BaseGeometry) -> float:
    """Return the geodesic area of a longitude/latitude geometry in km² (WGS84 ellipsoid)."""
    area_m2, _ = _GEOD.geometry_area_perimeter(geometry)
    return abs(float(area_m2)) / 1e6


def read_geojson(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a GeoJSON object from ``path`` and check its declared CRS (if any) is EPSG:4326/CRS84.

    Raises:
        InputError: If the file is missing, not JSON, has no ``type`` member or declares another CRS.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file; expected a GeoJSON file")
    try:
        payload = json.loads(file.read_text())
    except RecursionError:
        raise InputError(f"{file}: not valid GeoJSON (nested too deep)") from None
    except (OSError, ValueError) as error:  # ValueError: malformed JSON, or an integer of over 4,300 digits
        raise InputError(f"{file}: not valid GeoJSON ({' '.join(str(error).split())[:200]})") from None
    if not isinstance(payload, dict) or "type" not in payload:
        raise InputError(f"{file}: not valid GeoJSON (no 'type' member)")
    check_declared_crs(payload, source=str(file))
    return payload


def check_declared_crs(payload: dict[str, Any], *, source: str) -> None:
    """Refuse a GeoJSON object whose (legacy) ``crs`` member names anything but EPSG:4326 or CRS84.

    Raises:
        InputError: Naming ``source`` and the declared CRS.
    """
    crs = payload.get("crs")
    if crs is None:
        return
    name = None
    if isinstance(crs, dict):
        properties = crs.get("properties") or {}
        name = properties.get("name") or (
            f"EPSG:{properties['code']}" if crs.get("type") == "EPSG" and "code" in properties else None
        )
    elif isinstance(crs, str):
        name = crs
    if name is None or str(name).strip().lower() not in _WGS84_NAMES:
        raise InputError(
            f"{source}: declares CRS {name or crs!r}; GeoJSON must be in EPSG:4326 (longitude, latitude), "
            "reproject it first (e.g. ogr2ogr -t_srs EPSG:4326)"
        )


def geojson_features(payload: dict[str, Any], *, source: str) -> list[Any]:
    """Return the features of a GeoJSON object (a bare geometry becomes one feature).

    Raises:
        InputError: If a FeatureCollection has no ``features`` list.
    """
    kind = payload.get("type")
    if kind == "FeatureCollection":
        features = payload.get("features")
        if not isinstance(features, list):
            raise InputError(f"{source}: FeatureCollection has no 'features' list")
        return features
    if kind == "Feature":
        return [payload]
    return [{"type": "Feature", "geometry": payload, "properties": {}}]


def polygon_of(geometry: Any, *, source: str, where: str) -> Polygon | MultiPolygon:
    """Return a GeoJSON geometry as a valid, non-empty shapely (multi)polygon in longitude/latitude.

    Args:
        geometry: GeoJSON geometry object (a dict).
        source: File (or description) named in errors.
        where: Which part of the file, e.g. ``"feature 3"``.

    Raises:
        InputError: If it is missing, not polygonal, malformed, empty, outside longitude/latitude or invalid
            (e.g. self-intersecting).
    """
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise InputError(f"{source}: {where} has no geometry")
    kind = geometry["type"]
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{source}: {where} is a {kind}; expected a Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except Exception as error:  # shapely raises several types on malformed coordinates
        raise InputError(f"{source}: {where} has malformed coordinates ({error})") from None
    return _checked_polygon(geom, source=source, where=where)


def _checked_polygon(geom: BaseGeometry, *, source: str, where: str) -> Polygon | MultiPolygon:
    if not isinstance(geom, Polygon | MultiPolygon):
        raise InputError(f"{source}: {where} is a {geom.geom_type}; expected a Polygon or MultiPolygon")
    if geom.is_empty:
        raise InputError(f"{source}: {where} is empty")
    min_x, min_y, max_x, max_y = geom.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise InputError(
            f"{source}: {where} has coordinates outside longitude/latitude range ({geom.bounds}); "
            "GeoJSON must be in EPSG:4326"
        )
    if max_x - min_x > 180:  # geodesic edges would cross the antimeridian: a small area read as a band round Earth
        raise InputError(
            f"{source}: {where} spans {max_x - min_x:.1f}° of longitude (it crosses the antimeridian or circles a "
            "pole); split it at ±180° into polygons each under 180° wide (RFC 7946)"
        )
    if not geom.is_valid:
        raise InputError(f"{source}: {where} is not a valid polygon ({explain_validity(geom)}), e.g. self-intersecting")
    return geom


def _limited(geometry: Polygon | MultiPolygon, *, source: str, allow_large: bool) -> AreaOfInterest:
    area = geodesic_area_km2(geometry)
    if area > MAX_AOI_AREA_KM2 and not allow_large:
        raise InputError(
            f"{source}: area of interest is {area:,.0f} km², above the {MAX_AOI_AREA_KM2:,.0f} km² limit; "
            "split it or pass --allow-large"
        )
    return AreaOfInterest(geometry, source, area)


def aoi_from_geojson(payload: dict[str, Any], *, source: str, allow_large: bool = False) -> AreaOfInterest:
    """Validate an in-memory GeoJSON geometry, Feature or FeatureCollection as an area of interest.

    The rules are :func:`read_aoi`'s.

    Args:
        payload: The GeoJSON object (EPSG:4326).
        source: What errors call it (a file name, ``"AOI geometry"``...).
        allow_large: Accept areas over :data:`MAX_AOI_AREA_KM2`.

    Raises:
        InputError: On any rule broken, in one line naming ``source``.
    """
    if not isinstance(payload, dict) or "type" not in payload:
        raise InputError(f"{source}: not valid GeoJSON (no 'type' member)")
    check_declared_crs(payload, source=source)
    features = geojson_features(payload, source=source)
    if not features:
        raise InputError(f"{source}: has no features; expected a Polygon area of interest")
    polygons = [
        polygon_of(feature.get("geometry") if isinstance(feature, dict) else None, source=source, where=f"feature {i}")
        for i, feature in enumerate(features)
    ]
    geometry = shapely.union_all(polygons) if len(polygons) > 1 else polygons[0]
    return _limited(geometry, source=source, allow_large=allow_large)


def read_aoi(path: str | os.PathLike[str], *, allow_large: bool = False) -> AreaOfInterest:
    """Read an area of interest: GeoJSON Polygon/MultiPolygon(s), bare, as a Feature or a FeatureCollection.

    Rules (the same for ``fetch --aoi`` and ``predict --aoi``): every feature is a valid, non-empty (multi)polygon
    (a self-intersecting polygon is refused, never repaired) and under 180° of longitude wide (one that crosses the
    antimeridian is split there, as RFC 7946 asks); coordinates are longitude/latitude and a declared
    CRS must be EPSG:4326 or CRS84; features are unioned; the geodesic area is at most :data:`MAX_AOI_AREA_KM2`
    unless ``allow_large``.

    Args:
        path: GeoJSON file in EPSG:4326.
        allow_large: Accept areas over :data:`MAX_AOI_AREA_KM2`.

    Returns:
        The validated area of interest.

    Raises:
        InputError: On any rule broken, in one line naming the file.
    """
    return aoi_from_geojson(read_geojson(path), source=str(Path(path)), allow_large=allow_large)


def as_area_of_interest(
    aoi: str | os.PathLike[str] | dict[str, Any] | BaseGeometry | AreaOfInterest, *, allow_large: bool = False
) -> AreaOfInterest:
    """Return any form of AOI (file, GeoJSON dict, shapely geometry in EPSG:4326) validated by the same rules.

    An :class:`AreaOfInterest` is returned as it is only if it passes the area limit.

    Raises:
        InputError: On any rule broken, in one line.
    """
    if isinstance(aoi, AreaOfInterest):
        return _limited(aoi.geometry, source=aoi.source, allow_large=allow_large)
    if isinstance(aoi, BaseGeometry):
        geometry = _checked_polygon(aoi, source="AOI geometry", where="the geometry")
        return _limited(geometry, source="AOI geometry", allow_large=allow_large)
    if isinstance(aoi, dict):
        return aoi_from_geojson(aoi, source="AOI geometry", allow_large=allow_large)
    return read_aoi(aoi, allow_large=allow_large)


# ---------------------------------------------------------------------------------------------------- UTC days


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of UTC calendar days.

    Attributes:
        start: First day (inclusive).
        end: Last day (inclusive).
    """

    start: dt.date
    end: dt.date

    @property
    def start_datetime(self) -> dt.datetime:
        """Return the first instant of the range (UTC)."""
        return dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)

    @property
    def end_datetime_exclusive(self) -> dt.datetime:
        """Return the first instant after the range (UTC), i.e. midnight after ``end``."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def widened(self, days: int) -> DateRange:
        """Return the range widened by ``days`` on both sides."""
        return DateRange(self.start - dt.timedelta(days=days), self.end + dt.timedelta(days=days))

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


#: First day of Sentinel-1 data (Sentinel-1A's first acquisitions); no satellite day of this project is earlier.
SENTINEL_ERA_START = dt.date(2014, 4, 3)
#: How far after today a day may be (a request for the coming days: scheduling slack across time zones).
SENTINEL_ERA_SLACK = dt.timedelta(days=31)


def check_sentinel_era(day: dt.date, *, what: str) -> dt.date:
    """Return ``day`` if it lies in the Sentinel era (2014-04-03 to a month from today); refuse it in one line.

    A day in year 9999 would overflow the date arithmetic of the queries (a day's end is the next midnight).

    Raises:
        InputError: Naming ``what`` and the allowed range.
    """
    latest = dt.datetime.now(dt.UTC).date() + SENTINEL_ERA_SLACK
    if not SENTINEL_ERA_START <= day <= latest:
        raise InputError(
            f"{what}: {day.isoformat()} is outside the Sentinel era; expected a day from "
            f"{SENTINEL_ERA_START.isoformat()} to {latest.isoformat()}"
        )
    return day


def parse_date(text: str | dt.date, *, what: str) -> dt.date:
    """Parse a UTC day of the Sentinel era: ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` or an ISO date-time, UTC day taken).

    Args:
        text: The text (a :class:`datetime.date` is returned as it is; a datetime gives its UTC day).
        what: The option or field named in errors, e.g. ``"--date"``.

    Raises:
        InputError: If ``text`` is not a date, or one outside :func:`check_sentinel_era`.
    """
    return check_sentinel_era(_parse_day(text, what=what), what=what)


def _parse_day(text: str | dt.date, *, what: str) -> dt.date:
    if isinstance(text, dt.datetime):
        return text.astimezone(dt.UTC).date() if text.tzinfo is not None else text.date()
    if isinstance(text, dt.date):
        return text
    value = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}[-/]\d{2}[-/]\d{2}", value):
            return dt.date.fromisoformat(value.replace("/", "-"))
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC)
        return parsed.date()
    except (ValueError, OverflowError):
        raise InputError(f"{what}: {text!r} is not a date; expected YYYY-MM-DD") from None


def parse_date_range(text: str, *, what: str = "--dates") -> DateRange:
    """Parse ``START/END`` (inclusive UTC days) or a single day ``YYYY-MM-DD``.

    Args:
        text: The text.
        what: The option or field named in errors.

    Raises:
        InputError: If malformed or reversed.
    """
    parts = [part.strip() for part in str(text).split("/")] if text else []
    if len(parts) == 1 and parts[0]:
        day = parse_date(parts[0], what=what)
        return DateRange(day, day)
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{what}: {text!r} is not a date range; expected START/END, e.g. 2019-03-01/2019-03-20")
    start, end = parse_date(parts[0], what=what), parse_date(parts[1], what=what)
    if end < start:
        raise InputError(f"{what}: {text!r} is reversed (end {end} is before start {start})")
    return DateRange(start, end)

"""Validation of what a user hands to ``gee-flood fetch``: an area of interest, a chip list, a date range.

Every problem is raised as a one-line :class:`~gee_flood.errors.InputError` naming the file or argument and what
was expected. Geometries are returned as shapely geometries in EPSG:4326 (longitude, latitude, degrees).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.validation import explain_validity

from gee_flood.errors import InputError

#: Largest AOI accepted without ``allow_large`` (km²). Sen1Floods11's 11 events cover 120,406 km² in all.
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


@dataclass(frozen=True)
class ChipFootprint:
    """One chip requested by a chip list (e.g. Sen1Floods11's weakly labelled chips).

    Attributes:
        chip_id: Corpus chip id ``{Event}_{id}`` (Event without underscore).
        event: The event part of the id.
        footprint: Chip footprint polygon in EPSG:4326 (degrees).
        s1_dates: Days to search Sentinel-1 in.
        s2_dates: Days to search Sentinel-2 in.
    """

    chip_id: str
    event: str
    footprint: Polygon
    s1_dates: DateRange
    s2_dates: DateRange


def parse_date(text: str, *, what: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` or an ISO date-time, whose UTC day is taken).

    Raises:
        InputError: If ``text`` is not a date.
    """
    value = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}[-/]\d{2}[-/]\d{2}", value):
            return dt.date.fromisoformat(value.replace("/", "-"))
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC)
        return parsed.date()
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a date; expected YYYY-MM-DD") from None


def parse_date_range(text: str, *, what: str = "--dates") -> DateRange:
    """Parse ``START/END`` (inclusive, UTC days) or a single day ``YYYY-MM-DD``.

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


def _load_geojson(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a GeoJSON file")
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not valid GeoJSON ({error})") from None
    if not isinstance(payload, dict) or "type" not in payload:
        raise InputError(f"{path}: not valid GeoJSON (no 'type' member)")
    _check_declared_crs(payload, path)
    return payload


def _check_declared_crs(payload: dict[str, Any], path: Path) -> None:
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
            f"{path}: declares CRS {name or crs!r}; GeoJSON must be in EPSG:4326 (longitude, latitude), "
            "reproject it first (e.g. ogr2ogr -t_srs EPSG:4326)"
        )


def _features(payload: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    kind = payload.get("type")
    if kind == "FeatureCollection":
        features = payload.get("features")
        if not isinstance(features, list):
            raise InputError(f"{path}: FeatureCollection has no 'features' list")
        return features
    if kind == "Feature":
        return [payload]
    return [{"type": "Feature", "geometry": payload, "properties": {}}]


def _polygon_of(geometry: Any, path: Path, where: str) -> Polygon | MultiPolygon:
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise InputError(f"{path}: {where} has no geometry")
    kind = geometry["type"]
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{path}: {where} is a {kind}; expected a Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except Exception as error:  # shapely raises several types on malformed coordinates
        raise InputError(f"{path}: {where} has malformed coordinates ({error})") from None
    if geom.is_empty:
        raise InputError(f"{path}: {where} is empty")
    min_x, min_y, max_x, max_y = geom.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise InputError(
            f"{path}: {where} has coordinates outside longitude/latitude range ({geom.bounds}); "
            "GeoJSON must be in EPSG:4326"
        )
    if not geom.is_valid:
        raise InputError(f"{path}: {where} is not a valid polygon ({explain_validity(geom)}), e.g. self-intersecting")
    return geom


def geodesic_area_km2(geometry: Polygon | MultiPolygon) -> float:
    """Return the geodesic area of a lon/lat geometry in km² (WGS84 ellipsoid)."""
    area_m2, _ = _GEOD.geometry_area_perimeter(geometry)
    return abs(area_m2) / 1e6


def load_aoi(path: str | Path, *, allow_large: bool = False) -> Polygon | MultiPolygon:
    """Read an area of interest: a GeoJSON Polygon/MultiPolygon (bare, Feature or FeatureCollection, unioned).

    Args:
        path: GeoJSON file in EPSG:4326.
        allow_large: Accept AOIs larger than :data:`MAX_AOI_AREA_KM2`.

    Returns:
        The AOI in EPSG:4326.

    Raises:
        InputError: If the file is not valid GeoJSON, not polygonal, self-intersecting, declares another CRS,
            or is larger than the limit.
    """
    path = Path(path)
    payload = _load_geojson(path)
    features = _features(payload, path)
    if not features:
        raise InputError(f"{path}: has no features; expected a Polygon area of interest")
    polygons = [
        _polygon_of(feature.get("geometry") if isinstance(feature, dict) else None, path, f"feature {index}")
        for index, feature in enumerate(features)
    ]
    aoi = shapely.union_all(polygons) if len(polygons) > 1 else polygons[0]
    area = geodesic_area_km2(aoi)
    if area > MAX_AOI_AREA_KM2 and not allow_large:
        raise InputError(
            f"{path}: area of interest is {area:,.0f} km², above the {MAX_AOI_AREA_KM2:,.0f} km² limit; "
            "split it or pass --allow-large"
        )
    return aoi


def _normalised_properties(properties: dict[str, Any]) -> dict[str, Any]:
    return {re.sub(r"[^a-z0-9]", "", str(key).lower()): value for key, value in properties.items()}


def event_name(text: str) -> str:
    """Return ``text`` as a chip-id event name: letters and digits, capitalised (``"rio grande"`` -> ``RioGrande``).

    Raises:
        InputError: If nothing usable is left.
    """
    words = re.findall(r"[A-Za-z0-9]+", str(text))
    name = "".join(word[:1].upper() + word[1:] for word in words)
    if not name:
        raise InputError(f"event name {text!r} has no letters or digits")
    return name


def _chip_id_parts(raw_id: str, explicit_event: str | None, fallback_event: str) -> tuple[str, str]:
    raw = str(raw_id).strip()
    head, _, tail = raw.partition("_")
    if tail:
        event = event_name(explicit_event) if explicit_event else event_name(head)
        local = tail
    else:
        event = event_name(explicit_event) if explicit_event else fallback_event
        local = raw
    local = re.sub(r"[^A-Za-z0-9]", "", local)
    if not local:
        raise InputError(f"chip id {raw_id!r} has no letters or digits after the event name")
    return event, local


def load_chip_list(path: str | Path, *, default_event: str | None = None, max_days: int = 2) -> list[ChipFootprint]:
    """Read a FeatureCollection of chip footprints with per-feature dates.

    Each feature is a Polygon footprint with properties:

    - dates: ``s1_date`` and ``s2_date`` (S1 on that day, S2 on that day), or ``date`` (both within
      ``max_days`` of it); ``S1 Date``-style spellings are accepted.
    - ``chip_id`` (optional): ``Event_id`` (e.g. ``Ghana_103272``) or just ``id`` with an ``event`` property.
    - ``event`` (optional): event name; default the file name.

    Raises:
        InputError: On invalid GeoJSON, non-polygons, missing or malformed dates, duplicate chip ids.
    """
    path = Path(path)
    payload = _load_geojson(path)
    if payload.get("type") != "FeatureCollection":
        raise InputError(f"{path}: a chip list must be a FeatureCollection of chip footprints")
    features = _features(payload, path)
    if not features:
        raise InputError(f"{path}: has no features; expected chip footprints")
    fallback_event = event_name(default_event or path.stem.split(".")[0])
    digits = max(6, len(str(len(features))))
    chips: list[ChipFootprint] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict):
            raise InputError(f"{path}: {where} is not a GeoJSON Feature")
        geom = _polygon_of(feature.get("geometry"), path, where)
        if isinstance(geom, MultiPolygon):
            if len(geom.geoms) != 1:
                raise InputError(f"{path}: {where} is a MultiPolygon of {len(geom.geoms)} parts; a chip is one Polygon")
            geom = geom.geoms[0]
        props = _normalised_properties(feature.get("properties") or {})
        s1_text, s2_text, both_text = props.get("s1date"), props.get("s2date"), props.get("date")
        if s1_text and s2_text:
            s1_day = parse_date(s1_text, what=f"{path}: {where} s1_date")
            s2_day = parse_date(s2_text, what=f"{path}: {where} s2_date")
            s1_dates, s2_dates = DateRange(s1_day, s1_day), DateRange(s2_day, s2_day)
        elif both_text or s1_text or s2_text:
            day = parse_date(both_text or s1_text or s2_text, what=f"{path}: {where} date")
            s1_dates = DateRange(day, day) if s1_text else DateRange(day, day).widened(max_days)
            s2_dates = DateRange(day, day) if s2_text else DateRange(day, day).widened(max_days)
        else:
            raise InputError(f"{path}: {where} has no date; expected properties s1_date and s2_date, or date")
        raw_event = props.get("event")
        raw_id = props.get("chipid") or props.get("id")
        if raw_id is None:
            event, local = (event_name(raw_event) if raw_event else fallback_event), f"{index:0{digits}d}"
        else:
            event, local = _chip_id_parts(str(raw_id), str(raw_event) if raw_event else None, fallback_event)
        chip_id = f"{event}_{local}"
        if chip_id in seen:
            raise InputError(f"{path}: {where} repeats chip id {chip_id} (first used by feature {seen[chip_id]})")
        seen[chip_id] = index
        chips.append(ChipFootprint(chip_id, event, geom, s1_dates, s2_dates))
    return chips

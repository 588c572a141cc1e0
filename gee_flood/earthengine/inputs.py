"""Validation of a chip list handed to ``gee-flood fetch --chips``.

Areas of interest and dates are validated by :mod:`gee_flood.geo` (one set of rules for every command).

Every problem is raised as a one-line :class:`~gee_flood.errors.InputError` naming the file or argument and what
was expected. Geometries are returned as shapely geometries in EPSG:4326 (longitude, latitude, degrees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

from gee_flood.errors import InputError
from gee_flood.geo import DateRange, geojson_features, parse_date, polygon_of, read_geojson


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
    payload = read_geojson(path)
    if payload.get("type") != "FeatureCollection":
        raise InputError(f"{path}: a chip list must be a FeatureCollection of chip footprints")
    features = geojson_features(payload, source=str(path))
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
        geom = polygon_of(feature.get("geometry"), source=str(path), where=where)
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
            day_text: Any = both_text or s1_text or s2_text  # a JSON property value, not None here
            day = parse_date(day_text, what=f"{path}: {where} date")
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

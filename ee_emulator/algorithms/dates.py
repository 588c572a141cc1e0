"""Dates and date ranges: ``Date``, ``DateRange``, ``Date.advance``, ``Date.millis``, ``Date.format``..."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ee_emulator.errors import EEError
from ee_emulator.objects import Date, DateRange
from ee_emulator.registry import algorithm

_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    """Calendar month arithmetic; the day is clamped to the target month's length (Jan 31 + 1 month = Feb 28/29)."""
    year, month = divmod(when.month - 1 + months, 12)
    year += when.year
    month += 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def time_zone(name: str | None) -> dt.tzinfo:
    """A time zone by IANA name (UTC when None)."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EEError(f"Unknown time zone '{name}'") from None


def to_millis(value: Any, tz: str | None = None, where: str = "Date") -> float:
    """Milliseconds since the epoch of a Date, a number (ms) or an ISO 8601 string (in ``tz`` if naive)."""
    if isinstance(value, Date):
        return value.millis
    if isinstance(value, bool):
        raise EEError(f"{where}: invalid date {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _parse(value, tz, where)
    if isinstance(value, dict) and value.get("type") == "Date":
        return float(value["value"])
    raise EEError(f"{where}: cannot interpret {value!r} as a date")


def _parse(text: str, tz: str | None, where: str) -> float:
    cleaned = text.strip()
    if re.fullmatch(r"\d{4}", cleaned):
        cleaned += "-01-01"
    elif re.fullmatch(r"\d{4}-\d{1,2}", cleaned):
        year, month = cleaned.split("-")
        cleaned = f"{year}-{int(month):02d}-01"
    cleaned = re.sub(r"Z$", "+00:00", cleaned)
    try:
        parsed = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise EEError(f"{where}: Unable to parse date string '{text}'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=time_zone(tz))
    return _millis(parsed)


def _millis(value: dt.datetime) -> float:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return float(delta // dt.timedelta(microseconds=1)) / 1000.0


@algorithm("Date")
def date(value: Any, timeZone: str | None = None) -> Date:
    """``ee.Date(value)``."""
    return Date(to_millis(value, timeZone))


@algorithm("Date.fromYMD")
def date_from_ymd(year: int, month: int, day: int, timeZone: str | None = None) -> Date:
    """``ee.Date.fromYMD``."""
    return Date(_millis(dt.datetime(int(year), int(month), int(day), tzinfo=time_zone(timeZone))))


@algorithm("DateRange")
def date_range(start: Any, end: Any = None, timeZone: str | None = None) -> DateRange:
    """``ee.DateRange(start, end)``: ``[start, end)``; without ``end``, a 1 ms range."""
    if isinstance(start, DateRange):
        return start
    begin = to_millis(start, timeZone, "DateRange")
    finish = to_millis(end, timeZone, "DateRange") if end is not None else begin + 1
    return DateRange(begin, finish)


@algorithm("DateRange.start")
def date_range_start(dateRange: DateRange) -> Date:
    """Start of a range."""
    return Date(dateRange.start)


@algorithm("DateRange.end")
def date_range_end(dateRange: DateRange) -> Date:
    """End of a range."""
    return Date(dateRange.end)


@algorithm("DateRange.contains")
def date_range_contains(dateRange: DateRange, other: Any) -> bool:
    """True if the range contains a date (or a whole other range)."""
    if isinstance(other, DateRange):
        return dateRange.start <= other.start and other.end <= dateRange.end
    return dateRange.contains(to_millis(other))


@algorithm("Date.millis")
def date_millis(date: Date) -> float:
    """Milliseconds since the epoch."""
    return date.millis


@algorithm("Date.advance")
def date_advance(date: Date, delta: float, unit: str, timeZone: str | None = None) -> Date:
    """Add ``delta`` units (year, month, week, day, hour, minute, second) in a time zone."""
    unit = _unit(unit, "Date.advance")
    when = date.datetime(time_zone(timeZone))
    if unit in ("year", "month"):
        whole = int(delta)
        if whole != delta:
            raise EEError(f"Date.advance: fractional {unit}s are not supported by the emulator ({delta})")
        moved = add_months(when, whole * (12 if unit == "year" else 1))
    else:
        moved = when + dt.timedelta(**{unit + "s": float(delta)})
    return Date(_millis(moved))


@algorithm("Date.difference")
def date_difference(date: Date, start: Any, unit: str) -> float:
    """``(date - start)`` in ``unit`` (months and years are approximate, as in Earth Engine)."""
    unit = _unit(unit, "Date.difference")
    millis = date.millis - to_millis(start)
    per = {
        "year": 365.2425 * 86400e3,
        "month": 365.2425 / 12 * 86400e3,
        "week": 7 * 86400e3,
        "day": 86400e3,
        "hour": 3600e3,
        "minute": 60e3,
        "second": 1e3,
    }
    return millis / per[unit]


@algorithm("Date.get")
def date_get(date: Date, unit: str, timeZone: str | None = None) -> int:
    """One calendar field of a date."""
    when = date.datetime(time_zone(timeZone))
    unit = _unit(unit, "Date.get")
    if unit == "week":
        return int(when.strftime("%W"))
    return int(getattr(when, unit))


@algorithm("Date.getRange")
def date_get_range(date: Date, unit: str, timeZone: str | None = None) -> DateRange:
    """The calendar unit (day, month...) containing the date."""
    unit = _unit(unit, "Date.getRange")
    when = date.datetime(time_zone(timeZone))
    fields = ["year", "month", "day", "hour", "minute", "second"]
    if unit == "week":
        start = (when - dt.timedelta(days=when.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        return DateRange(_millis(start), _millis(start + dt.timedelta(days=7)))
    keep = fields.index(unit) + 1
    reset = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}
    reset_fields: dict[str, Any] = {name: reset[name] for name in fields[keep:]}
    start = when.replace(microsecond=0, **reset_fields)
    if unit in ("year", "month"):
        end = add_months(start, 12 if unit == "year" else 1)
    else:
        end = start + dt.timedelta(**{unit + "s": 1})
    return DateRange(_millis(start), _millis(end))


@algorithm("Date.format")
def date_format(date: Date, format: str | None = None, timeZone: str | None = None) -> str:  # noqa: A002
    """Format with a Joda-Time pattern (``yyyy-MM-dd'T'HH:mm:ss``...); ISO 8601 when no pattern."""
    when = date.datetime(time_zone(timeZone))
    if not format:
        return when.strftime("%Y-%m-%dT%H:%M:%S")
    return _joda(when, format)


def _joda(when: dt.datetime, pattern: str) -> str:
    tokens = {
        "yyyy": "%Y",
        "YYYY": "%Y",
        "yy": "%y",
        "MMMM": "%B",
        "MMM": "%b",
        "MM": "%m",
        "dd": "%d",
        "DDD": "%j",
        "HH": "%H",
        "mm": "%M",
        "ss": "%S",
        "EEE": "%a",
        "M": str(when.month),
        "d": str(when.day),
        "H": str(when.hour),
    }
    out = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "'":
            end = pattern.index("'", index + 1) if "'" in pattern[index + 1 :] else len(pattern)
            out.append(pattern[index + 1 : end])
            index = end + 1
            continue
        for token in sorted(tokens, key=len, reverse=True):
            if pattern.startswith(token, index):
                value = tokens[token]
                out.append(when.strftime(value) if value.startswith("%") else value)
                index += len(token)
                break
        else:
            out.append(pattern[index])
            index += 1
    return "".join(out)


def _unit(unit: str, where: str) -> str:
    normalised = str(unit).lower().rstrip("s")
    if normalised not in _UNITS:
        raise EEError(f"{where}: unknown unit '{unit}'; expected one of {', '.join(_UNITS)}")
    return normalised

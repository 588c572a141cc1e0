"""Filters: comparisons on properties, date ranges, list membership, spatial intersection, and/or/not.

Every binary filter takes one left operand (``leftField``: a property name, or ``leftValue``) and one right operand
(``rightField`` or ``rightValue``). The field ``".all"`` (or ``".geo"``) names the element's geometry (an image's
footprint). A missing property never matches (and so matches under ``Filter.not``), as in Earth Engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ee_emulator.algorithms.dates import to_millis
from ee_emulator.algorithms.geometry import as_geometry
from ee_emulator.errors import EEError
from ee_emulator.objects import Date, DateRange, Filter, Geometry, element_geometry, get_property
from ee_emulator.registry import algorithm

_MISSING = object()
_GEOMETRY_FIELDS = (".all", ".geo")


def _operand(element: Any, field: Any, value: Any) -> Any:
    if field is not None:
        if not isinstance(field, str):
            return field  # a value passed where a field name was expected (the client does this for DateRange)
        if field in _GEOMETRY_FIELDS:
            return element_geometry(element)
        found = get_property(element, field)
        return _MISSING if found is None else found
    return value


def _comparable(value: Any) -> Any:
    if isinstance(value, Date):
        return value.millis
    return value


def _binary(name: str, test: Callable[[Any, Any], bool]) -> Callable[..., Filter]:
    def build(leftField: Any = None, rightValue: Any = None, rightField: Any = None, leftValue: Any = None,
              maxError: Any = None) -> Filter:  # fmt: skip
        if leftField is not None and not isinstance(leftField, str) and isinstance(rightValue, str):
            # The client sends ee.Filter.dateRangeContains(range, "field") with the operands in these slots.
            leftField, leftValue, rightField, rightValue = None, leftField, rightValue, None
        if leftField is None and leftValue is None:
            raise EEError(f"{name}: one of leftField or leftValue is required.")
        if rightField is None and rightValue is None and name not in ("Filter.equals", "Filter.notEquals"):
            raise EEError(f"{name}: one of rightField or rightValue is required.")

        def pair(primary: Any, secondary: Any) -> bool:
            left = _operand(primary, leftField, leftValue)
            right = _operand(secondary, rightField, rightValue)
            if left is _MISSING or right is _MISSING:
                return False
            try:
                return bool(test(_comparable(left), _comparable(right)))
            except TypeError:
                return False

        def predicate(element: Any) -> bool:
            return pair(element, element)

        return Filter(predicate, f"{name}({leftField or leftValue!r}, {rightField or rightValue!r})", pair)

    return build


def _date_range_contains(left: Any, right: Any) -> bool:
    if isinstance(left, DateRange):
        return left.contains(to_millis(right))
    if isinstance(right, DateRange):  # operands swapped
        return right.contains(to_millis(left))
    return False


def _intersects(left: Any, right: Any) -> bool:
    a = as_geometry(left, "Filter.intersects").to_wgs84()
    b = as_geometry(right, "Filter.intersects").to_wgs84()
    return bool(a.intersects(b))


def _contained(left: Any, right: Any) -> bool:
    a = as_geometry(left, "Filter.isContained").to_wgs84()
    b = as_geometry(right, "Filter.isContained").to_wgs84()
    return bool(b.covers(a)) if isinstance(left, Geometry) else bool(a.covers(b))


def _list_contains(left: Any, right: Any) -> bool:
    if isinstance(left, list | tuple):
        return right in left
    if isinstance(left, str) and isinstance(right, str):
        return right in left
    return False


_BINARY_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "Filter.equals": lambda a, b: a == b,
    "Filter.notEquals": lambda a, b: a != b,
    "Filter.lessThan": lambda a, b: a < b,
    "Filter.lessThanOrEquals": lambda a, b: a <= b,
    "Filter.greaterThan": lambda a, b: a > b,
    "Filter.greaterThanOrEquals": lambda a, b: a >= b,
    "Filter.stringContains": lambda a, b: isinstance(a, str) and str(b) in a,
    "Filter.stringStartsWith": lambda a, b: isinstance(a, str) and a.startswith(str(b)),
    "Filter.stringEndsWith": lambda a, b: isinstance(a, str) and a.endswith(str(b)),
    "Filter.listContains": _list_contains,
    "Filter.dateRangeContains": _date_range_contains,
    "Filter.intersects": _intersects,
    "Filter.isContained": _contained,
}

for _name, _test in _BINARY_TESTS.items():
    algorithm(_name)(_binary(_name, _test))


@algorithm("Filter.rangeContains")
def range_contains(field: str, minValue: Any, maxValue: Any) -> Filter:
    """``minValue <= field <= maxValue``."""

    def predicate(element: Any) -> bool:
        value = get_property(element, field)
        if value is None:
            return False
        return _comparable(minValue) <= _comparable(value) <= _comparable(maxValue)

    return Filter(predicate, f"Filter.rangeContains({field})")


@algorithm("Filter.and")
def filter_and(filters: list[Filter]) -> Filter:
    """All filters match."""
    members = list(filters)
    return Filter(
        lambda element: all(f(element) for f in members),
        "and",
        lambda primary, secondary: all(f.matches(primary, secondary) for f in members),
    )


@algorithm("Filter.or")
def filter_or(filters: list[Filter]) -> Filter:
    """Any filter matches."""
    members = list(filters)
    return Filter(
        lambda element: any(f(element) for f in members),
        "or",
        lambda primary, secondary: any(f.matches(primary, secondary) for f in members),
    )


@algorithm("Filter.not")
def filter_not(filter: Filter) -> Filter:  # noqa: A002 - Earth Engine argument name
    """The filter does not match."""
    return Filter(
        lambda element: not filter(element),
        f"not({filter.description})",
        lambda primary, secondary: not filter.matches(primary, secondary),
    )


@algorithm("Filter.notNull")
def filter_not_null(properties: list[str]) -> Filter:
    """Every listed property is present and not null."""
    names = list(properties)
    return Filter(lambda element: all(get_property(element, n) is not None for n in names), "notNull")


@algorithm("Filter.calendarRange")
def calendar_range(start: int, end: int | None = None, field: str = "day_of_year") -> Filter:
    """Calendar field of ``system:time_start`` within ``[start, end]`` (inclusive, wrapping)."""
    last = start if end is None else end

    def predicate(element: Any) -> bool:
        millis = get_property(element, "system:time_start")
        if millis is None:
            return False
        when = Date(float(millis)).datetime()
        values = {
            "year": when.year,
            "month": when.month,
            "week_of_year": int(when.strftime("%W")),
            "day_of_year": when.timetuple().tm_yday,
            "day_of_month": when.day,
            "day_of_week": when.weekday(),
            "hour": when.hour,
            "minute": when.minute,
        }
        if field not in values:
            raise EEError(f"Filter.calendarRange: unknown field '{field}'")
        value = values[field]
        return start <= value <= last if start <= last else value >= start or value <= last

    return Filter(predicate, f"calendarRange({field})")

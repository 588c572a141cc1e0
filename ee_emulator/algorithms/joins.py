"""Joins: ``ee.Join.simple/inverted/inner/saveFirst/saveAll(...).apply(primary, secondary, condition)``.

The condition's left operands (``leftField``) are read from the primary element and its right operands
(``rightField``) from the secondary element, as in Earth Engine (e.g. joining S2 to its cloud probability on
``system:index``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ee_emulator.algorithms.collections import sort_key
from ee_emulator.algorithms.elements import with_properties
from ee_emulator.errors import EEError
from ee_emulator.objects import EECollection, EEFeature, Filter, get_property, require
from ee_emulator.registry import algorithm


@dataclass(frozen=True)
class Join:
    """A join kind and its options."""

    kind: str
    key: str = ""
    second_key: str = ""
    ordering: str | None = None
    ascending: bool = True
    outer: bool = False


@algorithm("Join.simple")
def join_simple() -> Join:
    """Primary elements with at least one match."""
    return Join("simple")


@algorithm("Join.inverted")
def join_inverted() -> Join:
    """Primary elements with no match."""
    return Join("inverted")


@algorithm("Join.inner")
def join_inner(primaryKey: str = "primary", secondaryKey: str = "secondary", measureKey: Any = None) -> Join:
    """Features holding each matching (primary, secondary) pair."""
    return Join("inner", primaryKey, secondaryKey)


@algorithm("Join.saveFirst")
def join_save_first(
    matchKey: str, ordering: Any = None, ascending: bool = True, measureKey: Any = None, outer: bool = False
) -> Join:
    """Primary elements with their first match saved in property ``matchKey``."""
    return Join("saveFirst", matchKey, "", ordering, bool(ascending), bool(outer))


@algorithm("Join.saveAll")
def join_save_all(
    matchesKey: str, ordering: Any = None, ascending: bool = True, measureKey: Any = None, outer: bool = False
) -> Join:
    """Primary elements with the list of their matches in property ``matchesKey``."""
    return Join("saveAll", matchesKey, "", ordering, bool(ascending), bool(outer))


@algorithm("Join.apply")
def join_apply(join: Any, primary: Any, secondary: Any, condition: Any) -> EECollection:
    """Apply a join."""
    spec = require(join, Join, "Join.apply", "join")
    left = require(primary, EECollection, "Join.apply", "primary")
    right = require(secondary, EECollection, "Join.apply", "secondary")
    test = require(condition, Filter, "Join.apply", "condition")
    results: list[Any] = []
    for element in left.elements:
        matches = [other for other in right.elements if test.matches(element, other)]
        if spec.ordering is not None:
            matches.sort(key=lambda m: sort_key(get_property(m, str(spec.ordering))), reverse=not spec.ascending)
        if spec.kind == "simple":
            if matches:
                results.append(element)
        elif spec.kind == "inverted":
            if not matches:
                results.append(element)
        elif spec.kind == "inner":
            results.extend(EEFeature(None, {spec.key: element, spec.second_key: match}) for match in matches)
        elif spec.kind in ("saveFirst", "saveAll"):
            if not matches and not spec.outer:
                continue
            value: Any = (matches[0] if matches else None) if spec.kind == "saveFirst" else matches
            properties = dict(element.properties)
            properties[spec.key] = value
            results.append(with_properties(element, properties, "Join.apply"))
        else:  # pragma: no cover - every Join constructor is handled above
            raise EEError(f"Join.apply: unknown join {spec.kind}")
    if spec.kind == "inner":
        return EECollection("FeatureCollection", results)
    return left.derive(results)

"""Collections: load a table, filter, map, iterate, limit/sort, size, toList, first, merge, distinct, aggregates."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely.geometry

from ee_emulator.errors import EEError
from ee_emulator.objects import (
    WGS84,
    Closure,
    Date,
    EECollection,
    EEFeature,
    EEImage,
    Filter,
    Geometry,
    as_list,
    element_geometry,
    get_property,
    require,
)
from ee_emulator.registry import EvalContext, algorithm


def _collection(value: Any, where: str, argument: str = "collection") -> EECollection:
    return require(value, EECollection, where, argument)


@algorithm("Collection.filter")
def collection_filter(collection: Any, filter: Any) -> EECollection:  # noqa: A002
    """Members matching the filter, in order."""
    members = _collection(collection, "Collection.filter")
    predicate = require(filter, Filter, "Collection.filter", "filter")
    return members.derive([member for member in members.elements if predicate(member)])


@algorithm("Collection.map")
def collection_map(collection: Any, baseAlgorithm: Any, dropNulls: bool = False) -> EECollection:
    """Apply a function to every member (an image collection stays one if the function returns images)."""
    members = _collection(collection, "Collection.map")
    function = require(baseAlgorithm, Closure, "Collection.map", "baseAlgorithm")
    results = []
    for member in members.elements:
        result = function(member)
        if result is None:
            if dropNulls:
                continue
            raise EEError("Collection.map: A mapped algorithm must return a Feature or Image.")
        if not isinstance(result, EEImage | EEFeature):
            raise EEError(f"Collection.map: A mapped algorithm must return a Feature or Image, got {type(result)}")
        results.append(result)
    images_only = all(isinstance(r, EEImage) for r in results) and members.kind == "ImageCollection"
    kind = "ImageCollection" if images_only else "FeatureCollection"
    return EECollection(kind, results, dict(members.properties), members.collection_id, members.version)


@algorithm("Collection.iterate")
def collection_iterate(collection: Any, function: Any, first: Any = None) -> Any:
    """Fold: ``acc = function(member, acc)`` over the members, starting from ``first``."""
    members = _collection(collection, "Collection.iterate")
    step = require(function, Closure, "Collection.iterate", "function")
    accumulator = first
    for member in members.elements:
        accumulator = step(member, accumulator)
    return accumulator


def sort_key(value: Any) -> tuple[int, Any]:
    """Sort key of a property value: numbers (and dates) by value, then strings; null last."""
    if isinstance(value, Date):
        value = value.millis
    if value is None:
        return (1, 0)
    if isinstance(value, bool | int | float | np.number):
        return (0, float(value))
    return (0, str(value))


@algorithm("Collection.limit")
def collection_limit(collection: Any, limit: Any = None, key: Any = None, ascending: bool = True) -> EECollection:
    """Sort by ``key`` (stable; missing values last) and keep the first ``limit`` members."""
    members = _collection(collection, "Collection.limit")
    elements = list(members.elements)
    if key is not None:
        present = [m for m in elements if get_property(m, str(key)) is not None]
        missing = [m for m in elements if get_property(m, str(key)) is None]
        try:
            present.sort(key=lambda m: sort_key(get_property(m, str(key))), reverse=not ascending)
        except TypeError:
            raise EEError(f"Collection.limit: property '{key}' has values of mixed types") from None
        elements = present + missing
    if limit is not None:
        elements = elements[: max(0, int(limit))]
    return members.derive(elements)


@algorithm("Collection.size")
def collection_size(collection: Any) -> int:
    """Number of members."""
    return len(_collection(collection, "Collection.size").elements)


@algorithm("Collection.first")
def collection_first(collection: Any) -> Any:
    """The first member, or null for an empty collection."""
    members = _collection(collection, "Collection.first")
    return members.elements[0] if members.elements else None


@algorithm("Collection.toList")
def collection_to_list(collection: Any, count: int, offset: int = 0) -> list[Any]:
    """At most ``count`` members after skipping ``offset``."""
    members = _collection(collection, "Collection.toList").elements
    start = max(0, int(offset))
    return list(members[start : start + max(0, int(count))])


@algorithm("Collection.merge")
def collection_merge(collection1: Any, collection2: Any) -> EECollection:
    """Members of both collections."""
    first = _collection(collection1, "Collection.merge", "collection1")
    second = _collection(collection2, "Collection.merge", "collection2")
    kind = first.kind if first.kind == second.kind else "FeatureCollection"
    return EECollection(kind, first.elements + second.elements)


@algorithm("Collection.distinct")
def collection_distinct(collection: Any, properties: Any) -> EECollection:
    """The first member of each distinct combination of property values."""
    members = _collection(collection, "Collection.distinct")
    names = [str(p) for p in as_list(properties)]
    seen: set[str] = set()
    kept = []
    for member in members.elements:
        signature = repr([get_property(member, name) for name in names])
        if signature not in seen:
            seen.add(signature)
            kept.append(member)
    return members.derive(kept)


@algorithm("Collection")
def feature_collection(features: Any) -> EECollection:
    """``ee.FeatureCollection([features])``."""
    members = []
    for position, member in enumerate(as_list(features)):
        if not isinstance(member, EEFeature):
            raise EEError(f"Collection: element {position} is not a Feature")
        properties = dict(member.properties)
        members.append(EEFeature(member.geometry, properties, member.feature_id or str(position)))
    return EECollection("FeatureCollection", members)


@algorithm("Collection.geometry")
def collection_geometry(collection: Any, maxError: Any = None) -> Any:
    """Union of the members' geometries (EPSG:4326)."""
    return element_geometry(_collection(collection, "Collection.geometry"))


@algorithm("Collection.loadTable")
def collection_load_table(
    ctx: EvalContext, tableId: str, geometryColumn: Any = None, version: Any = None
) -> EECollection:
    """``ee.FeatureCollection(table_id)``: a table of the catalog (its GeoJSON features, EPSG:4326)."""
    table = ctx.catalog.find_table(str(tableId))
    if table is None:
        raise EEError(
            f"Collection.loadTable: Collection asset '{tableId}' not found (does not exist or caller does not have "
            "access)."
        )
    members = [
        EEFeature(Geometry(shapely.geometry.shape(feature["geometry"]), WGS84, geodesic=True),
                  dict(feature["properties"]), feature["id"])
        for feature in table.features
    ]  # fmt: skip
    return EECollection("FeatureCollection", members, {}, table.table_id, table.version)


def _values(collection: Any, property: str, where: str) -> list[Any]:  # noqa: A002
    members = _collection(collection, where)
    values = [get_property(member, str(property)) for member in members.elements]
    return [v.millis if isinstance(v, Date) else v for v in values if v is not None]


@algorithm("AggregateFeatureCollection.array")
def aggregate_array(collection: Any, property: str) -> list[Any]:  # noqa: A002
    """Values of a property across the members (members without it are skipped)."""
    return _values(collection, property, "AggregateFeatureCollection.array")


@algorithm("AggregateFeatureCollection.count")
def aggregate_count(collection: Any, property: str) -> int:  # noqa: A002
    """Number of members with the property."""
    return len(_values(collection, property, "AggregateFeatureCollection.count"))


@algorithm("AggregateFeatureCollection.count_distinct")
def aggregate_count_distinct(collection: Any, property: str) -> int:  # noqa: A002
    """Number of distinct values."""
    return len({repr(v) for v in _values(collection, property, "AggregateFeatureCollection.count_distinct")})


@algorithm("AggregateFeatureCollection.first")
def aggregate_first(collection: Any, property: str) -> Any:  # noqa: A002
    """The first member's value."""
    values = _values(collection, property, "AggregateFeatureCollection.first")
    return values[0] if values else None


def _numeric(collection: Any, property: str, where: str) -> np.ndarray:  # noqa: A002
    values = _values(collection, property, where)
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise EEError(f"{where}: property '{property}' is not numeric") from None


def _register_numeric_aggregate(name: str, function: Any) -> None:
    def aggregate(collection: Any, property: str) -> Any:  # noqa: A002
        values = _numeric(collection, property, f"AggregateFeatureCollection.{name}")
        if values.size == 0:
            return None
        return float(function(values))

    aggregate.__doc__ = f"{name} of a numeric property across the members."
    algorithm(f"AggregateFeatureCollection.{name}")(aggregate)


for _name, _function in {
    "min": np.min,
    "max": np.max,
    "sum": np.sum,
    "mean": np.mean,
    "total_sd": lambda v: np.std(v, ddof=1) if v.size > 1 else 0.0,
    "total_var": lambda v: np.var(v, ddof=1) if v.size > 1 else 0.0,
}.items():
    _register_numeric_aggregate(_name, _function)

"""Numbers, strings, lists, dictionaries, ``If``, and projections."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ee_emulator.errors import EEError
from ee_emulator.objects import (
    Closure,
    Date,
    Filter,
    Projection,
    Reducer,
    as_list,
    require,
    type_name,
)
from ee_emulator.raster import nominal_scale_m
from ee_emulator.registry import algorithm

# ---------------------------------------------------------------------------------------------------------------
# Numbers


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, Date):
        return value.millis
    raise EEError(f"{where}: expected a Number, got {type_name(value)}")


def _int_if_whole(value: float) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_NUMBER_BINARY: dict[str, Callable[[float, float], Any]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: 0 if b == 0 else a / b,
    "mod": lambda a, b: 0 if b == 0 else math.fmod(a, b),
    "pow": lambda a, b: a**b,
    "min": min,
    "max": max,
    "gt": lambda a, b: int(a > b),
    "gte": lambda a, b: int(a >= b),
    "lt": lambda a, b: int(a < b),
    "lte": lambda a, b: int(a <= b),
    "eq": lambda a, b: int(a == b),
    "neq": lambda a, b: int(a != b),
    "and": lambda a, b: int(bool(a) and bool(b)),
    "or": lambda a, b: int(bool(a) or bool(b)),
    "atan2": math.atan2,
}

_NUMBER_UNARY: dict[str, Callable[[float], Any]] = {
    "abs": abs,
    "round": lambda a: math.floor(a + 0.5),
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "not": lambda a: int(not a),
    "toInt": lambda a: int(math.trunc(a)),
    "int": lambda a: int(math.trunc(a)),
    "toLong": lambda a: int(math.trunc(a)),
    "long": lambda a: int(math.trunc(a)),
    "toFloat": float,
    "float": float,
    "toDouble": float,
    "double": float,
    "toByte": lambda a: max(0, min(255, int(math.trunc(a)))),
    "toInt16": lambda a: max(-32768, min(32767, int(math.trunc(a)))),
    "toInt32": lambda a: int(math.trunc(a)),
    "toUint8": lambda a: max(0, min(255, int(math.trunc(a)))),
    "toUint16": lambda a: max(0, min(65535, int(math.trunc(a)))),
}


def _register_number_binary(name: str, function: Callable[[float, float], Any]) -> None:
    def operation(left: Any, right: Any) -> Any:
        result = function(_number(left, f"Number.{name}"), _number(right, f"Number.{name}"))
        return result

    operation.__doc__ = f"Number.{name}."
    algorithm(f"Number.{name}")(operation)


def _register_number_unary(name: str, function: Callable[[float], Any]) -> None:
    def operation(input: Any) -> Any:  # noqa: A002
        try:
            return function(_number(input, f"Number.{name}"))
        except ValueError:
            return None

    operation.__doc__ = f"Number.{name}."
    algorithm(f"Number.{name}")(operation)


for _name, _function in _NUMBER_BINARY.items():
    _register_number_binary(_name, _function)
for _name, _unary in _NUMBER_UNARY.items():
    _register_number_unary(_name, _unary)


@algorithm("Number.parse")
def number_parse(input: str, radix: int = 10) -> Any:  # noqa: A002
    """Parse a number from a string."""
    try:
        return int(input, int(radix)) if int(radix) != 10 else _int_if_whole(float(input))
    except ValueError:
        raise EEError(f"Number.parse: Unable to parse '{input}' as a number.") from None


@algorithm("Number.format")
def number_format(number: Any, pattern: str = "%s") -> str:
    """printf-style formatting."""
    value = _number(number, "Number.format")
    try:
        return pattern % (_int_if_whole(value) if "%s" in pattern or "%d" in pattern else value)
    except (TypeError, ValueError):
        raise EEError(f"Number.format: invalid pattern '{pattern}'") from None


@algorithm("If")
def algorithms_if(condition: Any = None, trueCase: Any = None, falseCase: Any = None) -> Any:
    """``ee.Algorithms.If``: ``trueCase`` if ``condition`` is truthy (non-zero, non-empty, not null)."""
    truthy = bool(condition) if not isinstance(condition, list | dict | str) else len(condition) > 0
    return trueCase if truthy else falseCase


@algorithm("ObjectType")
def object_type(value: Any = None) -> str:
    """Earth Engine's type name of a value."""
    return type_name(value)


# ---------------------------------------------------------------------------------------------------------------
# Strings


@algorithm("String")
def string(input: Any) -> Any:  # noqa: A002
    """``ee.String(x)``: strings pass through; numbers are formatted; other values pass unchanged."""
    if isinstance(input, str):
        return input
    if isinstance(input, bool | int | float):
        return str(_int_if_whole(float(input)) if isinstance(input, float) else input)
    return input  # e.g. the client wraps a DateRange in String() for Filter.dateRangeContains


@algorithm("String.cat")
def string_cat(string1: Any, string2: Any) -> str:
    """Concatenation."""
    return f"{string1}{string2}"


@algorithm("String.length")
def string_length(string: str) -> int:
    """Length."""
    return len(string)


@algorithm("String.slice")
def string_slice(string: str, start: int, end: Any = None) -> str:
    """Substring."""
    return string[int(start) : None if end is None else int(end)]


@algorithm("String.split")
def string_split(string: str, regex: str, flags: str = "") -> list[str]:
    """Split on a regex."""
    return re.split(regex, string, flags=re.IGNORECASE if "i" in flags else 0)


@algorithm("String.replace")
def string_replace(input: str, regex: str, replacement: str, flags: str = "") -> str:  # noqa: A002
    """Replace the first (or every, with flag ``g``) regex match."""
    count = 0 if "g" in flags else 1
    return re.sub(regex, replacement.replace("$", "\\"), input, count=count, flags=re.I if "i" in flags else 0)


@algorithm("String.compareTo")
def string_compare_to(string1: str, string2: str) -> int:
    """-1, 0 or 1."""
    return (string1 > string2) - (string1 < string2)


@algorithm("String.equals")
def string_equals(reference: Any, target: Any) -> bool:
    """Equality."""
    return reference == target


@algorithm("String.index")
def string_index(target: str, pattern: str) -> int:
    """Index of a substring (-1 if absent)."""
    return target.find(pattern)


@algorithm("String.toUpperCase")
def string_upper(string: str) -> str:
    """Upper case."""
    return string.upper()


@algorithm("String.toLowerCase")
def string_lower(string: str) -> str:
    """Lower case."""
    return string.lower()


@algorithm("String.match")
def string_match(input: str, regex: str, flags: str = "") -> list[str]:  # noqa: A002
    """Regex matches."""
    found = re.search(regex, input, flags=re.I if "i" in flags else 0)
    return [found.group(0), *found.groups()] if found else []


# ---------------------------------------------------------------------------------------------------------------
# Lists


def _list(value: Any, where: str) -> list[Any]:
    return list(require(value, (list, tuple), where, "list"))


@algorithm("List.get")
def list_get(list: Any, index: Any) -> Any:  # noqa: A002
    """Element at ``index`` (negative counts from the end)."""
    items = _list(list, "List.get")
    position = int(index)
    if not -len(items) <= position < len(items):
        raise EEError(f"List.get: List index must be between {-len(items)} and {len(items) - 1}. Found {position}.")
    return items[position]


@algorithm("List.size", "List.length")
def list_size(list: Any) -> int:  # noqa: A002
    """Number of elements."""
    return len(_list(list, "List.size"))


@algorithm("List.slice")
def list_slice(list: Any, start: int, end: Any = None, step: Any = None) -> list[Any]:  # noqa: A002
    """Python-style slice."""
    items = _list(list, "List.slice")
    return items[int(start) : None if end is None else int(end) : None if step is None else int(step)]


@algorithm("List.map")
def list_map(list: Any, baseAlgorithm: Any, dropNulls: bool = False) -> list[Any]:  # noqa: A002
    """Apply a function to every element."""
    function = require(baseAlgorithm, Closure, "List.map", "baseAlgorithm")
    results = [function(item) for item in _list(list, "List.map")]
    return [r for r in results if r is not None] if dropNulls else results


@algorithm("List.iterate")
def list_iterate(list: Any, function: Any, first: Any) -> Any:  # noqa: A002
    """Fold over the list."""
    step = require(function, Closure, "List.iterate", "function")
    accumulator = first
    for item in _list(list, "List.iterate"):
        accumulator = step(item, accumulator)
    return accumulator


@algorithm("List.filter")
def list_filter(list: Any, filter: Any) -> list[Any]:  # noqa: A002
    """Elements matching a filter (elements are compared as the ``item`` property)."""
    predicate = require(filter, Filter, "List.filter", "filter")
    return [item for item in _list(list, "List.filter") if predicate({"item": item})]


@algorithm("List.contains")
def list_contains(list: Any, element: Any) -> bool:  # noqa: A002
    """Membership."""
    return element in _list(list, "List.contains")


@algorithm("List.indexOf")
def list_index_of(list: Any, element: Any) -> int:  # noqa: A002
    """Index of an element (-1 if absent)."""
    items = _list(list, "List.indexOf")
    return items.index(element) if element in items else -1


@algorithm("List.reverse")
def list_reverse(list: Any) -> list[Any]:  # noqa: A002
    """Reversed."""
    return _list(list, "List.reverse")[::-1]


@algorithm("List.sort")
def list_sort(list: Any, keys: Any = None) -> list[Any]:  # noqa: A002
    """Sorted (by ``keys`` if given)."""
    items = _list(list, "List.sort")
    if keys is None:
        return sorted(items)
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return [items[i] for i in order]


@algorithm("List.zip")
def list_zip(list: Any, other: Any) -> list[Any]:  # noqa: A002
    """Pairs."""
    return [[a, b] for a, b in zip(_list(list, "List.zip"), _list(other, "List.zip"), strict=False)]


@algorithm("List.flatten")
def list_flatten(list: Any) -> list[Any]:  # noqa: A002
    """Flatten nested lists."""
    out: list[Any] = []
    for item in _list(list, "List.flatten"):
        out.extend(list_flatten(item) if isinstance(item, list | tuple) else [item])
    return out


@algorithm("List.cat")
def list_cat(list: Any, other: Any) -> list[Any]:  # noqa: A002
    """Concatenation."""
    return _list(list, "List.cat") + _list(other, "List.cat")


@algorithm("List.add")
def list_add(list: Any, element: Any) -> list[Any]:  # noqa: A002
    """Append."""
    return [*_list(list, "List.add"), element]


@algorithm("List.distinct")
def list_distinct(list: Any) -> list[Any]:  # noqa: A002
    """Distinct elements, first occurrences kept."""
    out: list[Any] = []
    for item in _list(list, "List.distinct"):
        if item not in out:
            out.append(item)
    return out


@algorithm("List.sequence")
def list_sequence(start: float, end: Any = None, step: float = 1, count: Any = None) -> list[Any]:
    """``start, start + step, ...`` up to ``end`` inclusive (or ``count`` values)."""
    if count is not None:
        return [_int_if_whole(float(start) + i * float(step)) for i in range(int(count))]
    if end is None:
        raise EEError("List.sequence: one of end or count is required.")
    values = []
    value = float(start)
    while (step > 0 and value <= float(end) + 1e-12) or (step < 0 and value >= float(end) - 1e-12):
        values.append(_int_if_whole(value))
        value += float(step)
    return values


@algorithm("List.reduce")
def list_reduce(list: Any, reducer: Any) -> Any:  # noqa: A002
    """Reduce a list with a reducer (a single output is returned bare)."""
    function = require(reducer, Reducer, "List.reduce", "reducer")
    results = function.function(_list(list, "List.reduce"))
    if len(function.outputs) == 1:
        return results[0]
    return dict(zip(function.outputs, results, strict=True))


# ---------------------------------------------------------------------------------------------------------------
# Dictionaries


def _dict(value: Any, where: str) -> dict[str, Any]:
    return dict(require(value, dict, where, "dictionary"))


@algorithm("Dictionary")
def dictionary(input: Any = None) -> dict[str, Any]:  # noqa: A002
    """``ee.Dictionary``."""
    if input is None:
        return {}
    if isinstance(input, list):
        return {str(input[i]): input[i + 1] for i in range(0, len(input) - 1, 2)}
    return _dict(input, "Dictionary")


@algorithm("Dictionary.get")
def dictionary_get(dictionary: Any, key: str, defaultValue: Any = None) -> Any:
    """A value (``defaultValue`` if absent, else an error as in Earth Engine)."""
    values = _dict(dictionary, "Dictionary.get")
    if key in values:
        return values[key]
    if defaultValue is not None:
        return defaultValue
    raise EEError(f"Dictionary.get: Dictionary does not contain key: {key}.")


@algorithm("Dictionary.keys")
def dictionary_keys(dictionary: Any) -> list[str]:
    """Keys, sorted (Earth Engine dictionaries are sorted)."""
    return sorted(_dict(dictionary, "Dictionary.keys"))


@algorithm("Dictionary.values")
def dictionary_values(dictionary: Any, keys: Any = None) -> list[Any]:
    """Values (for ``keys`` or all keys in sorted order)."""
    values = _dict(dictionary, "Dictionary.values")
    return [values[k] for k in (as_list(keys) if keys is not None else sorted(values))]


@algorithm("Dictionary.contains")
def dictionary_contains(dictionary: Any, key: str) -> bool:
    """Key membership."""
    return key in _dict(dictionary, "Dictionary.contains")


@algorithm("Dictionary.set")
def dictionary_set(dictionary: Any, key: str, value: Any) -> dict[str, Any]:
    """A copy with one key set."""
    values = _dict(dictionary, "Dictionary.set")
    values[key] = value
    return values


@algorithm("Dictionary.size")
def dictionary_size(dictionary: Any) -> int:
    """Number of keys."""
    return len(_dict(dictionary, "Dictionary.size"))


@algorithm("Dictionary.combine")
def dictionary_combine(first: Any, second: Any, overwrite: bool = True) -> dict[str, Any]:
    """Merge two dictionaries."""
    a, b = _dict(first, "Dictionary.combine"), _dict(second, "Dictionary.combine")
    return {**a, **b} if overwrite else {**b, **a}


@algorithm("Dictionary.fromLists")
def dictionary_from_lists(keys: Any, values: Any) -> dict[str, Any]:
    """Zip keys and values."""
    keys_list, values_list = as_list(keys), as_list(values)
    if len(keys_list) != len(values_list):
        raise EEError("Dictionary.fromLists: keys and values must have the same length.")
    return {str(k): v for k, v in zip(keys_list, values_list, strict=True)}


# ---------------------------------------------------------------------------------------------------------------
# Projections


@algorithm("Projection")
def projection(crs: Any, transform: Any = None, transformWkt: Any = None) -> Projection:
    """``ee.Projection(crs, transform)``."""
    if isinstance(crs, Projection):
        return crs
    if transformWkt is not None:
        raise EEError("Projection: transformWkt is not implemented by the gee-flood emulator")
    values = tuple(float(v) for v in as_list(transform)) if transform is not None else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    if len(values) != 6:
        raise EEError(f"Projection: transform must have 6 numbers, got {len(values)}")
    return Projection(str(crs), values)


@algorithm("Projection.nominalScale")
def projection_nominal_scale(proj: Projection) -> float:
    """Pixel size in metres."""
    return nominal_scale_m(proj.crs, proj.transform)


@algorithm("Projection.crs")
def projection_crs(projection: Projection) -> str:
    """The CRS code."""
    return projection.crs


@algorithm("Projection.transform")
def projection_transform(projection: Projection) -> str:
    """The transform as WKT-like text (Earth Engine returns a PARAM_MT string)."""
    a, b, c, d, e, f = projection.transform
    return (
        f'PARAM_MT["Affine", PARAMETER["elt_0_0", {a}], PARAMETER["elt_0_1", {b}], PARAMETER["elt_0_2", {c}], '
        f'PARAMETER["elt_1_0", {d}], PARAMETER["elt_1_1", {e}], PARAMETER["elt_1_2", {f}]]'
    )


@algorithm("Projection.atScale")
def projection_at_scale(projection: Projection, meters: float) -> Projection:
    """The same CRS with pixels of ``meters`` (north-up)."""
    current = nominal_scale_m(projection.crs, projection.transform)
    factor = float(meters) / current if current else 1.0
    a, b, c, d, e, f = projection.transform
    return Projection(projection.crs, (a * factor, b * factor, c, d * factor, e * factor, f))


@algorithm("Projection.scale")
def projection_scale(projection: Projection, x: float, y: float) -> Projection:
    """Scale the pixel size by ``x`` and ``y``."""
    a, b, c, d, e, f = projection.transform
    return Projection(projection.crs, (a * x, b * x, c, d * y, e * y, f))

"""Evaluation of Earth Engine expression graphs against the registry of emulated algorithms.

An expression is ``{"result": KEY, "values": {KEY: ValueNode, ...}}``. A ValueNode is one of ``constantValue``,
``integerValue``, ``bytesValue``, ``arrayValue``, ``dictionaryValue``, ``valueReference``, ``argumentReference``,
``functionDefinitionValue`` (``argumentNames`` + ``body``: a lambda, e.g. for ``Collection.map``) or
``functionInvocationValue`` (``functionName`` or ``functionReference`` + ``arguments``).

Algorithms are Python functions registered by Earth Engine name with :func:`ee_emulator.registry.algorithm`; this
module imports ``ee_emulator.algorithms``, which registers them all. An algorithm that is not registered answers
HTTP 400 naming it (:class:`~ee_emulator.errors.NotImplementedAlgorithm`), so nothing silently diverges from Earth
Engine.
"""

from __future__ import annotations

import base64
from typing import Any

import ee_emulator.algorithms  # noqa: F401 - importing the package registers every algorithm, once
from ee_emulator.errors import EEError
from ee_emulator.objects import Closure
from ee_emulator.registry import Algorithm, EvalContext, algorithm, registered_algorithm, registered_names

__all__ = ["Algorithm", "EvalContext", "Evaluator", "algorithm", "implemented_algorithms", "lookup"]


def implemented_algorithms() -> list[str]:
    """Sorted names of every algorithm the emulator implements."""
    return registered_names()


def lookup(name: str) -> Algorithm:
    """The registered algorithm ``name``.

    Raises:
        NotImplementedAlgorithm: If the emulator does not implement it.
    """
    return registered_algorithm(name)


class _Scope:
    """Values of one graph plus the arguments of the lambda being evaluated (and a per-call cache)."""

    def __init__(self, values: dict[str, Any], arguments: dict[str, Any], parent: _Scope | None) -> None:
        self.values = values
        self.arguments = arguments
        self.parent = parent
        self.cache: dict[str, Any] = {}

    def argument(self, name: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.arguments:
                return scope.arguments[name]
            scope = scope.parent
        raise EEError(f"Invalid argument reference '{name}' (not inside a function defining it)")


class Evaluator:
    """Evaluates expression graphs against an :class:`EvalContext`."""

    def __init__(self, context: EvalContext) -> None:
        self.context = context

    def evaluate(self, expression: Any) -> Any:
        """Evaluate ``{"result": key, "values": {...}}`` and return the server-side value.

        Raises:
            EEError: For malformed graphs, unknown or unimplemented algorithms and algorithm errors.
        """
        if not isinstance(expression, dict) or "result" not in expression or "values" not in expression:
            raise EEError("Invalid expression: expected an object with 'result' and 'values'")
        values = expression["values"]
        if not isinstance(values, dict):
            raise EEError("Invalid expression: 'values' must be an object")
        return self._reference(str(expression["result"]), _Scope(values, {}, None))

    def _reference(self, key: str, scope: _Scope) -> Any:
        if key in scope.cache:
            return scope.cache[key]
        if key not in scope.values:
            raise EEError(f"Invalid expression: value reference '{key}' is not defined")
        value = self._node(scope.values[key], scope)
        scope.cache[key] = value
        return value

    def _node(self, node: Any, scope: _Scope) -> Any:
        if not isinstance(node, dict):
            raise EEError(f"Invalid expression node: {str(node)[:100]}")
        if "constantValue" in node:
            return node["constantValue"]
        if "integerValue" in node:
            return int(node["integerValue"])
        if "bytesValue" in node:
            return base64.b64decode(node["bytesValue"])
        if "arrayValue" in node:
            return [self._node(item, scope) for item in node["arrayValue"].get("values", [])]
        if "dictionaryValue" in node:
            return {key: self._node(item, scope) for key, item in node["dictionaryValue"].get("values", {}).items()}
        if "valueReference" in node:
            return self._reference(str(node["valueReference"]), scope)
        if "argumentReference" in node:
            return scope.argument(node["argumentReference"])
        if "functionDefinitionValue" in node:
            return self._closure(node["functionDefinitionValue"], scope)
        if "functionInvocationValue" in node:
            return self._invoke(node["functionInvocationValue"], scope)
        raise EEError(f"Invalid expression node with keys {sorted(node)}")

    def _closure(self, definition: dict[str, Any], scope: _Scope) -> Closure:
        names = list(definition.get("argumentNames", []))
        body = str(definition["body"])

        def call(*args: Any) -> Any:
            if len(args) > len(names):
                raise EEError(f"Function takes {len(names)} argument(s), got {len(args)}")
            bound = dict(zip(names, args, strict=False))
            return self._reference(body, _Scope(scope.values, bound, scope))

        return Closure(names, call)

    def _invoke(self, invocation: dict[str, Any], scope: _Scope) -> Any:
        arguments = {name: self._node(value, scope) for name, value in invocation.get("arguments", {}).items()}
        if "functionReference" in invocation:
            function = self._reference(str(invocation["functionReference"]), scope)
            if not isinstance(function, Closure):
                raise EEError("functionReference does not name a function")
            return function(*[arguments.get(name) for name in function.argument_names])
        name = invocation.get("functionName")
        if not isinstance(name, str):
            raise EEError("Invalid function invocation: no functionName")
        return lookup(name).invoke(self.context, arguments)

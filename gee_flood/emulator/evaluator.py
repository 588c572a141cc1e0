"""Evaluation of Earth Engine expression graphs, and the registry of emulated algorithms.

An expression is ``{"result": KEY, "values": {KEY: ValueNode, ...}}``. A ValueNode is one of ``constantValue``,
``integerValue``, ``bytesValue``, ``arrayValue``, ``dictionaryValue``, ``valueReference``, ``argumentReference``,
``functionDefinitionValue`` (``argumentNames`` + ``body``: a lambda, e.g. for ``Collection.map``) or
``functionInvocationValue`` (``functionName`` or ``functionReference`` + ``arguments``).

Algorithms are Python functions registered by Earth Engine name with :func:`algorithm`; their parameters are named
exactly like Earth Engine's arguments. An algorithm that is not registered answers HTTP 400 naming it
(:class:`~gee_flood.emulator.errors.NotImplementedAlgorithm`), so nothing silently diverges from Earth Engine.
"""

from __future__ import annotations

import base64
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gee_flood.emulator.catalog import Catalog
from gee_flood.emulator.errors import EEError, NotImplementedAlgorithm
from gee_flood.emulator.objects import Closure

__all__ = ["Algorithm", "EvalContext", "Evaluator", "algorithm", "implemented_algorithms"]


@dataclass
class Algorithm:
    """A registered algorithm.

    Attributes:
        name: Earth Engine name (``"Image.select"``).
        function: The implementation.
        parameters: Earth Engine argument name -> Python parameter name.
        required: Earth Engine argument names without a default.
        wants_context: True if the function's first parameter is ``ctx`` (an :class:`EvalContext`).
    """

    name: str
    function: Callable[..., Any]
    parameters: dict[str, str]
    required: set[str]
    wants_context: bool
    accepts_any: bool = False

    def invoke(self, ctx: EvalContext, arguments: dict[str, Any]) -> Any:
        """Call the implementation with Earth Engine-named arguments."""
        kwargs: dict[str, Any] = {}
        for name, value in arguments.items():
            if name not in self.parameters:
                if self.accepts_any:
                    kwargs[name] = value
                    continue
                raise EEError(f"{self.name}: unrecognized argument '{name}'.")
            kwargs[self.parameters[name]] = value
        for name in self.required:
            if kwargs.get(self.parameters[name]) is None:
                raise EEError(f"{self.name}: Parameter '{name}' is required.")
        # An explicit null means "use the default", as in Earth Engine.
        kwargs = {key: value for key, value in kwargs.items() if value is not None}
        if self.wants_context:
            return self.function(ctx, **kwargs)
        return self.function(**kwargs)


_REGISTRY: dict[str, Algorithm] = {}
_REGISTRY_LOCK = threading.Lock()


def algorithm(*names: str, rename: dict[str, str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as the implementation of one or more Earth Engine algorithms.

    Args:
        names: Earth Engine algorithm names (``"Image.select"``...).
        rename: Earth Engine argument name -> Python parameter name, for arguments whose names are Python keywords
            (``{"from": "from_values"}``).
    """

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function)
        params = list(signature.parameters.values())
        wants_context = bool(params) and params[0].name == "ctx"
        if wants_context:
            params = params[1:]
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        params = [p for p in params if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
        reverse = {python: ee for ee, python in (rename or {}).items()}
        parameters = {reverse.get(p.name, p.name): p.name for p in params}
        required = {reverse.get(p.name, p.name) for p in params if p.default is inspect.Parameter.empty}
        with _REGISTRY_LOCK:
            for name in names:
                _REGISTRY[name] = Algorithm(name, function, parameters, required, wants_context, accepts_any)
        return function

    return register


def implemented_algorithms() -> list[str]:
    """Sorted names of every algorithm the emulator implements."""
    _load_algorithms()
    return sorted(_REGISTRY)


def lookup(name: str) -> Algorithm:
    """The registered algorithm ``name``.

    Raises:
        NotImplementedAlgorithm: If the emulator does not implement it.
    """
    _load_algorithms()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotImplementedAlgorithm(name) from None


def _load_algorithms() -> None:
    # Importing the package registers every algorithm module exactly once.
    import gee_flood.emulator.algorithms  # noqa: F401


@dataclass
class EvalContext:
    """What algorithms may use besides their arguments.

    Attributes:
        catalog: Images and collections the emulator serves (catalog plus run-time assets).
        project: The Cloud project of the request (``projects/<project>``).
        default_resampling: How stored bands are warped before any ``Image.resample``: ``"nearest"`` (Earth
            Engine's behaviour) or ``"bilinear"`` (floating-point bands only).
    """

    catalog: Catalog
    project: str = "emulator"
    default_resampling: str = "nearest"
    extras: dict[str, Any] = field(default_factory=dict)


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

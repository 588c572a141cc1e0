"""The registry of emulated algorithms: the :func:`algorithm` decorator, the table it fills, and their shared types.

A leaf module: algorithm modules (``ee_emulator.algorithms.*``) import it to register themselves, and the evaluator
(:mod:`ee_emulator.evaluator`) imports ``ee_emulator.algorithms`` once, which fills the table, and then looks names up
here. Algorithms are Python functions registered by Earth Engine name; their parameters are named exactly like
Earth Engine's arguments, and a first parameter called ``ctx`` receives the :class:`EvalContext`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ee_emulator.catalog import Catalog
from ee_emulator.errors import EEError, NotImplementedAlgorithm

__all__ = ["Algorithm", "EvalContext", "algorithm", "registered_algorithm", "registered_names"]


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


def registered_names() -> list[str]:
    """Return the sorted names of every algorithm registered so far."""
    with _REGISTRY_LOCK:
        return sorted(_REGISTRY)


def registered_algorithm(name: str) -> Algorithm:
    """Return the registered algorithm ``name``.

    Raises:
        NotImplementedAlgorithm: If no module registered it (the emulator does not implement it).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotImplementedAlgorithm(name) from None

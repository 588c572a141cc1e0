"""Earth Engine's own ground truth, as a checker for what a client sends: algorithms and REST methods.

The earthengine-api wheel ships, for its own tests, ``ee/tests/algorithms.json`` (every algorithm the service
offers, with argument names and optional flags) and ``ee/tests/cloud_api_discovery_document.json`` (every REST
method with its HTTP method, path template and path-parameter patterns). Both are read from the installed ``ee``
package at run time (never copied), so the contract follows the client version installed.

- :meth:`EarthEngineContract.check_expression`: every ``functionInvocationValue`` of an expression graph names an
  algorithm that exists, uses only real argument names and passes every required (non-optional) argument.
- :meth:`EarthEngineContract.check_request`: an HTTP method and URL path match a method of the discovery document
  (``v1/{+project}/image:computePixels`` becomes a regular expression, each ``{+var}`` replaced by the parameter's own
  ``pattern``). The document says ``v1alpha``; the client calls ``v1``, so both are accepted.
- :meth:`EarthEngineContract.check_request` also checks a JSON request body against the method's request message as
  transcribed from the REST reference (:mod:`ee_emulator.schemas`): unknown fields, wrong types, invalid enums.
- :class:`RequestRecorder`: collects the requests an :class:`~ee_emulator.server.EmulatorServer` receives (opt-in:
  ``server.recorder = RequestRecorder()``, or :func:`recording` for every server of the process), to check them.

The emulator may implement algorithms or arguments the real service lacks; checking what a client *sends* against
this contract is what tells whether it would work on Earth Engine. Hand-written rather than a library: no
maintained package validates Earth Engine graphs, and the two JSON files are the authority.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ee_emulator.discovery import ALGORITHMS_PATH, DISCOVERY_PATH
from ee_emulator.errors import DataError
from ee_emulator.schemas import check_body, request_message

__all__ = [
    "ALGORITHMS_PATH",
    "DISCOVERY_PATH",
    "AlgorithmSignature",
    "EarthEngineContract",
    "RecordedRequest",
    "RequestRecorder",
    "active_recorders",
    "recording",
]

#: Requests outside the discovery document that the real service answers: the document itself.
_DISCOVERY_ROUTE = ("GET", re.compile(r"\$discovery/rest"))
#: The emulator's stand-in for ``earthengine-highvolume.googleapis.com`` (same API, another host).
_HIGH_VOLUME_PREFIX = "highvolume/"


@dataclass(frozen=True)
class AlgorithmSignature:
    """One algorithm of ``algorithms.json``.

    Attributes:
        name: Algorithm name without the ``algorithms/`` prefix (``"Image.select"``).
        arguments: Every argument name, in order.
        required: Argument names not marked optional.
        deprecated: True if the service marks the algorithm deprecated.
    """

    name: str
    arguments: tuple[str, ...]
    required: frozenset[str]
    deprecated: bool = False


@dataclass(frozen=True)
class _RestMethod:
    method_id: str
    http_method: str
    pattern: re.Pattern[str]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"earthengine-api {what} {path} is unreadable: {error}") from None


def _path_regex(template: str, parameters: Mapping[str, Any]) -> re.Pattern[str]:
    """``v1alpha/{+project}/image:computePixels`` -> a regex over ``v1/projects/p/image:computePixels``.

    ``{+var}`` (reserved expansion: may hold slashes) and ``{var}`` are replaced by the parameter's ``pattern``
    (anchors removed) or, without one, by ``[^/]+``.
    """
    pieces = []
    position = 0
    for match in re.finditer(r"\{(\+?)([A-Za-z_][A-Za-z0-9_]*)\}", template):
        pieces.append(re.escape(template[position : match.start()]))
        spec = parameters.get(match.group(2)) or {}
        pattern = spec.get("pattern")
        if pattern:
            pieces.append("(?:" + pattern.removeprefix("^").removesuffix("$") + ")")
        else:
            pieces.append(".+" if match.group(1) else "[^/]+")
        position = match.end()
    pieces.append(re.escape(template[position:]))
    # The bundled document is v1alpha; the client (and the real service) use v1 with the same paths.
    regex = "".join(pieces).replace(re.escape("v1alpha/"), "v1(?:alpha|beta)?/", 1)
    return re.compile(regex)


def _rest_methods(document: Mapping[str, Any]) -> list[_RestMethod]:
    methods: list[_RestMethod] = []

    def walk(resources: Mapping[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                methods.append(
                    _RestMethod(
                        method["id"],
                        method["httpMethod"],
                        _path_regex(method["path"], method.get("parameters", {})),
                    )
                )
            walk(resource.get("resources", {}))

    walk(document.get("resources", {}))
    return methods


class EarthEngineContract:
    """What Earth Engine knows: its algorithms and REST methods (see the module docstring).

    Build it with :meth:`installed` (the files of the installed earthengine-api) or from the two JSON documents.

    Args:
        algorithms: The parsed ``algorithms.json`` (``{"algorithms": [...]}``).
        discovery: The parsed discovery document.
        extra_methods: Additional ``(http method, REST path template)`` pairs the service has but the bundled
            document lacks, e.g. ``("POST", "v1alpha/{+project}/image:importExternal")``.
    """

    def __init__(
        self,
        algorithms: Mapping[str, Any],
        discovery: Mapping[str, Any],
        extra_methods: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.algorithms: dict[str, AlgorithmSignature] = {}
        for record in algorithms.get("algorithms", []):
            name = str(record["name"]).removeprefix("algorithms/")
            arguments = tuple(str(arg["argumentName"]) for arg in record.get("arguments", []))
            required = frozenset(
                str(arg["argumentName"]) for arg in record.get("arguments", []) if not arg.get("optional", False)
            )
            self.algorithms[name] = AlgorithmSignature(name, arguments, required, bool(record.get("deprecated")))
        self.methods = _rest_methods(discovery)
        project = {"project": {"pattern": "^projects/[^/]+$"}}
        for http_method, template in extra_methods:
            method_id = "earthengine." + re.sub(r"^v1\w*/\{\+project\}/", "projects.", template).replace(":", ".")
            self.methods.append(_RestMethod(method_id, http_method, _path_regex(template, project)))

    @staticmethod
    def installed() -> EarthEngineContract:
        """The contract of the installed earthengine-api (read once per process).

        ``image:importExternal`` is added: the service has it and the client calls it, but the bundled document
        (revision 2020) predates it.
        """
        return _installed_contract()

    # -- REST ------------------------------------------------------------------------------------------------------

    def rest_method(self, http_method: str, path: str) -> str | None:
        """Return the discovery id of the method ``http_method path`` calls (None if Earth Engine has none).

        Args:
            http_method: ``GET``, ``POST``...
            path: The URL path (percent-decoded, no query string), with or without the leading ``/``; a
                ``/highvolume`` prefix (the emulator's high-volume host) is ignored.
        """
        relative = path.lstrip("/").removeprefix(_HIGH_VOLUME_PREFIX)
        if http_method == _DISCOVERY_ROUTE[0] and _DISCOVERY_ROUTE[1].fullmatch(relative):
            return "discovery"
        for method in self.methods:
            if method.http_method == http_method and method.pattern.fullmatch(relative):
                return method.method_id
        return None

    def check_request(self, http_method: str, path: str, body: Any = None) -> list[str]:
        """Return the problems of one REST request (empty when Earth Engine has such a method and would parse it).

        Args:
            http_method: ``GET``, ``POST``...
            path: The URL path (see :meth:`rest_method`).
            body: The parsed JSON body, checked against the method's request message
                (:data:`ee_emulator.schemas.REQUEST_MESSAGES`) when there is one; None skips the check.
        """
        method_id = self.rest_method(http_method, path)
        if method_id is None:
            return [f"{http_method} {path}: no such method in Earth Engine's discovery document"]
        return [f"{http_method} {path}: {problem}" for problem in self.check_body(method_id, body)]

    @staticmethod
    def check_body(method_id: str, body: Any) -> list[str]:
        """Return the violations of a request body of the method ``method_id`` (see :mod:`ee_emulator.schemas`).

        Methods whose request message is not transcribed, and absent bodies, have none.
        """
        message = request_message(method_id)
        if message is None or body is None:
            return []
        return check_body(message, body)

    # -- expression graphs -----------------------------------------------------------------------------------------

    def check_expression(self, expression: Any) -> list[str]:
        """Return the problems of one expression graph (``{"result": ..., "values": {...}}``).

        Every ``functionInvocationValue`` with a ``functionName`` is checked (nested ones, lambdas' bodies and
        values of dictionaries and arrays included); invocations of a ``functionReference`` (a lambda defined in
        the graph) are not algorithms and are skipped.
        """
        problems: list[str] = []
        for invocation in _invocations(expression):
            name = invocation.get("functionName")
            if not isinstance(name, str):
                continue
            signature = self.algorithms.get(name)
            if signature is None:
                problems.append(f"{name}: no such algorithm in Earth Engine")
                continue
            given = set(invocation.get("arguments", {}))
            for unknown in sorted(given - set(signature.arguments)):
                problems.append(f"{name}: unknown argument '{unknown}' (expected one of {list(signature.arguments)})")
            for missing in sorted(signature.required - given):
                problems.append(f"{name}: required argument '{missing}' is missing")
        return problems


@functools.lru_cache(maxsize=1)
def _installed_contract() -> EarthEngineContract:
    return EarthEngineContract(
        _read_json(ALGORITHMS_PATH, "algorithm list"),
        _read_json(DISCOVERY_PATH, "discovery document"),
        extra_methods=[("POST", "v1alpha/{+project}/image:importExternal")],
    )


def _invocations(node: Any) -> Iterator[Mapping[str, Any]]:
    """Yield every ``functionInvocationValue`` object anywhere in a graph (iteratively: graphs can be deep)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            invocation = item.get("functionInvocationValue")
            if isinstance(invocation, Mapping):
                yield invocation
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# -- recording ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request a server received.

    Attributes:
        method: HTTP method.
        path: URL path, percent-decoded, as sent (a ``/highvolume`` prefix kept).
        query: Query parameters (last value of each).
        expression: The ``expression`` of a JSON body (value:compute, computePixels, maps, thumbnails, export), or
            None.
        body_bytes: Size of the request body in bytes.
        body: The parsed JSON body (an object), or None (no body, or not JSON).
    """

    method: str
    path: str
    query: dict[str, str]
    expression: Any
    body_bytes: int
    body: Any = None


@dataclass(eq=False)  # identity: recording() removes exactly the recorder it added
class RequestRecorder:
    """A thread-safe list of :class:`RecordedRequest`.

    Give one to ``EmulatorServer.recorder``, or use :func:`recording` for every server of the process.
    """

    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> None:
        """Record one request (a JSON body is kept parsed, its ``expression`` apart; other bodies only by size)."""
        expression = parsed = None
        if body[:1] == b"{":
            with contextlib.suppress(ValueError):
                payload = json.loads(body)
                if isinstance(payload, dict):
                    expression, parsed = payload.get("expression"), payload
        with self._lock:
            self.requests.append(RecordedRequest(method, path, dict(query), expression, len(body), parsed))

    def drain(self) -> list[RecordedRequest]:
        """Return the requests recorded so far and forget them."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def problems(self, contract: EarthEngineContract | None = None) -> list[str]:
        """Check every recorded request and expression against ``contract`` (default: the installed one)."""
        contract = contract or EarthEngineContract.installed()
        with self._lock:
            requests = list(self.requests)
        found: list[str] = []
        for request in requests:
            found.extend(contract.check_request(request.method, request.path, request.body))
            if request.expression is not None:
                found.extend(contract.check_expression(request.expression))
        return sorted(set(found))


_ACTIVE: list[RequestRecorder] = []
_ACTIVE_LOCK = threading.Lock()


def active_recorders() -> list[RequestRecorder]:
    """The recorders :func:`recording` made active (every server records into them too)."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE)


@contextlib.contextmanager
def recording() -> Iterator[RequestRecorder]:
    """Record the requests of every :class:`~ee_emulator.server.EmulatorServer` of this process while active.

    For tests whose servers are started by fixtures or library code::

        with recording() as recorder:
            run_the_workflow()
        assert not recorder.problems()
    """
    recorder = RequestRecorder()
    with _ACTIVE_LOCK:
        _ACTIVE.append(recorder)
    try:
        yield recorder
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.remove(recorder)

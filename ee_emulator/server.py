"""The emulator's HTTP server: the Earth Engine REST v1 API on loopback, over a catalog of GeoTIFFs.

Built on the standard library's ``ThreadingHTTPServer`` rather than a web framework: the API is a dozen fixed
routes with JSON or binary bodies, the server must start inside tests and the CLI in milliseconds without an
event loop or extra dependencies, and every response detail (status, Earth Engine's error body, byte counts) must
be under exact control. One thread per request serves xee's parallel chunk reads.

Routes (``{p}`` is a Cloud project; a ``/highvolume`` prefix serves the same API, counted separately, so code that
picks the high-volume endpoint can be pointed at the emulator too):

==========================================  ======  ========================  ================================
path                                        method  endpoint label            answer
==========================================  ======  ========================  ================================
``/$discovery/rest``                        GET     ``discovery``             REST discovery document (v1)
``/v1/projects/{p}/algorithms``             GET     ``algorithms``            the client's algorithm list
``/v1/projects/{p}/value:compute``          POST    ``value:compute``         ``{"result": <getInfo JSON>}``
``/v1/projects/{p}/image:computePixels``    POST    ``image:computePixels``   NPY / GeoTIFF / PNG bytes
``/v1/projects/{p}/image:import``           POST    ``image:import``          ingestion Operation
``/v1/projects/{p}/image:importExternal``   POST    ``image:importExternal``  COG-backed image asset
``/v1/projects/{p}/image:export``           POST    ``image:export``          export-to-asset Operation
``/v1/projects/{p}/assets?assetId=``        POST    ``assets.create``         created asset
``/v1/projects/{p}/assets/{id}``            GET     ``assets.get``            asset description
``/v1/projects/{p}/assets/{id}``            DELETE  ``assets.delete``         ``{}``
``/v1/projects/{p}/assets/{id}``            PATCH   ``assets.patch``          updated asset (properties)
``/v1/projects/{p}[/assets/{id}]:listAssets`` GET   ``assets.list``           ``{"assets": [...]}``
``/v1/projects/{p}/assets/{id}:getPixels``  POST    ``assets.getPixels``      pixels of a stored image
``/v1/projects/{p}/operations``             GET     ``operations.list``       ``{"operations": [...]}``
``/v1/projects/{p}/operations/{id}``        GET     ``operations.get``        Operation
``/v1/projects/{p}/operations/{id}:cancel`` POST    ``operations.cancel``     ``{}``
``/v1/projects/{p}/maps``                   POST    ``maps.create``           ``{"name": ...}``
``/v1/projects/{p}/maps/{id}/tiles/z/x/y``  GET     ``maps.tiles``            PNG tile
``/v1/projects/{p}/thumbnails``             POST    ``thumbnails.create``     ``{"name": ...}``
``/v1/projects/{p}/thumbnails/{id}:getPixels`` GET  ``thumbnails.getPixels``  PNG/JPEG/GeoTIFF bytes
==========================================  ======  ========================  ================================

Any other route is refused as Earth Engine refuses it when its discovery document has no such method (HTTP 404,
``{"error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}}``), or with HTTP 501 naming it
when Earth Engine has the method but the emulator does not. Every request can be recorded for contract checks
(``server.recorder``, :mod:`ee_emulator.contract`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ee_emulator import tiles
from ee_emulator.assets import AssetService
from ee_emulator.catalog import Catalog
from ee_emulator.contract import EarthEngineContract, RequestRecorder, active_recorders
from ee_emulator.discovery import algorithms_payload, discovery_document
from ee_emulator.errors import EEError, InputError
from ee_emulator.evaluator import EvalContext, Evaluator
from ee_emulator.faults import FaultConfig, FaultInjector
from ee_emulator.objects import to_info
from ee_emulator.pixels import compute_pixels
from ee_emulator.schemas import check_body, invalid_argument_body

__all__ = ["ENDPOINTS", "EmulatorServer", "EmulatorStats", "initialize_ee"]

logger = logging.getLogger(__name__)

#: Endpoint labels used in :class:`EmulatorStats` and fault rules.
ENDPOINTS = (
    "discovery",
    "algorithms",
    "value:compute",
    "image:computePixels",
    "image:import",
    "image:importExternal",
    "image:export",
    "assets.create",
    "assets.get",
    "assets.delete",
    "assets.patch",
    "assets.list",
    "assets.getPixels",
    "operations.list",
    "operations.get",
    "operations.cancel",
    "maps.create",
    "maps.tiles",
    "thumbnails.create",
    "thumbnails.getPixels",
)

HIGH_VOLUME_PREFIX = "/highvolume"
#: Endpoint label -> the request message its JSON body is checked against (:mod:`ee_emulator.schemas`).
_BODY_MESSAGES = {
    "image:import": "ImportImageRequest",
    "image:importExternal": "ImportExternalImageRequest",
    "image:computePixels": "ComputePixelsRequest",
    "value:compute": "ComputeValueRequest",
    "assets.create": "EarthEngineAsset",
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class EmulatorStats:
    """Request and byte counters (thread-safe; read them with :meth:`snapshot`).

    Attributes:
        requests: Endpoint label -> number of requests (routes Earth Engine does not have count as ``"unknown"``,
            routes it has but the emulator lacks as ``"unimplemented"``).
        high_volume_requests: Requests that came through the ``/highvolume`` prefix.
        bytes_in: Request body bytes received.
        bytes_out: Response body bytes sent.
        responses: HTTP status -> count.
        faults: Fault kind -> number injected.
    """

    requests: Counter[str] = field(default_factory=Counter)
    high_volume_requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def record(self, endpoint: str, high_volume: bool, bytes_in: int, bytes_out: int, status: int) -> None:
        """Count one request."""
        with self._lock:
            self.requests[endpoint] += 1
            self.high_volume_requests += int(high_volume)
            self.bytes_in += bytes_in
            self.bytes_out += bytes_out
            self.responses[status] += 1

    def record_fault(self, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the counters."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "high_volume_requests": self.high_volume_requests,
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "responses": {str(k): v for k, v in self.responses.items()},
                "faults": dict(self.faults),
            }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests.clear()
            self.high_volume_requests = 0
            self.bytes_in = 0
            self.bytes_out = 0
            self.responses.clear()
            self.faults.clear()


#: Pseudo-status of a response that is never sent: the connection is reset instead (fault ``connection_reset``).
_RESET = 0


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    #: Send only this many bytes of the body (after a Content-Length of all of it), then close: fault
    #: ``truncated_body``.
    cut_at: int | None = None


def _json(payload: Any, status: int = 200) -> _Response:
    return _Response(status, json.dumps(payload).encode())


_PROJECT = r"projects/(?P<project>[^/:]+)"
_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "discovery", re.compile(r"/\$discovery/rest")),
    ("GET", "algorithms", re.compile(rf"/v1/{_PROJECT}/algorithms")),
    ("POST", "value:compute", re.compile(rf"/v1/{_PROJECT}/value:compute")),
    ("POST", "image:computePixels", re.compile(rf"/v1/{_PROJECT}/image:computePixels")),
    ("POST", "image:import", re.compile(rf"/v1/{_PROJECT}/image:import")),
    ("POST", "image:importExternal", re.compile(rf"/v1/{_PROJECT}/image:importExternal")),
    ("POST", "image:export", re.compile(rf"/v1/{_PROJECT}/image:export")),
    ("GET", "assets.list", re.compile(rf"/v1/{_PROJECT}(?:/assets/(?P<asset>.+))?:listAssets")),
    ("POST", "assets.getPixels", re.compile(rf"/v1/{_PROJECT}/assets/(?P<asset>.+):getPixels")),
    ("POST", "assets.create", re.compile(rf"/v1/{_PROJECT}/assets")),
    ("GET", "assets.get", re.compile(rf"/v1/{_PROJECT}/assets/(?P<asset>[^:]+)")),
    ("DELETE", "assets.delete", re.compile(rf"/v1/{_PROJECT}/assets/(?P<asset>[^:]+)")),
    ("PATCH", "assets.patch", re.compile(rf"/v1/{_PROJECT}/assets/(?P<asset>[^:]+)")),
    ("GET", "operations.list", re.compile(rf"/v1/{_PROJECT}/operations")),
    ("POST", "operations.cancel", re.compile(rf"/v1/{_PROJECT}/operations/(?P<operation>[^/:]+):cancel")),
    ("GET", "operations.get", re.compile(rf"/v1/{_PROJECT}/operations/(?P<operation>[^/:]+)")),
    ("POST", "maps.create", re.compile(rf"/v1/{_PROJECT}/maps")),
    (
        "GET",
        "maps.tiles",
        re.compile(rf"/v1/{_PROJECT}/maps/(?P<map>[^/]+)/tiles/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)"),
    ),
    ("POST", "thumbnails.create", re.compile(rf"/v1/{_PROJECT}/thumbnails")),
    ("GET", "thumbnails.getPixels", re.compile(rf"/v1/{_PROJECT}/thumbnails/(?P<thumb>[^/:]+):getPixels")),
]


class _Handler(BaseHTTPRequestHandler):
    """Routes one request; the emulator is reachable as ``self.server.emulator``."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the requests session of the ee client expects
    server_version = "gee-flood-emulator"

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler naming
        """Answer a GET."""
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        """Answer a POST."""
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        """Answer a DELETE."""
        self._serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        """Answer a PATCH."""
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Send access logs to the module logger (debug), not stderr."""
        logger.debug("%s - %s", self.address_string(), format % args)

    def _serve(self, method: str) -> None:
        emulator: EmulatorServer = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = unquote(split.path)
        high_volume = path.startswith(HIGH_VOLUME_PREFIX + "/")
        if high_volume:
            path = path[len(HIGH_VOLUME_PREFIX) :]
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        _record_request(emulator, method, unquote(split.path), query, body)
        endpoint, params = _route(method, path)
        response = emulator.handle(method, endpoint, params, query, body, high_volume)
        # Count before answering, so a client that has its answer also sees it counted.
        emulator.stats.record(endpoint, high_volume, len(body), len(response.body), response.status)
        if response.status == _RESET:  # a TCP reset (SO_LINGER 0), no answer: the client sees "connection reset"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True  # the server closes the socket after this handler: with linger 0, a reset
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body if response.cut_at is None else response.body[: response.cut_at])
        if response.cut_at is not None:
            self.close_connection = True


def _record_request(emulator: EmulatorServer, method: str, path: str, query: dict[str, str], body: bytes) -> None:
    """Give one request to the server's recorder and to every recorder of :func:`ee_emulator.contract.recording`."""
    recorders = active_recorders()
    if emulator.recorder is not None:
        recorders.append(emulator.recorder)
    for recorder in recorders:
        recorder.record(method, path, query, body)


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """Return the endpoint label and path parameters of a request.

    ``"unknown"``: Earth Engine's discovery document has no such method (answered as Earth Engine answers it);
    ``"unimplemented"``: Earth Engine has it, the emulator does not.
    """
    if EarthEngineContract.installed().rest_method(method, path) is None:
        return "unknown", {"path": path}
    for route_method, endpoint, pattern in _ROUTES:
        if route_method != method:
            continue
        match = pattern.fullmatch(path)
        if match:
            return endpoint, {k: v for k, v in match.groupdict().items() if v is not None}
    return "unimplemented", {"path": path}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out, was killed) is not the server's error: stay quiet, as a real one is."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """A local Earth Engine: serves a catalog on loopback in a background thread.

    Example::

        with EmulatorServer("catalog/") as server:
            initialize_ee(server)
            ee.ImageCollection("COPERNICUS/S1_GRD").size().getInfo()

    Attributes:
        catalog: The images served (catalog plus assets created at run time).
        stats: Request and byte counters.
        recorder: Records every request received when set (opt-in; see :mod:`ee_emulator.contract`).
        faults: The fault injector.
        assets: Ingestion, asset and operation service.
    """

    def __init__(
        self,
        catalog_dir: str | Path | Catalog | None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        *,
        assets_dir: str | Path | None = None,
        bucket_dir: str | Path | None = None,
        operation_step_s: float = 0.05,
        default_resampling: str = "nearest",
        allow_remote: bool = False,
        projects: list[str] | tuple[str, ...] | None = None,
        bucket_locations: dict[str, str] | None = None,
    ) -> None:
        """Configure (not start) the server.

        Args:
            catalog_dir: Catalog directory (see :mod:`ee_emulator.catalog`), a loaded :class:`Catalog`, or
                None for an empty catalog (assets only).
            host: Interface to listen on; loopback only unless ``allow_remote``.
            port: TCP port (0 picks a free one).
            faults: Faults to inject (none by default).
            assets_dir: Where ingested/exported assets are written (a temporary directory removed on stop if None).
            bucket_dir: A local directory standing in for Cloud Storage: ``gs://bucket/obj`` is read from
                ``bucket_dir/bucket/obj`` when it exists there (otherwise through google-cloud-storage, which honours
                ``STORAGE_EMULATOR_HOST``).
            operation_step_s: Seconds an ingestion/export operation stays in each of PENDING and RUNNING.
            default_resampling: ``"nearest"`` (Earth Engine's default: stored pixels are warped with nearest
                neighbour unless the expression calls ``Image.resample``) or ``"bilinear"`` (floating-point bands
                are warped bilinearly by default; integer bands - labels, masks, classes - stay nearest).
            allow_remote: Allow a non-loopback ``host``.
            projects: The Cloud projects that exist (registered for Earth Engine); None: ``["emulator"]``
                (:data:`ee_emulator.assets.DEFAULT_PROJECTS`, ``initialize_ee``'s default). A call through another
                project answers 403 ``Project 'projects/P' not found or deleted.``; an asset named in another
                project 403 ``Permission '...' denied on resource '...' (or it may not exist).``
            bucket_locations: Location spec (``US``, ``US-CENTRAL1``, ``EUROPE-WEST1``...) of each ``bucket_dir``
                bucket; a bucket not named is in ``US``. COG-backed assets follow one location rule whether their
                bucket is served from ``bucket_dir`` or through Cloud Storage.

        Raises:
            InputError: For a non-loopback host without ``allow_remote``, or a bad catalog directory.
        """
        if default_resampling not in ("nearest", "bilinear"):
            raise InputError(f"default_resampling {default_resampling!r}: expected 'nearest' or 'bilinear'")
        self.default_resampling = default_resampling
        if host not in _LOOPBACK and not allow_remote:
            raise InputError(f"emulator host {host!r}: only loopback is allowed (pass allow_remote=True to override)")
        if isinstance(catalog_dir, Catalog):
            self.catalog = catalog_dir
        elif catalog_dir is None:
            self.catalog = Catalog()
        else:
            self.catalog = Catalog.load(catalog_dir)
        self.host = host
        self.port = port
        self.stats = EmulatorStats()
        self.recorder: RequestRecorder | None = None
        self.faults = FaultInjector(faults or FaultConfig())
        self._own_assets_dir: tempfile.TemporaryDirectory[str] | None = None
        if assets_dir is None:
            self._own_assets_dir = tempfile.TemporaryDirectory(prefix="gee-flood-emulator-assets-")
            assets_dir = self._own_assets_dir.name
        self.assets = AssetService(
            self.catalog,
            Path(assets_dir),
            bucket_dir=Path(bucket_dir) if bucket_dir is not None else None,
            step_s=operation_step_s,
            evaluate=self.evaluate,
            projects=projects,
            bucket_locations=bucket_locations,
        )
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._pictures: dict[str, Any] = {}
        self._sleep = time.sleep  # how slow faults wait (replaceable in tests)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        try:
            httpd = _HTTPServer((self.host, self.port), _Handler)
        except OSError as error:
            raise InputError(f"emulator: cannot listen on {self.host}:{self.port}: {error.strerror}") from None
        httpd.emulator = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, name="gee-flood-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for background operations, and remove a temporary assets directory."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.assets.shutdown()
        if self._own_assets_dir is not None:
            with contextlib.suppress(OSError):
                self._own_assets_dir.cleanup()
            self._own_assets_dir = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to give ``ee.Initialize(url=...)`` (e.g. ``http://127.0.0.1:8765``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def high_volume_url(self) -> str:
        """The same API under ``/highvolume`` (the stand-in for ``earthengine-highvolume.googleapis.com``)."""
        return self.url + HIGH_VOLUME_PREFIX

    # -- request handling ------------------------------------------------------------------------------------------

    def evaluate(self, expression: Any, project: str = "emulator") -> Any:
        """Evaluate an Earth Engine expression graph for ``project`` and return the server-side value.

        Raises:
            EEError: For malformed graphs, unknown or unimplemented algorithms and algorithm errors.
        """
        return Evaluator(EvalContext(self.catalog, project, self.default_resampling)).evaluate(expression)

    @property
    def pictures(self) -> dict[str, Any]:
        """Map and thumbnail name -> ``(image, file format, band ids, request)`` (``maps.create``...)."""
        return self._pictures

    def handle(
        self,
        method: str,
        endpoint: str,
        params: dict[str, str],
        query: dict[str, str],
        body: bytes,
        high_volume: bool,
    ) -> _Response:
        """Answer one request (faults first, then the endpoint); errors become Earth Engine error bodies."""
        fault = self.faults.decide(endpoint)
        if fault is not None:
            self.stats.record_fault(fault.kind)
            if fault.kind == "connection_reset":
                return _Response(_RESET, b"")
            if fault.kind == "slow":
                self._sleep(fault.delay_s)
            elif fault.status is not None and fault.kind != "response_lost":
                return _json(EEError(fault.message, fault.status, fault.status_name).body(), fault.status)
        try:
            response = self._dispatch(method, endpoint, params, query, body, high_volume)
            if fault is not None and fault.kind == "response_lost":  # done, but the client never hears of it
                return _json(EEError(fault.message, fault.status or 503, fault.status_name).body(), fault.status or 503)
            if fault is not None and fault.kind == "truncated_body":
                response.cut_at = len(response.body) // 2
            if fault is not None and fault.kind == "zeroed_body":
                response.body = bytes(len(response.body))
            return response
        except EEError as error:
            return _json(error.body(), error.code)
        except Exception as error:  # noqa: BLE001 - a bug must answer 500 with the reason, not kill the thread
            logger.exception("emulator: internal error on %s", endpoint)
            message = f"Internal error in the gee-flood emulator: {type(error).__name__}: {error}"
            return _json(EEError(message, 500).body(), 500)

    def _dispatch(
        self,
        method: str,
        endpoint: str,
        params: dict[str, str],
        query: dict[str, str],
        body: bytes,
        high_volume: bool,
    ) -> _Response:
        if endpoint == "unknown":
            # What Google's API front end answers for a path no method of the service has (e.g.
            # https://github.com/googleapis/google-api-php-client/issues/1870): 404 NOT_FOUND, "Method not found."
            raise EEError("Method not found.", 404, "NOT_FOUND")
        if endpoint == "unimplemented":
            raise EEError(f"{method} {params.get('path')} is not implemented by the gee-flood emulator", 501)
        if endpoint == "discovery":
            version = query.get("version", "v1")
            if version != "v1":
                raise EEError(f"The emulator serves API version v1, not {version}", 404)
            root = self.high_volume_url if high_volume else self.url
            return _Response(200, discovery_document(root))
        project = params.get("project", "emulator")
        self.assets.check_consumer_project(project)
        if endpoint == "algorithms":
            return _Response(200, algorithms_payload())
        payload = _parse_body(body) if method in ("POST", "PATCH") else {}
        message = _BODY_MESSAGES.get(endpoint)
        problems = check_body(message, payload) if message else []
        if problems:  # what Google's API front end answers before the service sees the request
            return _json(invalid_argument_body(problems), 400)
        if endpoint == "value:compute":
            value = self.evaluate(payload.get("expression"), project)
            return _json({"result": to_info(value)})
        if endpoint == "image:computePixels":
            image = self.evaluate(payload.get("expression"), project)
            data, content_type = compute_pixels(image, payload)
            return _Response(200, data, content_type)
        if endpoint in ("maps.create", "maps.tiles", "thumbnails.create", "thumbnails.getPixels"):
            return _Response(*tiles.handle(self, endpoint, params, payload, project))
        answer = self.assets.handle(endpoint, params, query, payload, project)
        if hasattr(answer, "content_type"):  # raw pixels (assets.getPixels)
            return _Response(200, answer.body, answer.content_type)
        return _json(answer)


def _parse_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EEError("Invalid JSON payload received.") from None
    if not isinstance(payload, dict):
        raise EEError("Invalid JSON payload received: expected an object.")
    return payload


def initialize_ee(server_or_url: EmulatorServer | str, project: str = "emulator", *, high_volume: bool = False) -> str:
    """Point the real ``ee`` client at an emulator: ``ee.Initialize(credentials=None, url=..., project=...)``.

    The client then fetches the discovery document and algorithm list from the emulator; tile and thumbnail URLs
    also point at it. The deprecated-assets lookup the client makes on Google Cloud Storage is skipped so that
    initialising needs no network at all.

    Args:
        server_or_url: A running :class:`EmulatorServer` or its base URL.
        project: Cloud project id to send (6-30 characters, as Earth Engine requires).
        high_volume: Use the server's ``/highvolume`` endpoint (as code using
            ``ee.data.HIGH_VOLUME_API_BASE_URL`` would).

    Returns:
        The URL the client was initialised with.
    """
    import ee

    if isinstance(server_or_url, EmulatorServer):
        url = server_or_url.high_volume_url if high_volume else server_or_url.url
    else:
        url = server_or_url.rstrip("/") + (HIGH_VOLUME_PREFIX if high_volume else "")
    deprecation = ee.deprecation
    original = getattr(deprecation, "_FetchDataCatalogStac", None)
    if original is not None:
        deprecation._FetchDataCatalogStac = lambda: {}
    try:
        ee.Initialize(credentials=None, url=url, project=project)
    finally:
        if original is not None:
            deprecation._FetchDataCatalogStac = original
    return url

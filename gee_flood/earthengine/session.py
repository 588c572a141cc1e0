"""Earth Engine sessions: initialisation (on the driver and on every Dask worker), retries, error messages.

Credentials are taken from the usual places by the Earth Engine client itself (``earthengine authenticate``'s
persistent credentials, else Application Default Credentials, which honour ``GOOGLE_APPLICATION_CREDENTIALS``
service-account keys). They are never passed around, logged or written: workers receive only
:class:`EESettings` (project id, endpoint, URL) and initialise themselves.

Any Earth Engine-compatible REST endpoint can stand in for Earth Engine (``--ee-url``, e.g. a local emulator such as
``ee-emulator serve``). Google credentials are sent only to Google's endpoints (``*.googleapis.com``); another
endpoint is called without credentials, and initialising against it makes no request anywhere else.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

from gee_flood.errors import RemoteError

# RetryPolicy is part of the request vocabulary (a field of FetchRequest); defined there, re-exported here.
from gee_flood.service_requests import RETRY_TIMEOUT_ENV as RETRY_TIMEOUT_ENV
from gee_flood.service_requests import RETRY_TIMEOUT_S
from gee_flood.service_requests import RetryPolicy as RetryPolicy

T = TypeVar("T")
Endpoint = Literal["highvolume", "standard"]

#: Environment variables read, in order, for the Earth Engine (Cloud) project id when ``--project`` is not given.
PROJECT_ENV_VARS = ("EE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")

#: Project id sent to a non-Google endpoint when none is given (Earth Engine's client insists on one).
CUSTOM_ENDPOINT_PROJECT = "emulator"

#: Path of the high-volume API under a non-Google endpoint's URL (Google serves it on a host of its own).
CUSTOM_HIGH_VOLUME_PATH = "/highvolume"

#: Default bound, in seconds, on retrying one Earth Engine request (``--retry-timeout``); half of it is the HTTP
#: timeout of one request (:attr:`RetryPolicy.request_timeout_s`).
DEFAULT_RETRY_TIMEOUT_S = RETRY_TIMEOUT_S

#: Set to cancel the retry loops of worker threads that belong to no run of their own (their waits end at once and
#: they start no new attempt). A fetch's thread pool has an event of its own (:func:`bind_cancel_event`), so one
#: fetch that ends on Ctrl-C or an error cancels only its own threads and leaves nothing set for later calls.
cancelled = threading.Event()

#: Per worker thread: the cancellation event of the run (thread pool) it serves, set by :func:`bind_cancel_event`.
_run_of_thread = threading.local()


def bind_cancel_event(event: threading.Event) -> None:
    """Tie the calling worker thread's retry loops to ``event`` instead of :data:`cancelled` (a pool's initializer)."""
    _run_of_thread.cancelled = event


def _cancel_event() -> threading.Event:
    """Return the cancellation event of this thread's run: its pool's, else the process-wide :data:`cancelled`."""
    event: threading.Event = getattr(_run_of_thread, "cancelled", cancelled)
    return event


class Cancelled(RemoteError):
    """A retry loop stopped because the run is being cancelled (raised in worker threads; never shown)."""


@dataclass(frozen=True)
class EESettings:
    """Everything a process needs to initialise Earth Engine (no secrets).

    Attributes:
        project: Cloud project id (``None``: from the environment or the credentials).
        endpoint: ``"highvolume"`` (many parallel small reads; the default for fetching) or ``"standard"``.
        url: An Earth Engine-compatible REST endpoint (``None``: Earth Engine). A Google URL overrides ``endpoint``;
            under any other URL ``"highvolume"`` means ``{url}/highvolume`` (:data:`CUSTOM_HIGH_VOLUME_PATH`).
        retry: Retry policy.
    """

    project: str | None = None
    endpoint: Endpoint = "highvolume"
    url: str | None = None
    retry: RetryPolicy = RetryPolicy()

    @property
    def is_google(self) -> bool:
        """Return True if requests go to Google's Earth Engine (no ``url``, or a ``*.googleapis.com`` one)."""
        if not self.url:
            return True
        host = (urlparse(self.url).hostname or "").lower()
        return host == "googleapis.com" or host.endswith(".googleapis.com")

    def api_url(self) -> str | None:
        """Return the base URL of the REST API to initialise with (``None``: the client's default, Earth Engine)."""
        import ee

        if self.url is None:
            return ee.data.HIGH_VOLUME_API_BASE_URL if self.endpoint == "highvolume" else None
        if self.is_google or self.endpoint != "highvolume":
            return self.url
        return self.url.rstrip("/") + CUSTOM_HIGH_VOLUME_PATH

    def describe(self) -> str:
        """Return where requests go, for messages (never credentials)."""
        if self.url:
            return self.url
        return "Earth Engine high-volume endpoint" if self.endpoint == "highvolume" else "Earth Engine"


def resolve_project(project: str | None) -> str | None:
    """Return ``project`` or the first project id found in :data:`PROJECT_ENV_VARS`."""
    if project:
        return project
    for name in PROJECT_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None


_init_lock = threading.Lock()
_initialised_with: EESettings | None = None


def initialize(settings: EESettings, *, force: bool = False) -> None:
    """Initialise the Earth Engine client in this process once per settings (thread-safe, idempotent).

    Called on the driver and lazily at the start of every task on every Dask worker. A session that is already
    initialised (the user's own ``ee.Initialize``, ``ee_emulator.initialize_ee``) is reused as it is when the
    settings ask for no particular project or endpoint URL: gee-flood then initialises nothing (a notebook's
    session has credentials a new initialisation may not find).

    Raises:
        RemoteError: If initialisation fails (no credentials, no project, unreachable server), in one line.
    """
    global _initialised_with
    import ee

    with _init_lock:
        if not force and _initialised_with == settings and ee.data.is_initialized():
            return
        if not force and settings.project is None and settings.url is None and ee.data.is_initialized():
            ee.data.setMaxRetries(settings.retry.ee_max_retries)
            ee.data.setDeadline(settings.retry.request_timeout_s * 1000.0)
            _initialised_with = settings  # the session there is: reused
            return
        try:
            if settings.is_google:
                credentials: Any = "persistent"
                project = resolve_project(settings.project)
            else:
                credentials, project = None, settings.project or CUSTOM_ENDPOINT_PROJECT
            _bound_initialisation(settings.retry.request_timeout_s, settings.retry.ee_max_retries)
            with _no_google_lookups(enabled=not settings.is_google):
                ee.Initialize(credentials, url=settings.api_url(), project=project)
        except Exception as error:  # the client raises EEException, google.auth and transport errors
            if not settings.is_google:
                raise RemoteError(
                    f"could not initialise Earth Engine at {settings.describe()}: {_one_line(error)}; check that "
                    "--ee-url names a running Earth Engine-compatible REST endpoint"
                ) from None
            # Command-aware: a project that was given (fetch --project, or map's asset project) needs no advice to
            # pass one; one that was not is asked for with the option every Earth Engine command has.
            project_hint = (
                f"check that Cloud project '{settings.project}' exists and is registered for Earth Engine"
                if settings.project
                else f"pass --project or set {PROJECT_ENV_VARS[0]}"
            )
            raise RemoteError(
                f"could not initialise Earth Engine at {settings.describe()}: {_one_line(error)}; run "
                "'earthengine authenticate' or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key, and "
                f"{project_hint}"
            ) from None
        ee.data.setMaxRetries(settings.retry.ee_max_retries)
        ee.data.setDeadline(settings.retry.request_timeout_s * 1000.0)  # ms; a hung request fails, then is retried
        _initialised_with = settings


def _bound_initialisation(timeout_s: float, max_retries: int) -> None:
    """Give ``ee.Initialize``'s own requests (the API discovery document, the algorithm list) the request timeout.

    ``ee.data.setDeadline`` only works after initialisation (it rebuilds the API client), yet the client built by
    ``ee.Initialize`` takes its timeout from the same state field: so the field is set first, or a stalling
    endpoint hangs initialisation forever.
    """
    import ee

    ee.data.setMaxRetries(max_retries)
    state = getattr(ee.data, "_get_state", None)
    if state is not None and hasattr(state(), "deadline_ms"):
        state().deadline_ms = timeout_s * 1000.0  # milliseconds, as setDeadline takes them


@contextlib.contextmanager
def _no_google_lookups(*, enabled: bool) -> Iterator[None]:
    """Skip, while initialising, the client's fetch of Google's data catalog (its list of deprecated assets).

    ``ee.Initialize`` downloads it from Cloud Storage to warn about deprecated collection ids; those ids are
    Google's, so against another endpoint the lookup is skipped (it answers "none") and no request leaves for
    Google. The lookup is best effort in the client too: a failed one only means no deprecation warnings.
    """
    import ee

    original = getattr(ee.deprecation, "_FetchDataCatalogStac", None)
    if not enabled or original is None:
        yield
        return
    ee.deprecation._FetchDataCatalogStac = dict  # no data catalog: no warnings
    try:
        yield
    finally:
        ee.deprecation._FetchDataCatalogStac = original


_HTML_PAGE = re.compile(r"<\s*(!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if _HTML_PAGE.search(text):  # a proxy or captive portal answered with a web page, not Earth Engine JSON
        title = _HTML_TITLE.search(text)
        page = f" titled {' '.join(title.group(1).split())[:120]!r}" if title else ""
        text = f"an HTML page{page} came back instead of an Earth Engine answer (a proxy or captive portal?)"
    return text[:400] if text else type(error).__name__


_TRANSIENT_PATTERNS = re.compile(
    r"\b(429|500|502|503|504)\b|too many requests|rate limit|quota|resource[_ ]exhausted|unavailable|"
    r"internal error|backend error|deadline|timed? ?out|temporar|connection (reset|refused|aborted)|"
    r"try again|too many concurrent",
    re.IGNORECASE,
)


#: What NumPy says of a computePixels body that is not the ``.npy`` array Earth Engine sent (a response damaged on
#: the way: cut short or overwritten by a proxy or a flaky link). Worth a retry, and never blamed on Earth Engine.
_DAMAGED_BODY = re.compile(
    r"pickled \(object\) data|failed to interpret file|magic string is not correct|not a valid npy|"
    r"cannot reshape array|eof: reading array data|unexpected end of data",
    re.IGNORECASE,
)


def is_damaged_body(error: BaseException) -> bool:
    """Whether ``error`` is a pixel body that does not decode (see :data:`_DAMAGED_BODY`)."""
    return isinstance(error, ValueError | EOFError) and bool(_DAMAGED_BODY.search(str(error)))


def http_status(error: BaseException) -> int | None:
    """Return the HTTP status behind an Earth Engine error, if the exception chain carries one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status_code", None)
        response = getattr(current, "resp", None)
        if status is None and response is not None:
            status = getattr(response, "status", None)
        if isinstance(status, int | str) and str(status).isdigit():
            return int(status)
        current = current.__cause__ or current.__context__
    return None


def is_transient(error: BaseException) -> bool:
    """Return True for errors worth retrying: HTTP 429/5xx, timeouts, dropped connections."""
    status = http_status(error)
    if status is not None:
        return status == 429 or status >= 500
    if isinstance(error, ConnectionError | TimeoutError) or is_damaged_body(error):
        return True
    name = type(error).__name__
    if name in ("ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout", "ChunkedEncodingError"):
        return True
    return bool(_TRANSIENT_PATTERNS.search(str(error)))


def explain_error(error: BaseException, *, what: str) -> str:
    """Return one line saying why Earth Engine refused ``what`` and what to change."""
    text = _one_line(error)
    if is_damaged_body(error):
        return (
            f"the answer to {what} arrived damaged (not the NumPy array Earth Engine sends: {text}); a proxy or "
            "the network altered it"
        )
    status = http_status(error)
    lowered = text.lower()
    hint = ""
    if "memory limit" in lowered:
        hint = "; lower --chip-size or --workers"
    elif "request size" in lowered or "50331648" in lowered or "payload" in lowered or "too large" in lowered:
        hint = "; the request is too large, lower --chip-size (each computePixels request must be <= 48 MiB)"
    elif "band" in lowered and ("not" in lowered or "no band" in lowered or "pattern" in lowered):
        hint = "; a requested band does not exist in the collection"
    elif "not found" in lowered or "does not exist" in lowered:
        hint = "; check the collection ids and --project"
    code = f"HTTP {status}: " if status else ""
    return f"Earth Engine refused {what} ({code}{text}){hint}"


def _wait(seconds: float) -> None:
    """Sleep ``seconds``; in a worker thread, wake at once when the run is cancelled (Ctrl-C in the main thread).

    The main thread sleeps plainly: Ctrl-C interrupts it there.

    Raises:
        Cancelled: If the run is being cancelled.
    """
    if threading.current_thread() is threading.main_thread():
        time.sleep(seconds)
    elif _cancel_event().wait(seconds):
        raise Cancelled("cancelled")


def warn(line: str) -> None:
    """Print one ``warning:`` line on stderr (above a progress bar, which redirects stderr while shown)."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


def with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = _wait,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``call``; retry transient failures with exponential backoff and full jitter; explain the rest.

    Each retry prints one ``warning:`` line on stderr (what failed, the attempt, the wait). Retrying stops after
    ``policy.attempts`` attempts or ``policy.timeout_s`` seconds from the first one, whichever comes first; the
    waits end at once when the run is cancelled (:data:`cancelled`).

    Raises:
        RemoteError: One line, on a permanent error or when attempts or time run out.
        Cancelled: The run is being cancelled.
    """
    deadline = clock() + policy.timeout_s
    attempt = 0
    while True:
        attempt += 1
        if threading.current_thread() is not threading.main_thread() and _cancel_event().is_set():
            raise Cancelled("cancelled")
        try:
            return call()
        except RemoteError:
            raise
        except Exception as error:  # EE, xee and transport errors of many types
            if not is_transient(error):
                raise RemoteError(explain_error(error, what=what)) from None
            left = deadline - clock()
            if attempt >= policy.attempts or left <= 0:
                raise RemoteError(
                    f"{explain_error(error, what=what)}; gave up after {attempt} attempts "
                    f"({_seconds(policy.timeout_s - left)} of retries, bound {_seconds(policy.timeout_s)}: "
                    "--retry-timeout), lower --workers or try later"
                ) from None
            ceiling = min(policy.max_delay_s, policy.initial_delay_s * 2 ** (attempt - 1))
            delay = min(random.uniform(0.5 * ceiling, ceiling), left)
            status = http_status(error)
            if status:
                why = f"HTTP {status}"
            elif is_damaged_body(error):
                why = "a damaged answer, not a NumPy array"
            elif _is_timeout(error):
                why = f"no answer within {_seconds(policy.request_timeout_s)}, the request timeout: timed out"
            else:
                why = _short_reason(error)
            warn(
                f"{what} failed ({why}); retry {attempt} of {policy.attempts - 1} in {_seconds(delay)} "
                f"(gives up after {_seconds(policy.timeout_s)}, --retry-timeout)"
            )
            sleep(delay)


def _is_timeout(error: BaseException) -> bool:
    """Whether ``error`` is one request's timeout (socket, urllib3, requests or httplib2 wording)."""
    return isinstance(error, TimeoutError) or "Timeout" in type(error).__name__ or "timed out" in str(error).lower()


def _short_reason(error: BaseException) -> str:
    """The reason of an error without an HTTP status, for a retry line: the exception type and its first words.

    The Earth Engine client turns HTTP errors into ``EEException`` with the server's message only (the status is
    lost), so the message says what happened: ``EEException: Too Many Requests: Request was rejected...``.
    """
    text = _one_line(error)
    words = text if len(text) <= 60 else text[:57].rstrip() + "..."
    return f"{type(error).__name__}: {words}" if words != type(error).__name__ else words


def _seconds(value: float) -> str:
    """Format a duration for messages: ``0.2 s``, ``12 s``."""
    if not math.isfinite(value):
        return "no limit"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"

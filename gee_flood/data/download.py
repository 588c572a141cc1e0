"""Resumable, verified download of Sen1Floods11 from its public Cloud Storage bucket, anonymously over HTTPS.

Objects are listed with the Cloud Storage JSON API (``GET {list_url}?prefix=...``, paginated by ``nextPageToken``;
each item has ``name``, ``size`` and base64 ``md5Hash``) and fetched from ``{object_url}/<name>``. Each object is
written to ``DEST/<name>.part`` and renamed to ``DEST/<name>`` only once its size and MD5 match the listing, so an
interrupted run (Ctrl-C, a dropped connection) leaves only ``.part`` files, which the next run continues with an
HTTP ``Range`` request. Files already complete (size and MD5 match) are skipped.

Why by hand: ``google-cloud-storage`` needs credentials or an explicit anonymous client and has no resumable
*download* to a partial file; ``gsutil``/``gcloud`` are not Python dependencies. ``requests`` does the HTTP.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gee_flood.errors import InputError, RemoteError

BUCKET = "sen1floods11"
#: Cloud Storage JSON API listing endpoint of the public bucket.
DEFAULT_LIST_URL = f"https://storage.googleapis.com/storage/v1/b/{BUCKET}/o"
#: Public object base URL: ``{DEFAULT_OBJECT_URL}/<object name>``.
DEFAULT_OBJECT_URL = f"https://storage.googleapis.com/{BUCKET}"
#: Environment variables overriding the two base URLs (tests, mirrors).
LIST_URL_ENV = "GEE_FLOOD_SEN1FLOODS11_LIST_URL"
OBJECT_URL_ENV = "GEE_FLOOD_SEN1FLOODS11_OBJECT_URL"

#: What each ``--part`` downloads (object name prefixes). The reader needs the splits with the imagery.
SEN1FLOODS11_PARTS: dict[str, tuple[str, ...]] = {
    "hand": ("v1.1/data/flood_events/HandLabeled/", "v1.1/splits/flood_handlabeled/"),
    "weak": ("v1.1/data/flood_events/WeaklyLabeled/", "v1.1/splits/flood_handlabeled/"),
    "splits": ("v1.1/splits/",),
    "all": ("v1.1/",),
}
DOWNLOADABLE = ("sen1floods11",)

_TIMEOUT = (15.0, 60.0)  # connect, read (seconds)
#: urllib3 retry backoff factor (seconds) for failed connections and 429/5xx answers.
RETRY_BACKOFF_S = 0.5


@dataclass(frozen=True)
class RemoteObject:
    """One object of the bucket listing.

    Attributes:
        name: Object name (a ``/``-separated path such as ``v1.1/splits/flood_handlabeled/flood_test_data.csv``).
        size: Size in bytes.
        md5: Base64 MD5 digest from the listing, if any.
        crc32c: Base64 big-endian CRC32C from the listing, if any (checked when there is no MD5).
    """

    name: str
    size: int
    md5: str | None = None
    crc32c: str | None = None


@dataclass
class DownloadReport:
    """What a download run did."""

    dest: Path
    listed: int = 0
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    bytes_received: int = 0

    def summary(self) -> str:
        """Return one human line."""
        return (
            f"{len(self.downloaded)} files downloaded ({self.bytes_received / 1e6:.1f} MB received, "
            f"{len(self.resumed)} resumed), {len(self.skipped)} already complete; {self.listed} listed -> {self.dest}"
        )


class _Checksum(Protocol):
    def update(self, data: bytes) -> Any: ...

    def digest(self) -> bytes: ...


class _Interrupted(Exception):
    """A worker saw the stop flag (the user pressed Ctrl-C)."""


def make_session() -> requests.Session:
    """Return a ``requests`` session that retries connection failures and 429/5xx answers with backoff."""
    session = requests.Session()
    retry = Retry(
        total=4,
        connect=4,
        read=2,
        status=4,
        backoff_factor=RETRY_BACKOFF_S,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def resolve_urls(list_url: str | None = None, object_url: str | None = None) -> tuple[str, str]:
    """Return ``(list_url, object_url)``: the arguments, else the environment variables, else the public bucket."""
    return (
        (list_url or os.environ.get(LIST_URL_ENV) or DEFAULT_LIST_URL).rstrip("/"),
        (object_url or os.environ.get(OBJECT_URL_ENV) or DEFAULT_OBJECT_URL).rstrip("/"),
    )


def list_objects(
    prefix: str, *, list_url: str | None = None, session: requests.Session | None = None
) -> list[RemoteObject]:
    """List every object under ``prefix`` (following ``nextPageToken`` pages), skipping folder placeholders.

    Raises:
        RemoteError: If the listing fails or is malformed.
    """
    url, _ = resolve_urls(list_url, None)
    session = session or make_session()
    objects: list[RemoteObject] = []
    token: str | None = None
    where = f"listing gs://{BUCKET}/{prefix} ({url})"
    while True:
        params = {"prefix": prefix, "fields": "items(name,size,md5Hash,crc32c),nextPageToken"}
        if token:
            params["pageToken"] = token
        try:
            response = session.get(url, params=params, timeout=_TIMEOUT)
        except requests.RequestException as error:
            raise RemoteError(f"{where}: {error}") from None
        if response.status_code != 200:
            raise RemoteError(f"{where}: HTTP {response.status_code} {response.reason}")
        try:
            page = response.json()
            for item in page.get("items", []):
                name = str(item["name"])
                if name.endswith("/"):
                    continue
                objects.append(RemoteObject(name, int(item["size"]), item.get("md5Hash"), item.get("crc32c")))
        except (ValueError, KeyError, TypeError) as error:
            raise RemoteError(f"{where}: malformed listing ({error})") from None
        token = page.get("nextPageToken")
        if not token:
            return objects


def download_dataset(name: str, dest: str | Path, part: str = "hand", **kw: Any) -> DownloadReport:
    """Download public dataset ``name`` (only ``"sen1floods11"``) into ``dest``; see :func:`download_sen1floods11`.

    Raises:
        InputError: Unknown or non-downloadable dataset.
    """
    if name != "sen1floods11":
        note = " (OMBRIA is not hosted for download; read it in place)" if name == "ombria" else ""
        raise InputError(f"cannot download dataset {name!r}; downloadable: {', '.join(DOWNLOADABLE)}{note}")
    return download_sen1floods11(dest, part, **kw)


def download_sen1floods11(
    dest: str | Path,
    part: str = "hand",
    *,
    list_url: str | None = None,
    object_url: str | None = None,
    workers: int = 4,
    progress: bool = True,
    network_retries: int = 2,
    chunk_size: int = 1 << 16,
) -> DownloadReport:
    """Download (or complete) a part of Sen1Floods11 v1.1 into ``dest``, keeping the bucket's layout.

    ``dest`` then holds ``v1.1/...`` and is a valid ``root`` of
    :class:`~gee_flood.data.sen1floods11.Sen1Floods11Dataset`.

    Args:
        dest: Destination folder (created if needed).
        part: ``"hand"`` (hand-labelled chips + splits), ``"weak"`` (weakly labelled chips + splits),
            ``"splits"`` (split CSVs only) or ``"all"`` (everything under ``v1.1/``, ~14 GB).
        list_url: Listing endpoint (default: env ``GEE_FLOOD_SEN1FLOODS11_LIST_URL`` or the public bucket).
        object_url: Object base URL (default: env ``GEE_FLOOD_SEN1FLOODS11_OBJECT_URL`` or the public bucket).
        workers: Objects downloaded in parallel.
        progress: Show a progress display (files and bytes).
        network_retries: Times a dropped transfer is resumed within this run before giving up.
        chunk_size: Bytes read per chunk.

    Returns:
        What was downloaded, resumed and skipped.

    Raises:
        InputError: Unknown part.
        RemoteError: Listing or transfer failure, or a checksum mismatch after one retry.
        KeyboardInterrupt: On Ctrl-C, after every worker stopped (only ``.part`` files are left).
    """
    if part not in SEN1FLOODS11_PARTS:
        raise InputError(f"unknown Sen1Floods11 part {part!r}; expected one of {list(SEN1FLOODS11_PARTS)}")
    list_url, object_url = resolve_urls(list_url, object_url)
    session = make_session()
    objects: dict[str, RemoteObject] = {}
    for prefix in SEN1FLOODS11_PARTS[part]:
        listed = list_objects(prefix, list_url=list_url, session=session)
        if not listed:
            raise RemoteError(f"listing gs://{BUCKET}/{prefix} ({list_url}): no objects")
        objects.update((obj.name, obj) for obj in listed)
    return download_objects(
        list(objects.values()),
        dest,
        object_url=object_url,
        workers=workers,
        progress=progress,
        network_retries=network_retries,
        chunk_size=chunk_size,
    )


def download_objects(
    objects: Sequence[RemoteObject],
    dest: str | Path,
    *,
    object_url: str | None = None,
    workers: int = 4,
    progress: bool = True,
    network_retries: int = 2,
    chunk_size: int = 1 << 16,
) -> DownloadReport:
    """Download ``objects`` to ``dest/<name>``: skip complete files, resume ``.part`` files, verify every file.

    See :func:`download_sen1floods11` for the arguments and errors.
    """
    _, base_url = resolve_urls(None, object_url)
    dest = Path(dest)
    for obj in objects:  # every name is checked before anything is written
        _local_path(dest, obj.name)
    dest.mkdir(parents=True, exist_ok=True)
    report = DownloadReport(dest=dest, listed=len(objects))
    stop = threading.Event()
    lock = threading.Lock()
    local = threading.local()

    with _Progress(len(objects), sum(o.size for o in objects), enabled=progress) as bar:

        def advance_bytes(count: int) -> None:
            bar.advance_bytes(count)

        def work(obj: RemoteObject) -> None:
            if not hasattr(local, "session"):
                local.session = make_session()
            outcome = _fetch_object(
                obj,
                _local_path(dest, obj.name),
                f"{base_url}/{quote(obj.name, safe='/')}",
                local.session,
                stop=stop,
                on_bytes=advance_bytes,
                network_retries=network_retries,
                chunk_size=chunk_size,
            )
            with lock:
                if outcome.skipped:
                    report.skipped.append(obj.name)
                else:
                    report.downloaded.append(obj.name)
                    report.bytes_received += outcome.received
                    if outcome.resumed:
                        report.resumed.append(obj.name)
            bar.advance_file()

        executor = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers))
        futures = [executor.submit(work, obj) for obj in objects]
        try:
            pending: Iterable[concurrent.futures.Future[None]] = futures
            while pending:
                done, pending = concurrent.futures.wait(
                    pending, timeout=0.2, return_when=concurrent.futures.FIRST_EXCEPTION
                )
                for future in done:
                    future.result()  # re-raise the first failure (or a KeyboardInterrupt of a worker)
        except BaseException:
            stop.set()  # workers stop between chunks and keep their .part files
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
    return report


@dataclass
class _Outcome:
    skipped: bool = False
    resumed: bool = False
    received: int = 0


def _local_path(dest: Path, name: str) -> Path:
    """Return ``dest/<name>``, refusing names that would escape ``dest`` or that no file system takes (NUL bytes)."""
    if "\x00" in name:
        raise RemoteError(f"refusing object name {name!r}: it contains a NUL byte, which no file name can hold")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise RemoteError(f"refusing object name {name!r}: it would be written outside {dest}")
    return dest.joinpath(*pure.parts)


def _checksum(obj: RemoteObject) -> tuple[str, _Checksum, str] | None:
    """Return ``(algorithm, hasher, expected base64 digest)`` for ``obj``, or None if the listing has no digest."""
    if obj.md5:
        return "MD5", hashlib.md5(usedforsecurity=False), obj.md5
    if obj.crc32c:
        import google_crc32c

        return "CRC32C", google_crc32c.Checksum(), obj.crc32c
    return None


def _hash_file(path: Path, hasher: _Checksum) -> None:
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)


def _is_complete(path: Path, obj: RemoteObject) -> bool:
    if not path.is_file() or path.stat().st_size != obj.size:
        return False
    check = _checksum(obj)
    if check is None:
        return True
    _, hasher, expected = check
    _hash_file(path, hasher)
    return base64.b64encode(hasher.digest()).decode() == expected


def _write_chunk(handle: Any, chunk: bytes) -> None:
    """Append one received chunk to the partial file (one place, so tests can interrupt a transfer here)."""
    handle.write(chunk)


def _fetch_object(
    obj: RemoteObject,
    final: Path,
    url: str,
    session: requests.Session,
    *,
    stop: threading.Event,
    on_bytes: Callable[[int], None],
    network_retries: int,
    chunk_size: int,
) -> _Outcome:
    """Make ``final`` a verified copy of ``obj``, resuming ``final.part`` if present."""
    if _is_complete(final, obj):
        on_bytes(obj.size)
        return _Outcome(skipped=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".part")
    outcome = _Outcome()
    for attempt in (1, 2):
        drops = 0
        while True:
            try:
                _transfer(
                    obj, partial, url, session, stop=stop, on_bytes=on_bytes, chunk_size=chunk_size, outcome=outcome
                )
                break
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as error:
                drops += 1
                if drops > network_retries:
                    have = partial.stat().st_size if partial.exists() else 0
                    raise RemoteError(
                        f"gs://{BUCKET}/{obj.name}: transfer interrupted at {have} of {obj.size} bytes "
                        f"({type(error).__name__}); run the command again to resume"
                    ) from None
            except requests.RequestException as error:
                raise RemoteError(f"gs://{BUCKET}/{obj.name}: {type(error).__name__}: {error}") from None
        size = partial.stat().st_size
        check = _checksum(obj)
        problem = None
        if size != obj.size:
            problem = f"size {size} bytes, expected {obj.size}"
        elif check is not None:
            algorithm, hasher, expected = check
            _hash_file(partial, hasher)
            got = base64.b64encode(hasher.digest()).decode()
            if got != expected:
                problem = f"{algorithm} {got}, expected {expected}"
        if problem is None:
            with open(partial, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, final)
            return outcome
        partial.unlink()
        on_bytes(-size)
        if attempt == 2:
            raise RemoteError(f"gs://{BUCKET}/{obj.name}: corrupt download ({problem}) twice; the bad copy was deleted")
    raise AssertionError("unreachable")  # pragma: no cover


def _transfer(
    obj: RemoteObject,
    partial: Path,
    url: str,
    session: requests.Session,
    *,
    stop: threading.Event,
    on_bytes: Callable[[int], None],
    chunk_size: int,
    outcome: _Outcome,
) -> None:
    """Append the missing bytes of ``obj`` to ``partial`` (a Range request when it already holds some)."""
    offset = partial.stat().st_size if partial.exists() else 0
    if offset > obj.size:  # not a prefix of this object: start again
        partial.unlink()
        offset = 0
    if offset == obj.size:
        partial.touch()  # an empty object has an empty partial
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = session.get(url, headers=headers, stream=True, timeout=_TIMEOUT)
    with response:
        if response.status_code == 416 and offset:  # our partial is not a prefix the server accepts
            partial.unlink()
            response.close()
            on_bytes(-offset)
            return _transfer(
                obj, partial, url, session, stop=stop, on_bytes=on_bytes, chunk_size=chunk_size, outcome=outcome
            )
        content_range = response.headers.get("Content-Range", "")
        if response.status_code == 206 and offset and content_range.startswith(f"bytes {offset}-"):
            mode = "ab"
            outcome.resumed = True
        elif response.status_code == 200:
            mode = "wb"  # the server sent the whole object (it ignored Range): restart cleanly
            if offset:
                on_bytes(-offset)
        else:
            raise RemoteError(f"gs://{BUCKET}/{obj.name}: HTTP {response.status_code} {response.reason} from {url}")
        written = 0 if mode == "wb" else offset
        with open(partial, mode) as handle:
            for chunk in response.iter_content(chunk_size=chunk_size):
                if stop.is_set():
                    raise _Interrupted(obj.name)
                _write_chunk(handle, chunk)
                written += len(chunk)
                outcome.received += len(chunk)
                on_bytes(len(chunk))
                if written > obj.size:
                    break  # longer than listed: the size check fails and the copy is discarded


class _Progress:
    """One rich progress line: files done / total in the description, bytes on the bar; nothing when disabled."""

    def __init__(self, files: int, total_bytes: int, *, enabled: bool) -> None:
        self._enabled = enabled
        self._lock = threading.Lock()
        self._files_total = files
        self._files_done = 0
        if enabled:
            from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn

            from gee_flood._progress import rich_progress

            self._bar = rich_progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                enabled=True,
            )
            self._task = self._bar.add_task(self._description(), total=total_bytes)

    def _description(self) -> str:
        return f"{BUCKET}: {self._files_done}/{self._files_total} files"

    def __enter__(self) -> _Progress:
        if self._enabled:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._bar.stop()

    def advance_file(self) -> None:
        with self._lock:
            self._files_done += 1
            if self._enabled:
                self._bar.update(self._task, description=self._description())

    def advance_bytes(self, count: int) -> None:
        if self._enabled:
            with self._lock:
                self._bar.advance(self._task, count)

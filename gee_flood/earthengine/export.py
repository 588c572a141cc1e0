"""Push a gee-flood map into Earth Engine: upload the COG to Cloud Storage, then ingest it or register it.

Two routes, both through Cloud Storage (Earth Engine cannot read local files):

* ingestion (default): ``ee.data.startIngestion(request_id, manifest)`` copies the pixels into an Earth Engine image
  asset; band ``water_probability`` is pyramided with MEAN, the categorical bands with MODE, 255 is missing data.
  The operation is polled until it finishes; its error, if any, is reported in one line.
* COG-backed (``cog_backed=True``): ``ee.data.createAsset({'type': 'IMAGE', 'gcs_location': ...})`` registers the
  object in place (no copy; the bucket must be in the US multi-region or us-central1 for real Earth Engine).

Everything that can be checked locally (asset id, bucket path, the file) is checked before anything is uploaded,
and the bucket is probed before the upload; Cloud Storage creates an object only when its upload completes, so a
failure never leaves half a file behind. The request id is derived from the asset id, the object URI and the file's
SHA-256, and is stored as the asset property ``gee_flood_request_id``: re-running the same push finds the finished
asset and does nothing (earthengine-api 1.7.50's ``startIngestion`` uses the id only to allow retries; it does not
send it to the server, so idempotency is checked on the asset itself).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from pydantic import BaseModel
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from gee_flood.errors import DataError, InputError, RemoteError

#: Band -> pyramiding policy: probabilities average, categories keep the most common value.
PYRAMIDING = {"water_probability": "MEAN", "water_mask": "MODE", "flood_class": "MODE"}
MISSING_VALUE = 255
REQUEST_NAMESPACE = uuid.UUID("5f0c3c38-4be4-4c52-9d5b-2f3c0d9c6a11")

_PROJECT = r"(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
_ASSET_PATH = r"[A-Za-z0-9_-]{1,100}(?:/[A-Za-z0-9_-]{1,100})*"
_ASSET_RE = re.compile(rf"^projects/(?P<project>{_PROJECT})/assets/(?P<path>{_ASSET_PATH})$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


@dataclass(frozen=True)
class AssetId:
    """An Earth Engine asset id ``projects/<project>/assets/<folder>/<name>``."""

    project: str
    path: str

    def __str__(self) -> str:
        return f"projects/{self.project}/assets/{self.path}"


@dataclass(frozen=True)
class GcsLocation:
    """A Cloud Storage bucket and optional object prefix (``gs://bucket[/prefix]``)."""

    bucket: str
    prefix: str = ""

    def object_name(self, filename: str) -> str:
        """The object name of ``filename`` under the prefix."""
        return f"{self.prefix}/{filename}" if self.prefix else filename

    def uri(self, filename: str) -> str:
        """``gs://`` URI of ``filename`` under the prefix."""
        return f"gs://{self.bucket}/{self.object_name(filename)}"


def parse_asset_id(value: str) -> AssetId:
    """Validate an asset id of the form ``projects/<cloud-project>/assets/<path>``.

    Raises:
        InputError: If the id is not of that form (legacy ``users/...`` ids included) or has invalid characters.
    """
    match = _ASSET_RE.match(value.strip())
    if not match:
        raise InputError(
            f"--asset {value!r}: expected projects/<cloud-project>/assets/<folder>/<name> (project: 6-30 lowercase "
            "letters, digits, hyphens; asset names: letters, digits, '_' and '-')"
        )
    return AssetId(match["project"], match["path"])


def parse_gcs_location(value: str) -> GcsLocation:
    """Validate ``gs://bucket[/prefix]`` against Cloud Storage's bucket and object naming rules.

    Raises:
        InputError: If the scheme, bucket name or prefix is invalid.
    """
    if not value.startswith("gs://"):
        raise InputError(f"--bucket {value!r}: expected gs://bucket[/prefix]")
    bucket, _, prefix = value[len("gs://") :].partition("/")
    prefix = prefix.strip("/")
    problems = []
    if not _BUCKET_RE.match(bucket):
        problems.append("3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    elif "." not in bucket and len(bucket) > 63 or any(len(part) > 63 for part in bucket.split(".")):
        problems.append("at most 63 characters (222 with dots, 63 per dot-separated part)")
    elif re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        problems.append("not an IP address")
    elif bucket.startswith("goog") or "google" in bucket or "g00gle" in bucket:
        problems.append("no 'goog' prefix and no 'google'")
    elif ".." in bucket:
        problems.append("no consecutive dots")
    if problems:
        raise InputError(f"--bucket {value!r}: invalid bucket name {bucket!r} ({problems[0]})")
    if "//" in prefix or any(ch in prefix for ch in "\r\n#[]*?") or len(prefix.encode()) > 900:
        raise InputError(f"--bucket {value!r}: invalid object prefix {prefix!r}")
    return GcsLocation(bucket, prefix)


def request_id_for(asset: AssetId, uri: str, cog: Path) -> str:
    """A deterministic request id: the same file pushed to the same asset gets the same id."""
    digest = hashlib.sha256()
    with open(cog, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{asset}|{uri}|{digest.hexdigest()}"))


def describe_map(cog: Path) -> list[str]:
    """Band names of a gee-flood map; refuses anything that is not a valid COG written by predict."""
    from rio_cogeo.cogeo import cog_validate

    if not cog.is_file():
        raise InputError(f"{cog}: flood map not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(cog)
        with src:
            bands = list(src.descriptions)
            crs = src.crs
    except RasterioIOError as error:
        raise InputError(f"{cog}: not a readable GeoTIFF ({str(error).splitlines()[0]})") from None
    if crs is None:
        raise InputError(f"{cog}: GeoTIFF has no CRS")
    if not bands or any(band not in PYRAMIDING for band in bands):
        raise DataError(f"{cog}: not a gee-flood map (bands {bands}; expected {list(PYRAMIDING)[: len(bands) or 2]})")
    if not cog_validate(cog, quiet=True)[0]:
        raise DataError(f"{cog}: not a Cloud-Optimized GeoTIFF; write it with 'gee-flood predict'")
    return bands


def ingestion_manifest(asset: AssetId, uri: str, bands: list[str], request_id: str) -> dict[str, Any]:
    """The ImageManifest for ``startIngestion``: one tileset from ``uri``, bands named, 255 missing."""
    return {
        "name": str(asset),
        "tilesets": [{"id": "map", "sources": [{"uris": [uri]}]}],
        "bands": [
            {
                "id": band,
                "tilesetId": "map",
                "tilesetBandIndex": index,
                "missingData": {"values": [MISSING_VALUE]},
                "pyramidingPolicy": PYRAMIDING[band],
            }
            for index, band in enumerate(bands)
        ],
        "missingData": {"values": [MISSING_VALUE]},
        "properties": {"gee_flood_request_id": request_id, "source_uri": uri},
    }


def _ee() -> Any:
    import ee

    return ee


def ensure_initialized(project: str, ee_url: str | None = None) -> None:
    """Initialise Earth Engine for ``project`` (at ``ee_url``, e.g. the emulator) unless it already is.

    Uses :func:`gee_flood.earthengine.initialize`, which reports failures in one line.
    """
    from gee_flood.earthengine import EESettings, initialize

    if ee_url is None and _ee().data.is_initialized():
        return
    initialize(EESettings(project=project, endpoint="standard", url=ee_url))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def storage_client() -> Any:
    """A ``google.cloud.storage.Client`` (honours ``STORAGE_EMULATOR_HOST``)."""
    import google.auth.exceptions
    from google.cloud import storage

    try:
        return storage.Client()
    except (google.auth.exceptions.DefaultCredentialsError, OSError) as error:
        raise RemoteError(f"cannot create a Cloud Storage client: {_first_line(error)}") from None


def probe_bucket(client: Any, location: GcsLocation, *, timeout_s: float = 20.0) -> None:
    """Raise a one-line :class:`RemoteError` unless the bucket exists and answers within ``timeout_s``."""
    import requests
    from google.api_core import exceptions as api_exceptions
    from google.api_core.retry import Retry

    retry = Retry(initial=0.2, maximum=2.0, timeout=timeout_s)
    try:
        exists = client.bucket(location.bucket).exists(timeout=min(timeout_s, 30.0), retry=retry)
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(
            f"gs://{location.bucket}: cannot reach the bucket ({_first_line(error)}); nothing uploaded"
        ) from None
    if not exists:
        raise RemoteError(f"gs://{location.bucket}: bucket not found or not accessible; nothing uploaded")


def upload(client: Any, cog: Path, location: GcsLocation, *, timeout_s: float = 600.0) -> str:
    """Upload ``cog`` under ``location`` (whole or not at all) and return its ``gs://`` URI."""
    import requests
    from google.api_core import exceptions as api_exceptions

    blob = client.bucket(location.bucket).blob(location.object_name(cog.name))
    try:
        blob.upload_from_filename(str(cog), content_type="image/tiff", timeout=timeout_s)
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(f"{location.uri(cog.name)}: upload failed ({_first_line(error)})") from None
    return location.uri(cog.name)


def _existing_asset(asset: AssetId) -> dict[str, Any] | None:
    ee = _ee()
    try:
        return ee.data.getAsset(str(asset))
    except ee.EEException as error:
        if "not found" in str(error).lower() or "does not exist" in str(error).lower():
            return None
        raise RemoteError(f"{asset}: cannot read the asset ({_first_line(error)})") from None


def wait_for_operation(
    name: str,
    *,
    poll_s: float = 2.0,
    timeout_s: float = 3600.0,
    on_progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Poll an Earth Engine operation until it is done; raise its error as one line.

    Args:
        name: Operation name (``projects/P/operations/ID``).
        poll_s: Seconds between polls.
        timeout_s: Give up after this long.
        on_progress: Called with (fraction 0-1, state) after each poll.

    Returns:
        The finished operation.
    """
    ee = _ee()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            operation = ee.data.getOperation(name)
        except ee.EEException as error:
            raise RemoteError(f"{name}: cannot poll the operation ({_first_line(error)})") from None
        metadata = operation.get("metadata", {})
        if on_progress is not None:
            on_progress(
                float(metadata.get("progress", 1.0 if operation.get("done") else 0.0)), metadata.get("state", "")
            )
        if operation.get("done"):
            failure = operation.get("error")
            if failure:
                raise RemoteError(f"Earth Engine ingestion failed: {failure.get('message', failure)}")
            return operation
        if time.monotonic() > deadline:
            raise RemoteError(f"{name}: still running after {timeout_s:.0f} s; check it with 'earthengine task info'")
        time.sleep(poll_s)


class PushResult(BaseModel):
    """What a push did."""

    asset: str
    uri: str
    mode: str
    request_id: str
    operation: str | None = None
    already_done: bool = False


def push_flood_map(
    cog: str | os.PathLike[str],
    asset: str,
    bucket: str,
    *,
    cog_backed: bool = False,
    overwrite: bool = False,
    client: Any = None,
    poll_s: float = 2.0,
    probe_timeout_s: float = 20.0,
    project: str | None = None,
    ee_url: str | None = None,
    progress: bool = False,
    on_progress: Callable[[float, str], None] | None = None,
) -> PushResult:
    """Upload a gee-flood COG to Cloud Storage and make it an Earth Engine image asset.

    Args:
        cog: The map written by ``gee-flood predict``.
        asset: Destination ``projects/<project>/assets/<path>``.
        bucket: ``gs://bucket[/prefix]`` to upload to.
        cog_backed: Register a COG-backed asset instead of ingesting (no copy inside Earth Engine).
        overwrite: Replace an existing asset.
        client: A ``google.cloud.storage.Client`` (default: a new one; honours ``STORAGE_EMULATOR_HOST``).
        poll_s: Seconds between operation polls.
        probe_timeout_s: How long to try reaching the bucket before giving up.
        project: Cloud project to initialise Earth Engine with (default: the asset's project).
        ee_url: Earth Engine API URL (the emulator); default: Earth Engine itself.
        progress: Show the ingestion's progress as a bar on stderr.
        on_progress: Ingestion progress callback (fraction, state).

    Returns:
        The asset id, object URI, request id and operation.
    """
    asset_id = parse_asset_id(asset)
    location = parse_gcs_location(bucket)
    path = Path(cog)
    bands = describe_map(path)
    uri = location.uri(path.name)
    request_id = request_id_for(asset_id, uri, path)
    mode = "cog-backed" if cog_backed else "ingested"
    ensure_initialized(project or asset_id.project, ee_url)
    existing = _existing_asset(asset_id)
    if existing is not None:
        if existing.get("properties", {}).get("gee_flood_request_id") == request_id:
            return PushResult(asset=str(asset_id), uri=uri, mode=mode, request_id=request_id, already_done=True)
        if not overwrite:
            raise InputError(f"--asset {asset_id}: the asset already exists; pass --overwrite to replace it")
    client = client if client is not None else storage_client()
    probe_bucket(client, location, timeout_s=probe_timeout_s)
    upload(client, path, location)
    ee = _ee()
    if cog_backed:
        if existing is not None:
            _call(lambda: ee.data.deleteAsset(str(asset_id)), f"{asset_id}: cannot replace the asset")
        properties = {"gee_flood_request_id": request_id, "source_uri": uri}
        _call(
            lambda: ee.data.createAsset(
                {"type": "IMAGE", "gcs_location": {"uris": [uri]}, "properties": properties}, str(asset_id)
            ),
            f"{asset_id}: Earth Engine refused the COG-backed asset",
        )
        return PushResult(asset=str(asset_id), uri=uri, mode=mode, request_id=request_id)
    manifest = ingestion_manifest(asset_id, uri, bands, request_id)
    started = _call(
        lambda: ee.data.startIngestion(request_id, manifest, overwrite),
        f"{asset_id}: Earth Engine refused the ingestion",
    )
    operation = started.get("name") or started.get("id")
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True)) as bar:
            task = bar.add_task(f"ingesting {asset_id}", total=1.0)

            def show(fraction: float, state: str) -> None:
                bar.update(task, completed=fraction, description=f"ingesting {asset_id} {state.lower()}")
                if on_progress is not None:
                    on_progress(fraction, state)

            wait_for_operation(operation, poll_s=poll_s, on_progress=show)
    else:
        wait_for_operation(operation, poll_s=poll_s, on_progress=on_progress)
    return PushResult(asset=str(asset_id), uri=uri, mode=mode, request_id=request_id, operation=operation)


def _call(func: Callable[[], Any], message: str) -> Any:
    ee = _ee()
    try:
        return func()
    except ee.EEException as error:
        raise RemoteError(f"{message}: {_first_line(error)}") from None

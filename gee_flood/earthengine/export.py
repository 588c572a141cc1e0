"""Push a gee-flood map into Earth Engine: upload the COG to Cloud Storage, then ingest it or register it.

Two routes, both through Cloud Storage (Earth Engine cannot read local files):

* ingestion (default): an ``image:import`` request copies the pixels into an Earth Engine image asset; band
  ``likelihood`` is pyramided with MEAN, the categorical bands with MODE, 255 is missing data. The operation
  is polled until it finishes; its error, if any, is reported in one line.
* COG-backed (``cog_backed=True``): an ``image:importExternal`` request (``ee.data.startExternalImageIngestion``)
  registers the object in place (no copy) from the same manifest, so missing data (255) and the pyramiding policies
  are set as for an ingested image. Earth Engine reads such objects only from a bucket in the US multi-region, a US
  dual-region that includes us-central1, or us-central1; the bucket's location is checked before anything is
  uploaded.

Both set the image's ``startTime``/``endTime`` (the acquisition time: ``start_time``/``end_time``, else the map's
``acquisition_start``/``acquisition_end`` tags), not only the deprecated ``system:time_*`` properties.

Everything that can be checked locally or cheaply (asset id, bucket path, the file, the asset's parent folders, the
bucket and its location, the object the upload would replace) is checked before anything is uploaded; Cloud Storage
creates an object only when its upload completes, so a failure never leaves half a file behind.

Names, not paths, leave the machine: the object is named after the asset (``<prefix>/<project>/<asset path>.tif``,
so two assets never share an object), records the asset it backs in its metadata (``gee_flood_asset``; an object
that backs another asset is never replaced), and a map whose tags carry a local absolute path is uploaded as a copy
whose tags carry the file name only.

Idempotency: the request id is derived from the asset id, the object URI and the file's SHA-256. It is sent as the
``requestId`` of the ``image:import`` REST call, so Earth Engine starts at most one ingestion for it however often
the client retries a request whose response was lost (earthengine-api 1.7.50's ``ee.data.startIngestion`` retries up
to five times but drops the id from the request, which is why the call is made here). It is also stored as the asset
property ``gee_flood_request_id``: re-running the same push finds the finished asset and does nothing. Earth Engine
lets one request id start one operation, ever: when the id answers an operation that already ended without this
asset (a FAILED ingestion of an earlier run), the rerun sends the next attempt's id (derived from the same id and the
attempt number), so a fixed rerun ingests once and a lost response is still answered by the operation it started.

Polling: the operation is polled through the same bounded, visible retry as reads (``--retry-timeout``,
:func:`gee_flood.earthengine.session.with_retries`): a 429, 5xx or dropped connection during a minutes-long
ingestion is retried with backoff and a ``warning:`` line, and the interval between polls grows from ``poll_s`` to
:data:`MAX_POLL_S`.

Credentials: Cloud Storage is reached with Earth Engine's own credentials when they carry a storage scope
(``earthengine authenticate`` grants ``devstorage.full_control`` and ``cloud-platform``), else with Application
Default Credentials; with neither, one line says to run ``gcloud auth application-default login``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from pydantic import BaseModel
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from gee_flood.earthengine.session import RetryPolicy, with_retries
from gee_flood.errors import DataError, InputError, InputNotFoundError, RemoteError

#: Band -> pyramiding policy: probabilities average, categories keep the most common value.
PYRAMIDING = {
    "likelihood": "MEAN",
    "water": "MODE",
    "flood": "MODE",
    "reference_water": "MODE",
    "exclusion": "MODE",
}
MISSING_VALUE = 255
#: Object metadata key naming the asset a Cloud Storage object backs.
OBJECT_ASSET_KEY = "gee_flood_asset"
#: OAuth scopes that allow uploading to Cloud Storage.
STORAGE_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.full_control",
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/cloud-platform",
)
#: The one-line hint for a user whose credentials cannot reach Cloud Storage.
STORAGE_CREDENTIALS_HINT = (
    "run 'gcloud auth application-default login' (or 'earthengine authenticate', whose credentials include "
    "Cloud Storage), or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key"
)
#: Where COG-backed assets may live (Earth Engine's rule, checked before uploading).
COG_LOCATION_RULE = "a US multi-region, US dual-region including us-central1, or us-central1 bucket"
REQUEST_NAMESPACE = uuid.UUID("5f0c3c38-4be4-4c52-9d5b-2f3c0d9c6a11")
#: Most ingestion attempts (request ids) one push tries when earlier runs' ingestions of the same map failed.
MAX_INGESTION_ATTEMPTS = 20
#: Longest interval between two polls of an operation, in seconds (the interval grows by half from ``poll_s``).
MAX_POLL_S = 30.0
#: Map tags holding the acquisition time (ISO 8601, UTC when no offset) used when no start/end time is given.
ACQUISITION_TAGS = ("acquisition_start", "acquisition_end")

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

    @property
    def parent_folders(self) -> list[str]:
        """The ids of the folders above the asset, outermost first (none for an asset at the project root)."""
        parts = self.path.split("/")[:-1]
        return [f"projects/{self.project}/assets/{'/'.join(parts[: depth + 1])}" for depth in range(len(parts))]

    @property
    def object_filename(self) -> str:
        """The name of the asset's Cloud Storage object below the bucket prefix: ``<asset name>.tif``.

        ``--bucket gs://b/floods`` and ``--asset projects/p/assets/floods/po`` upload ``gs://b/floods/po.tif``: the
        prefix says where, the asset's name what (no project or folder repeated under the prefix). One object per
        asset all the same: an object that backs another asset is never replaced (:func:`check_object_owner`).
        """
        return f"{self.path.rsplit('/', 1)[-1]}.tif"


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
    from gee_flood.inference.output import cog_errors

    if not cog.is_file():
        raise InputNotFoundError(f"{cog}: flood map not found")
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
    if cog_errors(cog):
        raise DataError(f"{cog}: not a Cloud-Optimized GeoTIFF; write it with 'gee-flood predict'")
    return bands


def ingestion_manifest(
    asset: AssetId,
    uri: str,
    bands: list[str],
    request_id: str,
    *,
    start_time: str | None = None,
    end_time: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ImageManifest of ``image:import`` and ``image:importExternal``.

    One tileset from ``uri``, bands named, 255 missing, ``startTime``/``endTime`` (RFC 3339 UTC) when given:
    ``startTime`` is the asset's ``system:time_start``, what ``filterDate`` of an image collection reads.
    ``properties`` are added to the asset's properties, in the same request as the pixels, so an asset never
    exists without them.
    """
    times = {key: value for key, value in (("startTime", start_time), ("endTime", end_time)) if value}
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
        "properties": {**dict(properties or {}), "gee_flood_request_id": request_id, "source_uri": uri},
        **times,
    }


def rfc3339(value: str | dt.datetime | dt.date | None, what: str) -> str | None:
    """``value`` as an RFC 3339 UTC timestamp (``2019-03-05T05:12:00Z``), or None.

    A naive datetime or ISO string without an offset is taken as UTC; a date as its midnight UTC.

    Raises:
        InputError: If ``value`` is not a date, datetime or ISO 8601 string (one line naming ``what``).
    """
    if value is None or value == "":
        return None
    moment: dt.datetime
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{what} {value!r}: expected an ISO 8601 date or time, e.g. 2019-03-05T05:12:00Z"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def acquisition_times(
    cog: Path, start_time: str | dt.datetime | dt.date | None, end_time: str | dt.datetime | dt.date | None
) -> tuple[str | None, str | None]:
    """The image's ``startTime``/``endTime``: the given ones, else the map's :data:`ACQUISITION_TAGS`.

    Without an end, the end is the start (one acquisition: Earth Engine's ``system:time_end`` equals its start).
    """
    if start_time is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(cog) as src:
                tags = src.tags()
        start = rfc3339(tags.get(ACQUISITION_TAGS[0]), f"{cog}: tag {ACQUISITION_TAGS[0]}")
        if end_time is None:
            end_time = tags.get(ACQUISITION_TAGS[1]) or None
    else:
        start = rfc3339(start_time, "start_time")
    end = rfc3339(end_time, "end_time") if end_time is not None else start
    if start and end and end < start:
        raise InputError(f"end time {end} is before start time {start}")
    return start, end


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


# -- credentials ----------------------------------------------------------------------------------------------------


def has_storage_scope(credentials: Any) -> bool:
    """True if ``credentials`` carry a scope that allows uploading to Cloud Storage (see :data:`STORAGE_SCOPES`)."""
    scopes = set(getattr(credentials, "scopes", None) or ()) | set(getattr(credentials, "default_scopes", None) or ())
    return bool(scopes & set(STORAGE_SCOPES))


def earth_engine_credentials() -> Any:
    """The credentials Earth Engine was initialised with, or None (not initialised, or an emulator: none)."""
    ee = _ee()
    # earthengine-api (pinned at 1.7.50) has no public getter for the credentials it was initialised with; its
    # state object holds them.
    get_state = getattr(ee.data, "_get_state", None)
    return getattr(get_state(), "credentials", None) if get_state is not None else None


def storage_credentials(ee_credentials: Any) -> Any:
    """Credentials for the Cloud Storage upload.

    Earth Engine's own credentials when they carry a storage scope (those of ``earthengine authenticate`` do); a
    service account's, scoped for Cloud Storage (its IAM roles decide what it may do); else Application Default
    Credentials.

    Raises:
        RemoteError: When none is usable, with the one-line hint :data:`STORAGE_CREDENTIALS_HINT`.
    """
    import google.auth
    import google.auth.exceptions

    if ee_credentials is not None:
        if has_storage_scope(ee_credentials):
            return ee_credentials
        if getattr(ee_credentials, "requires_scopes", False) and hasattr(ee_credentials, "with_scopes"):
            return ee_credentials.with_scopes([STORAGE_SCOPES[1]])
    try:
        credentials, _ = google.auth.default(scopes=[STORAGE_SCOPES[1]])
    except (google.auth.exceptions.DefaultCredentialsError, OSError):
        lacking = "Earth Engine's credentials lack the Cloud Storage scope" if ee_credentials is not None else (
            "no credentials for Cloud Storage"
        )  # fmt: skip
        raise RemoteError(f"cannot upload to Cloud Storage: {lacking}; {STORAGE_CREDENTIALS_HINT}") from None
    return credentials


def storage_client(project: str | None = None, *, ee_credentials: Any = None) -> Any:
    """A ``google.cloud.storage.Client`` for the upload.

    The stand-in's when ``STORAGE_EMULATOR_HOST`` is set, else authorised by :func:`storage_credentials` (Earth
    Engine's credentials first) and billed to ``project``.

    Raises:
        RemoteError: If no credentials can reach Cloud Storage (one line with the fix).
    """
    import google.auth.exceptions
    from google.cloud import storage

    try:
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            return storage.Client()
        return storage.Client(project=project, credentials=storage_credentials(ee_credentials))
    except (google.auth.exceptions.DefaultCredentialsError, OSError) as error:
        raise RemoteError(f"cannot create a Cloud Storage client: {_first_line(error)}") from None


# -- bucket, location, object ---------------------------------------------------------------------------------------


def cog_location_problem(location: str | None, location_type: str | None, data_locations: list[str] | None) -> str:
    """Why a bucket cannot back COG-backed assets ("" if it can).

    Earth Engine reads COG-backed assets only from the ``US`` multi-region, a US dual-region that includes
    ``us-central1`` (the predefined ``NAM4``, or a configurable one reported as ``US`` with its data locations), or
    the ``us-central1`` region.
    """
    code = (location or "").upper()
    kind = (location_type or "").lower()
    regions = [region.upper() for region in data_locations or []]
    if kind == "dual-region":
        if code == "NAM4" or (code == "US" and "US-CENTRAL1" in regions):
            return ""
        where = f"{code} ({'+'.join(regions)})" if regions else code
        return f"dual-region {where}, which does not include us-central1"
    if code in ("US", "US-CENTRAL1"):
        return ""
    return f"{kind or 'location'} {code or 'unknown'}"


def probe_bucket(client: Any, location: GcsLocation, *, cog_backed: bool = False, timeout_s: float = 20.0) -> Any:
    """Return the bucket once it exists, answers, and (COG-backed) lies where Earth Engine reads such assets.

    Reading the bucket needs ``storage.buckets.get``. A user with object rights only (``roles/storage.objectAdmin``,
    ``objectUser``) lacks it: the bucket is then checked at the object level (``storage.objects.get`` of the object
    the push writes; absent is fine) and the push goes on - except COG-backed, whose bucket location can only be
    read with ``storage.buckets.get``: one line names that permission.

    Raises:
        RemoteError: If the bucket is missing, forbidden or unreachable (one line naming the missing permission).
        InputError: If ``cog_backed`` and the bucket is outside :data:`COG_LOCATION_RULE` (one line naming both).
    """
    import requests
    from google.api_core import exceptions as api_exceptions
    from google.api_core.retry import Retry

    retry = Retry(initial=0.2, maximum=2.0, timeout=timeout_s)
    try:
        bucket = client.get_bucket(location.bucket, timeout=min(timeout_s, 30.0), retry=retry)
    except api_exceptions.NotFound:
        raise RemoteError(f"gs://{location.bucket}: bucket not found or not accessible; nothing uploaded") from None
    except api_exceptions.Forbidden:
        return _probe_objects(client, location, cog_backed=cog_backed, timeout_s=timeout_s)
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(
            f"gs://{location.bucket}: cannot reach the bucket ({_first_line(error)}); nothing uploaded"
        ) from None
    if cog_backed:
        problem = cog_location_problem(bucket.location, bucket.location_type, bucket.data_locations)
        if problem:
            raise InputError(
                f"gs://{location.bucket}: the bucket is in {problem}; COG-backed assets need {COG_LOCATION_RULE} "
                "(or push without --cog-backed to ingest); nothing uploaded"
            )
    return bucket


def _probe_objects(client: Any, location: GcsLocation, *, cog_backed: bool, timeout_s: float) -> Any:
    """The object-level check of a bucket the user may not read as a whole (no ``storage.buckets.get``)."""
    import requests
    from google.api_core import exceptions as api_exceptions

    bucket = client.bucket(location.bucket)
    try:
        bucket.get_blob(location.object_name(".gee-flood-probe"), timeout=min(timeout_s, 30.0))
    except api_exceptions.Forbidden:
        raise RemoteError(
            f"gs://{location.bucket}: permission denied: your account has neither storage.buckets.get nor "
            "storage.objects.get on the bucket; grant it roles/storage.objectAdmin (or objectUser) on the bucket; "
            "nothing uploaded"
        ) from None
    except api_exceptions.NotFound:
        raise RemoteError(f"gs://{location.bucket}: bucket not found or not accessible; nothing uploaded") from None
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(
            f"gs://{location.bucket}: cannot reach the bucket ({_first_line(error)}); nothing uploaded"
        ) from None
    if cog_backed:
        raise RemoteError(
            f"gs://{location.bucket}: permission storage.buckets.get is missing, so the bucket's location cannot be "
            f"checked (COG-backed assets need {COG_LOCATION_RULE}); grant roles/storage.legacyBucketReader on the "
            "bucket, or push without --cog-backed to ingest; nothing uploaded"
        )
    return bucket


def check_object_owner(client: Any, location: GcsLocation, asset: AssetId, *, overwrite: bool) -> None:
    """Refuse to replace an object that backs another asset (or, without ``overwrite``, an unknown object).

    Cloud Storage object metadata ``gee_flood_asset`` (:data:`OBJECT_ASSET_KEY`) records the asset an object backs.
    """
    import requests
    from google.api_core import exceptions as api_exceptions

    name = location.object_name(asset.object_filename)
    uri = location.uri(asset.object_filename)
    try:
        blob = client.bucket(location.bucket).get_blob(name)
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(f"{uri}: cannot read the object ({_first_line(error)}); nothing uploaded") from None
    if blob is None:
        return
    owner = (blob.metadata or {}).get(OBJECT_ASSET_KEY)
    if owner and owner != str(asset):
        raise InputError(
            f"{uri}: the object backs asset {owner}; not replacing it (use another --bucket prefix); nothing uploaded"
        )
    if not owner and not overwrite:
        raise InputError(
            f"{uri}: an object gee-flood did not write for {asset} is already there; pass --overwrite to replace it"
        )


def _local_path_like(value: str) -> bool:
    text = value.strip()
    return os.path.isabs(text) or bool(re.match(r"^[A-Za-z]:[\\/]", text)) or text.startswith("~")


def shareable_tags(cog: Path) -> dict[str, str]:
    """The map's dataset tags whose values are local paths, rewritten to the file name (empty: nothing to hide)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(cog) as src:
            tags = src.tags()
    return {
        key: re.split(r"[\\/]", value.strip().rstrip("/\\"))[-1]
        for key, value in tags.items()
        if _local_path_like(value)
    }


@contextlib.contextmanager
def shareable_copy(cog: Path) -> Iterator[Path]:
    """``cog`` itself, or a temporary COG copy whose tags carry file names where ``cog``'s carry local paths.

    What is uploaded leaves the machine: names, never paths (maps written before predict wrote names had them).
    """
    rewritten = shareable_tags(cog)
    if not rewritten:
        yield cog
        return
    from gee_flood.inference.output import to_cog

    workdir = Path(tempfile.mkdtemp(prefix=".gee-flood-upload-"))
    try:
        tiled = workdir / "tags.tif"
        shutil.copyfile(cog, tiled)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            # the copy's COG layout is rebuilt by to_cog below
            with rasterio.open(tiled, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
                dst.update_tags(**rewritten)
        yield to_cog(tiled, workdir / cog.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def upload(
    client: Any, cog: Path, location: GcsLocation, *, asset: AssetId | None = None, timeout_s: float = 600.0
) -> str:
    """Upload ``cog`` under ``location`` (whole or not at all) and return its ``gs://`` URI.

    With ``asset``, the object is named after the asset (:attr:`AssetId.object_filename`) and records it in its
    metadata (:data:`OBJECT_ASSET_KEY`); without, it is named after the file.
    """
    import requests
    from google.api_core import exceptions as api_exceptions

    filename = asset.object_filename if asset is not None else cog.name
    blob = client.bucket(location.bucket).blob(location.object_name(filename))
    if asset is not None:
        blob.metadata = {OBJECT_ASSET_KEY: str(asset)}
    try:
        blob.upload_from_filename(str(cog), content_type="image/tiff", timeout=timeout_s)
    except (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, OSError) as error:
        raise RemoteError(f"{location.uri(filename)}: upload failed ({_first_line(error)})") from None
    return location.uri(filename)


# -- Earth Engine assets and operations ----------------------------------------------------------------------------


def _is_missing(error: BaseException) -> bool:
    text = str(error).lower()
    return "not found" in text or "does not exist" in text


def _existing_asset(asset: AssetId | str) -> dict[str, Any] | None:
    ee = _ee()
    try:
        return ee.data.getAsset(str(asset))
    except ee.EEException as error:
        if _is_missing(error):
            return None
        raise RemoteError(f"{asset}: cannot read the asset ({_first_line(error)})") from None


def missing_parent_folders(asset: AssetId) -> list[str]:
    """The asset's parent folders that do not exist yet, outermost first.

    Earth Engine refuses to create an asset whose parent folder (or image collection) does not exist. The nearest
    parent is looked up first: when it exists (the usual case) that is one request.

    Raises:
        InputError: If a parent exists but is an image, not a folder or collection.
    """
    parents = asset.parent_folders
    missing: list[str] = []
    for folder in reversed(parents):
        info = _existing_asset(folder)
        if info is None:
            missing.insert(0, folder)
            continue
        kind = str(info.get("type", "FOLDER")).upper()
        if kind not in ("FOLDER", "IMAGE_COLLECTION"):
            raise InputError(f"--asset {asset}: {folder} is an {kind.lower()}, not a folder")
        break
    return missing


def create_folders(folders: list[str]) -> list[str]:
    """Create ``folders`` (outermost first) with ``ee.data.createFolder``; return those created.

    A folder that appeared meanwhile (another run) counts as there.
    """
    ee = _ee()
    created = []
    for folder in folders:
        try:
            ee.data.createFolder(folder)
        except ee.EEException as error:
            if "already exists" in str(error).lower() or "cannot overwrite" in str(error).lower():
                continue
            raise RemoteError(f"{folder}: cannot create the folder ({_first_line(error)})") from None
        created.append(folder)
    return created


def send_image_import(request_id: str, manifest: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """``POST projects/P/image:import`` with ``requestId``: start an ingestion; return the Operation.

    ``ee.data.startIngestion`` (earthengine-api 1.7.50) retries the call but leaves ``requestId`` out of the body,
    so a retry after a lost response could start a second ingestion. No public call sends the id, so this sends the
    documented REST request (``ImportImageRequest``: ``imageManifest``, ``overwrite``, ``requestId``) through the
    client's own REST resource (its discovery document, credentials, retries and error translation), which only
    private helpers expose. Should a client version lack them, the public ``startIngestion`` is used (retried by the
    client without the id; a lost response is then caught by :func:`_started_ingestion`).
    """
    ee = _ee()
    body = image_import_body(request_id, manifest, overwrite)
    data = ee.data
    private = ("_get_cloud_projects", "_get_projects_path", "_execute_cloud_call", "_get_state")
    if not all(hasattr(data, name) for name in private):
        return dict(data.startIngestion(request_id, manifest, overwrite))
    call = data._get_cloud_projects().image().import_(project=data._get_projects_path(), body=body)
    return dict(data._execute_cloud_call(call, num_retries=data._get_state().max_retries))


def image_import_body(request_id: str, manifest: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """The ``ImportImageRequest`` body: ``imageManifest``, ``overwrite``, ``requestId``."""
    return {"imageManifest": manifest, "overwrite": overwrite, "requestId": request_id}


def attempt_request_id(request_id: str, attempt: int) -> str:
    """The request id of ingestion attempt ``attempt`` (0: ``request_id`` itself; then derived from it)."""
    return request_id if attempt == 0 else str(uuid.uuid5(REQUEST_NAMESPACE, f"{request_id}|attempt {attempt}"))


def _started_ingestion(asset: AssetId, request_id: str) -> str | None:
    """The name of an ingestion into ``asset`` that this request started, if Earth Engine lists one.

    A pending or running ingestion into the asset counts; so does a succeeded one once the asset carries
    ``request_id`` (a small map can be ingested before the client has given up on its lost responses).
    """
    ee = _ee()
    try:
        operations = ee.data.listOperations()
    except ee.EEException:
        return None
    ingested: bool | None = None  # whether the asset carries request_id; looked up at most once
    for operation in operations:
        metadata = operation.get("metadata", {})
        # Earth Engine names the destination as a Code Editor link (".../?asset=projects/P/assets/X"), the emulator
        # as the asset name; the description reads 'Ingest image: "projects/P/assets/X"'.
        destinations = {str(uri).rsplit("asset=", 1)[-1] for uri in metadata.get("destinationUris", [])}
        named = str(asset) in destinations or f'"{asset}"' in str(metadata.get("description", ""))
        if metadata.get("type") != "INGEST_IMAGE" or not named:
            continue
        state = metadata.get("state")
        if state == "SUCCEEDED" and ingested is None:
            properties = (_existing_asset(asset) or {}).get("properties", {})
            ingested = properties.get("gee_flood_request_id") == request_id
        if state in ("PENDING", "RUNNING") or (state == "SUCCEEDED" and ingested):
            return str(operation["name"])
    return None


def start_ingestion(asset: AssetId, request_id: str, manifest: dict[str, Any], overwrite: bool) -> str:
    """Start the ingestion once, however the request fares; return the operation name.

    The request carries a request id (retries cannot start a second operation). Earth Engine lets an id start one
    operation only: when the id answers an operation that already ended without producing this asset (an earlier
    run's FAILED or CANCELLED ingestion), the next attempt's id (:func:`attempt_request_id`) is sent, up to
    :data:`MAX_INGESTION_ATTEMPTS`. If a request still fails (every response lost), Earth Engine is asked whether
    the ingestion started anyway before anything is reported.

    Args:
        asset: Destination.
        request_id: The push's request id (:func:`request_id_for`); also the asset property that marks success.
        manifest: The ImageManifest.
        overwrite: Replace an existing asset.

    Raises:
        RemoteError: If Earth Engine refused the ingestion and none of this request is running or done, or every
            attempt's id is used up by failed ingestions.
    """
    ee = _ee()
    for attempt in range(MAX_INGESTION_ATTEMPTS):
        try:
            started = send_image_import(attempt_request_id(request_id, attempt), manifest, overwrite)
        except ee.EEException as error:
            started_anyway = _started_ingestion(asset, request_id)
            if started_anyway is None:
                raise RemoteError(f"{asset}: Earth Engine refused the ingestion: {_first_line(error)}") from None
            return started_anyway
        name = str(started.get("name") or started.get("id"))
        if not started.get("done"):
            return name  # started now (or by this attempt's earlier, lost request): poll it
        state = str(started.get("metadata", {}).get("state", ""))
        properties = (_existing_asset(asset) or {}).get("properties", {}) if state == "SUCCEEDED" else {}
        if properties.get("gee_flood_request_id") == request_id:
            return name  # this push's ingestion, already done
    raise RemoteError(
        f"{asset}: {MAX_INGESTION_ATTEMPTS} earlier ingestions of this map failed; see them with 'earthengine task "
        "list' and fix the cause before pushing again"
    )


def wait_for_operation(
    name: str,
    *,
    poll_s: float = 2.0,
    timeout_s: float = 3600.0,
    on_progress: Callable[[float, str], None] | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll an Earth Engine operation until it is done; raise its error as one line.

    Each poll goes through :func:`~gee_flood.earthengine.session.with_retries` (the bounded, visible retry of
    reads): a 429, 5xx or dropped connection is retried with backoff within ``retry.timeout_s`` (``--retry-timeout``)
    and says so in a ``warning:`` line; a permanent error ends the wait. The interval between polls grows by half
    from ``poll_s`` up to :data:`MAX_POLL_S`.

    Args:
        name: Operation name (``projects/P/operations/ID``).
        poll_s: Seconds before the second poll (then growing).
        timeout_s: Give up after this long (seconds, on ``clock``).
        on_progress: Called with (fraction 0-1, state) after each poll.
        retry: Retry policy of each poll (default: :class:`RetryPolicy`).
        sleep: How to wait, in seconds (default: the retry loop's interruptible wait); tests pass a fake.
        clock: Monotonic clock in seconds (tests pass a fake with ``sleep``).

    Returns:
        The finished operation.

    Raises:
        RemoteError: The operation failed, a poll failed for good, or ``timeout_s`` passed (one line).
    """
    from gee_flood.earthengine import session

    ee = _ee()
    policy = retry or RetryPolicy()
    wait = sleep or session._wait
    deadline = clock() + timeout_s
    interval = poll_s
    while True:
        operation = with_retries(
            lambda: ee.data.getOperation(name), policy=policy, what=f"polling {name}", sleep=wait, clock=clock
        )
        metadata = operation.get("metadata", {})
        if on_progress is not None:
            on_progress(
                float(metadata.get("progress", 1.0 if operation.get("done") else 0.0)), metadata.get("state", "")
            )
        if operation.get("done"):
            failure = operation.get("error")
            if failure:
                message = failure.get("message", failure) if isinstance(failure, dict) else failure
                raise RemoteError(f"Earth Engine ingestion failed: {_first_line(Exception(message))}")
            return dict(operation)
        if clock() > deadline:
            raise RemoteError(f"{name}: still running after {timeout_s:.0f} s; check it with 'earthengine task info'")
        wait(interval)
        interval = min(interval * 1.5, max(MAX_POLL_S, poll_s))


class PushResult(BaseModel):
    """What a push did."""

    asset: str
    uri: str
    mode: str
    request_id: str
    operation: str | None = None
    already_done: bool = False
    created_folders: list[str] = []
    start_time: str | None = None
    end_time: str | None = None


def push_flood_map(
    cog: str | os.PathLike[str],
    asset: str,
    bucket: str,
    *,
    cog_backed: bool = False,
    overwrite: bool = False,
    create_parents: bool = True,
    client: Any = None,
    poll_s: float = 2.0,
    probe_timeout_s: float = 20.0,
    project: str | None = None,
    ee_url: str | None = None,
    progress: bool = False,
    on_progress: Callable[[float, str], None] | None = None,
    start_time: str | dt.datetime | dt.date | None = None,
    end_time: str | dt.datetime | dt.date | None = None,
    retry: RetryPolicy | None = None,
    request_id: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> PushResult:
    """Upload a gee-flood COG to Cloud Storage and make it an Earth Engine image asset.

    Args:
        cog: The map written by ``gee-flood predict``.
        asset: Destination ``projects/<project>/assets/<path>``.
        bucket: ``gs://bucket[/prefix]`` to upload to; the object is ``<prefix>/<project>/<asset path>.tif``.
        cog_backed: Register a COG-backed asset instead of ingesting (no copy inside Earth Engine; the bucket must
            be in the US multi-region, a US dual-region including us-central1, or us-central1).
        overwrite: Replace an existing asset (and an object gee-flood did not write for it).
        create_parents: Create the asset's missing parent folders (else refuse, naming the first missing one).
        client: A ``google.cloud.storage.Client`` (default: :func:`storage_client`).
        poll_s: Seconds between operation polls.
        probe_timeout_s: How long to try reaching the bucket before giving up.
        project: Cloud project to initialise Earth Engine with (default: the asset's project).
        ee_url: Earth Engine API URL (the emulator); default: Earth Engine itself.
        progress: Show the ingestion's progress as a bar on stderr.
        on_progress: Ingestion progress callback (fraction, state).
        start_time: The acquisition time, set as the image's ``startTime`` (a datetime, date or ISO 8601 string;
            UTC when naive). Default: the map's ``acquisition_start`` tag, if any.
        end_time: The image's ``endTime`` (default: the map's ``acquisition_end`` tag, else the start time).
        retry: Retry policy of the operation polls (default: :class:`RetryPolicy`, bound ``--retry-timeout``).
        request_id: The push's request id (default: derived from the asset, the object URI and the file's
            SHA-256); ``gee-flood watch`` derives it from the acquisition and the model instead, so two runners
            that mapped the same acquisition send the same id and Earth Engine ingests it once.
        properties: More asset properties (numbers and strings), set in the same request as the pixels.

    Returns:
        The asset id, object URI, request id, operation and the folders created.
    """
    asset_id = parse_asset_id(asset)
    location = parse_gcs_location(bucket)
    path = Path(cog)
    bands = describe_map(path)
    start, end = acquisition_times(path, start_time, end_time)
    uri = location.uri(asset_id.object_filename)
    request_id = request_id or request_id_for(asset_id, uri, path)
    mode = "cog-backed" if cog_backed else "ingested"
    ensure_initialized(project or asset_id.project, ee_url)
    existing = _existing_asset(asset_id)
    if existing is not None:
        if existing.get("properties", {}).get("gee_flood_request_id") == request_id:
            return PushResult(asset=str(asset_id), uri=uri, mode=mode, request_id=request_id, already_done=True)
        if not overwrite:
            raise InputError(f"--asset {asset_id}: the asset already exists; pass --overwrite to replace it")
    missing = missing_parent_folders(asset_id) if existing is None else []
    if missing and not create_parents:
        raise InputError(
            f"--asset {asset_id}: parent folder {missing[0]} does not exist; pass --create-parents or create it "
            f"with 'earthengine create folder {missing[0]}'"
        )
    if client is None:
        client = storage_client(project or asset_id.project, ee_credentials=earth_engine_credentials())
    probe_bucket(client, location, cog_backed=cog_backed, timeout_s=probe_timeout_s)
    check_object_owner(client, location, asset_id, overwrite=overwrite)
    with shareable_copy(path) as shared:
        upload(client, shared, location, asset=asset_id)
    created = create_folders(missing)
    ee = _ee()
    manifest = ingestion_manifest(
        asset_id, uri, bands, request_id, start_time=start, end_time=end, properties=properties
    )
    times = {"start_time": start, "end_time": end}
    if cog_backed:
        # image:importExternal (public client call): the manifest's missingData, pyramiding and times apply.
        _call(
            lambda: ee.data.startExternalImageIngestion(manifest, existing is not None),
            f"{asset_id}: Earth Engine refused the COG-backed asset",
        )
        return PushResult(
            asset=str(asset_id), uri=uri, mode=mode, request_id=request_id, created_folders=created, **times
        )
    operation = start_ingestion(asset_id, request_id, manifest, overwrite)
    if progress:
        from gee_flood._progress import rich_progress

        with rich_progress(enabled=True) as bar:
            task = bar.add_task(f"ingesting {asset_id}", total=1.0)

            def show(fraction: float, state: str) -> None:
                bar.update(task, completed=fraction, description=f"ingesting {asset_id} {state.lower()}")
                if on_progress is not None:
                    on_progress(fraction, state)

            wait_for_operation(operation, poll_s=poll_s, on_progress=show, retry=retry)
    else:
        wait_for_operation(operation, poll_s=poll_s, on_progress=on_progress, retry=retry)
    return PushResult(
        asset=str(asset_id), uri=uri, mode=mode, request_id=request_id, operation=operation, created_folders=created,
        **times,
    )  # fmt: skip


def _call(func: Callable[[], Any], message: str) -> Any:
    ee = _ee()
    try:
        return func()
    except ee.EEException as error:
        raise RemoteError(f"{message}: {_first_line(error)}") from None

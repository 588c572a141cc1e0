"""Assets and long-running operations: ingestion from Cloud Storage, COG-backed assets, export to asset.

* ``image:import`` (``ee.data.startIngestion``) starts an ``INGEST_IMAGE`` operation that goes PENDING -> RUNNING
  -> SUCCEEDED (or FAILED with an error message): it reads the manifest's ``gs://bucket/object`` sources (from
  ``bucket_dir/bucket/object`` if that file exists, otherwise with google-cloud-storage, which honours
  ``STORAGE_EMULATOR_HOST``), stacks the manifest's bands into one GeoTIFF under the assets directory and registers
  the image, loadable as ``ee.Image("projects/P/assets/...")``. A repeated non-empty ``requestId`` answers the
  operation it started instead of starting another (see :meth:`AssetService.start_ingestion`).
* ``assets?assetId=`` (``ee.data.createAsset``) creates image collections, folders, and COG-backed images
  (``gcs_location``/``cloud_storage_location``); a source that is not a valid Cloud-Optimized GeoTIFF is refused.
* ``image:importExternal`` registers a COG-backed image from a manifest.
* ``image:export`` (``ee.batch.Export.image.toAsset``) starts an ``EXPORT_IMAGE`` operation that renders the image
  on its export grid and stores it as a COG asset.

Like Earth Engine, every asset created at run time needs an existing parent: the project root
(``projects/P/assets``), a folder or an image collection; otherwise the request is refused with
:data:`MISSING_PARENT_MESSAGE` (create folders first with ``ee.data.createFolder``).

Stored assets keep one mask for all their bands (the GeoTIFF's dataset mask); Earth Engine keeps one per band.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from ee_emulator._io import atomic_path
from ee_emulator.algorithms.images import image_from_catalog
from ee_emulator.catalog import Catalog, CatalogImage, image_from_geotiff
from ee_emulator.errors import EEError
from ee_emulator.objects import EEImage, to_info, type_name
from ee_emulator.pixels import compute_pixels, parse_grid, render_bands
from ee_emulator.pixeltypes import PixelType
from ee_emulator.raster import RenderContext
from ee_emulator.storage import COG_BUCKET_RULE, cog_bucket_allowed

_ASSET_NAME = re.compile(r"projects/(?P<project>[^/]+)/assets/(?P<path>.+)")
_PUBLIC_PROJECTS = ("earthengine-public", "earthengine-legacy")
_DEFAULT_MAX_PIXELS = 1e8
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,60}")

#: Earth Engine's answer to creating an asset whose parent folder or collection does not exist. Assumption: this is
#: the wording (and 404 NOT_FOUND the status) the real service gives for a missing or unwritable parent, as reported
#: by its users (``Asset '...' does not exist or doesn't allow this operation.``); it names the parent.
MISSING_PARENT_MESSAGE = "Asset '{parent}' does not exist or doesn't allow this operation."
#: Google's IAM answer for a resource the caller may not use or that does not exist (assets in unknown projects).
PERMISSION_DENIED_MESSAGE = "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
#: The answer for calls through a Cloud project that does not exist. Assumption: the wording Google's API front end
#: gives for an unknown consumer project (the real answer depends on whether the project exists at all).
UNKNOWN_PROJECT_MESSAGE = "Project '{project}' not found or deleted."
#: The Cloud projects an emulator knows when none are configured (``initialize_ee``'s and gee-flood's default).
DEFAULT_PROJECTS = ("emulator",)
#: Earth Engine's limit on the bands of one image.
MAX_BANDS = 1024


def asset_id_from_name(name: str) -> str:
    """Map a Cloud API asset name to the id images are loaded by.

    ``projects/earthengine-public/assets/X`` (and ``earthengine-legacy``) -> ``X``; any other
    ``projects/P/assets/X`` stays as it is (that is also how ``ee.Image("projects/P/assets/X")`` names it).
    """
    match = _ASSET_NAME.fullmatch(name.rstrip("/"))
    if match is None:
        raise EEError(f"Invalid asset name '{name}': expected 'projects/<project>/assets/<path>'.")
    if match["project"] in _PUBLIC_PROJECTS:
        return match["path"]
    return name.rstrip("/")


def asset_name_from_id(asset_id: str) -> str:
    """The Cloud API name of an asset id."""
    if _ASSET_NAME.fullmatch(asset_id):
        return asset_id
    return f"projects/earthengine-public/assets/{asset_id}"


def _timestamp(seconds: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _millis_from_timestamp(text: Any, where: str) -> int:
    if isinstance(text, int | float):
        return int(text)
    if isinstance(text, dict) and "seconds" in text:
        return int(float(text["seconds"]) * 1000 + float(text.get("nanos", 0)) / 1e6)
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise EEError(f"{where}: invalid timestamp {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(round(moment.timestamp() * 1000))


@dataclass
class Operation:
    """A long-running operation (ingestion or export), as reported by ``operations.get``."""

    name: str
    kind: str
    description: str
    destination: str
    state: str = "PENDING"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    progress: float = 0.0
    error: str | None = None
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The REST Operation resource."""
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
            "state": self.state,
            "description": self.description,
            "type": self.kind,
            "createTime": _timestamp(self.created),
            "updateTime": _timestamp(self.updated),
            "progress": self.progress,
            "attempt": 1,
            "destinationUris": [self.destination],
        }
        if self.started is not None:
            metadata["startTime"] = _timestamp(self.started)
        if self.ended is not None:
            metadata["endTime"] = _timestamp(self.ended)
        body: dict[str, Any] = {"name": self.name, "metadata": metadata}
        done = self.state in ("SUCCEEDED", "FAILED", "CANCELLED")
        body["done"] = done
        if self.state == "FAILED":
            body["error"] = {"code": 3, "message": self.error or "failed"}
        elif self.state == "CANCELLED":
            body["error"] = {"code": 1, "message": "Cancelled."}
        elif done:
            body["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        return body


class AssetService:
    """Run-time assets (ingested, COG-backed, exported) and the operations that create them."""

    def __init__(
        self,
        catalog: Catalog,
        assets_dir: Path,
        *,
        bucket_dir: Path | None,
        step_s: float,
        evaluate: Callable[[Any, str], Any],
        projects: list[str] | tuple[str, ...] | None = None,
        bucket_locations: dict[str, str] | None = None,
    ) -> None:
        """Serve assets into ``catalog``, storing files under ``assets_dir``.

        Args:
            catalog: Catalog the new images are registered in.
            assets_dir: Directory for asset GeoTIFFs.
            bucket_dir: Local stand-in for Cloud Storage (``bucket_dir/bucket/object``), or None.
            step_s: Seconds an operation stays PENDING and then RUNNING before it works (observable states).
            evaluate: Evaluates an expression graph for a project (exports).
            projects: The Cloud projects that exist (None: :data:`DEFAULT_PROJECTS`).
            bucket_locations: Location spec of each ``bucket_dir`` bucket (see
                :func:`ee_emulator.storage.bucket_location_fields`); a bucket not named is in ``US``.
        """
        self.catalog = catalog
        self.assets_dir = assets_dir
        self.assets_dir.mkdir(parents=True, exist_ok=True)
        self.bucket_dir = bucket_dir
        self.step_s = step_s
        self.evaluate = evaluate
        self.operations: dict[str, Operation] = {}
        self.request_ids: dict[tuple[str, str], str] = {}  # (project, requestId) -> operation name
        self.folders: set[str] = set()
        self.pyramiding: dict[str, dict[str, str]] = {}
        self.projects: frozenset[str] = frozenset(DEFAULT_PROJECTS if projects is None else projects)
        self.bucket_locations = {name: spec for name, spec in (bucket_locations or {}).items()}
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gee-flood-emulator-op")

    def shutdown(self) -> None:
        """Wait for running operations to finish."""
        self._executor.shutdown(wait=True, cancel_futures=False)

    # -- projects ----------------------------------------------------------------------------------------------

    def check_consumer_project(self, project: str) -> None:
        """Refuse a call through a Cloud project that does not exist (is not configured).

        Raises:
            EEError: 403 PERMISSION_DENIED with :data:`UNKNOWN_PROJECT_MESSAGE`.
        """
        if project not in self.projects and project not in _PUBLIC_PROJECTS:
            raise EEError(UNKNOWN_PROJECT_MESSAGE.format(project=f"projects/{project}"), 403)

    def require_project(self, asset_id: str, permission: str) -> None:
        """Refuse an asset in a project that does not exist, as Earth Engine's IAM check does.

        Public catalog ids and ``earthengine-public``/``earthengine-legacy`` names are always there; so is a project
        the catalog itself holds images of.

        Raises:
            EEError: 403 PERMISSION_DENIED with :data:`PERMISSION_DENIED_MESSAGE`.
        """
        match = _ASSET_NAME.fullmatch(asset_id)
        if match is None or match["project"] in _PUBLIC_PROJECTS:
            return
        project = match["project"]
        if project in self.projects or any(
            image_id.startswith(f"projects/{project}/") for image_id in self.catalog.images
        ):
            return
        raise EEError(PERMISSION_DENIED_MESSAGE.format(permission=permission, resource=asset_id), 403)

    # -- dispatch ----------------------------------------------------------------------------------------------

    def handle(
        self, endpoint: str, params: dict[str, str], query: dict[str, str], payload: dict[str, Any], project: str
    ) -> Any:
        """Answer an asset or operation request (JSON-ready)."""
        if endpoint == "image:import":
            return self.start_ingestion(payload, project)
        if endpoint == "image:importExternal":
            return self.import_external(payload, overwrite=bool(payload.get("overwrite")))
        if endpoint == "image:export":
            return self.start_export(payload, project)
        if endpoint == "assets.create":
            return self.create_asset(f"projects/{params['project']}", query.get("assetId"), payload)
        if endpoint == "assets.get":
            return self.describe(f"projects/{params['project']}/assets/{params['asset']}")
        if endpoint == "assets.patch":
            return self.update(f"projects/{params['project']}/assets/{params['asset']}", payload, query)
        if endpoint == "assets.delete":
            return self.delete(f"projects/{params['project']}/assets/{params['asset']}")
        if endpoint == "assets.list":
            parent = f"projects/{params['project']}/assets/{params.get('asset', '')}".rstrip("/")
            return self.list_assets(parent, query)
        if endpoint == "assets.getPixels":
            self.require_project(f"projects/{params['project']}/assets/{params['asset']}", "earthengine.assets.get")
            image = self._load(asset_id_from_name(f"projects/{params['project']}/assets/{params['asset']}"))
            return self._pixels(image, payload)
        if endpoint == "operations.list":
            own = f"projects/{params['project']}/operations/"
            with self._lock:  # a project's own operations only
                return {"operations": [op.to_json() for op in self.operations.values() if op.name.startswith(own)]}
        if endpoint == "operations.get":
            return self._operation(params["project"], params["operation"]).to_json()
        if endpoint == "operations.cancel":
            operation = self._operation(params["project"], params["operation"])
            with self._lock:
                if operation.state in ("PENDING", "RUNNING"):
                    operation.cancelled = True
                    operation.state = "CANCELLING"
                    operation.updated = time.time()
            return {}
        raise EEError(f"{endpoint} is not implemented by the gee-flood emulator", 501)

    def _pixels(self, image: EEImage, payload: dict[str, Any]) -> Any:
        # getPixels answers raw bytes; the server wraps JSON answers, so signal bytes with a tuple.
        return _RawAnswer(*compute_pixels(image, payload))

    def _operation(self, project: str, operation_id: str) -> Operation:
        name = f"projects/{project}/operations/{operation_id}"
        with self._lock:
            operation = self.operations.get(name)
        if operation is None:
            raise EEError(f"Operation {name} not found.", 404)
        return operation

    def _load(self, asset_id: str) -> EEImage:
        record = self.catalog.find_image(asset_id)
        if record is None:
            raise EEError(f"Asset '{asset_id}' not found (does not exist or caller does not have access).", 404)
        return image_from_catalog(record)  # getPixels of a stored asset: its pixels as stored (nearest)

    # -- operations ----------------------------------------------------------------------------------------------

    def _start(self, project: str, kind: str, description: str, destination: str, work: Callable[[], None]) -> dict:
        operation_id = uuid.uuid4().hex[:24].upper()
        operation = Operation(f"projects/{project}/operations/{operation_id}", kind, description, destination)
        with self._lock:
            self.operations[operation.name] = operation
        self._executor.submit(self._run, operation, work)
        return operation.to_json()

    def _set(self, operation: Operation, state: str, **changes: Any) -> bool:
        with self._lock:
            if operation.cancelled and state not in ("CANCELLED",):
                operation.state = "CANCELLED"
                operation.ended = operation.updated = time.time()
                return False
            operation.state = state
            operation.updated = time.time()
            for key, value in changes.items():
                setattr(operation, key, value)
            return True

    def _run(self, operation: Operation, work: Callable[[], None]) -> None:
        time.sleep(self.step_s)
        if not self._set(operation, "RUNNING", started=time.time(), progress=0.1):
            return
        time.sleep(self.step_s)
        try:
            work()
        except EEError as error:
            self._set(operation, "FAILED", error=error.message, ended=time.time())
            return
        except Exception as error:  # noqa: BLE001 - any failure of the work is the operation's failure
            self._set(operation, "FAILED", error=f"{type(error).__name__}: {error}", ended=time.time())
            return
        self._set(operation, "SUCCEEDED", progress=1.0, ended=time.time())

    # -- ingestion ----------------------------------------------------------------------------------------------

    def start_ingestion(self, payload: dict[str, Any], project: str) -> dict[str, Any]:
        """``image:import``: validate the manifest now, ingest in an operation."""
        manifest = payload.get("imageManifest")
        if not isinstance(manifest, dict):
            raise EEError("image:import: imageManifest is required.")
        name = str(manifest.get("name") or "")
        asset_id = asset_id_from_name(name)
        self.require_project(asset_id, "earthengine.assets.create")
        tilesets = manifest.get("tilesets")
        if not isinstance(tilesets, list) or not tilesets:
            raise EEError("image:import: the manifest needs at least one tileset with sources.")
        _check_manifest_bands(manifest)
        overwrite = bool(payload.get("overwrite"))
        self.require_parent(asset_id)
        request_id = str(payload.get("requestId") or "")
        if request_id and not _REQUEST_ID.fullmatch(request_id):
            raise EEError(
                f"Invalid requestId '{request_id[:80]}': it may contain a-z, A-Z, 0-9 and '-', at most 60 characters."
            )
        description = f'Ingest image: "{asset_id}"'
        with self._lock:
            earlier = self.operations.get(self.request_ids.get((project, request_id), "")) if request_id else None
            if earlier is not None:
                # The REST reference: "only one of those requests may successfully start a long-running operation".
                # Assumption (AIP-155): a duplicate answers the operation the first request started, whatever its
                # state - a FAILED or CANCELLED one included, so a rerun after a failure needs a new request id.
                return earlier.to_json()
            started = self._start(project, "INGEST_IMAGE", description, name, lambda: self._ingest(manifest, overwrite))
            if request_id:
                self.request_ids[(project, request_id)] = started["name"]
        return started

    def _ingest(self, manifest: dict[str, Any], overwrite: bool) -> None:
        name = str(manifest["name"])
        asset_id = asset_id_from_name(name)
        if self.catalog.find_image(asset_id) is not None and not overwrite:
            raise EEError(f"Cannot overwrite asset '{name}'.")
        work_dir = self.assets_dir / ".ingest" / uuid.uuid4().hex
        work_dir.mkdir(parents=True)
        try:
            tileset_files: dict[str, Path] = {}
            for position, tileset in enumerate(manifest["tilesets"]):
                sources = tileset.get("sources") or []
                if len(sources) != 1 or len(sources[0].get("uris") or []) < 1:
                    raise EEError(
                        "Ingestion: the gee-flood emulator supports exactly one source (one GeoTIFF) per tileset."
                    )
                uri = sources[0]["uris"][0]
                local = work_dir / f"tileset{position}.tif"
                self.fetch_object(uri, local)
                tileset_files[str(tileset.get("id", ""))] = local
            self._write_ingested(manifest, tileset_files, asset_id, overwrite)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _write_ingested(
        self, manifest: dict[str, Any], tilesets: dict[str, Path], asset_id: str, overwrite: bool
    ) -> None:
        if manifest.get("maskBands"):
            raise EEError("Ingestion: maskBands are not implemented by the gee-flood emulator.")
        datasets = {key: rasterio.open(path) for key, path in tilesets.items()}
        try:
            first = next(iter(datasets.values()))
            for key, dataset in datasets.items():
                if dataset.crs != first.crs or dataset.transform != first.transform or dataset.shape != first.shape:
                    raise EEError(
                        f"Ingestion: tileset '{key}' has a different grid; the gee-flood emulator needs all "
                        "tilesets on one grid."
                    )
            bands = manifest.get("bands") or [
                {"id": f"b{index + 1}", "tilesetId": key, "tilesetBandIndex": band}
                for index, (key, band) in enumerate(
                    (key, band) for key, dataset in datasets.items() for band in range(dataset.count)
                )
            ]
            arrays, names, nodata_values, policies = [], [], [], {}
            default_missing = _missing_value(manifest.get("missingData"))
            for band in bands:
                key = str(band.get("tilesetId", next(iter(datasets))))
                if key not in datasets:
                    raise EEError(f"Ingestion: band '{band.get('id')}' names unknown tileset '{key}'.")
                dataset = datasets[key]
                if "tilesetBandIndex" not in band and dataset.count > 1:
                    # Assumption: the service does not guess which band of a multi-band file is meant.
                    raise EEError(
                        f"Ingestion: band '{band.get('id')}' has no tilesetBandIndex and tileset '{key}' has "
                        f"{dataset.count} bands."
                    )
                index = int(band.get("tilesetBandIndex", 0))
                if not 0 <= index < dataset.count:
                    raise EEError(f"Ingestion: band '{band.get('id')}' tilesetBandIndex {index} is out of range.")
                arrays.append(dataset.read(index + 1))
                names.append(str(band["id"]))
                missing = _missing_value(band.get("missingData"))
                nodata_values.append(missing if missing is not None else default_missing)
                policies[str(band["id"])] = str(
                    band.get("pyramidingPolicy") or manifest.get("pyramidingPolicy") or "MEAN"
                )
            if len(arrays) > MAX_BANDS:
                raise EEError(f"Ingestion: the image would have {len(arrays)} bands; at most {MAX_BANDS} are allowed.")
            # Without missingData no value is missing data: the file's own nodata tag is not used (assumption: the
            # service takes missing data from the manifest only; the reference documents no fallback).
            profile = {"crs": first.crs, "transform": first.transform}
        finally:
            for dataset in datasets.values():
                dataset.close()
        properties = dict(manifest.get("properties") or {})
        if manifest.get("startTime") is not None:
            properties["system:time_start"] = _millis_from_timestamp(manifest["startTime"], "startTime")
        if manifest.get("endTime") is not None:
            properties["system:time_end"] = _millis_from_timestamp(manifest["endTime"], "endTime")
        path = self._asset_path(asset_id)
        dtype = np.result_type(*[array.dtype for array in arrays])
        with atomic_path(path) as tmp, rasterio.open(
            tmp, "w", driver="GTiff", width=arrays[0].shape[1], height=arrays[0].shape[0], count=len(arrays),
            dtype=dtype.name, crs=profile["crs"], transform=profile["transform"], compress="deflate", tiled=True,
        ) as out:  # fmt: skip
            out.write(np.stack([array.astype(dtype) for array in arrays]))
            out.descriptions = tuple(names)
        image = image_from_geotiff(path, asset_id, bands=names, properties=properties, nodata=nodata_values)
        self.catalog.add_asset(image, overwrite=True if overwrite else False)
        self.pyramiding[asset_id] = policies

    def fetch_object(self, uri: str, destination: Path) -> None:
        """Copy ``gs://bucket/object`` to a local file (bucket directory first, then Cloud Storage)."""
        match = re.fullmatch(r"gs://([^/]+)/(.+)", str(uri))
        if match is None:
            raise EEError(f"Invalid Cloud Storage URI '{uri}': expected gs://bucket/object.")
        bucket, blob_name = match.groups()
        if self.bucket_dir is not None:
            local = self.bucket_dir / bucket / blob_name
            if local.is_file():
                shutil.copyfile(local, destination)
                return
        try:
            _storage_client().bucket(bucket).blob(blob_name).download_to_filename(str(destination))
        except Exception as error:  # noqa: BLE001 - storage, auth and transport errors all mean "unreadable"
            destination.unlink(missing_ok=True)
            reason = " ".join(str(error).split())[:300]
            raise EEError(f"Unable to read '{uri}': {reason}") from None

    def require_parent(self, asset_id: str) -> None:
        """Refuse (as Earth Engine does) an asset whose parent folder or image collection does not exist.

        The project root ``projects/P/assets`` always exists; ids outside ``projects/`` (public catalog ids) are not
        checked. A parent exists when it was created as a folder or collection, or when catalog assets lie under it
        (the catalog's own implicit folders).

        Raises:
            EEError: 404 NOT_FOUND with :data:`MISSING_PARENT_MESSAGE` naming the missing parent.
        """
        match = _ASSET_NAME.fullmatch(asset_id)
        if match is None or "/" not in match["path"]:
            return
        parent = asset_id.rsplit("/", 1)[0]
        if parent in self.folders or self.catalog.find_collection(parent) is not None or self.catalog.children(parent):
            return
        raise EEError(MISSING_PARENT_MESSAGE.format(parent=parent), 404, "NOT_FOUND")

    # -- COG-backed and created assets --------------------------------------------------------------------------

    def create_asset(self, parent: str, asset_path: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        """``assets.create``: an image collection, a folder, or a COG-backed image."""
        if not asset_path:
            raise EEError("assets.create: assetId is required.")
        name = f"{parent}/assets/{asset_path}"
        asset_id = asset_id_from_name(name)
        kind = str(payload.get("type", "")).upper()
        self.require_project(asset_id, "earthengine.assets.create")
        if self.catalog.find_image(asset_id) is not None or self.catalog.find_collection(asset_id) is not None or (
            asset_id in self.folders
        ):  # fmt: skip
            raise EEError(f"Cannot overwrite asset '{name}'.", 409, "ALREADY_EXISTS")
        self.require_parent(asset_id)
        properties = dict(payload.get("properties") or {})
        if kind in ("IMAGE_COLLECTION", "IMAGECOLLECTION"):
            self.catalog.add_collection(asset_id, properties)
        elif kind == "FOLDER":
            self.folders.add(asset_id)
        elif kind == "IMAGE":
            location = (
                payload.get("cloud_storage_location")
                or payload.get("cloudStorageLocation")
                or payload.get("gcs_location")
                or payload.get("gcsLocation")
            )
            uris = (location or {}).get("uris") or []
            if len(uris) != 1:
                raise EEError("assets.create: an IMAGE asset needs cloud_storage_location with exactly one uri.")
            for key, time_key in (("startTime", "system:time_start"), ("endTime", "system:time_end")):
                if payload.get(key) is not None:
                    properties[time_key] = _millis_from_timestamp(payload[key], key)
            self._register_cog(asset_id, str(uris[0]), properties, bands=None)
        else:
            raise EEError(f"assets.create: asset type '{payload.get('type')}' is not implemented by the emulator.")
        return self.describe(name)

    def import_external(self, payload: dict[str, Any], *, overwrite: bool = False) -> dict[str, Any]:
        """``image:importExternal``: a COG-backed image from a manifest (one tileset, one source).

        The manifest's bands name the file's bands in order (``tilesetBandIndex`` 0, 1...); their ``missingData``
        (or the manifest's) is the image's missing data - without it no value is missing, whatever the file's
        nodata tag says; ``pyramidingPolicy`` and ``startTime``/``endTime`` are kept.
        """
        manifest = payload.get("imageManifest") or {}
        name = str(manifest.get("name") or "")
        asset_id = asset_id_from_name(name)
        self.require_project(asset_id, "earthengine.assets.create")
        if self.catalog.find_image(asset_id) is not None and not overwrite:
            raise EEError(f"Cannot overwrite asset '{name}'.", 409, "ALREADY_EXISTS")
        self.require_parent(asset_id)
        tilesets = manifest.get("tilesets") or []
        try:
            (tileset,) = tilesets
            ((uri,),) = [source["uris"] for source in tileset["sources"]]
        except (ValueError, KeyError, TypeError):
            raise EEError("image:importExternal: the manifest needs one tileset with one source uri.") from None
        _check_manifest_bands(manifest)
        properties = dict(manifest.get("properties") or {})
        for key, system in (("startTime", "system:time_start"), ("endTime", "system:time_end")):
            if manifest.get(key) is not None:
                properties[system] = _millis_from_timestamp(manifest[key], key)
        self._register_cog(asset_id, str(uri), properties, bands=None, overwrite=overwrite, manifest=manifest)
        return {}

    def _register_cog(
        self,
        asset_id: str,
        uri: str,
        properties: dict[str, Any],
        *,
        bands: list[str] | None,
        overwrite: bool = False,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        from rio_cogeo.cogeo import cog_validate

        self._check_cog_bucket(uri)
        path = self._asset_path(asset_id)
        nodata: list[float | None] | None = None
        with atomic_path(path) as tmp:
            self.fetch_object(uri, tmp)
            valid, errors, _ = cog_validate(str(tmp), quiet=True)
            if not valid:
                raise EEError(f"'{uri}' is not a valid Cloud Optimized GeoTIFF: {'; '.join(errors)[:300]}")
            if manifest is not None:
                with rasterio.open(tmp) as dataset:
                    bands, nodata, policies = _external_bands(manifest, dataset.count, dataset.descriptions)
        image = image_from_geotiff(path, asset_id, bands=bands, properties=properties, nodata=nodata)
        self.catalog.add_asset(image, overwrite=overwrite)
        if manifest is not None:
            self.pyramiding[asset_id] = policies

    def _check_cog_bucket(self, uri: str) -> None:
        """Refuse a COG-backed source whose bucket Earth Engine cannot read from (see :data:`COG_BUCKET_RULE`).

        One rule for both stand-ins of Cloud Storage: a bucket served from ``bucket_dir`` has the location given in
        ``bucket_locations`` (``US`` when not named), one served through google-cloud-storage the location it
        reports. Assumption: Earth Engine's wording is not published; the message states the documented rule and
        names the bucket and its location.
        """
        from ee_emulator.storage import bucket_location_fields

        match = re.fullmatch(r"gs://([^/]+)/(.+)", uri)
        if match is None:
            return
        if self.bucket_dir is not None and (self.bucket_dir / match[1] / match[2]).is_file():
            fields = bucket_location_fields(self.bucket_locations.get(match[1], "US"))
            location, location_type = fields["location"], fields["locationType"]
            data_locations = fields.get("customPlacementConfig", {}).get("dataLocations")
        else:
            try:
                bucket = _storage_client().get_bucket(match[1])
            except Exception as error:  # noqa: BLE001 - storage, auth and transport errors all mean "unreadable"
                raise EEError(f"Unable to read '{uri}': {' '.join(str(error).split())[:300]}") from None
            location, location_type, data_locations = bucket.location, bucket.location_type, bucket.data_locations
        if not cog_bucket_allowed(location, location_type, data_locations):
            raise EEError(
                f"Cloud Storage bucket '{match[1]}' is in {location_type or 'location'} {location}; "
                f"COG-backed assets need a bucket in {COG_BUCKET_RULE}.",
                400,
                "FAILED_PRECONDITION",
            )

    def _asset_path(self, asset_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", asset_id).strip("_")
        return self.assets_dir / f"{safe}.tif"

    # -- export to asset ---------------------------------------------------------------------------------------

    def start_export(self, payload: dict[str, Any], project: str) -> dict[str, Any]:
        """``image:export`` (to an asset): evaluate now (bad expressions answer 400), render in an operation."""
        options = payload.get("assetExportOptions") or {}
        destination = (options.get("earthEngineDestination") or {}).get("name")
        if not destination:
            raise EEError(
                "image:export: only exports to Earth Engine assets (assetExportOptions.earthEngineDestination) are "
                "implemented by the gee-flood emulator."
            )
        asset_id = asset_id_from_name(str(destination))
        self.require_project(asset_id, "earthengine.assets.create")
        self.require_parent(asset_id)
        overwrite = bool((options.get("earthEngineDestination") or {}).get("overwrite"))
        image = self.evaluate(payload.get("expression"), project)
        if not isinstance(image, EEImage):
            raise EEError(f"image:export: the expression must be an Image, got {type_name(image)}.")
        grid = _export_grid(image, payload.get("grid"))
        max_pixels = float((payload.get("maxPixels") or {}).get("value", _DEFAULT_MAX_PIXELS))
        if grid.width * grid.height > max_pixels:
            raise EEError(
                f"Export too large: specified {grid.width * grid.height} pixels (max: {int(max_pixels)}). "
                "Specify higher maxPixels value if you intend to export a large area."
            )
        policies = {str(k): str(v) for k, v in (options.get("pyramidingPolicyOverrides") or {}).items()}
        description = str(payload.get("description") or "myExportImageTask")

        def work() -> None:
            if self.catalog.find_image(asset_id) is not None and not overwrite:
                raise EEError(f"Cannot overwrite asset '{destination}'.")
            self._write_export(image, grid, asset_id, policies)

        return self._start(project, "EXPORT_IMAGE", description, str(destination), work)

    def _write_export(self, image: EEImage, grid: Any, asset_id: str, policies: dict[str, str]) -> None:
        from rio_cogeo.cogeo import cog_translate
        from rio_cogeo.profiles import cog_profiles

        arrays = render_bands(image.bands, grid)
        ctx = RenderContext(grid)
        valid = np.zeros((grid.height, grid.width), dtype=bool)
        for band in image.bands:
            valid |= band.node.render(ctx)[1]
        dtype = np.result_type(*arrays)
        if dtype == np.int8:
            dtype = np.dtype(np.int16)
        path = self._asset_path(asset_id)
        profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": len(arrays),
                   "dtype": dtype.name, "crs": grid.crs, "transform": grid.transform}  # fmt: skip
        with rasterio.MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(np.stack([array.astype(dtype) for array in arrays]))
                dataset.write_mask(valid.astype(np.uint8) * 255)
                dataset.descriptions = tuple(band.name for band in image.bands)
            with memory.open() as source, atomic_path(path) as tmp:
                cog_translate(source, str(tmp), cog_profiles.get("deflate"), quiet=True, in_memory=True)
        properties = {k: v for k, v in image.properties.items() if not str(k).startswith("system:")}
        for key in ("system:time_start", "system:time_end"):
            if image.properties.get(key) is not None:
                properties[key] = image.properties[key]
        stored = image_from_geotiff(path, asset_id, bands=image.band_names(), properties=_plain(properties))
        self.catalog.add_asset(stored, overwrite=True)
        self.pyramiding[asset_id] = {band.name: policies.get(band.name, "MEAN") for band in image.bands}

    # -- description, listing, deletion -------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        """``assets.get``: an EarthEngineAsset description."""
        asset_id = asset_id_from_name(name)
        self.require_project(asset_id, "earthengine.assets.get")
        record = self.catalog.find_image(asset_id)
        if record is not None:
            return self._image_description(record)
        if self.catalog.find_collection(asset_id) is not None:
            properties = self.catalog.collection_properties.get(asset_id, {})
            return {"type": "IMAGE_COLLECTION", "name": asset_name_from_id(asset_id), "id": asset_id,
                    "updateTime": _timestamp(), "properties": properties}  # fmt: skip
        if asset_id in self.folders:
            return {"type": "FOLDER", "name": asset_name_from_id(asset_id), "id": asset_id, "updateTime": _timestamp()}
        raise EEError(f"Asset '{asset_id}' not found (does not exist or caller does not have access).", 404)

    def _image_description(self, record: CatalogImage) -> dict[str, Any]:
        policies = self.pyramiding.get(record.image_id, {})
        bands = []
        # Each band's own grid (a multi-resolution catalog image keeps its 20 m and 60 m bands on their grids).
        for band, dtype, source in zip(record.bands, record.dtypes, record.sources(), strict=True):
            a, b, c, d, e, f = source.grid.transform[:6]
            ptype = PixelType.from_dtype(dtype)
            data_type: dict[str, Any] = {"precision": ptype.precision.upper()}
            if ptype.precision == "int":
                data_type["range"] = {"min": ptype.min, "max": ptype.max}
            bands.append({
                "id": band,
                "dataType": data_type,
                "grid": {
                    "dimensions": {"width": source.grid.width, "height": source.grid.height},
                    "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e,
                                        "translateY": f},
                    "crsCode": source.grid.crs,
                },
                "pyramidingPolicy": policies.get(band, "MEAN"),
            })  # fmt: skip
        properties = {k: v for k, v in record.properties.items() if not k.startswith("system:")}
        description: dict[str, Any] = {
            "type": "IMAGE",
            "name": asset_name_from_id(record.image_id),
            "id": record.image_id,
            "updateTime": _timestamp(record.version / 1e6),
            "properties": properties,
            "bands": bands,
            "geometry": record.footprint,
            "sizeBytes": str(record.size_bytes()),
        }
        for key, out in (("system:time_start", "startTime"), ("system:time_end", "endTime")):
            if key in record.properties:
                description[out] = _timestamp(float(record.properties[key]) / 1000.0)
        return description

    def list_assets(self, parent: str, query: dict[str, str]) -> dict[str, Any]:
        """``listAssets``: the children of a folder, collection or project root (``projects/P/assets``)."""
        root = re.fullmatch(r"projects/([^/]+)/assets/?", parent)
        self.require_project(f"{parent.rstrip('/')}/x" if root is not None else parent, "earthengine.assets.list")
        if root is not None:
            parent_id = "" if root.group(1) in _PUBLIC_PROJECTS else parent.rstrip("/")
        else:
            parent_id = asset_id_from_name(parent)
        children = self.catalog.children(parent_id) if parent_id else self._public_roots()
        known = {child for child, _ in children}
        prefix = parent_id.rstrip("/") + "/" if parent_id else ""
        for folder in sorted(self.folders):
            if folder.startswith(prefix) and "/" not in folder[len(prefix) :] and folder not in known:
                children.append((folder, "FOLDER"))
        exists = root is not None or self.catalog.find_collection(parent_id) is not None or parent_id in self.folders
        if not children and not exists:
            raise EEError(f"Asset '{parent_id}' not found (does not exist or caller does not have access).", 404)
        page_size = int(query.get("pageSize") or 0)
        if page_size:
            children = children[:page_size]
        assets = [
            {"type": kind, "name": asset_name_from_id(child), "id": child, "updateTime": _timestamp()}
            for child, kind in sorted(children)
        ]
        return {"assets": assets}

    def _public_roots(self) -> list[tuple[str, str]]:
        ids = [*self.catalog.collections, *self.catalog.images]
        tops = {asset_id.split("/", 1)[0] for asset_id in ids if not asset_id.startswith("projects/")}
        return [(top, "FOLDER") for top in sorted(tops)]

    def update(self, name: str, payload: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """``assets.patch`` (``updateAsset``/``setAssetProperties``): properties and start/end times of an image.

        The body is ``{"asset": {...}, "updateMask": {"paths": [...]}}``; a path named in the mask but unset in the
        asset deletes that value; the path ``properties`` replaces them all; no mask updates everything given.
        """
        asset_id = asset_id_from_name(name)
        self.require_project(asset_id, "earthengine.assets.update")
        record = self.catalog.find_image(asset_id)
        if record is None:
            raise EEError(f"Asset '{asset_id}' not found (does not exist or caller does not have access).", 404)
        asset = dict(payload.get("asset") or {})
        paths = list((payload.get("updateMask") or {}).get("paths") or [])
        paths += [path for path in (query.get("updateMask") or "").split(",") if path]
        new = dict(asset.get("properties") or {})
        properties = dict(record.properties)
        if not paths:
            paths = ["properties." + key for key in new] + [k for k in ("start_time", "end_time") if k in asset]
        for path in paths:
            if path == "properties":
                properties = {k: v for k, v in properties.items() if k.startswith("system:")}
                properties.update({k: v for k, v in new.items() if v is not None})
            elif path.startswith("properties."):
                key = path.split(".", 1)[1].strip('"')
                if new.get(key) is None:
                    properties.pop(key, None)
                else:
                    properties[key] = new[key]
            elif path in ("start_time", "startTime", "end_time", "endTime"):
                field_name = "startTime" if path.startswith("start") else "endTime"
                system = "system:time_start" if path.startswith("start") else "system:time_end"
                value = asset.get(field_name, asset.get(path))
                if value is None:
                    properties.pop(system, None)
                else:
                    properties[system] = _millis_from_timestamp(value, field_name)
            else:
                raise EEError(f"assets.patch: updating '{path}' is not implemented by the gee-flood emulator.")
        self.catalog.add_asset(dataclasses.replace(record, properties=properties), overwrite=True)
        return self.describe(name)

    def delete(self, name: str) -> dict[str, Any]:
        """``assets.delete``: an image, an empty folder or an empty image collection.

        A folder or collection that still holds assets is refused (400 FAILED_PRECONDITION), as Earth Engine refuses
        it; nothing is orphaned. Assumption: the wording is the emulator's (the service's is not published).
        """
        asset_id = asset_id_from_name(name)
        self.require_project(asset_id, "earthengine.assets.delete")
        record = self.catalog.find_image(asset_id)
        if asset_id in self.folders or (record is None and self.catalog.find_collection(asset_id) is not None):
            prefix = asset_id + "/"
            inside = [child for child, _ in self.catalog.children(asset_id)]
            inside += [folder for folder in self.folders if folder.startswith(prefix)]
            if inside:
                raise EEError(
                    f"Cannot delete asset '{asset_id}': it is not empty ({len(inside)} asset(s) inside, e.g. "
                    f"'{sorted(inside)[0]}'); delete them first.",
                    400,
                    "FAILED_PRECONDITION",
                )
        if asset_id in self.folders:
            self.folders.discard(asset_id)
            return {}
        if not self.catalog.remove_asset(asset_id):
            raise EEError(f"Asset '{asset_id}' not found (does not exist or caller does not have access).", 404)
        if record is not None and self.assets_dir in record.path.parents:
            record.path.unlink(missing_ok=True)
        return {}


def _storage_client() -> Any:
    """A Cloud Storage client: anonymous against ``STORAGE_EMULATOR_HOST``, else Application Default Credentials."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="gee-flood-emulator", credentials=AnonymousCredentials())
    return storage.Client()


@dataclass
class _RawAnswer:
    """A binary answer (bytes + content type) returned through the JSON-answer path."""

    body: bytes
    content_type: str


def _check_manifest_bands(manifest: dict[str, Any]) -> None:
    """Refuse, when the request arrives, band lists the service cannot map onto the tilesets.

    More than :data:`MAX_BANDS` bands; a band naming a tileset the manifest lacks; two bands of one tileset of which
    one has no ``tilesetBandIndex`` (assumption: the service does not default it to 0 - the wording is the
    emulator's).
    """
    bands = manifest.get("bands") or []
    if len(bands) > MAX_BANDS:
        raise EEError(f"The manifest has {len(bands)} bands; an image may have at most {MAX_BANDS}.")
    tileset_ids = [str(tileset.get("id", "")) for tileset in manifest.get("tilesets") or []]
    per_tileset: dict[str, int] = {}
    for band in bands:
        key = str(band.get("tilesetId", ""))
        if key not in tileset_ids:
            raise EEError(f"Band '{band.get('id')}' refers to tileset '{key}', which the manifest does not define.")
        per_tileset[key] = per_tileset.get(key, 0) + 1
    for band in bands:
        key = str(band.get("tilesetId", ""))
        if per_tileset[key] > 1 and "tilesetBandIndex" not in band:
            raise EEError(
                f"Band '{band.get('id')}' has no tilesetBandIndex; tileset '{key}' provides {per_tileset[key]} bands."
            )


def _external_bands(
    manifest: dict[str, Any], count: int, descriptions: tuple[str | None, ...]
) -> tuple[list[str], list[float | None], dict[str, str]]:
    """Band names, missing-data values and pyramiding policies of a COG-backed image from its manifest."""
    bands = manifest.get("bands") or [
        {"id": descriptions[index] or f"b{index + 1}", "tilesetBandIndex": index} for index in range(count)
    ]
    if count > MAX_BANDS:
        raise EEError(f"The image has {count} bands; an image may have at most {MAX_BANDS}.")
    indexes = [band.get("tilesetBandIndex", 0 if count == 1 else None) for band in bands]
    if indexes != list(range(count)):
        raise EEError(
            f"image:importExternal: bands with tilesetBandIndex {indexes} for a file of {count} bands: the gee-flood "
            "emulator serves every band of the file, in order.",
            501,
        )
    default_missing = _missing_value(manifest.get("missingData"))
    names, nodata, policies = [], [], {}
    for band in bands:
        names.append(str(band["id"]))
        missing = _missing_value(band.get("missingData"))
        nodata.append(missing if missing is not None else default_missing)
        policies[str(band["id"])] = str(band.get("pyramidingPolicy") or manifest.get("pyramidingPolicy") or "MEAN")
    return names, nodata, policies


def _missing_value(missing: Any) -> float | None:
    if not isinstance(missing, dict):
        return None
    values = missing.get("values") or []
    return float(values[0]) if values else None


def _plain(value: Any) -> Any:
    return to_info(value)


def _export_grid(image: EEImage, grid: dict[str, Any] | None) -> Any:
    """The grid an export renders on: the request's grid, the image's ``clipToBoundsAndScale`` grid, or its native."""
    if grid is not None:
        return parse_grid(grid, image)
    if image.default_grid is not None:
        return image.default_grid
    native = image.bands[0].native if image.bands else None
    if native is not None and native.width:
        return native
    raise EEError(
        "image:export: cannot infer the export grid; pass region and scale (or crs, crsTransform and dimensions)."
    )

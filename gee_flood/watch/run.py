"""``gee-flood watch``: map every new Sentinel-1 acquisition over an area and push it into an ImageCollection.

The Earth Engine ImageCollection is the ledger. Each acquisition (one pass: sensing time, platform, relative orbit)
mapped by a method becomes one image named ``<collection>/<YYYYMMDDTHHMMSS>_<A|D><orbit>_<method sha256[:8]>``,
ingested with the acquisition time as its ``startTime`` and its properties (platform, relative orbit, pass, the
method and its identity, flooded and excluded km²) in the same ``image:import`` request as its pixels, so an image
is either there with everything or not there. A run reads which images exist (``listAssets`` of the collection) and
maps the others.

The method is a SAR-only checkpoint (``--checkpoint``; its identity is the file's SHA-256) or, checkpoint-free,
UN-SPIDER change detection (``--method change``) against a pre-event acquisition of the same relative orbit found
in the ``--pre-days`` before each acquisition (its identity is the SHA-256 of the method's parameters).

Exactly once: the push's request id is derived from (collection, acquisition, method identity), not from the file,
so two runners that mapped the same acquisition send the same ``requestId`` and Earth Engine starts one ingestion; a
runner killed at any point leaves either no image (a rerun maps and pushes it again, with the same id: an ingestion
the killed run started is answered, not repeated) or the whole image (a rerun skips it). Nothing local is needed to
resume; ``out_dir`` only keeps the local maps.

Mapping goes through the same functions as ``predict``: the acquisition's own scenes are read from Earth Engine on
the AOI's grid as ``predict --aoi --date`` reads them (:func:`gee_flood.inference.aoi.fetch_s1_scene`, told which
scenes so that two passes on one day stay apart), then mapped by
:func:`gee_flood.inference.command.run_predict` (``predict --input --aoi``, with ``--pre`` for change detection),
and pushed by :func:`gee_flood.earthengine.export.push_flood_map` (``map --mask --asset``). Its flooded and excluded
km² are the flood product's statistics (:func:`gee_flood.product.stats.flood_areas`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from rich.console import Console

from gee_flood._io import check_writable
from gee_flood.errors import InputError, RemoteError
from gee_flood.geo import AreaOfInterest, parse_date, read_aoi
from gee_flood.service_requests import PredictOptions
from gee_flood.watch._remote import retried
from gee_flood.watch.acquisitions import Acquisition, find_acquisitions

#: Namespace of the push request ids (uuid5 of collection, acquisition and method identity).
WATCH_NAMESPACE = uuid.UUID("0b6a9f3e-7d0c-4f0e-9a51-3c2d8e4f1a77")

WatchMethodName = Literal["model", "change"]
#: Default of ``--pre-days``: over two 12-day repeat cycles of one Sentinel-1 satellite, so the window holds two
#: earlier passes of the same relative orbit (one if one was missed), and a flood is compared with the scene about
#: 24 days before it.
PRE_DAYS = 30
MAX_PRE_DAYS = 365
#: Sentinel-1's look direction (degrees clockwise from north; right-looking) per pass: the product's radar shadow and
#: layover exclusion (``predict --look-azimuth``) for the pass being mapped.
LOOK_AZIMUTH_DEG = {"ASCENDING": 80.0, "DESCENDING": 280.0}

EventKind = Literal["found", "mapped", "ingesting", "pushed", "skipped"]


class WatchEvent(BaseModel):
    """One thing a watch run did; the CLI prints it as a line and writes it to ``--log`` as JSON."""

    event: EventKind
    acquisition: str
    time: str
    asset: str | None = None
    reason: str | None = None
    flooded_km2: float | None = None
    excluded_km2: float | None = None
    map: str | None = None

    def line(self) -> str:
        """The progress line."""
        text = f"{self.event} {self.acquisition} ({self.time})"
        if self.event == "mapped" and self.flooded_km2 is not None:
            text += f": {self.flooded_km2:.3f} km² flooded, {self.excluded_km2:.3f} km² excluded"
        if self.event in ("pushed", "ingesting") and self.asset:
            text += f" -> {self.asset}"
        if self.reason:
            text += f": {self.reason}"
        return text


class WatchResult(BaseModel):
    """What :func:`watch_once` did."""

    collection: str
    found: int
    mapped: int
    pushed: int
    skipped: int
    events: list[WatchEvent]


@dataclass(frozen=True, kw_only=True)
class WatchRequest:
    """What ``gee-flood watch`` watches and where it pushes.

    Attributes:
        aoi: GeoJSON area (EPSG:4326).
        since: First UTC day (YYYY-MM-DD).
        checkpoint: SAR-only checkpoint (``method="model"``).
        method: ``model`` (the checkpoint) or ``change`` (UN-SPIDER change detection, no checkpoint).
        pre_days: With ``method="change"``: the pre-event reference of an acquisition is the earliest full-cover
            acquisition of the same pass and relative orbit sensed in the ``pre_days`` days before it
            (:func:`pre_event`; None: 30). Refused with ``method="model"``, which has no reference.
        ee_auxiliary: Read the flood product's auxiliary datasets (JRC Global Surface Water, SRTM, MERIT Hydro,
            ESA WorldCover; ``predict --ee-auxiliary``) from Earth Engine, once per run on the AOI's grid: normal
            water is then not flood, and shadow/layover (for each pass's look direction), steep, high or urban
            pixels are excluded. Part of the method's identity.
        reference_water: Local JRC Global Surface Water raster (GeoTIFF, any CRS; what ``reference_kind`` says),
            instead of ``ee_auxiliary``: normal water is not flood. Its SHA-256 is part of the method's identity.
        reference_kind: What ``reference_water`` holds: ``seasonality`` (months) or ``occurrence`` (percent).
        dem: Local elevation raster (m): slope and shadow/layover (each pass's look direction) exclusions.
        hand: Local height above nearest drainage raster (m; MERIT Hydro ``hnd``): the HAND exclusion.
        worldcover: Local ESA WorldCover raster: urban (built-up) exclusion.
        collection: Earth Engine ImageCollection ``projects/<project>/assets/<path>`` (created if missing).
        bucket: ``gs://bucket[/prefix]`` the maps are uploaded to for ingestion, as
            ``<prefix>/<collection name>/<image>.tif``.
        until: Last UTC day (default: today, UTC).
        project: Earth Engine Cloud project (default: the collection's).
        ee_url: Another Earth Engine REST endpoint (the emulator).
        scale_m: Pixel size (m) of the Sentinel-1 read.
        out_dir: Keep each acquisition's map there (``<slug>.tif``); default: a temporary folder.
        options: Prediction options.
        poll_s: Seconds between ingestion polls.
    """

    aoi: Path
    since: str | dt.date
    collection: str
    bucket: str
    checkpoint: Path | None = None
    method: WatchMethodName = "model"
    pre_days: int | None = None
    ee_auxiliary: bool = False
    reference_water: Path | None = None
    reference_kind: str = "seasonality"
    dem: Path | None = None
    hand: Path | None = None
    worldcover: Path | None = None
    until: str | dt.date | None = None
    project: str | None = None
    ee_url: str | None = None
    scale_m: float = 10.0
    out_dir: Path | None = None
    options: PredictOptions = field(default_factory=lambda: PredictOptions(progress=False))
    poll_s: float = 2.0

    @property
    def auxiliary_files(self) -> dict[str, Path]:
        """The local auxiliary rasters given, by :class:`~gee_flood.service_requests.PredictRequest` field."""
        files = {"reference_water": self.reference_water, "dem": self.dem, "hand": self.hand,
                 "worldcover": self.worldcover}  # fmt: skip
        return {name: Path(path) for name, path in files.items() if path is not None}

    @property
    def reference_days(self) -> int:
        """Days before an acquisition searched for its change-detection reference (``pre_days``, default 30)."""
        return self.pre_days if self.pre_days is not None else PRE_DAYS


def checkpoint_sha256(path: Path) -> str:
    """A file's SHA-256 (hex): the checkpoint's (or an auxiliary raster's) identity in the ledger."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def change_parameters(pre_days: int) -> dict[str, Any]:
    """The parameters that define ``--method change`` (what its identity is the hash of)."""
    from gee_flood.product.change import FOCAL_RADIUS_M, RATIO_THRESHOLD

    return {"method": "change", "pre_days": pre_days, "ratio_threshold": RATIO_THRESHOLD,
            "focal_radius_m": FOCAL_RADIUS_M, "reference": "earliest-same-orbit"}  # fmt: skip


def method_identity(request: WatchRequest) -> tuple[str, dict[str, Any]]:
    """The mapping method's identity (SHA-256 hex) and the properties that record it on every image.

    ``model``: the checkpoint file's SHA-256. ``change``: the SHA-256 of its parameters as canonical JSON
    (:func:`change_parameters`), so the same parameters give the same image names and request ids on any machine.
    With ``ee_auxiliary`` the maps differ (normal water, exclusions), so the identity is the SHA-256 of the above and
    the auxiliary datasets' ids and bands; with local auxiliary files, of the above and the files' SHA-256 (and the
    reference's kind).
    """
    if request.method == "change":
        parameters = change_parameters(request.reference_days)
        identity = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()
        properties = {"method": "change", "pre_days": request.reference_days,
                      "ratio_threshold": parameters["ratio_threshold"],
                      "focal_radius_m": parameters["focal_radius_m"]}  # fmt: skip
    else:
        assert request.checkpoint is not None  # validate() refuses model without a checkpoint
        identity = checkpoint_sha256(Path(request.checkpoint))
        properties = {"method": "model", "checkpoint_sha256": identity}
    if request.ee_auxiliary:
        from gee_flood.product.ee_inputs import ee_datasets

        datasets = sorted(f"{dataset.dataset_id}/{dataset.band}" for dataset in ee_datasets().values())
        identity = hashlib.sha256(json.dumps([identity, datasets]).encode()).hexdigest()
        properties["ee_auxiliary"] = ",".join(datasets)
    if request.auxiliary_files:  # the files' contents, not their names, identify the maps
        files = {name: checkpoint_sha256(path) for name, path in sorted(request.auxiliary_files.items())}
        if "reference_water" in files:
            files["reference_kind"] = request.reference_kind
        identity = hashlib.sha256(json.dumps([identity, files], sort_keys=True).encode()).hexdigest()
        properties["auxiliary_files"] = ",".join(f"{name}:{value[:12]}" for name, value in files.items())
    return identity, {**properties, "method_sha256": identity}


def push_request_id(collection: str, acquisition: Acquisition, method_sha256: str) -> str:
    """The deterministic request id of pushing ``acquisition`` mapped by a method into ``collection``."""
    return str(uuid.uuid5(WATCH_NAMESPACE, f"{collection}|{acquisition.key}|{method_sha256}"))


def image_name(collection: str, acquisition: Acquisition, method_sha256: str) -> str:
    """The collection image holding ``acquisition`` mapped by the method of identity ``method_sha256``."""
    return f"{collection}/{acquisition.slug}_{method_sha256[:8]}"


def _first_line(error: BaseException) -> str:
    return (str(error).strip() or type(error).__name__).splitlines()[0][:300]


def ensure_collection(collection: str) -> bool:
    """Make sure ``collection`` is an ImageCollection asset; create it (and missing folders) if absent.

    Returns:
        True if it was created by this call.

    Raises:
        InputError: If the id names an image or a folder, or a parent is an image.
        RemoteError: If Earth Engine refuses (e.g. an unknown project or no permission).
    """
    import ee

    from gee_flood.earthengine import export

    asset = export.parse_asset_id(collection)
    try:
        info = retried(lambda: ee.data.getAsset(collection), what=f"--collection {collection}")
    except ee.EEException as error:
        if "permission to use project" in str(error) or not export._is_missing(error):
            raise RemoteError(
                f"--collection {collection}: Earth Engine refused project {asset.project!r} ({_first_line(error)})"
            ) from None
        info = None
    if info is not None:
        kind = str(info.get("type", "")).upper()
        if kind not in ("IMAGE_COLLECTION", "IMAGECOLLECTION"):
            raise InputError(
                f"--collection {collection}: is an {kind.lower() or 'asset'}, expected an image collection "
                "(or a new id; it is created)"
            )
        return False
    export.create_folders(export.missing_parent_folders(asset))
    try:
        retried(
            lambda: ee.data.createAsset({"type": "IMAGE_COLLECTION"}, collection), what=f"--collection {collection}"
        )
    except ee.EEException as error:
        text = str(error).lower()
        if "already exists" in text or "cannot overwrite" in text:  # another runner created it meanwhile
            return False
        raise RemoteError(f"--collection {collection}: cannot create the collection ({_first_line(error)})") from None
    return True


def collection_images(collection: str) -> list[str]:
    """Ids of the images in ``collection`` (``listAssets``, every page): the ledger of what is done."""
    import ee

    ids: list[str] = []
    params: dict[str, Any] = {"parent": collection}
    while True:
        try:
            page: dict[str, Any] = retried(partial(ee.data.listAssets, params), what=f"--collection {collection}")
        except ee.EEException as error:
            raise RemoteError(f"--collection {collection}: cannot list its images ({_first_line(error)})") from None
        ids += [str(asset.get("id") or asset["name"].split("/assets/", 1)[-1]) for asset in page.get("assets", [])]
        token = page.get("nextPageToken")
        if not token:
            return ids
        params = {"parent": collection, "pageToken": token}


def _has_any_cover(area: AreaOfInterest) -> bool:
    """Whether any Sentinel-1 GRD scene, at any date, intersects the AOI (one small request)."""
    import ee

    from gee_flood.earthengine import queries

    size = ee.ImageCollection(queries.S1_COLLECTION).filterBounds(queries.ee_geometry(area.geometry)).limit(1).size()
    return bool(retried(size.getInfo, what="the Sentinel-1 cover query"))


def pre_event(acquisition: Acquisition, candidates: list[Acquisition], pre_days: int) -> Acquisition | None:
    """The change-detection reference of ``acquisition``, or None.

    It is the earliest full-cover acquisition of the same pass and relative orbit (the same viewing geometry)
    sensed in the ``pre_days`` days before it. The earliest, not the latest: water present in both images is no
    change, so with the previous pass as reference a flood lasting longer than one revisit would be new water in
    its first acquisition only, and the time series would have no duration; with the earliest, a flood is seen in
    every acquisition until the window's start passes its onset (docs/watch.md).
    """
    start = acquisition.time - dt.timedelta(days=pre_days)
    earlier = [other for other in candidates
               if other.full_cover and other.same_orbit == acquisition.same_orbit
               and start <= other.time < acquisition.time]  # fmt: skip
    return min(earlier, key=lambda other: (other.time, other.key)) if earlier else None


def validate(request: WatchRequest) -> tuple[AreaOfInterest, dt.date, dt.date]:
    """Check everything local before any Earth Engine request: AOI, dates, checkpoint, collection id, bucket.

    Raises:
        InputError: In one line naming the option.
    """
    from gee_flood.earthengine import export
    from gee_flood.models import read_card

    area = read_aoi(request.aoi)
    since = parse_date(request.since, what="--since")
    until = parse_date(request.until, what="--until") if request.until is not None else dt.datetime.now(dt.UTC).date()
    if since > until:
        raise InputError(f"--since {since} is after --until {until}; expected since <= until")
    if request.method not in ("model", "change"):
        raise InputError(f"--method {request.method!r}: expected model (with --checkpoint) or change")
    if request.method == "change":
        if request.checkpoint is not None:
            raise InputError("--method change is checkpoint-free: give --checkpoint or --method change, not both")
        if not 1 <= request.reference_days <= MAX_PRE_DAYS:
            raise InputError(f"--pre-days {request.reference_days}: expected 1-{MAX_PRE_DAYS} days")
    elif request.pre_days is not None:
        raise InputError("--pre-days is for --method change (the pre-event reference); a checkpoint needs none")
    elif request.checkpoint is None:
        raise InputError("give --checkpoint student.ckpt (or --method change, checkpoint-free)")
    else:
        card = read_card(request.checkpoint)
        if not card.sar_only:
            from gee_flood.inference.runner import check_sar_only

            check_sar_only(card, request.checkpoint, {})
    try:
        export.parse_asset_id(request.collection)
    except InputError as error:
        raise InputError(str(error).replace("--asset", "--collection", 1)) from None
    export.parse_gcs_location(request.bucket)
    if request.auxiliary_files:
        from gee_flood.product.inputs import AuxRaster

        if request.ee_auxiliary:
            given = ", ".join("--" + name.replace("_", "-") for name in request.auxiliary_files)
            raise InputError(f"--ee-auxiliary and {given}: give the auxiliary data from Earth Engine or as files")
        if request.reference_kind not in ("seasonality", "occurrence"):
            raise InputError(f"--reference-kind {request.reference_kind!r}: expected seasonality or occurrence")
        for name, path in request.auxiliary_files.items():
            AuxRaster(path, "--" + name.replace("_", "-"))  # a missing or unreadable raster: one line, nothing run
    if request.out_dir is not None:
        check_writable(request.out_dir, option="--out-dir", directory=True)
    return area, since, until


def watch_once(request: WatchRequest, *, on_event: Callable[[WatchEvent], None] | None = None) -> WatchResult:
    """Map and push every acquisition over the AOI in [since, until] that the collection lacks.

    Args:
        request: What to watch.
        on_event: Called with each event as it happens (progress lines, the JSON-lines log).

    Returns:
        What was found, mapped, pushed and skipped (with why).

    Raises:
        InputError: A bad option; a collection id that is an image; an AOI no Sentinel-1 scene covers.
        RemoteError: Earth Engine or Cloud Storage refused (unknown project, no permission...).
    """
    from gee_flood.earthengine import export
    from gee_flood.product.stats import flood_areas

    area, since, until = validate(request)
    asset = export.parse_asset_id(request.collection)
    project = request.project or asset.project
    export.ensure_initialized(project, request.ee_url)
    change = request.method == "change"
    # one metadata request; with change detection it reaches back far enough to hold every reference
    known = find_acquisitions(area, since - dt.timedelta(days=request.reference_days) if change else since, until)
    acquisitions = [acquisition for acquisition in known if acquisition.date >= since]
    if not acquisitions and not _has_any_cover(area):
        raise InputError(
            f"--aoi {request.aoi}: no Sentinel-1 scene covers this area at any date (check it is lon/lat, EPSG:4326)"
        )
    if request.ee_auxiliary:  # a missing dataset fails before anything is created
        from gee_flood.earthengine import EESettings
        from gee_flood.product.ee_inputs import check_auxiliary, ee_datasets

        check_auxiliary(EESettings(project=project, endpoint="standard", url=request.ee_url),
                        names=tuple(ee_datasets()))  # fmt: skip
    ensure_collection(request.collection)
    done = set(collection_images(request.collection))
    identity, method_properties = method_identity(request)
    events: list[WatchEvent] = []

    def emit(event: WatchEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    with ExitStack() as stack:
        if request.out_dir is not None:
            out_dir = Path(request.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
        else:
            out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gee-flood-watch-")))
        scenes = _Scenes(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gee-flood-watch-s1-"))),
                         area, request, project)  # fmt: skip
        plan: list[tuple[Acquisition, str, Acquisition | None]] = []
        for acquisition in acquisitions:
            when = _iso(acquisition.time)
            name = image_name(request.collection, acquisition, identity)
            emit(WatchEvent(event="found", acquisition=acquisition.key, time=when, asset=name))
            reference = pre_event(acquisition, known, request.reference_days) if change else None
            reason = None
            if not acquisition.full_cover:
                reason = f"no full cover ({acquisition.coverage:.1%} of the AOI)"
            elif name in done:
                reason = "already in the collection"
            elif change and reference is None:
                orbit = f"{acquisition.orbit_pass.lower()} relative orbit {acquisition.relative_orbit}"
                days = request.reference_days
                reason = f"no pre-event reference (no full-cover {orbit} pass in the {days} days before)"
            if reason is not None:
                emit(WatchEvent(event="skipped", acquisition=acquisition.key, time=when, asset=name, reason=reason))
                continue
            plan.append((acquisition, name, reference))
        scenes.expect([reference for _, _, reference in plan if reference is not None])
        for acquisition, name, reference in plan:
            when = _iso(acquisition.time)
            out = out_dir / f"{acquisition.slug}_{identity[:8]}.tif"
            _map_acquisition(request, scenes, acquisition, reference, out)
            areas = flood_areas(out)
            emit(WatchEvent(event="mapped", acquisition=acquisition.key, time=when, asset=name,
                            flooded_km2=areas.flooded_km2, excluded_km2=areas.excluded_km2,
                            map=str(out) if request.out_dir is not None else None))  # fmt: skip
            properties: dict[str, Any] = {
                "platform": acquisition.platform,
                "relative_orbit": acquisition.relative_orbit,
                "orbit_pass": acquisition.orbit_pass,
                "acquisition": acquisition.key,
                "s1_ids": ",".join(acquisition.image_ids),
                **method_properties,
                "flooded_km2": round(areas.flooded_km2, 6),
                "excluded_km2": round(areas.excluded_km2, 6),
            }
            if reference is not None:
                properties |= {"pre_acquisition": reference.key, "pre_s1_ids": ",".join(reference.image_ids)}
            pushed, ours = _push_with_retries(
                export.push_flood_map,
                out,
                name,
                # One folder per collection below the prefix: an object is named after its image only
                # (AssetId.object_filename), so two collections watched into one bucket prefix never share objects.
                f"{request.bucket.rstrip('/')}/{request.collection.rsplit('/', 1)[-1]}",
                project=project,
                ee_url=request.ee_url,
                poll_s=request.poll_s,
                on_progress=_first_poll(
                    emit, WatchEvent(event="ingesting", acquisition=acquisition.key, time=when, asset=name)
                ),
                request_id=push_request_id(request.collection, acquisition, identity),
                start_time=acquisition.time,
                properties=properties,
            )
            if not ours:
                emit(WatchEvent(event="skipped", acquisition=acquisition.key, time=when, asset=name,
                                reason="already pushed (by another runner)"))  # fmt: skip
            else:
                emit(WatchEvent(event="pushed", acquisition=acquisition.key, time=when, asset=name,
                                flooded_km2=areas.flooded_km2, excluded_km2=areas.excluded_km2))  # fmt: skip
    counts = {kind: sum(event.event == kind for event in events) for kind in ("found", "mapped", "pushed", "skipped")}
    return WatchResult(collection=request.collection, events=events, **counts)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _Scenes:
    """The Sentinel-1 scenes of one run, read from Earth Engine on the AOI's grid, each read once.

    With change detection one acquisition is the reference of the later ones of its orbit in its window: its scene
    is kept until the last acquisition that needs it has been mapped (:meth:`expect`, :meth:`release`), then deleted.
    """

    def __init__(self, folder: Path, area: AreaOfInterest, request: WatchRequest, project: str) -> None:
        self.folder, self.area, self.request, self.project = folder, area, request, project
        self.paths: dict[str, Path] = {}
        self.uses: dict[str, int] = {}
        self.auxiliary: dict[tuple[Any, ...], dict[str, Path]] = {}

    def expect(self, references: list[Acquisition]) -> None:
        """Count the acquisitions that will be read as references (their scenes are kept until then)."""
        for reference in references:
            self.uses[reference.key] = self.uses.get(reference.key, 0) + 1

    def get(self, acquisition: Acquisition) -> Path:
        """The acquisition's scene (VV, VH dB GeoTIFF), read now unless already read."""
        from gee_flood.earthengine import EESettings
        from gee_flood.inference.aoi import fetch_s1_scene

        if acquisition.key not in self.paths:
            settings = EESettings(project=self.project, endpoint="standard", url=self.request.ee_url)
            # predict's read (fetch_s1_scene: the AOI's grid), told the acquisition's own scenes
            self.paths[acquisition.key] = fetch_s1_scene(
                self.area, acquisition.date, self.folder / f"{acquisition.slug}.tif", scale_m=self.request.scale_m,
                ee_settings=settings, console=Console(stderr=True, quiet=True), image_ids=acquisition.image_ids,
            )  # fmt: skip
        return self.paths[acquisition.key]

    def auxiliary_for(self, scene: Path) -> dict[str, Path]:
        """The product's auxiliary datasets on ``scene``'s grid (``predict --ee-auxiliary``'s reads), read once.

        Every scene of a run is on the AOI's grid, so they are read once per run.
        """
        import rasterio

        from gee_flood.earthengine import EESettings
        from gee_flood.product.ee_inputs import ee_datasets, fetch_auxiliary

        with rasterio.open(scene) as src:
            grid = (src.crs.to_string(), tuple(src.transform), src.width, src.height)
        if grid not in self.auxiliary:
            folder = self.folder / f"auxiliary-{len(self.auxiliary)}"
            folder.mkdir()
            settings = EESettings(project=self.project, endpoint="standard", url=self.request.ee_url)
            self.auxiliary[grid] = fetch_auxiliary(scene, folder, settings, names=tuple(ee_datasets()))
        return self.auxiliary[grid]

    def release(self, acquisition: Acquisition, *, as_reference: bool) -> None:
        """Done with the acquisition's scene (as the one mapped, or as a reference): delete it if nothing needs it."""
        if as_reference:
            self.uses[acquisition.key] -= 1
        if self.uses.get(acquisition.key, 0) <= 0 and acquisition.key in self.paths:
            self.paths.pop(acquisition.key).unlink(missing_ok=True)


def _map_acquisition(
    request: WatchRequest, scenes: _Scenes, acquisition: Acquisition, reference: Acquisition | None, out: Path
) -> None:
    """Map one acquisition into ``out`` through predict (:func:`gee_flood.inference.command.run_predict`)."""
    from gee_flood.inference.command import run_predict
    from gee_flood.service_requests import PredictRequest

    post = scenes.get(acquisition)
    pre = scenes.get(reference) if reference is not None else None
    auxiliary: dict[str, Any] = {}
    if request.ee_auxiliary:
        paths = scenes.auxiliary_for(post)
        auxiliary = {"reference_water": paths["reference"], "dem": paths["dem"], "hand": paths["hand"],
                     "worldcover": paths["worldcover"],
                     "look_azimuth": LOOK_AZIMUTH_DEG[acquisition.orbit_pass]}  # fmt: skip
    elif request.auxiliary_files:
        auxiliary = {**request.auxiliary_files, "reference_kind": request.reference_kind,
                     "look_azimuth": LOOK_AZIMUTH_DEG[acquisition.orbit_pass]}  # fmt: skip
    # The events are the progress: predict's own lines would drown them.
    run_predict(
        PredictRequest(checkpoint=Path(request.checkpoint) if request.checkpoint is not None else None,
                       method=request.method, pre=pre, input_path=post, aoi=Path(request.aoi), out=out,
                       options=request.options, **auxiliary),
        console=Console(stderr=True, quiet=True),
    )  # fmt: skip
    scenes.release(acquisition, as_reference=False)
    if reference is not None:
        scenes.release(reference, as_reference=True)


#: Attempts of a whole push (upload + ingestion). Repeating a push is safe: the same request id starts at most one
#: ingestion, and a finished one is found on the asset.
PUSH_ATTEMPTS = 3


def _push_with_retries(push: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, bool]:
    """Run ``push(*args, **kwargs)``; repeat it on :class:`RemoteError`, up to :data:`PUSH_ATTEMPTS` times.

    A :class:`RemoteError` is a 5xx or 429 the client's own retries did not absorb, a lost response, or an
    ingestion that found the image already there (another runner, under other credentials, won the race).

    Returns:
        The push's result, and whether the image is this call's own work: False when the push found it done
        without any failure of this call (another runner pushed it), or after Earth Engine refused to overwrite it
        (another runner's ingestion finished first).
    """
    failures: list[str] = []
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        try:
            result = push(*args, **kwargs)
        except RemoteError as error:
            if attempt == PUSH_ATTEMPTS:
                raise
            failures.append(str(error).lower())
            time.sleep(min(8.0, 0.5 * 2**attempt))
            continue
        ours = not result.already_done or (failures and not any("overwrite" in text for text in failures))
        return result, bool(ours)
    raise AssertionError("unreachable")


def _first_poll(emit: Callable[[WatchEvent], None], event: WatchEvent) -> Callable[[float, str], None]:
    """An ingestion progress callback that emits ``event`` at the first poll (the ingestion has started)."""
    started: list[bool] = []

    def on_progress(_fraction: float, _state: str) -> None:
        if not started:
            started.append(True)
            emit(event)

    return on_progress


def watch_loop(
    request: WatchRequest,
    *,
    interval_s: float,
    on_event: Callable[[WatchEvent], None] | None = None,
    runs: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WatchResult]:
    """Run :func:`watch_once` every ``interval_s`` seconds (``until`` moves with the clock unless given).

    Args:
        request: What to watch.
        interval_s: Seconds between the starts of two runs.
        on_event: Event callback.
        runs: Stop after this many runs (None: forever).
        sleep: The waiting function (tests pass a fake).
    """
    if interval_s <= 0:
        raise InputError(f"--interval {interval_s}: expected a positive number of seconds")
    results: list[WatchResult] = []
    while runs is None or len(results) < runs:
        started = time.monotonic()
        results.append(watch_once(request, on_event=on_event))
        if runs is not None and len(results) >= runs:
            break
        sleep(max(0.0, interval_s - (time.monotonic() - started)))
    return results


class EventLog:
    """``--log``: one JSON object per line, appended and flushed per event, so another program can follow it."""

    def __init__(self, path: Path) -> None:
        check_writable(path, option="--log")
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, event: WatchEvent) -> None:
        """Append ``event`` as one JSON line and flush it to disk."""
        self._handle.write(json.dumps(event.model_dump(exclude_none=True)) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


__all__ = [
    "EventLog",
    "WatchEvent",
    "WatchRequest",
    "WatchResult",
    "change_parameters",
    "checkpoint_sha256",
    "collection_images",
    "ensure_collection",
    "image_name",
    "method_identity",
    "pre_event",
    "push_request_id",
    "watch_loop",
    "watch_once",
]

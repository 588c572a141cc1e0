"""The whole field path against real Earth Engine, on a tiny AOI, in your own Cloud project; prints a report.

Steps (each timed; the first failure stops the run, the cleanup always runs):

1. fetch: a few paired S1/S2 chips of the AOI (``run_fetch``, as ``gee-flood fetch``);
2. predict: a flood map of the AOI from Sentinel-1 read through Earth Engine (``run_predict``, as ``gee-flood predict
   --aoi --date``), with your ``--checkpoint`` or, without one, a tiny randomly initialised SAR-only model (the check
   is of the plumbing, not of the map's quality);
3. export: upload to your bucket and ingest (``image:import``, polled through the bounded retry of
   ``--retry-timeout``) into a new folder it creates, ``projects/<project>/assets/gee_flood_live_check_<UTC time>_
   <random>/flood_map`` (``push_flood_map``, as ``gee-flood map --mask --asset``), with the predict date as the
   image's ``startTime``;
4. COG-backed: the same map registered in place through ``image:importExternal`` (``flood_map_cog``, as
   ``--cog-backed``), also with its ``startTime``; skipped (not passed) when the bucket is outside the US
   multi-region, a US dual-region with us-central1 or us-central1;
5. read back: each asset's bands and ``startTime``, and its ``water`` read over the map's own grid compared
   pixel by pixel;
6. cleanup: the assets, the folder and the Cloud Storage objects it created, and the local working folder.

At the first failure the report says which of project registration, API enablement, IAM role or bucket permission
is missing (:func:`diagnose`), with the fix.

Without Earth Engine credentials (or a project, or a bucket) it prints ``skipped: ...`` and exits 0: nothing is
counted as passed. With them it exits 0 when every step passed, 1 otherwise. ``--ee-url`` runs it against an Earth
Engine-compatible endpoint such as the project's emulator (Cloud Storage then goes wherever ``STORAGE_EMULATOR_HOST``
points, if set). See docs/live-check.md for what a run costs.

Usage::

    python scripts/live_check.py --project my-project --bucket gs://my-bucket/tmp
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Polder land in the Netherlands (about 700 m x 780 m): Sentinel-1 every 1-2 days, Sentinel-2 every 2-3 days.
DEFAULT_AOI = {
    "type": "Polygon",
    "coordinates": [[[5.30, 52.00], [5.31, 52.00], [5.31, 52.007], [5.30, 52.007], [5.30, 52.00]]],
}
DEFAULT_DATES = "2019-06-01/2019-06-30"
DEFAULT_PREDICT_DATE = "2019-06-15"
BUCKET_ENV = "GEE_FLOOD_LIVE_BUCKET"
#: Smallest share of the map's valid pixels whose water must read back identically from the asset.
AGREEMENT_MIN = 0.99


@dataclass
class Step:
    """One step of the check: its outcome, duration and what it saw."""

    name: str
    status: str = "not run"
    seconds: float = 0.0
    details: str = ""


#: What a first failure says is missing, tried in order: (name, fix, phrases of the error message, lowercase).
#: Phrases are those of Google's answers (Earth Engine's registration and IAM errors, Service Usage's
#: SERVICE_DISABLED, Cloud Storage's 403s) and of gee-flood's own one-line messages for them.
DIAGNOSES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "bucket permission",
        "grant your account roles/storage.objectAdmin on the bucket (and roles/storage.legacyBucketReader to read "
        "its location), or pass another --bucket",
        ("storage.buckets.", "storage.objects.", "not allowed to read the bucket", "bucket not found or not "
         "accessible", "does not have storage", "cannot upload to cloud storage"),
    ),
    (
        "API enablement",
        "enable the Earth Engine API: gcloud services enable earthengine.googleapis.com --project <project>",
        ("has not been used in project", "service_disabled", "api is disabled", "it is disabled", "accessnotconfigured",
         "enable it by visiting"),
    ),
    (
        "project registration",
        "register the Cloud project for Earth Engine at https://code.earthengine.google.com/register",
        ("not registered to use earth engine", "not signed up for earth engine", "is not registered",
         "not found or deleted", "project is not registered"),
    ),
    (
        "IAM role",
        "grant your account roles/earthengine.writer (and roles/serviceusage.serviceUsageConsumer) on the project",
        ("permission 'earthengine.", "caller does not have required permission", "user_project_denied",
         "serviceusage.services.use", "permission_denied", "permission denied", "does not have permission"),
    ),
)  # fmt: skip


def diagnose(error: str) -> str | None:
    """Which of project registration, API enablement, IAM role or bucket permission an error says is missing.

    Args:
        error: The failure's message.

    Returns:
        ``"<what> is missing: <fix>"``, or None when the message names none of them.
    """
    text = error.lower()
    for name, fix, phrases in DIAGNOSES:
        if any(phrase in text for phrase in phrases):
            return f"{name} is missing: {fix}"
    return None


@dataclass
class Check:
    """What the check did so far (the cleanup reads it)."""

    steps: list[Step] = field(default_factory=list)
    folder: str | None = None
    assets: list[str] = field(default_factory=list)
    object_uris: list[str] = field(default_factory=list)
    diagnosis: str | None = None

    def failed(self) -> bool:
        return any(step.status == "failed" for step in self.steps)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time a step; any exception fails it (one line) without stopping the cleanup."""
        step = Step(name)
        self.steps.append(step)
        start = time.monotonic()
        try:
            yield step
            if step.status == "not run":
                step.status = "ok"
        except Exception as error:  # noqa: BLE001 - every failure is reported in the report, as one line
            first = not self.failed()
            step.status = "failed"
            text = " ".join(str(error).split()) or type(error).__name__
            step.details = f"{type(error).__name__}: {text[:300]}"
            if first:
                self.diagnosis = diagnose(text)
        finally:
            step.seconds = time.monotonic() - start


def credentials_reason(ee_url: str | None) -> str | None:
    """Why the check cannot talk to Earth Engine (None: it can). Looks at files and variables only, no network."""
    if ee_url:
        return None
    import ee
    from google.auth import _cloud_sdk

    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    places = [Path(ee.oauth.get_credentials_path()), Path(_cloud_sdk.get_application_default_credentials_path())]
    if key:
        places.append(Path(key))
    if not any(place.is_file() for place in places):
        return (
            "no Earth Engine credentials (run 'earthengine authenticate' or 'gcloud auth application-default login', "
            "or set GOOGLE_APPLICATION_CREDENTIALS)"
        )
    return None


def untrained_checkpoint(path: Path) -> Path:
    """A tiny randomly initialised SAR-only model (the check needs a checkpoint, not a good one)."""
    import torch

    from gee_flood.data.chip import S1
    from gee_flood.data.normalization import BandStats, NormalizationStats
    from gee_flood.models import ArchitectureSpec, InputModality, ModelCard, build_model, save_checkpoint

    card = ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(
            modalities={"s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0])}
        ),
        architecture=ArchitectureSpec(
            name="Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4]
        ),
    )
    torch.manual_seed(0)
    return save_checkpoint(build_model(card).eval(), card, path)


def read_back(asset: str, flood_map: Path, start_time: str | None = None) -> str:
    """The asset's bands and startTime, and its water over the map's grid compared with the map.

    Raises:
        RuntimeError: If the start time or the pixels disagree.
    """
    import ee
    import numpy as np
    import rasterio

    info = ee.data.getAsset(asset)
    bands = [band["id"] for band in info.get("bands", [])]
    if start_time is not None and str(info.get("startTime", ""))[:19] != start_time[:19]:
        raise RuntimeError(f"{asset}: startTime is {info.get('startTime')!r}, expected {start_time}")
    with rasterio.open(flood_map) as src:
        local = src.read(2)
        a, b, c, d, e, f = src.transform[:6]
        grid = {
            "dimensions": {"width": src.width, "height": src.height},
            "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e, "translateY": f},
            "crsCode": src.crs.to_string(),
        }
    pixels = ee.data.computePixels(
        {"expression": ee.Image(asset).select(["water"]), "fileFormat": "NUMPY_NDARRAY", "grid": grid}
    )
    remote = np.asarray(pixels["water"])
    valid = local != 255
    if not valid.any():
        raise RuntimeError("the flood map has no valid pixel to compare")
    agreement = float(np.mean(remote[valid] == local[valid]))
    if agreement < AGREEMENT_MIN:
        raise RuntimeError(f"water read back from {asset} agrees on {agreement:.1%} of pixels only")
    return (
        f"bands {bands}; startTime {info.get('startTime')}; water agrees on {agreement:.1%} of "
        f"{int(valid.sum())} pixels"
    )


def cleanup(check: Check, project: str, ee_ready: bool) -> str:
    """Delete what the check created (asset, folder, object); return what was deleted."""
    from gee_flood.earthengine.export import OBJECT_ASSET_KEY, earth_engine_credentials, storage_client

    deleted = []
    if ee_ready:
        import ee

        for name in [*check.assets, *([check.folder] if check.folder else [])]:
            with contextlib.suppress(ee.EEException):
                ee.data.deleteAsset(name)
                deleted.append(name)
    if check.object_uris:
        client = storage_client(project, ee_credentials=earth_engine_credentials() if ee_ready else None)
    for uri, asset in zip(check.object_uris, check.assets, strict=True):
        bucket, _, name = uri[len("gs://") :].partition("/")
        blob = client.bucket(bucket).get_blob(name)
        if blob is not None and (blob.metadata or {}).get(OBJECT_ASSET_KEY) == asset:
            blob.delete()
            deleted.append(uri)
    return "deleted " + ", ".join(deleted) if deleted else "nothing to delete"


def run_check(args: argparse.Namespace, project: str, bucket: str, workdir: Path) -> Check:
    """Run the six steps; return what happened."""
    from gee_flood.earthengine import FetchRequest, run_fetch
    from gee_flood.earthengine.export import (
        COG_LOCATION_RULE,
        ensure_initialized,
        parse_asset_id,
        parse_gcs_location,
        push_flood_map,
        rfc3339,
    )
    from gee_flood.errors import InputError
    from gee_flood.inference.command import run_predict
    from gee_flood.service_requests import PredictOptions, PredictRequest, RetryPolicy

    check = Check()
    aoi = Path(args.aoi) if args.aoi else workdir / "aoi.geojson"
    if not args.aoi:
        aoi.write_text(json.dumps(DEFAULT_AOI))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    folder = f"projects/{project}/assets/gee_flood_live_check_{stamp}_{secrets.token_hex(2)}"
    asset = f"{folder}/flood_map"
    cog_asset = f"{folder}/flood_map_cog"
    start_time = rfc3339(args.predict_date, "--predict-date")
    retry = RetryPolicy(timeout_s=args.retry_timeout)

    def fetch(step: Step) -> None:
        summary = run_fetch(
            FetchRequest(
                out=workdir / "corpus", aoi=aoi, dates=args.dates, chip_size=args.chip_size, max_cloud=1.0,
                min_valid=0.0, max_scene_cloud=100.0, workers=1, scheduler="threads", project=project,
                ee_url=args.ee_url, progress=False,
            )
        )  # fmt: skip
        if summary.written + summary.already_done == 0:
            raise RuntimeError(
                f"no chip written ({len(summary.skipped)} skipped: {list(summary.skipped.values())[:2]})"
            )
        step.details = (
            f"{summary.chips_total} chips laid out, {summary.written} written, {len(summary.skipped)} skipped"
        )

    def predict(step: Step) -> None:
        checkpoint = Path(args.checkpoint) if args.checkpoint else untrained_checkpoint(workdir / "untrained.ckpt")
        summary = run_predict(
            PredictRequest(
                checkpoint=checkpoint, out=workdir / "flood.tif", aoi=aoi, date=args.predict_date, project=project,
                ee_url=args.ee_url, options=PredictOptions(tile=64, overlap=16, progress=False),
            )
        )  # fmt: skip
        model = "your checkpoint" if args.checkpoint else "untrained tiny model"
        step.details = (
            f"{summary.width} x {summary.height} px ({summary.crs}), water {summary.water_fraction:.1%} ({model})"
        )

    def push(step: Step, name: str, *, cog_backed: bool) -> None:
        # known before the push, so the cleanup finds the object even when the push fails after uploading it
        check.assets.append(name)
        check.object_uris.append(parse_gcs_location(bucket).uri(parse_asset_id(name).object_filename))
        result = push_flood_map(
            workdir / "flood.tif", name, bucket, project=project, ee_url=args.ee_url, poll_s=args.poll_s,
            cog_backed=cog_backed, start_time=start_time, retry=retry,
        )  # fmt: skip
        size = (workdir / "flood.tif").stat().st_size
        created = f"; created {', '.join(result.created_folders)}" if result.created_folders else ""
        step.details = f"{result.asset} {result.mode} from {result.uri} ({size} bytes), startTime {start_time}{created}"

    def export(step: Step) -> None:
        check.folder = folder
        push(step, asset, cog_backed=False)

    def cog_backed(step: Step) -> None:
        try:
            push(step, cog_asset, cog_backed=True)
        except InputError as error:
            if COG_LOCATION_RULE not in str(error):
                raise
            check.assets.pop()
            check.object_uris.pop()
            step.status, step.details = "skipped", f"the bucket cannot hold COG-backed assets ({error})"

    def verify(step: Step) -> None:
        lines = [read_back(name, workdir / "flood.tif", start_time) for name in check.assets]
        step.details = " / ".join(lines)

    steps: list[tuple[str, Callable[[Step], None]]] = [
        ("fetch", fetch), ("predict", predict), ("export", export), ("COG-backed", cog_backed), ("read back", verify)
    ]  # fmt: skip
    ee_ready = False
    for name, action in steps:
        if check.failed():
            check.steps.append(Step(name, "skipped", details="an earlier step failed"))
            continue
        with check.step(name) as step:
            if not ee_ready:
                ensure_initialized(project, args.ee_url)
                ee_ready = True
            action(step)
    with check.step("cleanup") as step:
        step.details = cleanup(check, project, ee_ready)
    return check


def report(check: Check, args: argparse.Namespace, project: str, total_s: float) -> str:
    """The Markdown report to paste into an issue."""
    import ee

    import gee_flood

    where = args.ee_url or "Earth Engine"
    aoi_name = Path(args.aoi).name if args.aoi else "default polder (NL)"  # a name: the report is shared
    passed = sum(step.status == "ok" for step in check.steps)
    lines = [
        "### gee-flood live check",
        "",
        f"- gee-flood {gee_flood.__version__}, earthengine-api {ee.__version__}, Python {platform.python_version()}, "
        f"{platform.system()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- endpoint: {where}; project: {project}; AOI: {aoi_name}; dates {args.dates}, predict {args.predict_date}",
        "",
        "| step | result | seconds | details |",
        "|---|---|---:|---|",
        *(f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.details.replace('|', '/')} |" for s in check.steps),
        "",
        f"**{'failed' if check.failed() else 'passed'}**: {passed}/{len(check.steps)} steps ok in {total_s:.0f} s",
    ]
    if check.diagnosis:
        lines += ["", f"diagnosis: {check.diagnosis}"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--project", help="Cloud project (default: EE_PROJECT and the other project variables).")
    parser.add_argument("--bucket", help=f"gs://bucket[/prefix] for the upload (default: ${BUCKET_ENV}).")
    parser.add_argument("--ee-url", help="An Earth Engine-compatible endpoint such as the emulator.")
    parser.add_argument("--checkpoint", help="SAR-only checkpoint (default: a tiny untrained model).")
    parser.add_argument("--aoi", help="GeoJSON AOI (default: a 700 m polder in the Netherlands).")
    parser.add_argument("--dates", default=DEFAULT_DATES, help="Fetch dates START/END.")
    parser.add_argument("--predict-date", default=DEFAULT_PREDICT_DATE, help="Predict date YYYY-MM-DD.")
    parser.add_argument("--chip-size", type=int, default=64, help="Chip side in pixels.")
    parser.add_argument("--poll-s", type=float, default=2.0, help="Seconds before the second ingestion poll.")
    parser.add_argument(
        "--retry-timeout", type=float, default=120.0, help="Seconds to keep retrying a failing poll (429, 5xx)."
    )
    parser.add_argument("--workdir", help="Local working folder (default: a temporary one, removed).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check; print the report (or why it was skipped); return the exit status."""
    args = parse_args(argv)
    from gee_flood.earthengine.session import PROJECT_ENV_VARS, resolve_project

    reason = credentials_reason(args.ee_url)
    project = resolve_project(args.project) or ("emulator" if args.ee_url else None)
    bucket = args.bucket or os.environ.get(BUCKET_ENV)
    if reason is None and project is None:
        reason = f"no Cloud project (pass --project or set {PROJECT_ENV_VARS[0]})"
    if reason is None and not bucket:
        reason = f"no Cloud Storage bucket (pass --bucket gs://bucket/prefix or set {BUCKET_ENV})"
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    assert project is not None and bucket is not None
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gee-flood-live-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        check = run_check(args, project, bucket, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(check, args, project, time.monotonic() - start))
    return 1 if check.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

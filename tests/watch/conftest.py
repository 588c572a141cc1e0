from __future__ import annotations

import datetime as dt
from pathlib import Path

import ee
import pytest

from ee_emulator import EmulatorServer
from tests.earthengine.test_export import BUCKET
from tests.inference.conftest import make_checkpoint
from tests.watch.catalog import build

COLLECTION = "projects/emulator/assets/watch/po_event"


@pytest.fixture(scope="package")
def watch_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("watch-ckpt") / "student.ckpt")


@pytest.fixture
def storage():
    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET) as url:
        yield url


@pytest.fixture
def growing(tmp_path):
    """Three acquisitions (and a half-cover one) in a catalog that tests add to."""
    return build(tmp_path / "catalog")


@pytest.fixture
def earth_engine(growing, tmp_path):
    with EmulatorServer(growing.root, assets_dir=tmp_path / "assets", operation_step_s=0.01) as server:
        yield server


def comparable(collection: str) -> list[tuple]:
    """(name within the collection, startTime, properties but those naming the collection) per image."""
    from gee_flood.watch import collection_images

    rows = []
    for image_id in sorted(collection_images(collection)):
        info = ee.data.getAsset(image_id)
        properties = {key: value for key, value in info["properties"].items()
                      if key not in ("gee_flood_request_id", "source_uri")}  # fmt: skip
        rows.append((image_id.rsplit("/", 1)[1], info.get("startTime"), properties))
    return rows


def ingestions(server: EmulatorServer, collection: str) -> list[str]:
    """Destination of every ingestion operation the emulator ran into ``collection`` (one per image if none twice)."""
    return sorted(op.destination for op in server.assets.operations.values()
                  if op.kind == "INGEST_IMAGE" and op.destination.startswith(collection + "/"))  # fmt: skip


def watch_argv(growing, ckpt, server, collection: str, log: Path, until: str = "2019-03-31") -> list[str]:
    return ["watch", "--once", "--aoi", str(growing.aoi), "--since", "2019-03-01", "--until", until,
            "--checkpoint", str(ckpt), "--collection", collection, "--bucket", f"gs://{BUCKET}/watch",
            "--ee-url", server.url, "--log", str(log)]  # fmt: skip


@pytest.fixture(scope="package")
def world(tmp_path_factory, watch_ckpt):
    """One catalog (three acquisitions), emulator and Cloud Storage shared by the tests that do not grow it, and
    an uninterrupted run's collection (``reference``) with its kept maps (``maps``: acquisition time -> COG).
    Each test pushes into its own collection."""
    from ee_emulator import initialize_ee
    from ee_emulator.storage import storage_emulator
    from gee_flood.watch import WatchRequest, watch_once

    root = tmp_path_factory.mktemp("watch-world")
    growing = build(root / "catalog")
    with storage_emulator(BUCKET), EmulatorServer(growing.root, assets_dir=root / "assets",
                                                  operation_step_s=0.01) as server:  # fmt: skip
        collection = "projects/emulator/assets/watch/reference"
        request = WatchRequest(aoi=growing.aoi, since="2019-03-01", until="2019-03-31", checkpoint=watch_ckpt,
                               collection=collection, bucket=f"gs://{BUCKET}/watch", ee_url=server.url, poll_s=0.02,
                               out_dir=root / "maps")  # fmt: skip
        result = watch_once(request)
        assert result.pushed == 3
        maps = {dt.datetime.fromisoformat(e.time.replace("Z", "+00:00")): e.map
                for e in result.events if e.event == "mapped"}  # fmt: skip
        yield {"growing": growing, "server": server, "collection": collection, "reference": comparable(collection),
               "maps": maps, "init": initialize_ee}  # fmt: skip

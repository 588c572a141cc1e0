"""map --mask: validation, Cloud Storage upload (gcp-storage-emulator), Earth Engine ingestion calls.

Cloud Storage is the real client against gcp-storage-emulator on loopback. Earth Engine's asset/operation calls go to
a small stand-in for ``ee.data`` that records the exact manifest and plays an operation that runs, then succeeds or
fails on demand (the end-to-end run against the project's EE emulator is in test_export_emulator.py).
"""

from __future__ import annotations

import socket
import types

import ee
import numpy as np
import pytest
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.earthengine import export
from gee_flood.errors import InputError, RemoteError
from tests.inference.maps import write_flood_map

runner = CliRunner()
BUCKET = "flood-maps"
ASSET = "projects/emulator/assets/floods/test_map"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def storage():
    from google.cloud import storage as gcs

    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET):
        yield gcs.Client()


class FakeEEData:
    """Stand-in for ee.data's asset and operation calls."""

    def __init__(self, error: str | None = None) -> None:
        self.assets: dict[str, dict] = {}
        self.ingestions: list[tuple[str, dict, bool]] = []
        self.created: list[tuple[dict, str]] = []
        self.folders: list[str] = []
        self.polls = 0
        self.error = error

    def is_initialized(self) -> bool:
        return True

    def getAsset(self, name):  # noqa: N802 - ee's name
        if name not in self.assets:
            raise ee.EEException(f"Asset '{name}' not found (does not exist or caller does not have access).")
        return self.assets[name]

    def image_import(self, request_id, manifest, allow_overwrite=False):
        """Stands in for export.send_image_import (the image:import REST call with its requestId)."""
        self.ingestions.append((request_id, manifest, allow_overwrite))
        return {"name": "projects/emulator/operations/OP1", "metadata": {"state": "PENDING"}}

    def createFolder(self, path):  # noqa: N802
        self.folders.append(path)
        self.assets[path] = {"name": path, "type": "FOLDER"}
        return self.assets[path]

    def listOperations(self):  # noqa: N802
        return []

    def getOperation(self, name):  # noqa: N802
        self.polls += 1
        if self.polls < 3:
            return {"name": name, "metadata": {"state": "RUNNING", "progress": self.polls / 3}}
        if self.error:
            return {"name": name, "done": True, "error": {"code": 3, "message": self.error}}
        _, manifest, _ = self.ingestions[-1]
        self.assets[manifest["name"]] = {"name": manifest["name"], "type": "IMAGE", "properties": manifest["properties"]}
        return {"name": name, "done": True, "metadata": {"state": "SUCCEEDED", "progress": 1.0}}

    def createAsset(self, value, path):  # noqa: N802
        self.created.append((value, path))
        self.assets[path] = {"name": path, "type": "IMAGE", "properties": value.get("properties", {})}
        return self.assets[path]

    def deleteAsset(self, path):  # noqa: N802
        self.assets.pop(path)


@pytest.fixture
def fake_ee(monkeypatch):
    data = FakeEEData()
    monkeypatch.setattr(export, "_ee", lambda: types.SimpleNamespace(data=data, EEException=ee.EEException))
    monkeypatch.setattr(export, "ensure_initialized", lambda project, ee_url=None: None)
    monkeypatch.setattr(export, "send_image_import", data.image_import)
    return data


@pytest.fixture
def flood_map(tmp_path):
    water = np.zeros((96, 128), np.uint8)
    water[:, :40] = 1
    water[:5] = 255
    return write_flood_map(tmp_path / "flood.tif", water)


@pytest.mark.parametrize(
    "asset", ["projects/my-project/assets/floods/x", "projects/emulator/assets/a_b-c", "projects/ee-mine/assets/a/b/c"]
)
def test_valid_asset_ids(asset):
    assert str(export.parse_asset_id(asset)) == asset


@pytest.mark.parametrize(
    "asset",
    ["users/me/floods", "projects/P/assets/x", "projects/my-project/assets/", "projects/my-project/assets/a//b",
     "projects/my-project/assets/a b", "projects/my-project/floods/x", "projects/my-project/assets/x.tif"],
)  # fmt: skip
def test_invalid_asset_ids(asset):
    with pytest.raises(InputError, match="expected projects/<cloud-project>/assets/"):
        export.parse_asset_id(asset)


def test_bucket_paths():
    assert export.parse_gcs_location("gs://my-bucket") == export.GcsLocation("my-bucket", "")
    location = export.parse_gcs_location("gs://my.bucket_1/a/b/")
    assert location.uri("x.tif") == "gs://my.bucket_1/a/b/x.tif"
    for bad in ["s3://bucket", "gs://Bucket", "gs://ab", "gs://-bucket", "gs://google-maps", "gs://192.168.1.1",
                "gs://b" + "x" * 70, "gs://bucket/a//b"]:  # fmt: skip
        with pytest.raises(InputError, match="--bucket"):
            export.parse_gcs_location(bad)


def test_push_uploads_then_ingests_with_a_deterministic_request_id(storage, fake_ee, flood_map):
    progress: list[float] = []
    result = export.push_flood_map(
        flood_map, ASSET, f"gs://{BUCKET}/runs/1", client=storage, poll_s=0.01,
        on_progress=lambda fraction, state: progress.append(fraction),
    )  # fmt: skip
    assert result.uri == f"gs://{BUCKET}/runs/1/flood.tif" and result.mode == "ingested"
    assert storage.bucket(BUCKET).blob("runs/1/flood.tif").download_as_bytes() == flood_map.read_bytes()
    request_id, manifest, overwrite = fake_ee.ingestions[0]
    assert request_id == result.request_id and not overwrite
    assert manifest["name"] == ASSET
    assert manifest["tilesets"][0]["sources"][0]["uris"] == [result.uri]
    assert [(b["id"], b["tilesetBandIndex"], b["pyramidingPolicy"]) for b in manifest["bands"]] == [
        ("water_probability", 0, "MEAN"),
        ("water_mask", 1, "MODE"),
    ]
    assert all(b["missingData"] == {"values": [255]} for b in manifest["bands"])
    assert progress[-1] == 1.0 and progress[0] < 1.0
    # the same push again: same request id, the finished asset is found, nothing is redone
    again = export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}/runs/1", client=storage, poll_s=0.01)
    assert again.already_done and again.request_id == result.request_id
    assert len(fake_ee.ingestions) == 1


def test_existing_asset_needs_overwrite(storage, fake_ee, flood_map):
    fake_ee.assets[ASSET] = {"name": ASSET, "properties": {"gee_flood_request_id": "someone else"}}
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage)
    assert not list(storage.list_blobs(BUCKET))


def test_ingestion_error_is_reported_in_one_line(storage, fake_ee, flood_map):
    fake_ee.error = "Projection is not supported.\nDetails follow"
    with pytest.raises(RemoteError, match="Earth Engine ingestion failed: Projection is not supported") as caught:
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    assert "\n" not in str(caught.value)


def test_cog_backed_asset_points_at_the_object(storage, fake_ee, flood_map):
    result = export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}/cogs", client=storage, cog_backed=True)
    value, path = fake_ee.created[0]
    assert path == ASSET and value["type"] == "IMAGE"
    assert value["gcs_location"] == {"uris": [f"gs://{BUCKET}/cogs/flood.tif"]}
    assert result.mode == "cog-backed" and not fake_ee.ingestions


def test_missing_bucket_uploads_and_ingests_nothing(storage, fake_ee, flood_map):
    with pytest.raises(RemoteError, match="gs://no-such-bucket: bucket not found"):
        export.push_flood_map(flood_map, ASSET, "gs://no-such-bucket/x", client=storage)
    assert not fake_ee.ingestions


def test_unreachable_storage_is_one_line(monkeypatch, fake_ee, flood_map):
    from google.cloud import storage as gcs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with pytest.raises(RemoteError, match=f"gs://{BUCKET}: cannot reach the bucket"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=gcs.Client(), probe_timeout_s=1.0)
    assert not fake_ee.ingestions


def test_cli_rejects_bad_ids_before_uploading(storage, fake_ee, flood_map, tmp_path):
    for args, message in [
        (["--asset", "users/me/x", "--bucket", f"gs://{BUCKET}"], "expected projects/<cloud-project>/assets/"),
        (["--asset", ASSET, "--bucket", "gs://Bad_Bucket"], "invalid bucket name"),
        (["--asset", ASSET], "--mask needs --asset"),
    ]:
        result = runner.invoke(app, ["map", "--mask", str(flood_map), *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    not_a_map = tmp_path / "scene.tif"
    not_a_map.write_bytes(b"not a tiff")
    result = runner.invoke(app, ["map", "--mask", str(not_a_map), "--asset", ASSET, "--bucket", f"gs://{BUCKET}"])
    assert result.exit_code == 2 and "not a readable GeoTIFF" in result.output
    assert not list(storage.list_blobs(BUCKET)) and not fake_ee.ingestions


def test_cli_push(storage, fake_ee, flood_map):
    result = runner.invoke(app, ["map", "--mask", str(flood_map), "--asset", ASSET, "--bucket", f"gs://{BUCKET}/p"])
    assert result.exit_code == 0, result.output
    assert f"asset {ASSET}: ingested from gs://{BUCKET}/p/flood.tif" in result.output

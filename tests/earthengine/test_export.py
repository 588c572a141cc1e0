"""map --mask: validation, Cloud Storage upload (gcp-storage-emulator), Earth Engine ingestion calls.

Cloud Storage is the real client against gcp-storage-emulator on loopback. Earth Engine's asset/operation calls go to
a small stand-in for ``ee.data`` that records the exact manifest and plays an operation that runs, then succeeds or
fails on demand (the end-to-end run against the project's EE emulator is in test_export_emulator.py).
"""

from __future__ import annotations

import socket
import types

import ee
import google.auth
import google.auth.credentials
import google.auth.exceptions
import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.earthengine import export, session
from gee_flood.errors import InputError, RemoteError
from gee_flood.inference import to_cog
from tests.inference.maps import write_flood_map

runner = CliRunner()
BUCKET = "flood-maps"
ASSET = "projects/emulator/assets/floods/test_map"
OBJECT = "test_map.tif"  # the asset's object below the bucket prefix: its name, nothing repeated
#: More buckets of the Cloud Storage stand-in: name -> location (BUCKET is in the US multi-region).
LOCATIONS = {"maps-central": "US-CENTRAL1", "maps-nam4": "NAM4", "maps-dual-central": "US-CENTRAL1+US-EAST4",
             "maps-dual-east": "US-EAST1+US-EAST4", "maps-east": "US-EAST4", "maps-europe": "EUROPE-WEST1",
             "maps-eu": "EU"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def storage():
    from google.cloud import storage as gcs

    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET, buckets=LOCATIONS):
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
        name_ = manifest["name"]
        self.assets[name_] = {"name": name_, "type": "IMAGE", "properties": manifest["properties"]}
        return {"name": name, "done": True, "metadata": {"state": "SUCCEEDED", "progress": 1.0}}

    def startExternalImageIngestion(self, manifest, allow_overwrite=False):  # noqa: N802
        """image:importExternal: a COG-backed image from its manifest."""
        self.created.append((manifest, allow_overwrite))
        name = manifest["name"]
        self.assets[name] = {"name": name, "type": "IMAGE", "properties": manifest.get("properties", {})}
        return {"name": name}

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
    # the object is named after the asset (not the local file) and records the asset it backs
    assert result.uri == f"gs://{BUCKET}/runs/1/{OBJECT}" and result.mode == "ingested"
    blob = storage.bucket(BUCKET).get_blob(f"runs/1/{OBJECT}")
    assert blob.download_as_bytes() == flood_map.read_bytes()
    assert blob.metadata == {"gee_flood_asset": ASSET}
    # the missing parent folder was created before the ingestion
    assert fake_ee.folders == ["projects/emulator/assets/floods"] == result.created_folders
    request_id, manifest, overwrite = fake_ee.ingestions[0]
    assert request_id == result.request_id and not overwrite
    assert manifest["name"] == ASSET
    assert manifest["tilesets"][0]["sources"][0]["uris"] == [result.uri]
    assert [(b["id"], b["tilesetBandIndex"], b["pyramidingPolicy"]) for b in manifest["bands"]] == [
        ("likelihood", 0, "MEAN"),
        ("water", 1, "MODE"),
        ("flood", 2, "MODE"),
        ("reference_water", 3, "MODE"),
        ("exclusion", 4, "MODE"),
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
    result = export.push_flood_map(
        flood_map, ASSET, f"gs://{BUCKET}/cogs", client=storage, cog_backed=True, start_time="2019-03-05T05:12:00"
    )
    manifest, overwrite = fake_ee.created[0]
    assert manifest["name"] == ASSET and not overwrite
    assert manifest["tilesets"] == [{"id": "map", "sources": [{"uris": [f"gs://{BUCKET}/cogs/{OBJECT}"]}]}]
    # the same manifest as an ingestion: missing data and pyramiding set per band, the acquisition time
    assert [(b["id"], b["tilesetBandIndex"], b["pyramidingPolicy"], b["missingData"]) for b in manifest["bands"]] == [
        ("likelihood", 0, "MEAN", {"values": [255]}),
        ("water", 1, "MODE", {"values": [255]}),
        ("flood", 2, "MODE", {"values": [255]}),
        ("reference_water", 3, "MODE", {"values": [255]}),
        ("exclusion", 4, "MODE", {"values": [255]}),
    ]
    assert manifest["startTime"] == manifest["endTime"] == "2019-03-05T05:12:00.000Z" == result.start_time
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
    assert f"created folder projects/emulator/assets/floods\nasset {ASSET}: ingested from gs://{BUCKET}/p/{OBJECT}" in (
        result.output
    )


def _blobs(client) -> list[str]:
    return sorted(blob.name for bucket in client.list_buckets() for blob in client.list_blobs(bucket.name))


# -- parent folders --------------------------------------------------------------------------------------------------


def test_missing_parent_is_named_without_create_parents(storage, fake_ee, flood_map):
    deep = "projects/emulator/assets/floods/po/po_2019"
    fake_ee.assets["projects/emulator/assets/floods"] = {"type": "FOLDER"}
    with pytest.raises(InputError) as caught:
        export.push_flood_map(flood_map, deep, f"gs://{BUCKET}", client=storage, create_parents=False)
    assert str(caught.value) == (
        f"--asset {deep}: parent folder projects/emulator/assets/floods/po does not exist; pass --create-parents or "
        "create it with 'earthengine create folder projects/emulator/assets/floods/po'"
    )
    assert not _blobs(storage) and not fake_ee.folders and not fake_ee.ingestions


def test_only_the_missing_parents_are_created_outermost_first(storage, fake_ee, flood_map):
    deep = "projects/emulator/assets/floods/po/2019/po_2019"
    fake_ee.assets["projects/emulator/assets/floods"] = {"type": "FOLDER"}
    result = export.push_flood_map(flood_map, deep, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    assert (
        fake_ee.folders
        == result.created_folders
        == [
            "projects/emulator/assets/floods/po",
            "projects/emulator/assets/floods/po/2019",
        ]
    )


def test_a_parent_that_is_an_image_is_refused(storage, fake_ee, flood_map):
    fake_ee.assets["projects/emulator/assets/floods"] = {"type": "IMAGE"}
    with pytest.raises(InputError, match="projects/emulator/assets/floods is an image, not a folder"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage)
    assert not _blobs(storage)


# -- COG-backed assets: where the bucket is ---------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", [BUCKET, "maps-central", "maps-nam4", "maps-dual-central"])
def test_cog_backed_assets_accept_us_central_buckets(storage, fake_ee, flood_map, bucket):
    result = export.push_flood_map(flood_map, ASSET, f"gs://{bucket}", client=storage, cog_backed=True)
    assert result.mode == "cog-backed" and fake_ee.created[0][0]["tilesets"][0]["sources"] == [{"uris": [result.uri]}]


@pytest.mark.parametrize(
    ("bucket", "where"),
    [("maps-east", "region US-EAST4"), ("maps-europe", "region EUROPE-WEST1"), ("maps-eu", "multi-region EU"),
     ("maps-dual-east", "dual-region US (US-EAST1+US-EAST4), which does not include us-central1")],
)  # fmt: skip
def test_cog_backed_assets_refuse_other_buckets_before_uploading(storage, fake_ee, flood_map, bucket, where):
    with pytest.raises(InputError) as caught:
        export.push_flood_map(flood_map, ASSET, f"gs://{bucket}", client=storage, cog_backed=True)
    assert str(caught.value) == (
        f"gs://{bucket}: the bucket is in {where}; COG-backed assets need a US multi-region, US dual-region "
        "including us-central1, or us-central1 bucket (or push without --cog-backed to ingest); nothing uploaded"
    )
    assert not _blobs(storage) and not fake_ee.created and not fake_ee.folders


def test_ingestion_takes_a_bucket_anywhere(storage, fake_ee, flood_map):
    result = export.push_flood_map(flood_map, ASSET, "gs://maps-europe", client=storage, poll_s=0.01)
    assert result.mode == "ingested" and _blobs(storage) == [OBJECT]


# -- one object per asset, never another asset's ---------------------------------------------------------------------


def test_two_maps_of_one_file_name_get_two_objects(storage, fake_ee, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_flood_map(tmp_path / "a" / "flood.tif", np.ones((64, 64), np.uint8))
    second = write_flood_map(tmp_path / "b" / "flood.tif", np.zeros((64, 64), np.uint8))
    other = "projects/emulator/assets/floods/other_map"
    export.push_flood_map(first, ASSET, f"gs://{BUCKET}/maps", client=storage, poll_s=0.01)
    export.push_flood_map(second, other, f"gs://{BUCKET}/maps", client=storage, poll_s=0.01)
    bucket = storage.bucket(BUCKET)
    assert bucket.blob(f"maps/{OBJECT}").download_as_bytes() == first.read_bytes()
    assert bucket.blob("maps/other_map.tif").download_as_bytes() == second.read_bytes()
    assert [manifest["tilesets"][0]["sources"][0]["uris"][0] for _, manifest, _ in fake_ee.ingestions] == [
        f"gs://{BUCKET}/maps/{OBJECT}",
        f"gs://{BUCKET}/maps/other_map.tif",
    ]


def test_an_object_that_backs_another_asset_is_never_replaced(storage, fake_ee, flood_map):
    # projects/emulator/assets/floods/test_map and projects/floods/assets/test_map under the same prefix name the
    # same object (the asset's name): the second push must not take the first asset's object
    export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}/x", client=storage, poll_s=0.01)
    before = storage.bucket(BUCKET).get_blob(f"x/{OBJECT}")
    for overwrite in (False, True):
        with pytest.raises(InputError) as caught:
            export.push_flood_map(
                flood_map, "projects/floods/assets/test_map", f"gs://{BUCKET}/x", client=storage,
                overwrite=overwrite,
            )  # fmt: skip
        assert str(caught.value) == (
            f"gs://{BUCKET}/x/{OBJECT}: the object backs asset {ASSET}; not replacing it (use another --bucket "
            "prefix); nothing uploaded"
        )
    assert storage.bucket(BUCKET).get_blob(f"x/{OBJECT}").generation == before.generation
    assert len(fake_ee.ingestions) == 1


def test_an_unknown_object_is_replaced_only_with_overwrite(storage, fake_ee, flood_map):
    storage.bucket(BUCKET).blob(OBJECT).upload_from_string(b"someone's file")
    with pytest.raises(InputError, match=f"gs://{BUCKET}/{OBJECT}: an object gee-flood did not write for {ASSET}"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage)
    assert storage.bucket(BUCKET).blob(OBJECT).download_as_bytes() == b"someone's file"
    export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, overwrite=True, poll_s=0.01)
    assert storage.bucket(BUCKET).blob(OBJECT).download_as_bytes() == flood_map.read_bytes()


# -- names, not local paths, leave the machine -----------------------------------------------------------------------


def _tags_of_uploaded(storage, tmp_path, name: str) -> dict[str, str]:
    downloaded = tmp_path / "downloaded.tif"
    storage.bucket(BUCKET).blob(name).download_to_filename(str(downloaded))
    from rio_cogeo.cogeo import cog_validate

    assert cog_validate(str(downloaded), quiet=True)[0]
    with rasterio.open(downloaded) as src:
        return src.tags()


def test_local_paths_in_a_maps_tags_are_uploaded_as_names(storage, fake_ee, tmp_path):
    private = str(tmp_path / "home" / "someone" / "scenes" / "s1_scene.tif")
    tiled = write_flood_map(tmp_path / "tiled.tif", np.ones((64, 64), np.uint8), cog=False)
    with rasterio.open(tiled, "r+") as dst:
        dst.update_tags(source=private, checkpoint="student.ckpt", threshold="0.5")
    legacy = to_cog(tiled, tmp_path / "flood.tif")
    export.push_flood_map(legacy, ASSET, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    tags = _tags_of_uploaded(storage, tmp_path, OBJECT)
    assert tags["source"] == "s1_scene.tif" and tags["checkpoint"] == "student.ckpt" and tags["threshold"] == "0.5"
    assert not [value for value in tags.values() if value.startswith("/") or str(tmp_path) in value]
    with rasterio.open(legacy) as src:
        assert src.tags()["source"] == private  # the local file is left as it was


# -- credentials -----------------------------------------------------------------------------------------------------

EE_SCOPE = "https://www.googleapis.com/auth/earthengine"


class FakeCredentials(google.auth.credentials.Credentials):
    """Credentials that never reach the network: scopes only."""

    def __init__(self, scopes=(), *, requires_scopes=False) -> None:
        super().__init__()
        self._scopes = list(scopes)
        self._requires = requires_scopes

    @property
    def scopes(self):
        return self._scopes

    @property
    def requires_scopes(self):
        return self._requires

    def with_scopes(self, scopes):
        return FakeCredentials(scopes)

    def refresh(self, request):
        raise AssertionError("no network in tests")


@pytest.fixture
def no_adc(monkeypatch):
    def refuse(*args, **kwargs):
        raise google.auth.exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", refuse)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


@pytest.mark.parametrize(
    "scope",
    ["https://www.googleapis.com/auth/devstorage.full_control", "https://www.googleapis.com/auth/cloud-platform"],
)
def test_earth_engine_credentials_with_a_storage_scope_are_reused(no_adc, scope):
    credentials = FakeCredentials([EE_SCOPE, scope])
    assert export.storage_credentials(credentials) is credentials
    client = export.storage_client("my-project", ee_credentials=credentials)
    assert client._credentials is credentials and client.project == "my-project"


def test_a_service_account_is_scoped_for_storage(no_adc):
    scoped = export.storage_credentials(FakeCredentials(requires_scopes=True))
    assert scoped.scopes == ["https://www.googleapis.com/auth/devstorage.read_write"]


def test_earth_engine_only_credentials_fall_back_to_adc(monkeypatch):
    adc = FakeCredentials(["https://www.googleapis.com/auth/devstorage.read_write"])
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (adc, "adc-project"))
    assert export.storage_credentials(FakeCredentials([EE_SCOPE])) is adc


@pytest.mark.parametrize("ee_credentials", [FakeCredentials([EE_SCOPE]), None])
def test_no_storage_credentials_is_one_line_with_the_fix(no_adc, ee_credentials):
    with pytest.raises(RemoteError) as caught:
        export.storage_client("my-project", ee_credentials=ee_credentials)
    message = str(caught.value)
    assert "\n" not in message and "gcloud auth application-default login" in message
    lacking = "Earth Engine's credentials lack the Cloud Storage scope" if ee_credentials else "no credentials"
    assert message.startswith(f"cannot upload to Cloud Storage: {lacking}")


def test_push_hands_earth_engine_credentials_to_storage(fake_ee, flood_map, monkeypatch):
    credentials = FakeCredentials([EE_SCOPE, "https://www.googleapis.com/auth/cloud-platform"])
    fake_ee._get_state = lambda: types.SimpleNamespace(credentials=credentials)
    seen = {}

    def fake_storage_client(project, *, ee_credentials):
        seen.update(project=project, credentials=ee_credentials)
        raise RemoteError("stop here")

    monkeypatch.setattr(export, "storage_client", fake_storage_client)
    with pytest.raises(RemoteError, match="stop here"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}")
    assert seen == {"project": "emulator", "credentials": credentials}


def test_map_init_errors_do_not_ask_for_a_project_map_already_has(monkeypatch, flood_map):
    def refuse(*args, **kwargs):
        raise ee.EEException("Please authorize access to your Earth Engine account")

    monkeypatch.setattr(ee, "Initialize", refuse)
    monkeypatch.setattr(ee.data, "is_initialized", lambda: False)
    monkeypatch.setattr(session, "_initialised_with", None)
    result = runner.invoke(app, ["map", "--mask", str(flood_map), "--asset", ASSET, "--bucket", f"gs://{BUCKET}"])
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert "--project" not in lines[0] and "earthengine authenticate" in lines[0]
    assert "check that Cloud project 'emulator' exists and is registered for Earth Engine" in lines[0]


# -- an ingestion request that fails every time --------------------------------------------------------------------


def test_when_every_import_response_is_lost_the_running_ingestion_is_found(storage, fake_ee, flood_map, monkeypatch):
    def lost(request_id, manifest, allow_overwrite=False):
        fake_ee.ingestions.append((request_id, manifest, allow_overwrite))  # Earth Engine started it...
        raise ee.EEException("The service is currently unavailable.")  # ...but no response came back

    monkeypatch.setattr(export, "send_image_import", lost)
    link = "https://code.earthengine.google.com/?asset="  # how Earth Engine names an ingestion's destination

    def ingesting(name: str, destination: str) -> dict:
        metadata = {"type": "INGEST_IMAGE", "state": "RUNNING", "destinationUris": [link + destination]}
        return {"name": f"projects/emulator/operations/{name}", "metadata": metadata}

    running = ingesting("OP1", ASSET)
    fake_ee.listOperations = lambda: [ingesting("OP0", ASSET + "_2"), running]  # another asset's first
    result = export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    assert result.operation == running["name"] and len(fake_ee.ingestions) == 1
    assert fake_ee.assets[ASSET]["properties"]["gee_flood_request_id"] == result.request_id


def _succeeded_ingestion(name: str, asset: str) -> dict:
    """An operation as Earth Engine lists a finished ingestion into ``asset``."""
    metadata = {"type": "INGEST_IMAGE", "state": "SUCCEEDED", "description": f'Ingest image: "{asset}"'}
    return {"name": f"projects/emulator/operations/{name}", "metadata": metadata}


def test_when_every_import_response_is_lost_an_ingestion_already_done_is_found(
    storage, fake_ee, flood_map, monkeypatch
):
    """A small map can be ingested before the client gives up: the asset carrying the request id tells it was ours."""

    def lost_after_ingesting(request_id, manifest, allow_overwrite=False):
        fake_ee.ingestions.append((request_id, manifest, allow_overwrite))
        name = manifest["name"]
        fake_ee.assets[name] = {"name": name, "type": "IMAGE", "properties": manifest["properties"]}
        raise ee.EEException("The service is currently unavailable.")

    monkeypatch.setattr(export, "send_image_import", lost_after_ingesting)
    done = _succeeded_ingestion("OP1", ASSET)
    fake_ee.listOperations = lambda: [done]
    result = export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    assert result.operation == done["name"] and len(fake_ee.ingestions) == 1


def test_a_succeeded_ingestion_of_another_request_is_not_taken_for_this_one(storage, fake_ee, flood_map, monkeypatch):
    def refuse(request_id, manifest, allow_overwrite=False):
        raise ee.EEException("Permission denied on projects/emulator.")

    monkeypatch.setattr(export, "send_image_import", refuse)
    fake_ee.assets[ASSET] = {"name": ASSET, "type": "IMAGE", "properties": {"gee_flood_request_id": "an-earlier-push"}}
    fake_ee.listOperations = lambda: [_succeeded_ingestion("OP0", ASSET)]  # that earlier push's ingestion
    with pytest.raises(RemoteError, match="Earth Engine refused the ingestion: Permission denied"):
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, overwrite=True, poll_s=0.01)


def test_a_refused_import_with_nothing_running_is_one_line(storage, fake_ee, flood_map, monkeypatch):
    def refuse(request_id, manifest, allow_overwrite=False):
        raise ee.EEException("Permission denied on projects/emulator.\nmore")

    monkeypatch.setattr(export, "send_image_import", refuse)
    with pytest.raises(RemoteError) as caught:
        export.push_flood_map(flood_map, ASSET, f"gs://{BUCKET}", client=storage, poll_s=0.01)
    assert str(caught.value) == f"{ASSET}: Earth Engine refused the ingestion: Permission denied on projects/emulator."


# -- polling: the bounded, visible retry of reads, on a fake clock ----------------------------------------------------


class FakeClock:
    """Emulated time: ``sleep`` advances ``now``; nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class SlowOperation:
    """An ingestion that runs for ``minutes`` of emulated time; ``faults`` are raised by the polls in turn."""

    def __init__(self, clock: FakeClock, minutes: float, faults: list[BaseException]) -> None:
        self.clock, self.end, self.faults, self.polls = clock, minutes * 60.0, list(faults), 0

    def getOperation(self, name):  # noqa: N802 - ee's name
        self.polls += 1
        if self.faults:
            raise self.faults.pop(0)
        if self.clock.now < self.end:
            metadata = {"state": "RUNNING", "progress": self.clock.now / self.end}
            return {"name": name, "metadata": metadata}
        return {"name": name, "done": True, "metadata": {"state": "SUCCEEDED", "progress": 1.0}}


def _polling(monkeypatch, operation) -> None:
    monkeypatch.setattr(export, "_ee", lambda: types.SimpleNamespace(data=operation, EEException=ee.EEException))


def test_polling_survives_quota_server_errors_and_resets_during_a_long_ingestion(monkeypatch, capsys):
    import requests

    clock = FakeClock()
    faults = [ee.EEException("Too Many Requests: Request was rejected because the request rate or concurrency limit "
                             "was exceeded."),
              ee.EEException("An internal error has occurred."),
              requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'Connection "
                                                  "reset by peer'))"),
              ee.EEException("The service is currently unavailable.")]  # fmt: skip
    operation = SlowOperation(clock, minutes=7, faults=faults)
    _polling(monkeypatch, operation)
    seen: list[tuple[float, str]] = []
    done = export.wait_for_operation("projects/emulator/operations/OP1", poll_s=2.0, sleep=clock.sleep, clock=clock,
                                     on_progress=lambda fraction, state: seen.append((fraction, state)))  # fmt: skip
    assert done["metadata"]["state"] == "SUCCEEDED" and seen[-1] == (1.0, "SUCCEEDED")
    assert clock.now >= 7 * 60  # minutes of emulated time...
    assert operation.polls < 60  # ...polled with a growing interval, not every 2 s
    assert max(clock.sleeps) <= export.MAX_POLL_S
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 4 and all(line.startswith("warning: polling projects/emulator/operations/OP1 failed")
                                      and "--retry-timeout" in line for line in warnings)  # fmt: skip
    assert "ConnectionError" in warnings[2]


def test_polling_gives_up_within_the_retry_bound(monkeypatch):
    from gee_flood.earthengine.session import RetryPolicy

    clock = FakeClock()
    storm = [ee.EEException("Too Many Requests: quota exceeded.") for _ in range(100)]
    _polling(monkeypatch, SlowOperation(clock, minutes=1, faults=storm))
    policy = RetryPolicy(attempts=100, initial_delay_s=1.0, max_delay_s=10.0, timeout_s=60.0)
    with pytest.raises(RemoteError) as caught:
        export.wait_for_operation("projects/emulator/operations/OP2", retry=policy, sleep=clock.sleep, clock=clock)
    message = str(caught.value)
    assert "\n" not in message and "bound 60 s: --retry-timeout" in message and "Too Many Requests" in message
    assert clock.now <= 60.0 + 1e-9


def test_a_permanent_polling_error_and_a_hung_operation_are_one_line(monkeypatch):
    clock = FakeClock()
    _polling(monkeypatch, SlowOperation(clock, minutes=1, faults=[ee.EEException("Operation OP3 not found.")]))
    with pytest.raises(RemoteError, match="Earth Engine refused polling .*OP3 not found"):
        export.wait_for_operation("projects/emulator/operations/OP3", sleep=clock.sleep, clock=clock)
    _polling(monkeypatch, SlowOperation(clock, minutes=600, faults=[]))
    with pytest.raises(RemoteError, match="still running after 3600 s; check it with 'earthengine task info'"):
        export.wait_for_operation("projects/emulator/operations/OP4", sleep=clock.sleep, clock=clock)


# -- a bucket the user may write objects to but not read as a whole ----------------------------------------------------


class ObjectRightsOnly:
    """A storage client whose user has object rights only (no storage.buckets.get), or none (``objects=False``)."""

    def __init__(self, objects: bool = True) -> None:
        self.objects = objects

    def get_bucket(self, name, **kwargs):
        from google.api_core import exceptions

        raise exceptions.Forbidden("caller does not have storage.buckets.get access to the Google Cloud Storage "
                                   "bucket. Permission 'storage.buckets.get' denied on resource (or it may not "
                                   "exist).")  # fmt: skip

    def bucket(self, name):
        client = self

        class Bucket:
            def get_blob(self, blob_name, **kwargs):
                from google.api_core import exceptions

                if not client.objects:
                    raise exceptions.Forbidden("Permission 'storage.objects.get' denied")
                return None

        return Bucket()


def test_object_rights_are_enough_to_ingest():
    bucket = export.probe_bucket(ObjectRightsOnly(), export.GcsLocation("maps", "runs"))
    assert bucket is not None


@pytest.mark.parametrize(("objects", "cog_backed", "permission"), [
    (True, True, "permission storage.buckets.get is missing, so the bucket's location cannot be checked"),
    (False, False, "neither storage.buckets.get nor storage.objects.get"),
])  # fmt: skip
def test_a_missing_bucket_permission_is_named_in_one_line(objects, cog_backed, permission):
    with pytest.raises(RemoteError) as caught:
        export.probe_bucket(ObjectRightsOnly(objects), export.GcsLocation("maps"), cog_backed=cog_backed)
    message = str(caught.value)
    assert "\n" not in message and permission in message and message.startswith("gs://maps: ")
    assert message.endswith("nothing uploaded")

"""Ingestion from Cloud Storage (gcp-storage-emulator), COG-backed assets and export to asset: round trips."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ee_emulator import EmulatorServer, FaultConfig, FaultRule, initialize_ee
from tests.ee_emulator.conftest import S1, build_catalog, utm_grid
from tests.ee_emulator.test_pixels import grid_dict

BUCKET = "flood-bucket"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def storage_host() -> Iterator[str]:
    """An in-process gcp-storage-emulator on a free loopback port, with one bucket."""
    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET, buckets={"eu-bucket": "EUROPE-WEST1", "nam4-bucket": "NAM4"}) as url:
        yield url


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    root = tmp_path_factory.mktemp("assets")
    build_catalog(root / "catalog")
    (root / "bucket" / "local-bucket").mkdir(parents=True)
    with EmulatorServer(root / "catalog", bucket_dir=root / "bucket", operation_step_s=0.02) as server:
        yield server


@pytest.fixture
def ee_assets(emulator: EmulatorServer, storage_host: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    import ee

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_host)
    initialize_ee(emulator)
    return ee


def write_mask(path: Path, *, cog: bool) -> np.ndarray:
    rows, cols = np.mgrid[0:64, 0:64]
    mask = ((rows + cols) % 7 == 0).astype(np.uint8)
    mask[:4, :] = 255  # no data
    grid = utm_grid()
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint8", "crs": grid.crs,
               "transform": grid.transform, "nodata": 255}  # fmt: skip
    if cog:
        from rio_cogeo.cogeo import cog_translate
        from rio_cogeo.profiles import cog_profiles

        with rasterio.MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(mask[None])
            with memory.open() as source:
                cog_translate(source, str(path), cog_profiles.get("deflate"), quiet=True, in_memory=True)
    else:
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(mask[None])
    return mask


def upload(path: Path, blob: str, bucket: str = BUCKET) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.bucket(bucket).blob(blob).upload_from_filename(str(path))


def wait(ee, name: str) -> tuple[dict, list[str]]:  # noqa: ANN001
    states = []
    for _ in range(200):
        operation = ee.data.getOperation(name)
        states.append(operation["metadata"]["state"])
        if operation.get("done"):
            return operation, states
        time.sleep(0.01)
    raise AssertionError(f"operation {name} did not finish: {states[-5:]}")


def test_ingestion_round_trip_through_cloud_storage(ee_assets, tmp_path: Path) -> None:
    ee = ee_assets
    mask = write_mask(tmp_path / "flood.tif", cog=False)
    upload(tmp_path / "flood.tif", "masks/flood.tif")
    manifest = {
        "name": "projects/emulator/assets/flood/mask1",
        "tilesets": [{"id": "ts", "sources": [{"uris": [f"gs://{BUCKET}/masks/flood.tif"]}]}],
        "bands": [{"id": "flood", "tilesetId": "ts", "tilesetBandIndex": 0, "missingData": {"values": [255]},
                   "pyramidingPolicy": "MODE"}],
        "startTime": "2020-01-05T00:00:00Z",
        "properties": {"event": "Demo"},
    }  # fmt: skip
    with pytest.raises(ee.EEException, match="Asset 'projects/emulator/assets/flood' does not exist"):
        ee.data.startIngestion(ee.data.newTaskId()[0], manifest)  # the parent folder must exist first
    assert ee.data.createFolder("projects/emulator/assets/flood")["type"] == "FOLDER"
    started = ee.data.startIngestion(ee.data.newTaskId()[0], manifest)
    assert started["started"] == "OK"
    operation, states = wait(ee, started["name"])
    assert states[0] in ("PENDING", "RUNNING") and states[-1] == "SUCCEEDED" and "error" not in operation
    assert operation["metadata"]["type"] == "INGEST_IMAGE"
    assert ee.data.getTaskStatus(started["id"])[0]["state"] == "COMPLETED"
    image = ee.Image("projects/emulator/assets/flood/mask1")
    info = image.getInfo()
    assert [band["id"] for band in info["bands"]] == ["flood"]
    assert info["properties"]["event"] == "Demo" and info["properties"]["system:time_start"] == 1578182400000
    pixels = ee.data.computePixels({"expression": image.addBands(image.mask().rename("valid")),
                                    "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(utm_grid())})  # fmt: skip
    np.testing.assert_array_equal(pixels["flood"], np.where(mask == 255, 0, mask))
    np.testing.assert_array_equal(pixels["valid"], (mask != 255).astype(np.float32))
    asset = ee.data.getAsset("projects/emulator/assets/flood/mask1")
    assert asset["type"] == "IMAGE" and asset["bands"][0]["pyramidingPolicy"] == "MODE"
    listed = ee.data.listAssets({"parent": "projects/emulator/assets/flood"})["assets"]
    assert [entry["id"] for entry in listed] == ["projects/emulator/assets/flood/mask1"]
    root = ee.data.listAssets({"parent": "projects/emulator/assets"})["assets"]
    assert {"id": "projects/emulator/assets/flood", "type": "FOLDER"} in [
        {"id": entry["id"], "type": entry["type"]} for entry in root
    ]
    with pytest.raises(ee.EEException, match="Cannot overwrite asset"):
        second = ee.data.startIngestion(ee.data.newTaskId()[0], manifest)
        failed, _ = wait(ee, second["name"])
        raise ee.EEException(failed["error"]["message"])


def test_failed_ingestion_reports_the_reason(ee_assets) -> None:
    ee = ee_assets
    manifest = {"name": "projects/emulator/assets/missing",
                "tilesets": [{"sources": [{"uris": [f"gs://{BUCKET}/does/not/exist.tif"]}]}]}  # fmt: skip
    started = ee.data.startIngestion("request-1", manifest)
    operation, states = wait(ee, started["name"])
    assert states[-1] == "FAILED"
    assert operation["error"]["message"].startswith(f"Unable to read 'gs://{BUCKET}/does/not/exist.tif'")
    with pytest.raises(ee.EEException, match="not found"):
        ee.Image("projects/emulator/assets/missing").getInfo()


def test_cog_backed_asset_from_local_bucket_dir(ee_assets, emulator: EmulatorServer) -> None:
    ee = ee_assets
    bucket = emulator.assets.bucket_dir / "local-bucket"
    mask = write_mask(bucket / "cog.tif", cog=True)
    grid = utm_grid(size=600)  # large and striped: not a Cloud Optimized GeoTIFF
    with rasterio.open(bucket / "plain.tif", "w", driver="GTiff", width=600, height=600, count=1, dtype="uint8",
                       crs=grid.crs, transform=grid.transform) as dataset:  # fmt: skip
        dataset.write(np.zeros((1, 600, 600), np.uint8))
    created = ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": ["gs://local-bucket/cog.tif"]},
                                   "properties": {"source": "test"}}, "projects/emulator/assets/cog1")  # fmt: skip
    assert created["type"] == "IMAGE" and created["properties"] == {"source": "test"}
    pixels = ee.data.computePixels({"expression": ee.Image("projects/emulator/assets/cog1"),
                                    "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(utm_grid(size=16))})  # fmt: skip
    np.testing.assert_array_equal(pixels["b1"], np.where(mask == 255, 0, mask)[:16, :16])
    with pytest.raises(ee.EEException, match="is not a valid Cloud Optimized GeoTIFF"):
        ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": ["gs://local-bucket/plain.tif"]}},
                            "projects/emulator/assets/plain")  # fmt: skip
    ee.data.setAssetProperties("projects/emulator/assets/cog1", {"event": "Demo", "source": None})
    assert ee.Image("projects/emulator/assets/cog1").toDictionary().getInfo() == {"event": "Demo"}
    ee.data.createAsset({"type": "IMAGE_COLLECTION"}, "projects/emulator/assets/floods")
    assert ee.ImageCollection("projects/emulator/assets/floods").size().getInfo() == 0
    ee.data.deleteAsset("projects/emulator/assets/cog1")
    with pytest.raises(ee.EEException, match="not found"):
        ee.Image("projects/emulator/assets/cog1").getInfo()


def test_export_to_asset_round_trip(ee_assets) -> None:
    ee = ee_assets
    source = ee.Image(f"{S1}/S1_A").select("VV").gt(-17).rename("water").toUint8()
    region = ee.Geometry.Rectangle([500_100, 5_000_100, 500_500, 5_000_500], "EPSG:32633", False)
    task = ee.batch.Export.image.toAsset(
        source, description="water", assetId="projects/emulator/assets/water", region=region, scale=20,
        crs="EPSG:32633", pyramidingPolicy={"water": "MODE"},
    )  # fmt: skip
    task.start()
    for _ in range(200):
        status = task.status()
        if status["state"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.01)
    assert status["state"] == "COMPLETED", status
    exported = ee.Image("projects/emulator/assets/water")
    band = exported.getInfo()["bands"][0]
    assert band["id"] == "water" and band["crs_transform"] == [20, 0, 500_100, 0, -20, 5_000_500]
    assert band["dimensions"] == [20, 20]
    direct = ee.data.computePixels({"expression": source, "fileFormat": "NUMPY_NDARRAY",
                                    "grid": grid_dict(utm_grid(size=20, x_offset_px=10, y_offset_px=14,
                                                               pixel_m=20))})  # fmt: skip
    stored = ee.data.computePixels({"expression": exported, "fileFormat": "NUMPY_NDARRAY",
                                    "grid": grid_dict(utm_grid(size=20, x_offset_px=10, y_offset_px=14,
                                                               pixel_m=20))})  # fmt: skip
    np.testing.assert_array_equal(stored["water"], direct["water"])
    assert 0 < stored["water"].mean() < 1


def test_assets_need_an_existing_parent(ee_assets) -> None:
    """Earth Engine refuses an asset whose parent folder or collection does not exist: every creating route."""
    ee = ee_assets
    missing = "projects/emulator/assets/no_such_folder"
    message = f"Asset '{missing}' does not exist or doesn't allow this operation"
    with pytest.raises(ee.EEException, match=message):
        ee.data.createFolder(f"{missing}/child")
    with pytest.raises(ee.EEException, match=message):
        ee.data.createAsset({"type": "IMAGE_COLLECTION"}, f"{missing}/collection")
    with pytest.raises(ee.EEException, match=message):
        ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": ["gs://local-bucket/cog.tif"]}},
                            f"{missing}/cog")  # fmt: skip
    manifest = {"name": f"{missing}/mask", "tilesets": [{"sources": [{"uris": [f"gs://{BUCKET}/x.tif"]}]}]}
    with pytest.raises(ee.EEException, match=message):
        ee.data.startIngestion("parent-check", manifest)
    region = ee.Geometry.Rectangle([500_100, 5_000_100, 500_500, 5_000_500], "EPSG:32633", False)
    task = ee.batch.Export.image.toAsset(ee.Image(f"{S1}/S1_A"), assetId=f"{missing}/export", region=region, scale=20)
    with pytest.raises(ee.EEException, match=message):
        task.start()
    # the project root always exists, and a created folder (nested ones one by one) is a parent
    ee.data.createFolder("projects/emulator/assets/parent_a")
    ee.data.createFolder("projects/emulator/assets/parent_a/parent_b")
    ee.data.createAsset({"type": "IMAGE_COLLECTION"}, "projects/emulator/assets/parent_a/parent_b/collection")
    assert ee.data.getAsset("projects/emulator/assets/parent_a/parent_b/collection")["type"] == "IMAGE_COLLECTION"


def _import(ee, manifest: dict, request_id: str | None) -> dict:  # noqa: ANN001
    """image:import through the client's REST resource, with or without a requestId (startIngestion drops it)."""
    body: dict = {"imageManifest": manifest, "overwrite": False}
    if request_id is not None:
        body["requestId"] = request_id
    call = ee.data._get_cloud_projects().image().import_(project=ee.data._get_projects_path(), body=body)
    return ee.data._execute_cloud_call(call, num_retries=3)


def _ingest_operations(server: EmulatorServer, asset: str) -> list:
    return [op for op in server.assets.operations.values() if op.kind == "INGEST_IMAGE" and op.destination == asset]


@pytest.mark.parametrize("request_id", [None, "gee-flood-lost-response-1"])
def test_ingestion_accepted_response_lost(storage_host, tmp_path: Path, monkeypatch, request_id) -> None:
    """The fault 'ingestion accepted, response lost': the client retries; only a requestId keeps it one operation."""
    import ee

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_host)
    write_mask(tmp_path / "lost.tif", cog=False)
    upload(tmp_path / "lost.tif", "masks/lost.tif")
    faults = FaultConfig([FaultRule("image:import", "response_lost", count=1)])
    with EmulatorServer(None, faults=faults, operation_step_s=0.01) as server:
        initialize_ee(server)
        asset = "projects/emulator/assets/lost"
        manifest = {"name": asset, "tilesets": [{"sources": [{"uris": [f"gs://{BUCKET}/masks/lost.tif"]}]}]}
        with monkeypatch.context() as patched:
            patched.setattr("time.sleep", lambda seconds: None)  # googleapiclient's retry backoff
            started = _import(ee, manifest, request_id)
        operations = _ingest_operations(server, asset)
        assert server.stats.snapshot()["requests"]["image:import"] == 2 and server.faults.injected == {
            "response_lost": 1
        }
        if request_id is None:  # the hazard: the retry started a second ingestion
            assert len(operations) == 2
        else:  # the retry got the operation the lost response would have named
            assert len(operations) == 1 and started["name"] == operations[0].name
            again = _import(ee, manifest, request_id)  # a later rerun with the same id: still that operation
            assert again["name"] == operations[0].name and len(_ingest_operations(server, asset)) == 1


def test_request_ids_are_validated(ee_assets) -> None:
    ee = ee_assets
    manifest = {"name": "projects/emulator/assets/bad_id", "tilesets": [{"sources": [{"uris": ["gs://b/x.tif"]}]}]}
    with pytest.raises(ee.EEException, match="Invalid requestId"):
        _import(ee, manifest, "not valid!")


def test_cog_backed_assets_need_a_us_central_bucket(ee_assets, tmp_path: Path) -> None:
    """Earth Engine reads COG-backed assets only from US, a US dual-region with us-central1, or us-central1."""
    ee = ee_assets
    mask = write_mask(tmp_path / "cog.tif", cog=True)
    for bucket in ("eu-bucket", "nam4-bucket"):
        upload(tmp_path / "cog.tif", "cogs/cog.tif", bucket=bucket)
    refused = "Cloud Storage bucket 'eu-bucket' is in region EUROPE-WEST1; COG-backed assets need a bucket in the US "
    with pytest.raises(ee.EEException, match=refused):
        ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": ["gs://eu-bucket/cogs/cog.tif"]}},
                            "projects/emulator/assets/eu_cog")  # fmt: skip
    manifest = {"name": "projects/emulator/assets/eu_external",
                "tilesets": [{"sources": [{"uris": ["gs://eu-bucket/cogs/cog.tif"]}]}]}  # fmt: skip
    with pytest.raises(ee.EEException, match=refused):
        ee.data.startExternalImageIngestion(manifest)
    ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": ["gs://nam4-bucket/cogs/cog.tif"]}},
                        "projects/emulator/assets/nam4_cog")  # fmt: skip
    pixels = ee.data.computePixels({"expression": ee.Image("projects/emulator/assets/nam4_cog"),
                                    "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(utm_grid(size=16))})  # fmt: skip
    np.testing.assert_array_equal(pixels["b1"], np.where(mask == 255, 0, mask)[:16, :16])

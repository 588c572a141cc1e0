"""The emulator checks request bodies as the REST reference defines them and is no kinder than Earth Engine.

Bodies: unknown fields, wrong types, invalid enums answer 400 INVALID_ARGUMENT in the wording of Google's API front end
(:mod:`ee_emulator.schemas`). Strictness: only configured projects exist; one operation per request id, a failed one
included; one location rule for COG-backed buckets (Cloud Storage or ``bucket_dir``); ``tilesetBandIndex`` is not
guessed; missing data comes from the manifest only; at most 1024 bands; a non-empty folder is not deleted; a
project lists its own operations only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from ee_emulator import EmulatorServer, initialize_ee
from ee_emulator.contract import EarthEngineContract, RequestRecorder
from ee_emulator.schemas import SCHEMA_READ_ON, SCHEMA_SOURCE, check_body
from tests.ee_emulator.conftest import utm_grid
from tests.ee_emulator.test_pixels import grid_dict

LOCAL = "local-bucket"
EU_LOCAL = "eu-local-bucket"


def _manifest(name: str, uri: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "tilesets": [{"id": "t", "sources": [{"uris": [uri]}]}], **extra}


# -- schemas ---------------------------------------------------------------------------------------------------------


def test_the_schemas_name_their_source_and_date():
    assert SCHEMA_SOURCE.startswith("https://developers.google.com/earth-engine/reference/rest/v1/")
    assert SCHEMA_READ_ON == "2026-12-07"


def test_body_violations_read_like_the_service():
    body = {
        "imageManifest": {
            "name": "projects/emulator/assets/x",
            "foo": 1,
            "tilesets": [{"id": "t", "sources": [{"uris": ["gs://b/x.tif"]}]}],
            "bands": [{"id": "a", "tilesetId": "t", "tilesetBandIdx": 0, "pyramidingPolicy": "AVERAGE"},
                      {"id": "b", "tilesetId": "t", "tilesetBandIndex": "one"}],
            "startTime": "5 March 2019",
        },
        "requestId": "r",
        "bar": True,
    }  # fmt: skip
    assert check_body("ImportImageRequest", body) == [
        """Invalid JSON payload received. Unknown name "foo" at 'image_manifest': Cannot find field.""",
        """Invalid JSON payload received. Unknown name "tilesetBandIdx" at 'image_manifest.bands[0]': Cannot find """
        "field.",
        "Invalid value at 'image_manifest.bands[0].pyramiding_policy' "
        """(type.googleapis.com/google.earthengine.v1.PyramidingPolicy), "AVERAGE\"""",
        """Invalid value at 'image_manifest.bands[1].tileset_band_index' (TYPE_INT32), "one\"""",
        "Invalid value at 'image_manifest.start_time' (type.googleapis.com/google.protobuf.Timestamp), Field "
        "'startTime', Invalid time format: Failed to parse input",
        """Invalid JSON payload received. Unknown name "bar": Cannot find field.""",
    ]


def test_bodies_the_service_parses_pass():
    manifest = _manifest(
        "projects/emulator/assets/x", "gs://b/x.tif", startTime="2019-03-05T05:12:00.000Z",
        bands=[{"id": "a", "tileset_id": "t", "tilesetBandIndex": "0", "missingData": {"values": [255]},
                "pyramidingPolicy": "MODE"}],
        missingData={"values": [255]}, pyramidingPolicy=1, properties={"any": {"thing": [1]}},
    )  # fmt: skip
    assert check_body("ImportImageRequest", {"imageManifest": manifest, "overwrite": False, "requestId": "x"}) == []
    assert check_body("ImportExternalImageRequest", {"imageManifest": manifest, "overwrite": True}) == []
    assert check_body("EarthEngineAsset", {"type": "FOLDER", "name": "projects/p/assets/f"}) == []
    assert check_body("EarthEngineAsset", {"type": "DIRECTORY"}) == [
        """Invalid value at 'type' (type.googleapis.com/google.earthengine.v1.Type), "DIRECTORY\""""
    ]
    assert check_body("ImageManifest", {"bands": {"id": "a"}}) != []  # a repeated field needs a list
    assert check_body("ImageManifest", {"name": ["a"]}) == [
        """Invalid JSON payload received. Unknown name "name": Proto field is not repeating, cannot start list."""
    ]


def test_the_contract_checks_recorded_bodies():
    recorder = RequestRecorder()
    good = {"imageManifest": _manifest("projects/p/assets/x", "gs://b/x.tif"), "requestId": "r"}
    bad = {"imageManifest": {**_manifest("projects/p/assets/x", "gs://b/x.tif"), "gcs_location": {}}}
    recorder.record("POST", "/v1/projects/p/image:import", {}, json.dumps(good).encode())
    recorder.record("POST", "/v1/projects/p/image:importExternal", {}, json.dumps(bad).encode())
    assert recorder.problems(EarthEngineContract.installed()) == [
        'POST /v1/projects/p/image:importExternal: Invalid JSON payload received. Unknown name "gcs_location" at '
        "'image_manifest': Cannot find field."
    ]


# -- the served emulator ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    root = tmp_path_factory.mktemp("fidelity")
    for bucket in (LOCAL, EU_LOCAL):
        (root / "bucket" / bucket).mkdir(parents=True)
    with EmulatorServer(None, bucket_dir=root / "bucket", operation_step_s=0.01, projects=["emulator", "second"],
                        bucket_locations={EU_LOCAL: "EUROPE-WEST1"}) as server:  # fmt: skip
        yield server


@pytest.fixture
def client(served: EmulatorServer):  # noqa: ANN201 - the ee module
    import ee

    initialize_ee(served)
    return ee


def _put(server: EmulatorServer, bucket: str, name: str, data: np.ndarray, *, nodata: float | None = 255,
         cog: bool = False) -> str:  # fmt: skip
    path = Path(server.assets.bucket_dir) / bucket / name  # type: ignore[arg-type]
    grid = utm_grid(size=data.shape[-1])
    profile = {"driver": "GTiff", "width": data.shape[-1], "height": data.shape[-2], "count": data.shape[0],
               "dtype": data.dtype.name, "crs": grid.crs, "transform": grid.transform, "nodata": nodata}  # fmt: skip
    if cog:
        from rio_cogeo.cogeo import cog_translate
        from rio_cogeo.profiles import cog_profiles

        with rasterio.MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(data)
            with memory.open() as source:
                cog_translate(source, str(path), cog_profiles.get("deflate"), quiet=True, in_memory=True)
    else:
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(data)
    return f"gs://{bucket}/{name}"


def _post(server: EmulatorServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _import(ee, manifest: dict, request_id: str) -> dict:  # noqa: ANN001
    body = {"imageManifest": manifest, "overwrite": False, "requestId": request_id}
    call = ee.data._get_cloud_projects().image().import_(project=ee.data._get_projects_path(), body=body)
    return ee.data._execute_cloud_call(call, num_retries=0)


def _finish(ee, name: str) -> dict:  # noqa: ANN001
    for _ in range(500):
        operation = ee.data.getOperation(name)
        if operation.get("done"):
            return operation
        time.sleep(0.01)
    raise AssertionError(f"{name} did not finish")


def test_a_bad_body_is_400_invalid_argument(served):
    body = {"imageManifest": {**_manifest("projects/emulator/assets/bad", "gs://b/x.tif"), "pyramidingPolicy": "X"}}
    status, answer = _post(served, "/v1/projects/emulator/image:import", body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
    message = (
        "Invalid value at 'image_manifest.pyramiding_policy' (type.googleapis.com/google.earthengine.v1."
        'PyramidingPolicy), "X"'
    )
    assert answer["error"]["message"] == message
    assert answer["error"]["details"][0]["fieldViolations"] == [
        {"field": "image_manifest.pyramiding_policy", "description": message}
    ]
    assert "projects/emulator/assets/bad" not in served.catalog.images


def test_only_configured_projects_exist(served, client):
    ee = client
    status, answer = _post(served, "/v1/projects/another-project/value:compute", {"expression": {}})
    assert status == 403 and answer["error"]["message"] == "Project 'projects/another-project' not found or deleted."
    with pytest.raises(ee.EEException, match=r"Project 'projects/another-project' not found or deleted"):
        ee.data.createFolder("projects/another-project/assets/floods")  # the client calls through the asset's project
    elsewhere = _manifest("projects/another-project/assets/x", f"gs://{LOCAL}/x.tif")
    with pytest.raises(ee.EEException, match=r"Permission 'earthengine.assets.create' denied on resource "
                       r"'projects/another-project/assets/x' \(or it may not exist\)"):  # fmt: skip
        _import(ee, elsewhere, "elsewhere")  # through a project that exists, into one that does not
    ee.data.createFolder("projects/second/assets/floods")  # a configured project: fine


def test_by_default_only_the_emulator_project_exists(tmp_path):
    import ee

    with EmulatorServer(None, assets_dir=tmp_path) as server:
        initialize_ee(server)
        with pytest.raises(ee.EEException, match="Project 'projects/another-project' not found or deleted"):
            ee.data.createFolder("projects/another-project/assets/floods")
        ee.data.createFolder("projects/emulator/assets/floods")


def test_a_request_id_starts_one_operation_even_after_a_failure(served, client):
    ee = client
    manifest = _manifest("projects/emulator/assets/retried", f"gs://{LOCAL}/not-there-yet.tif")
    failed = _finish(ee, _import(ee, manifest, "gee-flood-once")["name"])
    assert failed["metadata"]["state"] == "FAILED" and "Unable to read" in failed["error"]["message"]
    _put(served, LOCAL, "not-there-yet.tif", np.ones((1, 16, 16), np.uint8))
    again = _import(ee, manifest, "gee-flood-once")  # the file is there now, but the id is spent
    assert again["name"] == failed["name"] and again["done"] and again["metadata"]["state"] == "FAILED"
    fresh = _finish(ee, _import(ee, manifest, "gee-flood-once-2")["name"])
    assert fresh["metadata"]["state"] == "SUCCEEDED" and fresh["name"] != failed["name"]


def test_one_cog_location_rule_for_cloud_storage_and_the_bucket_dir(served, client):
    ee = client
    data = np.ones((1, 16, 16), np.uint8)
    eu = _put(served, EU_LOCAL, "cog.tif", data, cog=True)
    us = _put(served, LOCAL, "cog.tif", data, cog=True)
    with pytest.raises(ee.EEException, match=f"Cloud Storage bucket '{EU_LOCAL}' is in region EUROPE-WEST1; "
                       "COG-backed assets need a bucket in the US"):  # fmt: skip
        ee.data.startExternalImageIngestion(_manifest("projects/emulator/assets/eu_cog", eu))
    ee.data.startExternalImageIngestion(_manifest("projects/emulator/assets/us_cog", us))
    assert ee.data.getAsset("projects/emulator/assets/us_cog")["type"] == "IMAGE"


def test_tileset_band_index_is_not_guessed(served, client):
    ee = client
    uri = _put(served, LOCAL, "two.tif", np.ones((2, 16, 16), np.uint8))
    two_bands = [{"id": "a", "tilesetId": "t", "tilesetBandIndex": 0}, {"id": "b", "tilesetId": "t"}]
    with pytest.raises(ee.EEException, match="Band 'b' has no tilesetBandIndex; tileset 't' provides 2 bands"):
        _import(ee, _manifest("projects/emulator/assets/no_index", uri, bands=two_bands), "no-index")
    misspelled = [{"id": "a", "tilesetId": "t", "tilesetBandIdx": 1}]
    with pytest.raises(ee.EEException, match='Unknown name "tilesetBandIdx"'):
        _import(ee, _manifest("projects/emulator/assets/misspelled", uri, bands=misspelled), "misspelled")
    one_band = [{"id": "a", "tilesetId": "t"}]  # one band named of a two-band file: which one? refused
    failed = _finish(ee, _import(ee, _manifest("projects/emulator/assets/one_of_two", uri, bands=one_band), "oot")
                     ["name"])  # fmt: skip
    assert failed["metadata"]["state"] == "FAILED" and "has no tilesetBandIndex" in failed["error"]["message"]


def test_missing_data_comes_from_the_manifest_only(served, client):
    ee = client
    data = np.full((1, 16, 16), 7, np.uint8)
    data[0, :4] = 255
    uri = _put(served, LOCAL, "nodata.tif", data, nodata=255)  # the file says 255 is nodata
    bands = [{"id": "v", "tilesetId": "t", "tilesetBandIndex": 0}]
    for name, extra in (("without", {}), ("with", {"missingData": {"values": [255]}})):
        manifest = _manifest(f"projects/emulator/assets/md_{name}", uri, bands=bands, **extra)
        assert _finish(ee, _import(ee, manifest, f"md-{name}")["name"])["metadata"]["state"] == "SUCCEEDED"
    valid = {
        name: ee.data.computePixels({"expression": ee.Image(f"projects/emulator/assets/md_{name}").mask(),
                                     "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(utm_grid(size=16))})["v"]
        for name in ("without", "with")
    }  # fmt: skip
    assert valid["without"].all()  # no missingData: 255 is a value like any other
    assert not valid["with"][:4].any() and valid["with"][4:].all()


def test_at_most_1024_bands(served, client):
    ee = client
    bands = [{"id": f"b{i}", "tilesetId": "t", "tilesetBandIndex": i} for i in range(1025)]
    with pytest.raises(ee.EEException, match="The manifest has 1025 bands; an image may have at most 1024"):
        _import(ee, _manifest("projects/emulator/assets/wide", f"gs://{LOCAL}/two.tif", bands=bands), "wide")


def test_a_non_empty_folder_is_not_deleted(served, client):
    ee = client
    ee.data.createFolder("projects/emulator/assets/full")
    ee.data.createFolder("projects/emulator/assets/full/inner")
    with pytest.raises(ee.EEException, match="Cannot delete asset 'projects/emulator/assets/full': it is not empty"):
        ee.data.deleteAsset("projects/emulator/assets/full")
    ee.data.deleteAsset("projects/emulator/assets/full/inner")
    ee.data.deleteAsset("projects/emulator/assets/full")
    assert "projects/emulator/assets/full" not in served.assets.folders


def test_a_project_lists_its_own_operations(served, client):
    ee = client
    uri = _put(served, LOCAL, "ops.tif", np.ones((1, 16, 16), np.uint8))
    mine = _import(ee, _manifest("projects/emulator/assets/ops_mine", uri), "ops-mine")["name"]
    initialize_ee(served, project="second")
    theirs = _import(ee, _manifest("projects/second/assets/ops_theirs", uri), "ops-theirs")["name"]
    assert theirs in [op["name"] for op in ee.data.listOperations()]
    assert mine not in [op["name"] for op in ee.data.listOperations()]
    initialize_ee(served)
    names = [op["name"] for op in ee.data.listOperations()]
    assert mine in names and theirs not in names
    _finish(ee, mine)

"""map --mask and map --view --asset end to end: gcp-storage-emulator + the project's Earth Engine emulator
(image:import reads the uploaded object through STORAGE_EMULATOR_HOST; operations; COG-backed assets; map tiles)."""

from __future__ import annotations

import ee
import numpy as np
import pytest
from typer.testing import CliRunner

from ee_emulator import EmulatorServer, FaultConfig, FaultRule
from gee_flood.cli import app
from gee_flood.earthengine import export
from gee_flood.mapping import write_map_html
from tests.earthengine.test_export import BUCKET
from tests.inference.maps import write_flood_map

runner = CliRunner()


@pytest.fixture
def storage():
    from google.cloud import storage as gcs

    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET, buckets={"my-bucket": "US", "eu-maps": "EUROPE-WEST1"}):
        yield gcs.Client()


@pytest.fixture
def earth_engine(tmp_path):
    with EmulatorServer(None, assets_dir=tmp_path / "assets", operation_step_s=0.01) as server:
        yield server


@pytest.fixture
def flood_map(tmp_path):
    water = np.zeros((96, 128), np.uint8)
    water[:, :40] = 1
    water[:5] = 255
    return write_flood_map(tmp_path / "flood.tif", water)


def test_cli_ingests_into_the_emulator(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/ingested"
    args = ["map", "--mask", str(flood_map), "--asset", asset, "--bucket", f"gs://{BUCKET}/runs",
            "--ee-url", earth_engine.url]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"asset {asset}: ingested from gs://{BUCKET}/runs/emulator/floods/ingested.tif" in result.output
    info = ee.data.getAsset(asset)
    assert info["properties"]["gee_flood_request_id"]
    assert ee.Image(asset).bandNames().getInfo() == ["likelihood", "water", "flood", "reference_water", "exclusion"]
    again = runner.invoke(app, args)  # same map, same asset: nothing redone
    assert again.exit_code == 0 and "already up to date" in again.output


def test_cog_backed_asset_in_the_emulator(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/cog"
    result = export.push_flood_map(
        flood_map, asset, f"gs://{BUCKET}/cogs", client=storage, cog_backed=True, ee_url=earth_engine.url
    )
    assert result.mode == "cog-backed"
    assert ee.Image(asset).bandNames().getInfo() == ["likelihood", "water", "flood", "reference_water", "exclusion"]


def test_html_gets_the_asset_as_an_earth_engine_layer(storage, earth_engine, flood_map, tmp_path):
    asset = "projects/emulator/assets/floods/viewed"
    export.push_flood_map(flood_map, asset, f"gs://{BUCKET}", client=storage, ee_url=earth_engine.url, poll_s=0.02)
    html = write_map_html(flood_map, tmp_path / "map.html", asset=asset, ee_url=earth_engine.url)
    text = html.read_text()
    assert f"{earth_engine.url}/v1/" in text and "/tiles/{z}/{x}/{y}" in text
    assert f"Earth Engine: {asset}" in text


def test_the_readme_example_works_on_an_empty_project(storage, earth_engine, flood_map):
    """README's 'gee-flood map --mask ... --asset projects/my-project/assets/floods/po_2019 --bucket
    gs://my-bucket/floods' against an empty project: the folder is created, the asset ingested."""
    assert ee_assets_of(earth_engine, "my-project") == []
    asset = "projects/my-project/assets/floods/po_2019"
    result = runner.invoke(app, ["map", "--mask", str(flood_map), "--asset", asset, "--bucket", "gs://my-bucket/floods",
                                 "--ee-url", earth_engine.url, "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "created folder projects/my-project/assets/floods",
        f"asset {asset}: ingested from gs://my-bucket/floods/my-project/floods/po_2019.tif",
    ]
    assert ee.data.getAsset("projects/my-project/assets/floods")["type"] == "FOLDER"
    assert ee.Image(asset).bandNames().getInfo() == ["likelihood", "water", "flood", "reference_water", "exclusion"]


def ee_assets_of(server: EmulatorServer, project: str) -> list[str]:
    return sorted(
        image_id for image_id in server.catalog.images if image_id.startswith(f"projects/{project}/")
    ) + sorted(folder for folder in server.assets.folders if folder.startswith(f"projects/{project}/"))


def test_without_create_parents_the_missing_folder_is_one_line(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/kept_out"
    result = runner.invoke(app, ["map", "--mask", str(flood_map), "--asset", asset, "--bucket", f"gs://{BUCKET}",
                                 "--ee-url", earth_engine.url, "--no-create-parents"])  # fmt: skip
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "parent folder projects/emulator/assets/floods does not exist; pass --create-parents" in lines[0]
    assert not list(storage.list_blobs(BUCKET)) and ee_assets_of(earth_engine, "emulator") == []


def test_a_lost_ingestion_response_makes_one_operation_and_one_asset(storage, tmp_path, flood_map, monkeypatch):
    """Fault 'ingestion accepted, response lost': the client retries image:import with the same requestId and
    Earth Engine answers the operation it started: one operation, one asset."""
    faults = FaultConfig([FaultRule("image:import", "response_lost", count=1)])
    asset = "projects/emulator/assets/floods/once"
    with EmulatorServer(None, assets_dir=tmp_path / "assets", operation_step_s=0.01, faults=faults) as server:
        with monkeypatch.context() as patched:
            import googleapiclient.http

            patched.setattr(googleapiclient.http.time, "sleep", lambda seconds: None)  # the client's retry backoff
            result = export.push_flood_map(
                flood_map, asset, f"gs://{BUCKET}", client=storage, ee_url=server.url, poll_s=0.01
            )
        assert server.faults.injected == {"response_lost": 1}
        assert server.stats.snapshot()["requests"]["image:import"] == 2  # the lost one and its retry
        operations = [op for op in server.assets.operations.values() if op.kind == "INGEST_IMAGE"]
        assert [op.name for op in operations] == [result.operation] and operations[0].state == "SUCCEEDED"
        assert ee_assets_of(server, "emulator") == [asset, "projects/emulator/assets/floods"]


def test_cog_backed_needs_a_us_central_bucket_in_the_emulator_too(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/eu_cog"
    result = runner.invoke(app, ["map", "--mask", str(flood_map), "--asset", asset, "--bucket", "gs://eu-maps",
                                 "--cog-backed", "--ee-url", earth_engine.url])  # fmt: skip
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].endswith(
        "gs://eu-maps: the bucket is in region EUROPE-WEST1; COG-backed assets need a US multi-region, US "
        "dual-region including us-central1, or us-central1 bucket (or push without --cog-backed to ingest); "
        "nothing uploaded"
    )
    assert not list(storage.list_blobs("eu-maps")) and ee_assets_of(earth_engine, "emulator") == []

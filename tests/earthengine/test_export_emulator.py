"""map --mask and map --view --asset end to end: gcp-storage-emulator + the project's Earth Engine emulator
(image:import reads the uploaded object through STORAGE_EMULATOR_HOST; operations; COG-backed assets; map tiles)."""

from __future__ import annotations

import ee
import numpy as np
import pytest
from typer.testing import CliRunner

from ee_emulator import EmulatorServer
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

    with storage_emulator(BUCKET):
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
    assert f"asset {asset}: ingested from gs://{BUCKET}/runs/flood.tif" in result.output
    info = ee.data.getAsset(asset)
    assert info["properties"]["gee_flood_request_id"]
    assert ee.Image(asset).bandNames().getInfo() == ["water_probability", "water_mask"]
    again = runner.invoke(app, args)  # same map, same asset: nothing redone
    assert again.exit_code == 0 and "already up to date" in again.output


def test_cog_backed_asset_in_the_emulator(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/cog"
    result = export.push_flood_map(
        flood_map, asset, f"gs://{BUCKET}/cogs", client=storage, cog_backed=True, ee_url=earth_engine.url
    )
    assert result.mode == "cog-backed"
    assert ee.Image(asset).bandNames().getInfo() == ["water_probability", "water_mask"]


def test_html_gets_the_asset_as_an_earth_engine_layer(storage, earth_engine, flood_map, tmp_path):
    asset = "projects/emulator/assets/floods/viewed"
    export.push_flood_map(flood_map, asset, f"gs://{BUCKET}", client=storage, ee_url=earth_engine.url, poll_s=0.02)
    html = write_map_html(flood_map, tmp_path / "map.html", asset=asset, ee_url=earth_engine.url)
    text = html.read_text()
    assert f"{earth_engine.url}/v1/" in text and "/tiles/{z}/{x}/{y}" in text
    assert f"Earth Engine: {asset}" in text

"""Smoke test against the real Earth Engine (``-m live``); skipped unless credentials and a project are present."""

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gee_flood.earthengine import EESettings, FetchRequest, read_s1_scene, run_fetch
from gee_flood.earthengine.session import PROJECT_ENV_VARS, resolve_project

pytestmark = pytest.mark.live


def _credentials_reason() -> str | None:
    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    persistent = Path(os.environ.get("EE_CONFIG_DIR", Path.home() / ".config" / "earthengine")) / "credentials"
    if not (key and Path(key).is_file()) and not persistent.is_file():
        return "no Earth Engine credentials (run 'earthengine authenticate' or set GOOGLE_APPLICATION_CREDENTIALS)"
    if resolve_project(None) is None and not key:
        return f"no Earth Engine project (set one of {', '.join(PROJECT_ENV_VARS)})"
    return None


REASON = _credentials_reason()
# Polder land in the Netherlands: Sentinel-1 every 1-2 days, Sentinel-2 every 2-3 days.
AOI = {
    "type": "Polygon",
    "coordinates": [[[5.30, 52.00], [5.31, 52.00], [5.31, 52.007], [5.30, 52.007], [5.30, 52.00]]],
}


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_live_fetch_one_chip(tmp_path):
    aoi = tmp_path / "polder.geojson"
    aoi.write_text(json.dumps(AOI))
    summary = run_fetch(
        FetchRequest(
            out=tmp_path / "corpus",
            aoi=aoi,
            dates="2019-06-01/2019-06-30",
            chip_size=64,
            max_cloud=1.0,
            min_valid=0.0,
            max_scene_cloud=100.0,
            workers=1,
            scheduler="threads",
            progress=False,
        )
    )
    assert summary.written >= 1
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert manifest["chips"][0]["s1_ids"][0].startswith("COPERNICUS/S1_GRD/")


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_live_read_s1_scene():
    scene = read_s1_scene(AOI, dt.date(2019, 6, 15), max_days=3, settings=EESettings(endpoint="standard"))
    values = scene.values
    assert values.shape[0] == 2 and np.isfinite(values).mean() > 0.9
    assert -40 < float(np.nanmedian(values[0])) < 5  # VV in dB over land


BUCKET_REASON = "no bucket for the live check (set GEE_FLOOD_LIVE_BUCKET=gs://bucket/prefix)"


@pytest.mark.skipif(REASON is not None or not os.environ.get("GEE_FLOOD_LIVE_BUCKET"), reason=REASON or BUCKET_REASON)
def test_live_check_script(capsys):
    """scripts/live_check.py end to end on real Earth Engine: fetch, predict, export, read back, cleanup."""
    from tests.earthengine.test_export_live_check import load_script

    status = load_script().main([])
    report = capsys.readouterr().out
    assert status == 0 and "**passed**: 5/5 steps ok" in report, report

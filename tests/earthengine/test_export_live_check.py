"""scripts/live_check.py: skips cleanly without credentials, and runs its whole path against the emulators."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ee_emulator import EmulatorServer
from tests.earthengine.synthetic_catalog import aoi_geojson, build_catalog

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "live_check.py"
BUCKET = "live-check"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["live_check"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """No Earth Engine credentials file, no Application Default Credentials, no key, no project variables."""
    monkeypatch.setenv("EE_CONFIG_DIR", str(tmp_path / "ee-config"))
    monkeypatch.setattr("ee.oauth.get_credentials_path", lambda: str(tmp_path / "ee-config" / "credentials"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


def test_without_credentials_it_is_skipped_not_passed(no_credentials, capsys):
    live_check = load_script()
    assert live_check.main(["--project", "my-project", "--bucket", "gs://my-bucket"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("skipped: no Earth Engine credentials (") and output.count("\n") == 1
    assert "passed" not in output and "ok" not in output.split("(")[0]


def test_without_a_bucket_it_is_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GEE_FLOOD_LIVE_BUCKET", raising=False)
    live_check = load_script()
    assert live_check.main(["--ee-url", "http://127.0.0.1:1", "--project", "emulator"]) == 0
    assert capsys.readouterr().out.startswith("skipped: no Cloud Storage bucket (pass --bucket")


def test_the_whole_path_against_the_emulators(tmp_path, capsys):
    """fetch -> predict -> export into a new folder -> read back -> cleanup, through the public functions."""
    from ee_emulator.storage import storage_emulator

    build_catalog(tmp_path / "catalog")
    aoi = aoi_geojson(tmp_path / "aoi.geojson")
    live_check = load_script()
    with (
        storage_emulator(BUCKET),
        EmulatorServer(tmp_path / "catalog", assets_dir=tmp_path / "assets", operation_step_s=0.01) as server,
    ):
        from google.cloud import storage

        status = live_check.main([
            "--ee-url", server.url, "--project", "emulator", "--bucket", f"gs://{BUCKET}/live",
            "--aoi", str(aoi), "--dates", "2019-03-01/2019-03-20", "--predict-date", "2019-03-05",
            "--poll-s", "0.02",
        ])  # fmt: skip
        report = capsys.readouterr().out
        assert status == 0, report
        rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in report.splitlines() if "|" in line}
        assert {step: rows[step] for step in ("fetch", "predict", "export", "read back", "cleanup")} == {
            "fetch": "ok", "predict": "ok", "export": "ok", "read back": "ok", "cleanup": "ok",
        }  # fmt: skip
        assert "**passed**: 5/5 steps ok" in report
        assert "water agrees on 100.0%" in report
        # it used the emulator for every step, and left nothing behind: no asset, no folder, no object
        requests = server.stats.snapshot()["requests"]
        assert requests.get("image:computePixels", 0) > 0 and requests["image:import"] == 1
        assert requests["assets.create"] == 1 and requests["assets.delete"] == 2
        assert not [image for image in server.catalog.images if image.startswith("projects/")]
        assert not server.assets.folders
        assert not list(storage.Client().list_blobs(BUCKET))

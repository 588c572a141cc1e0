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
        steps = ("fetch", "predict", "export", "COG-backed", "read back", "cleanup")
        assert {step: rows[step] for step in steps} == dict.fromkeys(steps, "ok")
        assert "**passed**: 6/6 steps ok" in report and "diagnosis" not in report
        assert report.count("water agrees on 100.0%") == 2
        assert report.count("startTime 2019-03-05T00:00:00.000Z") == 4  # both pushes set it; both read it back
        # it used the emulator for every step, and left nothing behind: no asset, no folder, no object
        requests = server.stats.snapshot()["requests"]
        assert requests.get("image:computePixels", 0) > 0 and requests["image:import"] == 1
        assert requests["image:importExternal"] == 1 and requests.get("operations.get", 0) >= 1
        assert requests["assets.create"] == 1 and requests["assets.delete"] == 3
        assert not [image for image in server.catalog.images if image.startswith("projects/")]
        assert not server.assets.folders
        assert not list(storage.Client().list_blobs(BUCKET))


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ("Earth Engine API has not been used in project 123 before or it is disabled. Enable it by visiting ...",
         "API enablement"),
        ("could not initialise Earth Engine at Earth Engine: Not signed up for Earth Engine or project is not "
         "registered. Visit https://developers.google.com/earth-engine/guides/access", "project registration"),
        ("Project 'projects/my-project' not found or deleted.", "project registration"),
        ("Caller does not have required permission to use project my-project. Grant the caller the "
         "roles/serviceusage.serviceUsageConsumer role", "IAM role"),
        ("Permission 'earthengine.assets.create' denied on resource 'projects/p/assets/x' (or it may not exist).",
         "IAM role"),
        ("gs://b: permission storage.buckets.get is missing, so the bucket's location cannot be checked",
         "bucket permission"),
        ("gs://b/x.tif: upload failed (403 POST ...: x@y.com does not have storage.objects.create access to the "
         "Google Cloud Storage object. Permission 'storage.objects.create' denied)", "bucket permission"),
    ],
)  # fmt: skip
def test_the_first_failure_says_what_is_missing(message, missing):
    live_check = load_script()
    diagnosis = live_check.diagnose(message)
    assert diagnosis is not None and diagnosis.startswith(f"{missing} is missing: ")
    assert live_check.diagnose("water read back agrees on 12.0% of pixels only") is None


def test_the_report_carries_the_diagnosis_of_the_first_failure():
    live_check = load_script()
    check = live_check.Check()
    with check.step("fetch"):
        raise RuntimeError("Earth Engine API has not been used in project 123 before or it is disabled.")
    with check.step("cleanup"):
        raise RuntimeError("Permission 'storage.objects.delete' denied")  # a later failure: not the diagnosis
    args = live_check.parse_args(["--project", "p"])
    text = live_check.report(check, args, "p", 1.0)
    assert text.splitlines()[-1] == (
        "diagnosis: API enablement is missing: enable the Earth Engine API: gcloud services enable "
        "earthengine.googleapis.com --project <project>"
    )

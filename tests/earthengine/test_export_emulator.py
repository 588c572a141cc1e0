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
from gee_flood.errors import RemoteError
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
    with EmulatorServer(None, assets_dir=tmp_path / "assets", operation_step_s=0.01,
                        projects=["emulator", "my-project"]) as server:  # fmt: skip
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
    assert f"asset {asset}: ingested from gs://{BUCKET}/runs/ingested.tif" in result.output
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
        f"asset {asset}: ingested from gs://my-bucket/floods/po_2019.tif",
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


# -- what the emulator checks of the bodies a push sends (mutations of the project's requests) -----------------------


def _pixels_masked(asset: str, rows: slice) -> np.ndarray:
    """Whether each pixel of ``rows`` of the pushed map is valid (its mask), as Earth Engine computes it."""
    from affine import Affine

    grid = {"dimensions": {"width": 128, "height": 96}, "crsCode": "EPSG:32633",
            "affineTransform": dict(zip(("scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY"),
                                        tuple(Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0))[:6],
                                        strict=True))}  # fmt: skip
    pixels = ee.data.computePixels({"expression": ee.Image(asset).select("water").mask(),
                                    "fileFormat": "NUMPY_NDARRAY", "grid": grid})  # fmt: skip
    return np.asarray(pixels["water"])[rows]


@pytest.mark.parametrize("cog_backed", [False, True], ids=["ingested", "cog-backed"])
def test_pushed_maps_mask_their_missing_data_and_carry_the_acquisition_time(storage, earth_engine, flood_map,
                                                                           cog_backed):  # fmt: skip
    asset = f"projects/emulator/assets/floods/timed_{int(cog_backed)}"
    result = export.push_flood_map(flood_map, asset, f"gs://{BUCKET}/t", client=storage, cog_backed=cog_backed,
                                   ee_url=earth_engine.url, poll_s=0.01, start_time="2019-03-05T05:12:00Z")  # fmt: skip
    assert result.start_time == result.end_time == "2019-03-05T05:12:00.000Z"
    info = ee.data.getAsset(asset)
    assert info["startTime"] == info["endTime"] == "2019-03-05T05:12:00.000Z"
    assert ee.Image(asset).date().format("YYYY-MM-dd HH:mm").getInfo() == "2019-03-05 05:12"
    assert not _pixels_masked(asset, slice(0, 5)).any()  # 255 is missing data
    assert _pixels_masked(asset, slice(5, None)).all()
    policies = {band["id"]: band["pyramidingPolicy"] for band in info["bands"]}
    assert policies == {"likelihood": "MEAN", "water": "MODE", "flood": "MODE", "reference_water": "MODE",
                        "exclusion": "MODE"}  # fmt: skip


def _mutated_manifest(change):
    original = export.ingestion_manifest

    def mutated(*args, **kwargs):
        manifest = original(*args, **kwargs)
        change(manifest)
        return manifest

    return mutated


def _drop_missing_data(manifest):
    manifest.pop("missingData")
    for band in manifest["bands"]:
        band.pop("missingData")


def _misspell_band_index(manifest):
    for band in manifest["bands"]:
        band["tilesetBandIdx"] = band.pop("tilesetBandIndex")


MUTATIONS = {
    "unknown body field": (False, "image_import_body", """Unknown name "foo": Cannot find field."""),
    "unknown manifest field": (False, lambda m: m.update(foo=1), """Unknown name "foo" at 'image_manifest'"""),
    "invalid enum": (False, lambda m: m["bands"][0].update(pyramidingPolicy="AVERAGE"),
                     "Invalid value at 'image_manifest.bands[0].pyramiding_policy'"),
    "misspelled band index": (False, _misspell_band_index,
                              """Unknown name "tilesetBandIdx" at 'image_manifest.bands["""),
    "unknown field in the COG-backed body": (True, lambda m: m.update(gcsLocation={"uris": []}),
                                             """Unknown name "gcsLocation" at 'image_manifest'"""),
    "dropped missingData": (False, _drop_missing_data, None),
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_each_mutation_of_the_bodies_is_caught(storage, earth_engine, flood_map, monkeypatch, mutation,
                                               _earth_engine_requests):  # fmt: skip
    """A push whose request bodies are mutated as a bug would mutate them fails a contract check: the emulator
    refuses the body (400 INVALID_ARGUMENT, recorded as a contract violation), or - a dropped missingData, which the
    service accepts - the asset no longer masks the map's missing data."""
    cog_backed, change, wording = MUTATIONS[mutation]
    if change == "image_import_body":
        original = export.image_import_body
        monkeypatch.setattr(export, "image_import_body", lambda *args: {**original(*args), "foo": 1})
    else:
        monkeypatch.setattr(export, "ingestion_manifest", _mutated_manifest(change))
    asset = "projects/emulator/assets/floods/mutated"
    _earth_engine_requests.drain()
    push = lambda: export.push_flood_map(flood_map, asset, f"gs://{BUCKET}/m", client=storage,  # noqa: E731
                                         cog_backed=cog_backed, ee_url=earth_engine.url, poll_s=0.01)  # fmt: skip
    if wording is None:
        push()
        assert _earth_engine_requests.problems() == []  # Earth Engine takes such a body...
        assert _pixels_masked(asset, slice(0, 5)).all()  # ...and 255 is then a value: the check that fails
        return
    with pytest.raises(RemoteError, match="Invalid JSON payload received|Invalid value at") as caught:
        push()
    assert "\n" not in str(caught.value)
    problems = _earth_engine_requests.problems()
    assert problems and all(wording in problem for problem in problems), problems
    _earth_engine_requests.drain()  # sent on purpose: not this test's violation


# -- polling that survives a real ingestion; reruns after a failure ---------------------------------------------------


def test_faults_while_polling_are_retried_and_the_map_is_pushed_once(storage, tmp_path, flood_map, monkeypatch,
                                                                     capsys):  # fmt: skip
    """429, 500, 503 and a connection reset on operations.get during the ingestion: each is retried (visibly, within
    --retry-timeout) and the push succeeds with one operation and one asset."""
    from gee_flood.earthengine.session import RetryPolicy

    faults = FaultConfig([FaultRule("operations.get", "quota", count=2), FaultRule("operations.get", "server_error",
                          count=1), FaultRule("operations.get", "unavailable", count=1),
                          FaultRule("operations.get", "connection_reset", count=1)], seed=1)  # fmt: skip
    asset = "projects/emulator/assets/floods/polled"
    with EmulatorServer(None, assets_dir=tmp_path / "assets", operation_step_s=0.01, faults=faults) as server:
        import googleapiclient.http

        monkeypatch.setattr(googleapiclient.http.time, "sleep", lambda seconds: None)  # the client's own backoff
        result = export.push_flood_map(flood_map, asset, f"gs://{BUCKET}", client=storage, ee_url=server.url,
                                       poll_s=0.01, retry=RetryPolicy.fast())  # fmt: skip
        assert server.faults.injected == {"quota": 2, "server_error": 1, "unavailable": 1, "connection_reset": 1}
        operations = [op for op in server.assets.operations.values() if op.kind == "INGEST_IMAGE"]
        assert [op.name for op in operations] == [result.operation] and operations[0].state == "SUCCEEDED"
        assert server.stats.snapshot()["requests"]["image:import"] == 1
        assert ee_assets_of(server, "emulator") == ["projects/emulator/assets/floods/polled",
                                                    "projects/emulator/assets/floods"]  # fmt: skip
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: polling")]
    assert warnings and all("--retry-timeout" in line for line in warnings)


def test_a_rerun_after_a_failed_ingestion_uses_a_new_request_id_and_ingests_once(storage, earth_engine, flood_map,
                                                                                  monkeypatch):  # fmt: skip
    """Earth Engine lets a request id start one operation, a failed one included: the rerun's first id answers the
    failed operation, so it sends the next attempt's id; success is then final (a third run does nothing)."""
    asset = "projects/emulator/assets/floods/rerun"
    real_ingest = earth_engine.assets._ingest

    def broken(manifest, overwrite):
        raise ee_emulator_error("Ingestion: the file could not be read (injected).")

    monkeypatch.setattr(earth_engine.assets, "_ingest", broken)
    push = lambda: export.push_flood_map(flood_map, asset, f"gs://{BUCKET}", client=storage,  # noqa: E731
                                         ee_url=earth_engine.url, poll_s=0.01)  # fmt: skip
    with pytest.raises(RemoteError, match="Earth Engine ingestion failed: Ingestion: the file could not be read"):
        push()
    monkeypatch.setattr(earth_engine.assets, "_ingest", real_ingest)
    result = push()
    operations = [op for op in earth_engine.assets.operations.values() if op.kind == "INGEST_IMAGE"]
    assert [op.state for op in operations] == ["FAILED", "SUCCEEDED"] and operations[1].name == result.operation
    ids = {request_id for (_, request_id) in earth_engine.assets.request_ids}
    assert ids == {result.request_id, export.attempt_request_id(result.request_id, 1)}
    assert ee.data.getAsset(asset)["properties"]["gee_flood_request_id"] == result.request_id
    again = push()
    assert again.already_done and len(earth_engine.assets.operations) == 2


def ee_emulator_error(message: str) -> Exception:
    from ee_emulator.errors import EEError

    return EEError(message)


def test_cli_sets_the_acquisition_time_and_checks_the_retry_bound(storage, earth_engine, flood_map):
    asset = "projects/emulator/assets/floods/cli_timed"
    args = ["map", "--mask", str(flood_map), "--asset", asset, "--bucket", f"gs://{BUCKET}", "--ee-url",
            earth_engine.url, "--quiet"]  # fmt: skip
    bad = runner.invoke(app, [*args, "--retry-timeout", "0"])
    assert bad.exit_code == 2
    assert bad.output.strip() == "error: --retry-timeout: 0.0 must be a positive number of seconds"
    result = runner.invoke(app, [*args, "--start-time", "2019-03-05", "--retry-timeout", "30"])
    assert result.exit_code == 0, result.output
    assert ee.data.getAsset(asset)["startTime"] == "2019-03-05T00:00:00.000Z"
    wrong = runner.invoke(app, [*args, "--start-time", "yesterday", "--overwrite"])
    assert wrong.exit_code == 2 and "start_time 'yesterday': expected an ISO 8601 date or time" in wrong.output

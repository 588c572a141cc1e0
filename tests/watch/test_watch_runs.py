"""gee-flood watch as a program: progress lines and the JSON-lines log, faults, SIGKILL at any point, two runners.

Every run ends in the same collection as one uninterrupted run: same image names, start times and properties
(flooded km² included), one ingestion per image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ee_emulator import FaultConfig, FaultRule
from ee_emulator.faults import FaultInjector
from gee_flood.cli import app
from gee_flood.watch import collection_images, watch_once
from tests.watch.conftest import comparable, ingestions, watch_argv
from tests.watch.test_watch import request_for

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def growing(world):
    return world["growing"]


@pytest.fixture
def earth_engine(world):
    server = world["server"]
    world["init"](server)
    yield server
    server.assets.step_s = 0.01
    server.faults = FaultInjector(FaultConfig())


@pytest.fixture
def reference(world):
    return world["reference"]


@pytest.fixture
def storage(world):
    """The shared world's Cloud Storage (it is serving while ``world`` is)."""
    return None


def test_cli_prints_a_line_per_event_and_logs_json(growing, earth_engine, storage, watch_ckpt, tmp_path, reference):
    collection = "projects/emulator/assets/watch/cli"
    log = tmp_path / "events.jsonl"
    argv = watch_argv(growing, watch_ckpt, earth_engine, collection, log, until="2019-03-06")  # the first one only
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    name = f"{collection}/{reference[0][0]}"
    first = "S1A/2019-03-05T05:30:12Z/DESCENDING/66 (2019-03-05T05:30:12Z)"
    assert result.output.splitlines() == [
        f"found {first}",
        f"mapped {first}: {reference[0][2]['flooded_km2']:.3f} km² flooded, {reference[0][2]['excluded_km2']:.3f} km² "
        "excluded",
        f"ingesting {first} -> {name}",
        f"pushed {first} -> {name}",
        f"{collection}: 1 found, 1 mapped, 1 pushed, 0 skipped",
    ]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [event["event"] for event in events] == ["found", "mapped", "ingesting", "pushed"]
    assert events[1]["flooded_km2"] == pytest.approx(reference[0][2]["flooded_km2"], abs=1e-6)
    assert all(event["asset"] == name and event["time"] == "2019-03-05T05:30:12Z" for event in events)
    assert comparable(collection) == reference[:1]

    again = runner.invoke(app, argv)
    assert again.exit_code == 0 and again.output.count(": already in the collection") == 1, again.output
    assert json.loads(log.read_text().splitlines()[-1])["reason"] == "already in the collection"  # appended


def test_quota_and_server_errors_leave_the_same_collection(growing, earth_engine, storage, watch_ckpt, reference):
    collection = "projects/emulator/assets/watch/faulty"
    rules = (FaultRule("value:compute", "quota", count=2), FaultRule("image:computePixels", "server_error", count=1),
             FaultRule("assets.*", "unavailable", count=1), FaultRule("image:import", "response_lost", count=1),
             FaultRule("operations.get", "quota", count=1))  # fmt: skip
    earth_engine.faults = FaultInjector(FaultConfig(rules, seed=1))
    result = watch_once(request_for(growing, watch_ckpt, earth_engine, collection=collection))
    earth_engine.faults = FaultInjector(FaultConfig())
    assert result.pushed == 3
    assert sum(earth_engine.stats.snapshot()["faults"].values()) == 6
    assert comparable(collection) == reference
    assert len(ingestions(earth_engine, collection)) == 3


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _kill_at(argv: list[str], log: Path, event: str, nth: int) -> None:
    """Run ``gee-flood argv`` and SIGKILL it right after its ``nth`` ``event`` reaches the log."""
    process = subprocess.Popen([sys.executable, "-m", "gee_flood.cli", *argv], cwd=REPO, env=_environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            seen = [json.loads(line)["event"] for line in log.read_text().splitlines()] if log.exists() else []
            if seen.count(event) >= nth:
                process.kill()
                break
            time.sleep(0.01)
        assert process.wait(timeout=60) == -9, f"not killed at {event} #{nth} (exit {process.returncode})"
    finally:
        if process.poll() is None:
            process.kill()


def _killed_then_rerun(growing, ckpt, server, tmp_path, reference, event: str, nth: int) -> None:
    collection = f"projects/emulator/assets/watch/killed_{event}_{nth}"
    log = tmp_path / f"{event}{nth}.jsonl"
    _kill_at(watch_argv(growing, ckpt, server, collection, log), log, event, nth)
    if event == "ingesting":  # killed while Earth Engine was still ingesting what the run had asked for
        states = [op.state for op in server.assets.operations.values() if op.destination.startswith(collection + "/")]
        assert "PENDING" in states or "RUNNING" in states, states
    rerun = watch_once(request_for(growing, ckpt, server, collection=collection))
    assert rerun.found == 3
    assert comparable(collection) == reference
    assert len(ingestions(server, collection)) == 3  # a killed run's ingestion is answered, never repeated


def test_sigkill_mid_ingestion_then_rerun_gives_the_same_collection(
    growing, tmp_path, storage, watch_ckpt, reference, earth_engine
):
    earth_engine.assets.step_s = 0.5  # the ingestion is PENDING, then RUNNING, half a second each: killed inside
    _killed_then_rerun(growing, watch_ckpt, earth_engine, tmp_path, reference, "ingesting", 2)


@pytest.mark.slow
@pytest.mark.parametrize(("event", "nth"), [("found", 1), ("mapped", 1), ("ingesting", 1), ("pushed", 1),
                                            ("mapped", 3), ("pushed", 3)])  # fmt: skip
def test_sigkill_anywhere_then_rerun_gives_the_same_collection(
    growing, tmp_path, storage, watch_ckpt, reference, earth_engine, event, nth
):
    earth_engine.assets.step_s = 0.5
    _killed_then_rerun(growing, watch_ckpt, earth_engine, tmp_path, reference, event, nth)


def test_two_concurrent_runners_push_each_acquisition_once(growing, earth_engine, watch_ckpt):
    """Two runners (threads of one process here: the same requests, in parallel) on one area and collection."""
    collection = "projects/emulator/assets/watch/shared_threads"
    earth_engine.assets.step_s = 0.3
    request = request_for(growing, watch_ckpt, earth_engine, collection=collection, until="2019-03-09")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: watch_once(request), range(2)))
    assert [result.found for result in results] == [2, 2]
    assert len(collection_images(collection)) == 2
    assert len(ingestions(earth_engine, collection)) == 2  # no acquisition ingested twice


@pytest.mark.slow
def test_two_concurrent_processes_push_each_acquisition_once(growing, earth_engine, watch_ckpt, tmp_path):
    collection = "projects/emulator/assets/watch/shared"
    earth_engine.assets.step_s = 0.3
    processes = [
        subprocess.Popen([sys.executable, "-m", "gee_flood.cli",
                          *watch_argv(growing, watch_ckpt, earth_engine, collection, tmp_path / f"runner{i}.jsonl")],
                         cwd=REPO, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert len(collection_images(collection)) == 3
    assert len(ingestions(earth_engine, collection)) == 3  # no acquisition ingested twice


def test_runners_with_other_credentials_still_push_each_acquisition_once(
    growing, earth_engine, watch_ckpt, monkeypatch
):
    """Earth Engine deduplicates a requestId per user: runners with other credentials start their own ingestions.
    Played by an emulator that ignores request ids: the image name (never overwritten) keeps one image each."""
    from ee_emulator.assets import AssetService

    start = AssetService.start_ingestion
    monkeypatch.setattr(AssetService, "start_ingestion",
                        lambda self, payload, project: start(self, {**payload, "requestId": ""}, project))  # fmt: skip
    collection = "projects/emulator/assets/watch/other_users"
    earth_engine.assets.step_s = 0.3
    request = request_for(growing, watch_ckpt, earth_engine, collection=collection, until="2019-03-06")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: watch_once(request), range(2)))
    assert [result.found for result in results] == [1, 1]
    assert len(collection_images(collection)) == 1
    operations = [op for op in earth_engine.assets.operations.values() if op.destination.startswith(collection)]
    assert sorted(op.state for op in operations) in (["SUCCEEDED"], ["FAILED", "SUCCEEDED"])  # at most one image
    outcomes = sorted(result.events[-1].reason or result.events[-1].event for result in results)
    assert outcomes == ["already pushed (by another runner)", "pushed"]
    assert comparable(collection)[0][2] == comparable("projects/emulator/assets/watch/reference")[0][2]

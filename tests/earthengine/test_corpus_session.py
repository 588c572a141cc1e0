import datetime as dt
import json

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box

from gee_flood.earthengine.blocks import ChipResult
from gee_flood.earthengine.corpus import Corpus
from gee_flood.earthengine.grid import lay_chips_over_aoi
from gee_flood.earthengine.pairing import Mosaic, PairChoice
from gee_flood.earthengine.reads import REQUEST_BYTE_LIMIT, plan_io_chunks, request_bytes
from gee_flood.earthengine.session import RetryPolicy, explain_error, is_transient, with_retries
from gee_flood.errors import InputError, RemoteError
from gee_flood.geo import DateRange

DATES = DateRange(dt.date(2019, 3, 1), dt.date(2019, 3, 20))


def chips():
    _, specs = lay_chips_over_aoi(
        box(10.0, 45.0, 10.01, 45.005), crs="EPSG:32632", scale_m=10, chip_size=32, event="T", dates=DATES
    )
    return specs


def pair():
    time = dt.datetime(2019, 3, 5, 10, tzinfo=dt.UTC)
    fp = box(9, 44, 11, 46)
    s1 = Mosaic("S1", "S1/2019-03-05/DESCENDING/1", ("COPERNICUS/S1_GRD/a",), ("a",), time, fp)
    s2 = Mosaic("S2", "S2/2019-03-05/22", ("COPERNICUS/S2_HARMONIZED/b",), ("b",), time, fp, 5.0)
    return PairChoice(s1, s2)


def result(chip_id, size=32, labels=False):
    rng = np.random.default_rng(0)
    s1 = rng.normal(-12, 3, (2, size, size)).astype(np.float32)
    s1[:, 0, 0] = np.nan
    s2 = rng.integers(1, 4000, (13, size, size)).astype(np.int16)
    s2[:, 1, 1] = 0
    out = ChipResult(
        chip_id,
        True,
        pair=pair(),
        s1_db=s1,
        s2_dn=s2,
        cloud=np.zeros((size, size), bool),
        cloud_fraction=0.1,
        valid_fraction=0.9,
    )
    if labels:
        out.s1_label = np.ones((size, size), np.int16)
        out.s2_label = -np.ones((size, size), np.int16)
    return out


def test_write_chip_cogs_and_manifest(tmp_path):
    specs = chips()
    corpus = Corpus(tmp_path, {"a": 1})
    corpus.load()
    chip = specs[0]
    entry = corpus.write_chip(chip, result(chip.chip_id, labels=True))
    s1_path = tmp_path / f"WeaklyLabeled/S1Weak/{chip.chip_id}_S1Weak.tif"
    s2_path = tmp_path / f"WeaklyLabeled/S2Weak/{chip.chip_id}_S2Weak.tif"
    for path in (s1_path, s2_path):
        assert cog_validate(str(path))[0]
    with rasterio.open(s1_path) as ds:
        assert ds.count == 2 and ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
        assert ds.descriptions == ("VV", "VH") and ds.crs.to_epsg() == 32632
        assert ds.transform == chip.transform
        assert np.isnan(ds.read(1)[0, 0])
    with rasterio.open(s2_path) as ds:
        assert ds.count == 13 and ds.dtypes[0] == "int16" and ds.nodata == 0
        assert ds.descriptions[8] == "B8A"
    assert (tmp_path / f"WeaklyLabeled/S1OtsuLabelWeak/{chip.chip_id}_S1OtsuLabelWeak.tif").is_file()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["chips"][0] == entry
    assert entry["s1_ids"] == ["COPERNICUS/S1_GRD/a"] and entry["s2_time"] == "2019-03-05T10:00:00Z"
    assert entry["footprint"]["type"] == "Polygon"
    assert not list(tmp_path.rglob("*.part"))


def test_resume_detects_done_broken_and_conflicting(tmp_path):
    specs = chips()
    corpus = Corpus(tmp_path, {"a": 1})
    corpus.load()
    corpus.write_chip(specs[0], result(specs[0].chip_id))
    corpus.write_chip(specs[1], result(specs[1].chip_id))
    corpus.record_skip(specs[2].chip_id, "too cloudy")
    # a stale temporary file from a killed run, and a truncated chip file
    stale = tmp_path / "WeaklyLabeled/S1Weak/.x_S1Weak.tif.abc.tif.part"
    stale.write_bytes(b"junk")
    broken = tmp_path / f"WeaklyLabeled/S2Weak/{specs[1].chip_id}_S2Weak.tif"
    broken.write_bytes(broken.read_bytes()[:200])
    again = Corpus(tmp_path, {"a": 1})
    again.load()
    assert not stale.exists()
    assert again.is_done(specs[0]) and not again.is_done(specs[1]) and again.is_done(specs[2])
    assert not again.is_done(specs[3])
    with pytest.raises(InputError, match="other options"):
        Corpus(tmp_path, {"a": 2}).load()
    moved = specs[0].__class__(**{**specs[0].__dict__, "transform": specs[1].transform})
    with pytest.raises(InputError, match="another place"):
        again.check_same_place([moved])


def test_manifest_is_identical_whatever_the_write_order(tmp_path):
    specs = chips()[:3]
    for name, order in (("a", specs), ("b", specs[::-1])):
        corpus = Corpus(tmp_path / name, {"a": 1})
        corpus.load()
        for chip in order:
            corpus.write_chip(chip, result(chip.chip_id))
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_io_chunks_stay_under_the_request_limit():
    s2 = plan_io_chunks(14, 2, multiple=512)
    assert s2 == {"index": 14, "height": 1024, "width": 1024}
    assert request_bytes(14, 2, 1024, 1024) <= REQUEST_BYTE_LIMIT < request_bytes(14, 2, 1536, 1536)
    s1 = plan_io_chunks(2, 4, multiple=512)
    assert s1["height"] == 2048 and request_bytes(2, 4, 2048, 2048) <= REQUEST_BYTE_LIMIT
    tiny = plan_io_chunks(14, 2, byte_limit=14 * 3 * 64 * 64, multiple=64)
    assert tiny["height"] == 64


class FakeHttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status_code = status


def ee_error(status, message):
    try:
        try:
            raise FakeHttpError(status, message)
        except FakeHttpError:
            raise RuntimeError(message)  # noqa: B904 - implicit chaining, as the EE client does
    except RuntimeError as error:
        return error


def test_error_classification_and_messages():
    assert is_transient(ee_error(429, "Too many requests"))
    assert is_transient(ee_error(503, "Service unavailable"))
    assert not is_transient(ee_error(400, "User memory limit exceeded."))
    assert is_transient(RuntimeError("Quota exceeded"))
    assert not is_transient(RuntimeError("Image.select: Pattern 'B99' did not match any bands."))
    message = explain_error(
        ee_error(400, "Total request size (60000000 bytes) must be less than or equal to 50331648 bytes."),
        what="reading",
    )
    assert "HTTP 400" in message and "48 MiB" in message and "\n" not in message
    assert "--workers" in explain_error(RuntimeError("User memory limit exceeded."), what="x")


def test_with_retries_backs_off_then_succeeds_or_explains():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ee_error(429, "Too many requests")
        return "ok"

    policy = RetryPolicy(attempts=5, initial_delay_s=1.0, max_delay_s=3.0)
    assert with_retries(flaky, policy=policy, what="x", sleep=sleeps.append) == "ok"
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0

    def bad():
        raise ee_error(400, "Image.select: band 'B99' not found")

    with pytest.raises(RemoteError, match="band") as info:
        with_retries(bad, policy=policy, what="reading", sleep=sleeps.append)
    assert len(sleeps) == 2  # no retry for a 400
    assert "\n" not in str(info.value)

    def always():
        raise ee_error(503, "unavailable")

    with pytest.raises(RemoteError, match="gave up after 5 attempts"):
        with_retries(always, policy=policy, what="reading", sleep=sleeps.append)


def test_with_retries_keeps_to_its_time_bound_and_says_each_retry(capsys):
    """A server that fails every request for ever: retrying stops at ``timeout_s``, one warning line per retry."""
    now, sleeps = [0.0], []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    def always():
        now[0] += 1.0  # each failing request takes a second
        raise ee_error(503, "unavailable")

    policy = RetryPolicy(attempts=1000, initial_delay_s=1.0, max_delay_s=8.0, timeout_s=30.0)
    with pytest.raises(RemoteError, match=r"gave up after \d+ attempts .*bound 30 s: --retry-timeout"):
        with_retries(always, policy=policy, what="reading", sleep=sleep, clock=lambda: now[0])
    assert 3 <= len(sleeps) < 1000 and sum(sleeps) <= 30.0 and now[0] <= 30.0 + 1.0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(sleeps) and all("HTTP 503" in line and "retry" in line for line in warnings)


def test_worker_retry_waits_end_when_the_run_is_cancelled():
    import threading

    from gee_flood.earthengine.session import Cancelled, cancelled

    outcome = []

    def worker():
        try:
            with_retries(lambda: (_ for _ in ()).throw(ee_error(503, "unavailable")),
                         policy=RetryPolicy(initial_delay_s=3600.0, max_delay_s=3600.0), what="reading")  # fmt: skip
        except Cancelled:
            outcome.append("cancelled")

    thread = threading.Thread(target=worker)
    cancelled.clear()
    try:
        thread.start()
        cancelled.set()  # what the fetch's thread pool does on Ctrl-C
        thread.join(timeout=60)  # an hour-long wait would still be running
    finally:
        cancelled.clear()
    assert not thread.is_alive() and outcome == ["cancelled"]


def test_a_failed_fetch_pool_cancels_its_own_threads_and_leaves_later_ones_alone():
    import threading

    from gee_flood.earthengine.fetch import _cancellable_threads
    from gee_flood.earthengine.session import Cancelled, cancelled

    def failing() -> str:
        raise ee_error(503, "unavailable")

    hour = RetryPolicy(initial_delay_s=3600.0, max_delay_s=3600.0, timeout_s=7200.0)
    started = threading.Event()

    def read() -> str:
        started.set()
        return with_retries(failing, policy=hour, what="reading")

    with pytest.raises(KeyError), _cancellable_threads(1) as pool:
        busy = pool.submit(read)
        started.wait(timeout=60)
        raise KeyError("the driver failed")  # what Ctrl-C or an error in the driver thread does
    with pytest.raises(Cancelled):  # its hour-long retry wait ended at once
        busy.result(timeout=60)
    assert not cancelled.is_set()
    with _cancellable_threads(1) as pool:  # a later run's threads still retry (and succeed) as usual
        calls = iter([ee_error(503, "unavailable"), None])

        def flaky() -> str:
            error = next(calls)
            if error is not None:
                raise error
            return "read"

        later = pool.submit(with_retries, flaky, policy=RetryPolicy(initial_delay_s=0.01), what="reading")
        assert later.result(timeout=60) == "read"


def test_fetch_path_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, gee_flood.earthengine.fetch, gee_flood.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

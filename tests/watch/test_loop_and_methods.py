"""The --interval loop, the change-detection reference rule and the methods' identities (no Earth Engine)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gee_flood.errors import InputError
from gee_flood.watch import Acquisition, WatchRequest, WatchResult, method_identity, pre_event, watch_loop
from gee_flood.watch import run as watch_run
from gee_flood.watch.run import validate


def test_the_loop_runs_every_interval_and_refuses_a_bad_one(monkeypatch):
    calls, waits = [], []
    empty = WatchResult(collection="c", found=0, mapped=0, pushed=0, skipped=0, events=[])
    monkeypatch.setattr(watch_run, "watch_once", lambda request, on_event=None: calls.append(request) or empty)
    results = watch_loop("request", interval_s=60, runs=3, sleep=waits.append)  # type: ignore[arg-type]
    assert len(results) == len(calls) == 3 and len(waits) == 2
    assert all(55 < wait <= 60 for wait in waits)  # the interval, less the run's own time
    with pytest.raises(InputError, match="--interval"):
        watch_loop("request", interval_s=0, runs=1)  # type: ignore[arg-type]


def acquisition(day: int, *, orbit: int = 66, orbit_pass: str = "DESCENDING", coverage: float = 1.0) -> Acquisition:
    time = dt.datetime(2019, 3, day, 5 if orbit_pass == "DESCENDING" else 17, 30, tzinfo=dt.UTC)
    key = f"S1A/{time:%Y-%m-%dT%H:%M:%SZ}/{orbit_pass}/{orbit}"
    return Acquisition(key=key, image_ids=(f"S1/{day}",), time=time, platform="Sentinel-1A", relative_orbit=orbit,
                       orbit_pass=orbit_pass, coverage=coverage)  # fmt: skip


def test_the_reference_is_the_earliest_full_cover_pass_of_the_same_orbit_in_the_window():
    target = acquisition(20)
    candidates = [
        acquisition(1),  # before the window (20 - 12 = 8)
        acquisition(9, coverage=0.5),  # in the window, partial
        acquisition(10, orbit=15, orbit_pass="ASCENDING"),  # in the window, another orbit
        acquisition(11),  # the earliest eligible one
        acquisition(14),
        acquisition(20, orbit=15, orbit_pass="ASCENDING"),  # same day, other pass
        target,  # itself: not before itself
        acquisition(23),  # after
    ]
    assert pre_event(target, candidates, pre_days=12) == candidates[3]
    assert pre_event(target, candidates, pre_days=7) == candidates[4]
    assert pre_event(target, candidates, pre_days=5) is None


def request(tmp_path: Path, **changes) -> WatchRequest:
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text('{"type": "Polygon", "coordinates": [[[9, 45], [9.01, 45], [9.01, 45.01], [9, 45.01], [9, 45]]]}')
    values = dict(aoi=aoi, since="2019-03-01", until="2019-03-31", collection="projects/p/assets/w",
                  bucket="gs://b/w", method="change")  # fmt: skip
    return WatchRequest(**{**values, **changes})


def test_change_detection_is_identified_by_its_parameters_and_checked(tmp_path):
    identity, properties = method_identity(request(tmp_path))
    assert identity == method_identity(request(tmp_path, collection="projects/q/assets/other"))[0]  # any machine
    assert identity != method_identity(request(tmp_path, pre_days=12))[0]
    assert properties == {"method": "change", "method_sha256": identity, "pre_days": 30, "ratio_threshold": 1.25,
                          "focal_radius_m": 50.0}  # fmt: skip
    with pytest.raises(InputError, match="checkpoint-free"):
        validate(request(tmp_path, checkpoint=tmp_path / "student.ckpt"))
    with pytest.raises(InputError, match="--pre-days 0: expected 1-365"):
        validate(request(tmp_path, pre_days=0))
    with pytest.raises(InputError, match="give --checkpoint"):
        validate(request(tmp_path, method="model"))


def test_local_auxiliary_files_are_identified_by_their_contents_and_checked(tmp_path):
    import numpy as np
    import rasterio
    from affine import Affine

    def raster(name: str, value: int) -> Path:
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32633",
                           transform=Affine(10, 0, 500_000, 0, -10, 5_000_000)) as dst:  # fmt: skip
            dst.write(np.full((4, 4), value, np.uint8), 1)
        return path

    plain = method_identity(request(tmp_path))[0]
    identity, properties = method_identity(request(tmp_path, reference_water=raster("gsw", 12)))
    assert identity != plain and properties["auxiliary_files"].endswith(",reference_kind:seasonality")
    assert identity == method_identity(request(tmp_path, reference_water=raster("copy", 12)))[0]  # contents, not name
    assert identity != method_identity(request(tmp_path, reference_water=raster("other", 6)))[0]
    assert identity != method_identity(request(tmp_path, reference_water=raster("gsw", 12),
                                               reference_kind="occurrence"))[0]  # fmt: skip
    where = {"collection": "projects/my-project/assets/floods", "bucket": "gs://my-bucket/w"}
    with pytest.raises(InputError, match="--ee-auxiliary and --dem: give the auxiliary data"):
        validate(request(tmp_path, **where, dem=raster("dem", 20), ee_auxiliary=True))
    with pytest.raises(InputError, match="--hand .*missing.tif: raster not found"):
        validate(request(tmp_path, **where, hand=tmp_path / "missing.tif"))
    with pytest.raises(InputError, match="--reference-kind 'months'"):
        validate(request(tmp_path, **where, reference_water=raster("gsw", 12), reference_kind="months"))
    validate(request(tmp_path, **where, reference_water=raster("gsw", 12), dem=raster("dem", 20)))

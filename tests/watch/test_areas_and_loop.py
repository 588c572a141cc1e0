"""Flooded/excluded km² of a map (projected and geographic CRSs), and the --interval loop."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod

from gee_flood.errors import InputError
from gee_flood.watch import WatchResult, map_areas, watch_loop
from gee_flood.watch import run as watch_run
from tests.inference.maps import write_flood_map


def test_projected_map_areas_are_pixel_counts_times_pixel_area(tmp_path):
    water = np.zeros((300, 200), np.uint8)
    water[:100, :50] = 1  # 5,000 px of 10 m x 10 m = 0.5 km²
    water[-20:, :] = 255  # 4,000 px no data = 0.4 km²
    areas = map_areas(write_flood_map(tmp_path / "map.tif", water))
    assert areas.flooded_km2 == pytest.approx(0.5)
    assert areas.excluded_km2 == pytest.approx(0.4)


def test_geographic_map_areas_follow_the_ellipsoid(tmp_path):
    water = np.zeros((100, 100), np.uint8)
    water[:10, :] = 1  # the northern tenth
    path = tmp_path / "geo.tif"
    transform = Affine(0.001, 0, 10.0, 0, -0.001, 60.1)  # 0.1 deg square at 60 N: pixels narrow with latitude
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=2, dtype="uint8", crs="EPSG:4326",
                       transform=transform, nodata=255) as dst:  # fmt: skip
        dst.write(np.stack([water * 90, water]))
        dst.descriptions = ("likelihood", "water")
    expected = abs(Geod(ellps="WGS84").polygon_area_perimeter([10.0, 10.1, 10.1, 10.0], [60.1, 60.1, 60.09, 60.09])[0])
    assert map_areas(path).flooded_km2 == pytest.approx(expected / 1e6, rel=1e-6)
    assert map_areas(path).excluded_km2 == 0.0


def test_the_loop_runs_every_interval_and_refuses_a_bad_one(monkeypatch):
    calls, waits = [], []
    empty = WatchResult(collection="c", found=0, mapped=0, pushed=0, skipped=0, events=[])
    monkeypatch.setattr(watch_run, "watch_once", lambda request, on_event=None: calls.append(request) or empty)
    results = watch_loop("request", interval_s=60, runs=3, sleep=waits.append)  # type: ignore[arg-type]
    assert len(results) == len(calls) == 3 and len(waits) == 2
    assert all(55 < wait <= 60 for wait in waits)  # the interval, less the run's own time
    with pytest.raises(InputError, match="--interval"):
        watch_loop("request", interval_s=0, runs=1)  # type: ignore[arg-type]

"""watch_once against the emulator: the collection is the ledger; new acquisitions, and only those, are mapped."""

from __future__ import annotations

import datetime as dt

import ee
import pytest
import rasterio

from gee_flood.errors import InputError
from gee_flood.geo import read_aoi
from gee_flood.watch import WatchRequest, collection_images, find_acquisitions, watch_once
from tests.earthengine.test_export import BUCKET
from tests.watch.catalog import FIRST_THREE, FOURTH, HALF_GEOREF, PARTIAL_DAY, when
from tests.watch.conftest import COLLECTION


def request_for(growing, ckpt, server, **changes):
    values = dict(aoi=growing.aoi, since="2019-03-01", until="2019-03-31", checkpoint=ckpt, collection=COLLECTION,
                  bucket=f"gs://{BUCKET}/watch", ee_url=server.url, poll_s=0.02)  # fmt: skip
    values.update(changes)
    return WatchRequest(**values)


def collection_state(collection: str) -> list[tuple[str, str, dict]]:
    """(id, startTime, properties) of every image, sorted: what two collections are compared by."""
    state = []
    for image_id in sorted(collection_images(collection)):
        info = ee.data.getAsset(image_id)
        state.append((image_id, info.get("startTime"), info["properties"]))
    return state


def test_three_then_one_then_none(growing, earth_engine, storage, watch_ckpt, tmp_path):
    request = request_for(growing, watch_ckpt, earth_engine, out_dir=tmp_path / "maps")
    first = watch_once(request)
    assert (first.found, first.mapped, first.pushed) == (3, 3, 3)

    growing.add(PARTIAL_DAY, 1.0, georef=HALF_GEOREF)  # lands between runs: found, skipped (half the AOI)
    growing.add(*FOURTH)
    assert len(earth_engine.catalog.refresh()) == 2
    second = watch_once(request)
    assert (second.found, second.mapped, second.pushed) == (5, 1, 1)
    reasons = {event.acquisition: event.reason for event in second.events if event.event == "skipped"}
    assert sum(reason == "already in the collection" for reason in reasons.values()) == 3
    assert any(reason.startswith("no full cover (") for reason in reasons.values())
    [pushed] = [event for event in second.events if event.event == "pushed"]
    assert pushed.time.startswith(when(FOURTH[0]).strftime("%Y-%m-%dT%H:%M:%S"))

    third = watch_once(request)
    assert (third.found, third.mapped, third.pushed, third.skipped) == (5, 0, 0, 5)

    state = collection_state(COLLECTION)
    assert len(state) == 4
    days = [day for day, _ in [*FIRST_THREE, FOURTH]]
    starts = [dt.datetime.fromisoformat(start.replace("Z", "+00:00")) for _, start, _ in state]
    assert starts == [when(day) for day in days]
    floods = [flood for _, flood in [*FIRST_THREE, FOURTH]]
    for _, _, properties in state:
        assert properties["platform"] == "Sentinel-1A"
        assert properties["relative_orbit"] == 66 and properties["orbit_pass"] == "DESCENDING"
        assert len(properties["checkpoint_sha256"]) == 64
        assert properties["excluded_km2"] >= 0
    flooded = [properties["flooded_km2"] for _, _, properties in state]
    # the dark ellipse grows with the flood level, so the mapped area follows it (the untrained test checkpoint
    # may map the dark or the bright side as water: monotone either way)
    by_level = [flooded[i] for i in sorted(range(4), key=floods.__getitem__)]
    assert by_level == sorted(by_level) or by_level == sorted(by_level, reverse=True)
    assert len(set(by_level)) == 4
    # and is the count of water pixels of each local map times 10 m x 10 m
    maps = {event.asset: event.map for result in (first, second) for event in result.events if event.event == "mapped"}
    for image_id, _, properties in state:
        with rasterio.open(maps[image_id]) as src:
            water = int((src.read(2) == 1).sum())
            nodata = int((src.read(2) == 255).sum())
        assert properties["flooded_km2"] == pytest.approx(water * 100 / 1e6, abs=1e-6)
        assert properties["excluded_km2"] == pytest.approx(nodata * 100 / 1e6, abs=1e-6)
    # the collection filters by date like any Earth Engine collection (startTime is system:time_start)
    march_9 = ee.ImageCollection(COLLECTION).filterDate("2019-03-07", "2019-03-12").size().getInfo()
    assert march_9 == 2


def test_find_acquisitions_reports_platform_orbit_and_cover(growing, earth_engine):
    from gee_flood.earthengine import EESettings, initialize

    growing.add(PARTIAL_DAY, 1.0, georef=HALF_GEOREF)
    earth_engine.catalog.refresh()
    initialize(EESettings(project="emulator", endpoint="standard", url=earth_engine.url), force=True)
    found = find_acquisitions(read_aoi(growing.aoi), dt.date(2019, 3, 1), dt.date(2019, 3, 10))
    assert [a.time for a in found] == [when(5), when(8), when(PARTIAL_DAY)]
    assert [a.full_cover for a in found] == [True, True, False]
    assert 0.3 < found[2].coverage < 0.7
    assert {(a.platform, a.relative_orbit, a.orbit_pass) for a in found} == {("Sentinel-1A", 66, "DESCENDING")}


def test_since_after_until_is_refused_before_earth_engine(growing, watch_ckpt, earth_engine):
    with pytest.raises(InputError, match="--since 2019-03-20 is after --until 2019-03-01"):
        watch_once(request_for(growing, watch_ckpt, earth_engine, since="2019-03-20", until="2019-03-01"))

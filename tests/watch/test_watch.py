"""watch_once against the emulator: the collection is the ledger; new acquisitions, and only those, are mapped."""

from __future__ import annotations

import datetime as dt
import uuid

import ee
import numpy as np
import pytest
import rasterio

from gee_flood.errors import InputError
from gee_flood.geo import read_aoi
from gee_flood.product import EXCLUDED_HAND, EXCLUDED_URBAN
from gee_flood.watch import WatchRequest, collection_images, find_acquisitions, method_identity, watch_once
from gee_flood.watch.run import WATCH_NAMESPACE
from gee_flood.watch.series import series_from_maps
from tests.earthengine.synthetic_catalog import PX, SOURCE_GEOREF, SOURCE_SIZE, SOURCE_X0, SOURCE_Y0
from tests.earthengine.test_export import BUCKET
from tests.watch.catalog import (
    ASCENDING_ORBIT,
    FIRST_THREE,
    FOURTH,
    HALF_GEOREF,
    HIGH_COLS,
    PARTIAL_DAY,
    REFERENCE_COLS,
    URBAN_ROWS,
    when,
)
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
        assert properties["method"] == "model" and len(properties["checkpoint_sha256"]) == 64
        assert properties["method_sha256"] == properties["checkpoint_sha256"]
        assert properties["excluded_km2"] >= 0
    flooded = [properties["flooded_km2"] for _, _, properties in state]
    # the dark ellipse grows with the flood level, so the mapped area follows it (the untrained test checkpoint
    # may map the dark or the bright side as water: monotone either way)
    by_level = [flooded[i] for i in sorted(range(4), key=floods.__getitem__)]
    assert by_level == sorted(by_level) or by_level == sorted(by_level, reverse=True)
    assert len(set(by_level)) == 4
    # and is the area of each local map's flood layer (not its water: the minimum mapping unit removes specks from
    # flood) on the ground: 10 m x 10 m pixels within UTM's areal scale error (< 0.2 %)
    maps = {event.asset: event.map for result in (first, second) for event in result.events if event.event == "mapped"}
    water_differs = False
    for image_id, _, properties in state:
        with rasterio.open(maps[image_id]) as src:
            layers = dict(zip(src.descriptions, src.read(), strict=True))
        flood, observed = layers["flood"] == 1, layers["exclusion"] == 0
        excluded = (layers["exclusion"] != 0) & (layers["exclusion"] & 1 == 0)  # excluded, not no data
        water_differs |= int((layers["water"] == 1).sum()) != int(flood.sum())
        assert properties["flooded_km2"] == pytest.approx((flood & observed).sum() * 100 / 1e6, rel=2e-3)
        assert properties["excluded_km2"] == pytest.approx(excluded.sum() * 100 / 1e6, rel=2e-3, abs=1e-9)
    assert water_differs
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
    assert found[0].key == "S1A/2019-03-05T05:30:12Z/DESCENDING/66"
    assert [a.full_cover for a in found] == [True, True, False]
    assert 0.3 < found[2].coverage < 0.7
    assert {(a.platform, a.relative_orbit, a.orbit_pass) for a in found} == {("Sentinel-1A", 66, "DESCENDING")}


def test_since_after_until_is_refused_before_earth_engine(growing, watch_ckpt, earth_engine):
    with pytest.raises(InputError, match="--since 2019-03-20 is after --until 2019-03-01"):
        watch_once(request_for(growing, watch_ckpt, earth_engine, since="2019-03-20", until="2019-03-01"))


def test_two_passes_on_one_day_are_two_images(growing, earth_engine, storage, watch_ckpt, tmp_path):
    """A descending morning pass and an ascending evening pass on 5 March: both mapped, each from its own scenes."""
    growing.add(5, 1.0, ascending=True)  # a larger flood than the morning's (0.4)
    earth_engine.catalog.refresh()
    request = request_for(growing, watch_ckpt, earth_engine, until="2019-03-05", out_dir=tmp_path / "maps")
    result = watch_once(request)
    assert (result.found, result.mapped, result.pushed, result.skipped) == (2, 2, 2, 0)
    state = collection_state(COLLECTION)
    starts = [dt.datetime.fromisoformat(start.replace("Z", "+00:00")) for _, start, _ in state]
    assert starts == [when(5), when(5, ascending=True)]
    assert [properties["acquisition"] for _, _, properties in state] == [
        "S1A/2019-03-05T05:30:12Z/DESCENDING/66",
        f"S1A/2019-03-05T17:41:03Z/ASCENDING/{ASCENDING_ORBIT}",
    ]
    assert [properties["relative_orbit"] for _, _, properties in state] == [66, ASCENDING_ORBIT]
    morning, evening = (properties["s1_ids"] for _, _, properties in state)
    assert "T053012" in morning and "T174103" in evening  # each image names its own scenes
    # and was mapped from them: the two maps differ (the evening flood is larger)
    maps = [event.map for event in result.events if event.event == "mapped"]
    with rasterio.open(maps[0]) as first, rasterio.open(maps[1]) as second:
        assert (first.read(2) != second.read(2)).sum() > 1000
    assert state[0][2]["flooded_km2"] != state[1][2]["flooded_km2"]
    again = watch_once(request)
    assert (again.mapped, again.skipped) == (0, 2)


def ellipse(flood: float, transform, shape) -> np.ndarray:
    """The catalog's water ellipse of flood level ``flood`` on a map's grid (pixel centres in source pixels)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    x, y = transform.c + cols * transform.a, transform.f + rows * transform.e
    xx, yy = (x - SOURCE_X0) / PX - 0.5, (SOURCE_Y0 - y) / PX - 0.5
    return (xx - 128) ** 2 / (90 * flood + 1) ** 2 + (yy - 128) ** 2 / (70 * flood + 1) ** 2 < 1


def test_checkpoint_free_watch_maps_the_change_from_an_earlier_pass(growing, earth_engine, storage, tmp_path):
    """--method change: each acquisition against the earliest pass of its orbit in the 7 days before it."""
    request = request_for(growing, None, earth_engine, method="change", pre_days=7, until="2019-03-11",
                          out_dir=tmp_path / "maps")  # fmt: skip
    result = watch_once(request)
    assert (result.found, result.mapped, result.pushed, result.skipped) == (3, 2, 2, 1)
    [skipped] = [event for event in result.events if event.event == "skipped"]
    assert skipped.time.startswith("2019-03-05") and skipped.reason.startswith("no pre-event reference (")
    identity = method_identity(request)[0]
    state = collection_state(COLLECTION)
    assert [image_id.rsplit("/", 1)[1] for image_id, _, _ in state] == [
        f"{when(day).strftime('%Y%m%dT%H%M%S')}_D066_{identity[:8]}" for day in (8, 11)
    ]
    for _, _, properties in state:
        assert properties["method"] == "change" and properties["method_sha256"] == identity
        assert "checkpoint_sha256" not in properties and properties["pre_days"] == 7
        assert properties["pre_acquisition"] == "S1A/2019-03-05T05:30:12Z/DESCENDING/66"  # the earliest in the window
        key = properties["acquisition"]
        assert properties["gee_flood_request_id"] == str(uuid.uuid5(WATCH_NAMESPACE, f"{COLLECTION}|{key}|{identity}"))
    # the flood is where the scene darkened since 5 March (flood level 0.4): inside the later ellipse, outside 5 March's
    maps = {dt.datetime.fromisoformat(e.time.replace("Z", "+00:00")): e.map
            for e in result.events if e.event == "mapped"}  # fmt: skip
    levels = dict(FIRST_THREE)
    for acquired, path in maps.items():
        with rasterio.open(path) as src:
            flood, exclusion, transform, shape = src.read(3), src.read(5), src.transform, (src.height, src.width)
        observed = exclusion == 0
        expected = ellipse(levels[acquired.day], transform, shape) & ~ellipse(levels[5], transform, shape) & observed
        mapped = (flood == 1) & observed
        assert (mapped & expected).sum() / (mapped | expected).sum() > 0.8, acquired  # focal mean blurs the edges
    # the inner ring is flooded on 8 and 11 March (both against 5 March): 3 days of flood in the time series
    series = series_from_maps(maps)
    inner = ellipse(levels[11], transform, shape) & ~ellipse(levels[5] + 0.1, transform, shape) & observed
    assert np.median(series["flood_duration_days"].values[inner]) == pytest.approx(3.0)
    again = watch_once(request)
    assert (again.mapped, again.skipped) == (0, 3)


def _local_auxiliary(folder) -> dict:
    """The datasets of ``GrowingCatalog.add_auxiliary`` as local GeoTIFFs on the source grid."""
    rows, cols = np.mgrid[0:SOURCE_SIZE, 0:SOURCE_SIZE]
    layers = {"reference_water": np.where(cols < REFERENCE_COLS, 12, 0).astype(np.uint8),
              "dem": np.full(rows.shape, 20.0, np.float32),
              "hand": np.where(cols >= HIGH_COLS, 40.0, 1.0).astype(np.float32),
              "worldcover": np.where(rows < URBAN_ROWS, 50, 40).astype(np.uint8)}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, values in layers.items():
        paths[name] = folder / f"{name}.tif"
        profile = dict(driver="GTiff", width=SOURCE_SIZE, height=SOURCE_SIZE, count=1, dtype=values.dtype,
                       crs=SOURCE_GEOREF.crs, transform=SOURCE_GEOREF.transform)  # fmt: skip
        with rasterio.open(paths[name], "w", **profile) as dst:
            dst.write(values, 1)
    return paths


@pytest.mark.parametrize("source", ["earth-engine", "local-files"])
def test_auxiliary_data_make_flood_new_water_and_exclusions_excluded(growing, earth_engine, storage, watch_ckpt,
                                                                    tmp_path, source):  # fmt: skip
    """--ee-auxiliary, or the same data as local files: normal water is not flood, the town and high ground are
    excluded; the km² say so."""
    if source == "earth-engine":
        growing.add_auxiliary()
        earth_engine.catalog.refresh()
        auxiliary = {"ee_auxiliary": True}
    else:
        auxiliary = _local_auxiliary(tmp_path / "auxiliary")
    request = request_for(growing, watch_ckpt, earth_engine, until="2019-03-05", out_dir=tmp_path / "maps",
                          **auxiliary)  # fmt: skip
    result = watch_once(request)
    assert (result.found, result.pushed) == (1, 1)
    [(_, _, properties)] = collection_state(COLLECTION)
    assert properties["method_sha256"] == method_identity(request)[0] != properties["checkpoint_sha256"]
    if source == "earth-engine":
        assert "JRC/GSW1_4/GlobalSurfaceWater/seasonality" in properties["ee_auxiliary"]
    else:
        assert properties["auxiliary_files"].startswith("dem:") and "reference_kind:seasonality" in properties[
            "auxiliary_files"]  # fmt: skip
    [path] = [event.map for event in result.events if event.event == "mapped"]
    with rasterio.open(path) as src:
        _, water, flood, reference, exclusion = src.read()
        rows, cols = np.mgrid[0 : src.height, 0 : src.width] + 0.5
        x, y = src.transform * (cols, rows)
    cols, rows = (x - SOURCE_X0) / PX, (SOURCE_Y0 - y) / PX  # source pixel of each map pixel
    valid = exclusion & 1 == 0
    assert ((reference == 1) == (cols < REFERENCE_COLS))[valid].all()
    assert (((exclusion & EXCLUDED_URBAN) != 0) == (rows < URBAN_ROWS))[valid].all()
    assert (((exclusion & EXCLUDED_HAND) != 0) == (cols >= HIGH_COLS))[valid].all()
    assert (water[valid & (reference == 1)] == 1).any()  # water the reference calls normal ...
    assert not (flood[(reference == 1) | (exclusion != 0)] == 1).any()  # ... is no flood, nor is anything excluded
    excluded = valid & (exclusion != 0)
    assert properties["excluded_km2"] == pytest.approx(excluded.sum() * 100 / 1e6, rel=2e-3)
    assert properties["excluded_km2"] > 0.5  # the town and the high ground within the AOI
    assert properties["flooded_km2"] == pytest.approx((flood == 1).sum() * 100 / 1e6, rel=2e-3)

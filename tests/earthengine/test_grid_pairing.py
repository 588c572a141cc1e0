import datetime as dt

import pytest
from shapely.geometry import box

from gee_flood.earthengine.grid import (
    METRES_PER_DEGREE,
    grid_chip_list,
    lay_chips_over_aoi,
    pixel_size,
    resolve_crs,
    utm_crs_for,
)
from gee_flood.earthengine.inputs import ChipFootprint
from gee_flood.earthengine.pairing import SceneRecord, candidate_pairs, group_mosaics
from gee_flood.errors import InputError
from gee_flood.geo import DateRange

DATES = DateRange(dt.date(2019, 3, 1), dt.date(2019, 3, 20))


def test_utm_zone_and_crs_flags():
    assert utm_crs_for(10.01, 45.0) == "EPSG:32632"
    assert utm_crs_for(-70.0, -12.0) == "EPSG:32719"
    aoi = box(10.0, 45.0, 10.02, 45.02)
    assert resolve_crs("utm", aoi) == "EPSG:32632"
    assert resolve_crs("EPSG:4326", aoi) == "EPSG:4326"
    assert resolve_crs("epsg:3857", aoi) == "EPSG:3857"
    with pytest.raises(InputError, match="--crs"):
        resolve_crs("EPSG:999999", aoi)


def test_pixel_size_in_degrees_matches_sen1floods11():
    assert pixel_size("EPSG:4326", 10.0) == pytest.approx(8.983e-5, rel=1e-3)
    assert pixel_size("EPSG:4326", 10.0) == 10.0 / METRES_PER_DEGREE
    assert pixel_size("EPSG:32632", 10.0) == 10.0


def test_chips_cover_the_aoi_on_a_snapped_lattice():
    aoi = box(10.0, 45.0, 10.03, 45.02)  # about 2.4 km x 2.2 km
    lattice, chips = lay_chips_over_aoi(aoi, crs="EPSG:32632", scale_m=10, chip_size=64, event="Test", dates=DATES)
    step = 640.0
    assert lattice.transform.c % step == 0 and lattice.transform.f % step == 0
    ids = [chip.chip_id for chip in chips]
    assert len(ids) == len(set(ids)) and all(chip_id.startswith("Test_") for chip_id in ids)
    assert len(chips) <= (lattice.width // 64) * (lattice.height // 64)
    union = None
    for chip in chips:
        assert (chip.width, chip.height) == (64, 64)
        assert chip.lattice == lattice.key and chip.row_px % 64 == 0 and chip.col_px % 64 == 0
        assert chip.transform.c == lattice.transform.c + chip.col_px * 10.0
        assert chip.transform.f == lattice.transform.f - chip.row_px * 10.0
        union = chip.footprint if union is None else union.union(chip.footprint)
    assert union.buffer(1e-7).covers(aoi)  # every AOI point lies in a chip


def test_chip_list_grids_follow_footprints():
    px = 10.0 / METRES_PER_DEGREE
    footprint = box(10.0, 45.0, 10.0 + 512 * px, 45.0 + 512 * px)
    chip = ChipFootprint("Ghana_1", "Ghana", footprint, DATES, DATES)
    lattices, (spec,) = grid_chip_list([chip], crs="EPSG:4326", scale_m=10)
    assert lattices == {} and spec.lattice is None
    assert (spec.width, spec.height) == (512, 512)
    assert spec.transform.c == pytest.approx(10.0) and spec.transform.f == pytest.approx(45.0 + 512 * px)
    _, (utm,) = grid_chip_list([chip], crs="utm", scale_m=10)
    assert utm.crs == "EPSG:32632" and 350 < utm.width < 520


def test_chip_list_tiles_of_one_raster_share_a_lattice():
    px = 10.0 / METRES_PER_DEGREE
    x0, y0 = 10.0 + 0.3 * px, 45.0 + 0.7 * px  # an arbitrary sub-pixel phase, as Sen1Floods11's grids have

    def footprint(chip_id, event, col, row, shift=0.0):
        left, top = x0 + (col * 512 + shift) * px, y0 - row * 512 * px
        return ChipFootprint(chip_id, event, box(left, top - 512 * px, left + 512 * px, top), DATES, DATES)

    lattices, specs = grid_chip_list(
        [
            footprint("A_1", "A", 0, 0),
            footprint("A_2", "A", 1, 0),
            footprint("A_3", "A", 1, 2),
            footprint("A_4", "A", 3, 0, shift=0.5),  # half a pixel off: not on the lattice
            footprint("B_1", "B", 2, 0),  # another event: its own grid
        ],
        crs="EPSG:4326",
        scale_m=10,
    )
    assert len(lattices) == 1
    (lattice,) = lattices.values()
    by_id = {spec.chip_id: spec for spec in specs}
    assert {spec.chip_id for spec in specs if spec.lattice == lattice.key} == {"A_1", "A_2", "A_3"}
    assert (by_id["A_2"].row_px, by_id["A_2"].col_px) == (0, 512)
    assert (by_id["A_3"].row_px, by_id["A_3"].col_px) == (1024, 512)
    assert (lattice.width, lattice.height) == (1024, 1536)
    for chip_id in ("A_1", "A_2", "A_3"):
        spec = by_id[chip_id]
        assert lattice.transform.c + spec.col_px * px == pytest.approx(spec.transform.c, abs=1e-3 * px)
        assert lattice.transform.f - spec.row_px * px == pytest.approx(spec.transform.f, abs=1e-3 * px)


def scene(sensor, index, day, footprint, **props):
    time = dt.datetime(2019, 3, day, 10, 0, tzinfo=dt.UTC)
    collection = "COPERNICUS/S1_GRD" if sensor == "S1" else "COPERNICUS/S2_HARMONIZED"
    return SceneRecord(sensor, f"{collection}/{index}", index, time, footprint, props)


def test_mosaics_group_same_day_same_orbit():
    left, right = box(10.0, 45.0, 10.02, 45.02), box(10.02, 45.0, 10.04, 45.02)
    scenes = [
        scene("S1", "a", 5, left, orbitProperties_pass="DESCENDING", relativeOrbitNumber_start=66),
        scene("S1", "b", 5, right, orbitProperties_pass="DESCENDING", relativeOrbitNumber_start=66),
        scene("S1", "c", 5, right, orbitProperties_pass="ASCENDING", relativeOrbitNumber_start=117),
    ]
    mosaics = group_mosaics(scenes)
    assert [m.key for m in mosaics] == ["S1/2019-03-05/ASCENDING/117", "S1/2019-03-05/DESCENDING/66"]
    assert mosaics[1].image_ids == ("COPERNICUS/S1_GRD/a", "COPERNICUS/S1_GRD/b")
    assert mosaics[1].footprint.covers(box(10.01, 45.001, 10.03, 45.019))


def test_pairing_picks_closest_covering_pair_and_ranks_fallbacks():
    aoi = box(10.0, 45.0, 10.01, 45.01)
    _, chips = lay_chips_over_aoi(aoi, crs="EPSG:32632", scale_m=10, chip_size=64, event="T", dates=DATES)
    everywhere = box(9.9, 44.9, 10.1, 45.1)
    elsewhere = box(11.0, 46.0, 11.1, 46.1)
    s1 = group_mosaics(
        [
            scene("S1", "s1_good", 5, everywhere, orbitProperties_pass="DESCENDING", relativeOrbitNumber_start=1),
            scene("S1", "s1_nooverlap", 6, elsewhere, orbitProperties_pass="DESCENDING", relativeOrbitNumber_start=1),
        ]
    )
    s2 = group_mosaics(
        [
            scene("S2", "s2_best", 6, everywhere, CLOUDY_PIXEL_PERCENTAGE=10.0, SENSING_ORBIT_NUMBER=22),
            scene("S2", "s2_same_day_cloudier", 5, everywhere, CLOUDY_PIXEL_PERCENTAGE=40.0, SENSING_ORBIT_NUMBER=65),
            scene("S2", "s2_far", 12, everywhere, CLOUDY_PIXEL_PERCENTAGE=0.0, SENSING_ORBIT_NUMBER=22),
            scene("S2", "s2_nooverlap", 5, elsewhere, CLOUDY_PIXEL_PERCENTAGE=0.0, SENSING_ORBIT_NUMBER=7),
        ]
    )
    result = candidate_pairs(chips, s1, s2, max_days=2)
    for chip in chips:
        ranked = result[chip.chip_id]
        # same day first (gap ~0 days), then 1 day apart; the far and non-overlapping ones never appear
        assert [pair.s2.image_ids[0].rsplit("/", 1)[1] for pair in ranked] == ["s2_same_day_cloudier", "s2_best"]
        assert all(pair.s1.image_ids == ("COPERNICUS/S1_GRD/s1_good",) for pair in ranked)
    none = candidate_pairs(chips, s1[1:], s2, max_days=2)
    assert all(pairs == [] for pairs in none.values())

import datetime as dt
import json

import pytest

from gee_flood.earthengine.inputs import (
    DateRange,
    event_name,
    load_aoi,
    load_chip_list,
    parse_date_range,
)
from gee_flood.errors import InputError

SQUARE = [[[10.0, 45.0], [10.02, 45.0], [10.02, 45.02], [10.0, 45.02], [10.0, 45.0]]]


def write(tmp_path, payload, name="aoi.geojson"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def test_date_range_parses_and_is_inclusive():
    dates = parse_date_range("2019-03-01/2019-03-20")
    assert dates == DateRange(dt.date(2019, 3, 1), dt.date(2019, 3, 20))
    assert dates.end_datetime_exclusive == dt.datetime(2019, 3, 21, tzinfo=dt.UTC)
    assert parse_date_range("2019-03-05") == DateRange(dt.date(2019, 3, 5), dt.date(2019, 3, 5))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2019-03-20/2019-03-01", "reversed"),
        ("2019-13-01/2019-03-20", "not a date"),
        ("yesterday", "not a date"),
        ("2019-03-01/", "not a date range"),
        ("2019-03-01/2019-03-02/2019-03-03", "not a date range"),
    ],
)
def test_bad_dates_are_one_line_errors(text, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        parse_date_range(text)
    assert "\n" not in str(info.value)


def test_aoi_reads_polygon_feature_and_collection(tmp_path):
    geometry = {"type": "Polygon", "coordinates": SQUARE}
    for payload in (
        geometry,
        {"type": "Feature", "geometry": geometry, "properties": {}},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry, "properties": {}}]},
    ):
        aoi = load_aoi(write(tmp_path, payload))
        assert aoi.bounds == pytest.approx((10.0, 45.0, 10.02, 45.02))


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{not json", "not valid GeoJSON"),
        ({"features": []}, "no 'type'"),
        ({"type": "Point", "coordinates": [10, 45]}, "is a Point; expected a Polygon"),
        ({"type": "LineString", "coordinates": [[10, 45], [11, 46]]}, "is a LineString"),
        (
            {"type": "Polygon", "coordinates": [[[10, 45], [10.1, 45.1], [10.1, 45], [10, 45.1], [10, 45]]]},
            "self-intersecting",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[500000, 4000000], [510000, 4000000], [510000, 4010000], [500000, 4000000]]],
            },
            "outside longitude/latitude",
        ),
        ({"type": "Polygon", "coordinates": [[[10, 45], [11]]]}, "malformed"),
        (
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}},
                "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}}],
            },
            "declares CRS",
        ),
        ({"type": "FeatureCollection", "features": []}, "has no features"),
        (
            {"type": "Polygon", "coordinates": [[[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]]},
            "above the 100,000",
        ),
    ],
)
def test_bad_aoi_is_a_one_line_error(tmp_path, payload, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        load_aoi(write(tmp_path, payload))
    assert "\n" not in str(info.value)
    assert "aoi.geojson" in str(info.value)


def test_missing_aoi_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_aoi(tmp_path / "missing.geojson")


def test_large_aoi_allowed_on_request(tmp_path):
    big = {"type": "Polygon", "coordinates": [[[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]]}
    assert load_aoi(write(tmp_path, big), allow_large=True).area == pytest.approx(400.0)


def test_crs84_declaration_is_accepted(tmp_path):
    payload = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}, "properties": {}}],
    }
    assert load_aoi(write(tmp_path, payload)).is_valid


def feature(props, coords=SQUARE):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": coords}, "properties": props}


def test_chip_list_ids_events_and_dates(tmp_path):
    payload = {
        "type": "FeatureCollection",
        "features": [
            feature({"chip_id": "Ghana_103272", "s1_date": "2018-09-18", "s2_date": "2018-09-19"}),
            feature({"chip_id": "7", "event": "rio grande", "date": "2019-03-05"}),
            feature({"S1 Date": "2019-03-05", "S2 Date": "2019-03-06"}),
        ],
    }
    chips = load_chip_list(write(tmp_path, payload, "sen1floods11_weak.geojson"), max_days=2)
    assert [chip.chip_id for chip in chips] == ["Ghana_103272", "RioGrande_7", "Sen1floods11Weak_000002"]
    assert chips[0].event == "Ghana"
    assert chips[0].s1_dates == DateRange(dt.date(2018, 9, 18), dt.date(2018, 9, 18))
    assert chips[0].s2_dates == DateRange(dt.date(2018, 9, 19), dt.date(2018, 9, 19))
    assert chips[1].s1_dates == DateRange(dt.date(2019, 3, 3), dt.date(2019, 3, 7))
    assert chips[2].s2_dates.start == dt.date(2019, 3, 6)


@pytest.mark.parametrize(
    ("features", "fragment"),
    [
        ([feature({"chip_id": "A_1"})], "has no date"),
        ([feature({"chip_id": "A_1", "date": "2019-02-30"})], "not a date"),
        (
            [feature({"chip_id": "A_1", "date": "2019-03-01"}), feature({"chip_id": "A_1", "date": "2019-03-01"})],
            "repeats chip id",
        ),
        (
            [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                    "properties": {"date": "2019-03-01"},
                }
            ],
            "is a Point",
        ),
    ],
)
def test_bad_chip_list(tmp_path, features, fragment):
    with pytest.raises(InputError, match=fragment):
        load_chip_list(write(tmp_path, {"type": "FeatureCollection", "features": features}, "chips.geojson"))


def test_chip_list_must_be_a_feature_collection(tmp_path):
    with pytest.raises(InputError, match="FeatureCollection"):
        load_chip_list(write(tmp_path, {"type": "Polygon", "coordinates": SQUARE}, "chips.geojson"))


def test_event_name_strips_underscores():
    assert event_name("my_flood-2019") == "MyFlood2019"
    with pytest.raises(InputError):
        event_name("__")

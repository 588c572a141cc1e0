"""The shared geographic types: pixel grids, areas of interest (one set of rules) and UTC days."""

import datetime as dt
import json

import pytest
from affine import Affine
from shapely.geometry import Point, Polygon

from gee_flood.errors import InputError
from gee_flood.geo import (
    MAX_AOI_AREA_KM2,
    AreaOfInterest,
    DateRange,
    PixelGrid,
    as_area_of_interest,
    parse_date,
    parse_date_range,
    read_aoi,
)

SQUARE = [[[10.0, 45.0], [10.02, 45.0], [10.02, 45.02], [10.0, 45.02], [10.0, 45.0]]]
BOWTIE = [[[10, 45], [10.1, 45.1], [10.1, 45], [10, 45.1], [10, 45]]]
CONTINENT = [[[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]]


def write(tmp_path, payload, name="aoi.geojson"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


# pixel grids


def test_pixel_grid_bounds_shape_and_same_grid():
    grid = PixelGrid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 8, 6)
    assert grid.bounds == (500000, 3999940, 500080, 4000000)
    assert grid.shape == (6, 8)
    assert grid.same_grid(PixelGrid("EPSG:32633", Affine(10, 0, 500000.01, 0, -10, 4000000), 8, 6))
    assert not grid.same_grid(PixelGrid("EPSG:32633", Affine(10, 0, 500010, 0, -10, 4000000), 8, 6))
    assert not grid.same_grid(PixelGrid("EPSG:4326", grid.transform, 8, 6))
    assert not grid.same_grid(PixelGrid("EPSG:32633", grid.transform, 8, 7))


def test_pixel_grid_crs_transform_and_key():
    grid = PixelGrid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 8, 6)
    assert grid.crs_transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    assert all(isinstance(value, float) for value in grid.crs_transform)
    moved = PixelGrid("EPSG:32633", Affine(10, 0, 500000.5, 0, -10, 4000000), 8, 6)
    assert grid.key != moved.key and grid.key == PixelGrid(grid.crs, grid.transform, 8, 6).key


# areas of interest


def test_aoi_reads_polygon_feature_and_collection(tmp_path):
    geometry = {"type": "Polygon", "coordinates": SQUARE}
    for payload in (
        geometry,
        {"type": "Feature", "geometry": geometry, "properties": {}},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry, "properties": {}}]},
    ):
        aoi = read_aoi(write(tmp_path, payload))
        assert isinstance(aoi, AreaOfInterest)
        assert aoi.bounds == pytest.approx((10.0, 45.0, 10.02, 45.02))
        assert aoi.source.endswith("aoi.geojson")
        assert 3.0 < aoi.area_km2 < 4.0  # 0.02 deg x 0.02 deg at 45 N: about 1.57 km x 2.22 km


def test_aoi_features_are_unioned(tmp_path):
    east = [[[x + 0.02, y] for x, y in SQUARE[0]]]
    payload = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": ring}, "properties": {}}
            for ring in (SQUARE, east)
        ],
    }
    aoi = read_aoi(write(tmp_path, payload))
    assert aoi.bounds == pytest.approx((10.0, 45.0, 10.04, 45.02))


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{not json", "not valid GeoJSON"),
        ({"features": []}, "no 'type'"),
        ({"type": "Point", "coordinates": [10, 45]}, "is a Point; expected a Polygon"),
        ({"type": "LineString", "coordinates": [[10, 45], [11, 46]]}, "is a LineString"),
        ({"type": "Polygon", "coordinates": BOWTIE}, "self-intersecting"),
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
        ({"type": "FeatureCollection", "features": {}}, "no 'features' list"),
        ({"type": "Feature", "geometry": None, "properties": {}}, "has no geometry"),
        ({"type": "Polygon", "coordinates": []}, "is empty"),
        ({"type": "Polygon", "coordinates": CONTINENT}, "above the 100,000"),
    ],
)
def test_bad_aoi_is_a_one_line_error_naming_the_file(tmp_path, payload, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        read_aoi(write(tmp_path, payload))
    assert "\n" not in str(info.value)
    assert "aoi.geojson" in str(info.value)


def test_self_intersecting_polygon_is_refused_not_repaired(tmp_path):
    path = write(tmp_path, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": BOWTIE}})
    with pytest.raises(InputError) as info:
        read_aoi(path)
    message = str(info.value)
    assert message.startswith(f"{path}: feature 0 is not a valid polygon") and "\n" not in message


def test_missing_aoi_file(tmp_path):
    with pytest.raises(InputError, match="missing.geojson: no such file"):
        read_aoi(tmp_path / "missing.geojson")


def test_large_aoi_allowed_on_request(tmp_path):
    path = write(tmp_path, {"type": "Polygon", "coordinates": CONTINENT})
    aoi = read_aoi(path, allow_large=True)
    assert aoi.geometry.area == pytest.approx(400.0)  # square degrees
    assert aoi.area_km2 > MAX_AOI_AREA_KM2


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        {"type": "name", "properties": {"name": "EPSG:4326"}},
        {"type": "EPSG", "properties": {"code": 4326}},
    ],
)
def test_wgs84_declarations_are_accepted(tmp_path, crs):
    payload = {
        "type": "FeatureCollection",
        "crs": crs,
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}, "properties": {}}],
    }
    assert read_aoi(write(tmp_path, payload)).geometry.is_valid


def test_in_memory_aois_follow_the_same_rules(tmp_path):
    square = Polygon(SQUARE[0])
    assert as_area_of_interest(square).geometry.equals(square)
    assert as_area_of_interest({"type": "Polygon", "coordinates": SQUARE}).bounds == pytest.approx(square.bounds)
    from_file = read_aoi(write(tmp_path, {"type": "Polygon", "coordinates": SQUARE}))
    assert as_area_of_interest(from_file) == from_file
    assert as_area_of_interest(write(tmp_path, {"type": "Polygon", "coordinates": SQUARE})) == from_file
    for bad, fragment in [
        (Polygon(BOWTIE[0]), "self-intersecting"),
        (Point(10, 45), "is a Point"),
        (Polygon(CONTINENT[0]), "above the 100,000"),
        ({"type": "Polygon", "coordinates": CONTINENT}, "above the 100,000"),
    ]:
        with pytest.raises(InputError, match=fragment) as info:
            as_area_of_interest(bad)
        assert str(info.value).startswith("AOI geometry:") and "\n" not in str(info.value)
    huge = read_aoi(write(tmp_path, {"type": "Polygon", "coordinates": CONTINENT}, "huge.geojson"), allow_large=True)
    with pytest.raises(InputError, match="huge.geojson: area of interest"):
        as_area_of_interest(huge)
    assert as_area_of_interest(huge, allow_large=True) == huge


# UTC days


def test_date_range_parses_and_is_inclusive():
    dates = parse_date_range("2019-03-01/2019-03-20")
    assert dates == DateRange(dt.date(2019, 3, 1), dt.date(2019, 3, 20))
    assert dates.start_datetime == dt.datetime(2019, 3, 1, tzinfo=dt.UTC)
    assert dates.end_datetime_exclusive == dt.datetime(2019, 3, 21, tzinfo=dt.UTC)
    assert parse_date_range("2019-03-05") == DateRange(dt.date(2019, 3, 5), dt.date(2019, 3, 5))
    assert dates.widened(2) == DateRange(dt.date(2019, 2, 27), dt.date(2019, 3, 22))
    assert str(dates) == "2019-03-01/2019-03-20"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-05", dt.date(2019, 3, 5)),
        ("2019/03/05", dt.date(2019, 3, 5)),
        (" 2019-03-05 ", dt.date(2019, 3, 5)),
        ("2019-03-05T23:30:00-02:00", dt.date(2019, 3, 6)),  # the UTC day
        ("2019-03-05T12:00:00Z", dt.date(2019, 3, 5)),
        (dt.date(2019, 3, 5), dt.date(2019, 3, 5)),
        (dt.datetime(2019, 3, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))), dt.date(2019, 3, 6)),
    ],
)
def test_parse_date_takes_the_utc_day(text, expected):
    assert parse_date(text, what="--date") == expected


@pytest.mark.parametrize("text", ["yesterday", "2019-13-01", "2019-02-30", ""])
def test_bad_date_is_one_line_error_naming_option_and_value(text):
    with pytest.raises(InputError) as info:
        parse_date(text, what="--date")
    assert str(info.value) == f"--date: {text!r} is not a date; expected YYYY-MM-DD"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2019-03-20/2019-03-01", "reversed"),
        ("2019-13-01/2019-03-20", "not a date"),
        ("yesterday", "not a date"),
        ("2019-03-01/", "not a date range"),
        ("2019-03-01/2019-03-02/2019-03-03", "not a date range"),
        ("", "not a date range"),
    ],
)
def test_bad_date_ranges_are_one_line_errors(text, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        parse_date_range(text)
    message = str(info.value)
    assert "\n" not in message and message.startswith("--dates:")
    assert repr(text) in message or repr(text.split("/")[0]) in message

"""ee.Image.pixelArea and Image.reduceRegions in the emulator: ellipsoidal areas, per-feature properties."""

from __future__ import annotations

import pytest
from pyproj import Geod, Transformer

from .conftest import GAUL1, JRC, ORIGIN_X, ORIGIN_Y, SIZE, UTM


def geodesic_m2(x0: float, y0: float, x1: float, y1: float) -> float:
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])


def test_pixel_area_sums_to_the_geodesic_area(ee_client):
    ee = ee_client
    box = ee.Geometry.Rectangle([ORIGIN_X, ORIGIN_Y - 640, ORIGIN_X + 640, ORIGIN_Y], ee.Projection(UTM), False)
    total = (
        ee.Image.pixelArea()
        .reduceRegion(ee.Reducer.sum(), box, crs=UTM, crsTransform=[10, 0, ORIGIN_X, 0, -10, ORIGIN_Y])
        .getInfo()["area"]
    )
    assert total == pytest.approx(geodesic_m2(ORIGIN_X, ORIGIN_Y - 640, ORIGIN_X + 640, ORIGIN_Y), rel=1e-6)


def test_reduce_regions_adds_each_features_reduction(ee_client):
    ee = ee_client
    projection = ee.Projection(UTM)
    # the JRC fixture is 100 % occurrence in columns 49..63: a west and an east half
    west = ee.Feature(ee.Geometry.Rectangle([ORIGIN_X, ORIGIN_Y - 640, ORIGIN_X + 320, ORIGIN_Y], projection, False),
                      {"zone": "west"})  # fmt: skip
    east = ee.Feature(ee.Geometry.Rectangle([ORIGIN_X + 320, ORIGIN_Y - 640, ORIGIN_X + 640, ORIGIN_Y], projection,
                                            False), {"zone": "east"})  # fmt: skip
    water = ee.Image.pixelArea().updateMask(ee.Image(JRC).select("occurrence").gt(50))
    result = water.reduceRegions(
        collection=ee.FeatureCollection([west, east]), reducer=ee.Reducer.sum(), crs=UTM,
        crsTransform=[10, 0, ORIGIN_X, 0, -10, ORIGIN_Y],
    ).getInfo()  # fmt: skip
    by_zone = {f["properties"]["zone"]: f["properties"] for f in result["features"]}
    assert by_zone["west"].get("sum") in (None, 0, 0.0)  # one band, one output: named after the output
    expected = geodesic_m2(ORIGIN_X + 490, ORIGIN_Y - 10 * SIZE, ORIGIN_X + 640, ORIGIN_Y)
    assert by_zone["east"]["sum"] == pytest.approx(expected, rel=1e-6)
    two = ee.Image.pixelArea().addBands(ee.Image.pixelArea().rename("again"))
    named = two.reduceRegions(ee.FeatureCollection([west]), ee.Reducer.sum(), crs=UTM,
                              crsTransform=[10, 0, ORIGIN_X, 0, -10, ORIGIN_Y]).getInfo()  # fmt: skip
    assert {"area", "again", "zone"} <= set(named["features"][0]["properties"])


def test_a_table_is_served_filtered_by_bounds_and_reduced_per_feature(ee_client):
    ee = ee_client
    table = ee.FeatureCollection(GAUL1)
    assert table.size().getInfo() == 3
    footprint = ee.Image(JRC).geometry()
    near = table.filterBounds(footprint)  # Filter.intersects(".all", the footprint)
    assert near.aggregate_array("ADM1_NAME").getInfo() == ["West", "East"]
    assert near.filter(ee.Filter.eq("ADM1_CODE", 102)).size().getInfo() == 1
    water = ee.Image.pixelArea().updateMask(ee.Image(JRC).select("occurrence").gt(50))
    result = water.reduceRegions(collection=near, reducer=ee.Reducer.sum(), crs=UTM,
                                 crsTransform=[10, 0, ORIGIN_X, 0, -10, ORIGIN_Y]).getInfo()  # fmt: skip
    by_name = {f["properties"]["ADM1_NAME"]: f["properties"] for f in result["features"]}
    assert by_name["West"].get("sum") in (None, 0, 0.0)
    expected = geodesic_m2(ORIGIN_X + 490, ORIGIN_Y - 10 * SIZE, ORIGIN_X + 640, ORIGIN_Y)
    assert by_name["East"]["sum"] == pytest.approx(expected, rel=1e-3)  # the zone's edges are straight in lon/lat


def test_a_missing_table_is_one_line(ee_client):
    import ee

    with pytest.raises(ee.EEException, match="Collection asset 'FAO/GAUL/2015/level3' not found") as caught:
        ee_client.FeatureCollection("FAO/GAUL/2015/level3").size().getInfo()
    assert "\n" not in str(caught.value)

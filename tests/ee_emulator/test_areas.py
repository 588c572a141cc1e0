"""ee.Image.pixelArea and Image.reduceRegions in the emulator: ellipsoidal areas, per-feature properties."""

from __future__ import annotations

import pytest
from pyproj import Geod, Transformer

from .conftest import JRC, ORIGIN_X, ORIGIN_Y, SIZE, UTM


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

from __future__ import annotations

import json

import numpy as np
import pytest
from shapely.geometry import shape

from gee_flood.errors import InputError
from gee_flood.inference import write_flood_polygons

from .maps import write_flood_map


def test_polygons_are_whole_across_strips_with_true_areas(tmp_path):
    water = np.zeros((300, 200), np.uint8)
    water[20:250, 10:60] = 1  # one tall lake crossing several strips: 230 x 50 px
    water[100:110, 150:190] = 1  # a small one: 10 x 40 px
    water[280:, :] = 255
    flood_map = write_flood_map(tmp_path / "map.tif", water)
    out = tmp_path / "water.geojson"
    assert write_flood_polygons(flood_map, out, strip_rows=64) == 2
    collection = json.loads(out.read_text())
    features = sorted(collection["features"], key=lambda f: f["properties"]["area_m2"])
    assert [f["properties"]["class"] for f in features] == ["flood", "flood"]
    areas = [f["properties"]["area_m2"] for f in features]
    # 10 m pixels in UTM zone 33N near the central meridian: true area = UTM area / k0^2 (k0 = 0.9996)
    assert areas[0] == pytest.approx(10 * 40 * 100 / 0.9996**2, rel=2e-4)
    assert areas[1] == pytest.approx(230 * 50 * 100 / 0.9996**2, rel=2e-4)
    for feature in features:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type == "Polygon" and geometry.is_valid
        assert geometry.exterior.is_ccw  # RFC 7946 right-hand rule
        lon, lat = geometry.centroid.coords[0]
        assert 14.9 < lon < 15.1 and 45.0 < lat < 45.3  # EPSG:32633 (500 km E, 5000 km N) in lon/lat


def test_not_a_flood_map_is_refused(tmp_path):
    import rasterio

    other = tmp_path / "other.tif"
    with rasterio.open(
        other,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(0, 1, 0.1, 0.1),
    ) as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(InputError, match="not a gee-flood map"):
        write_flood_polygons(other, tmp_path / "x.geojson")
    assert not (tmp_path / "x.geojson").exists()

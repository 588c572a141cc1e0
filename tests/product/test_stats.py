"""Areas on the ground per zone against independent geodesic areas; bad zones refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine
from pyproj import Geod, Transformer
from rasterio.crs import CRS

from gee_flood.errors import InputError
from gee_flood.product import flood_areas, pixel_area_m2, write_statistics, zone_statistics

from .conftest import ORIGIN, UTM, simple_layers, write_product

GEOD = Geod(ellps="WGS84")


def geodesic_area_of_box(crs: str, transform: Affine, rows: slice, cols: slice) -> float:
    """Independent: the box's outline, densified, to lon/lat, measured on the ellipsoid."""
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    c0, c1, r0, r1 = cols.start, cols.stop, rows.start, rows.stop
    steps = 50
    outline = (
        [(c0 + (c1 - c0) * i / steps, r0) for i in range(steps)]
        + [(c1, r0 + (r1 - r0) * i / steps) for i in range(steps)]
        + [(c1 - (c1 - c0) * i / steps, r1) for i in range(steps)]
        + [(c0, r1 - (r1 - r0) * i / steps) for i in range(steps)]
    )
    xs, ys = zip(*(transform * point for point in outline), strict=True)
    lon, lat = to_wgs84.transform(xs, ys)
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    return abs(area)


@pytest.mark.parametrize(
    ("crs", "transform"),
    [(UTM, Affine(10.0, 0, 800_000.0, 0, -10.0, 5_000_000.0)), ("EPSG:4326", Affine(1e-3, 0, 14.0, 0, -1e-3, 60.0))],
)
def test_flooded_and_excluded_area_are_geodesic(tmp_path, crs, transform):
    flood_box, excluded_box = (slice(10, 110), slice(20, 70)), (slice(150, 190), slice(0, 80))
    path = write_product(tmp_path / "map.tif", simple_layers(200, 120, flood_box, excluded_box), crs=crs,
                         transform=transform)  # fmt: skip
    areas = flood_areas(path)
    assert areas.flooded_km2 == pytest.approx(geodesic_area_of_box(crs, transform, *flood_box) / 1e6, rel=1e-4)
    assert areas.excluded_km2 == pytest.approx(geodesic_area_of_box(crs, transform, *excluded_box) / 1e6, rel=1e-4)
    # far from the central meridian the UTM nominal area is off by more than the tolerance: a count would fail
    if crs == UTM:
        nominal = 100 * 50 * 100.0 / 1e6
        assert abs(areas.flooded_km2 - nominal) / nominal > 1e-3


def test_pixel_area_sums_to_the_grid_area():
    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    area = pixel_area_m2(CRS.from_user_input(UTM), transform, 0, 64, 64)
    expected = geodesic_area_of_box(UTM, transform, slice(0, 64), slice(0, 64))
    assert area.sum() == pytest.approx(expected, rel=1e-6)


def zone_file(tmp_path, transform, crs, boxes: dict[str, tuple[int, int, int, int]], name="zones.geojson"):
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    features = []
    for zone, (c0, r0, c1, r1) in boxes.items():
        corners = [transform * (c, r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
        ring = [list(to_wgs84.transform(x, y)) for x, y in corners]
        features.append({"type": "Feature", "properties": {"zone": zone},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_zones_split_the_area_and_write_csv_and_geojson(tmp_path):
    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    flood_box = (slice(10, 110), slice(20, 70))
    path = write_product(tmp_path / "map.tif", simple_layers(200, 120, flood_box, (slice(150, 190), slice(0, 80))))
    zones = zone_file(tmp_path, transform, UTM, {"north": (0, 0, 120, 60), "south": (0, 60, 120, 200)})
    frame = zone_statistics(path, zones)
    assert list(frame["zone"]) == ["north", "south"]
    north = geodesic_area_of_box(UTM, transform, slice(10, 60), slice(20, 70)) / 1e6
    south = geodesic_area_of_box(UTM, transform, slice(60, 110), slice(20, 70)) / 1e6
    assert frame["flooded_km2"].tolist() == pytest.approx([north, south], rel=1e-3)
    assert frame.loc[1, "excluded_km2"] > 0 and frame.loc[0, "excluded_km2"] == 0
    csv = write_statistics(frame, tmp_path / "stats.csv")
    assert csv.read_text().splitlines()[0].startswith("zone,flooded_km2,excluded_km2")
    geo = json.loads(write_statistics(frame, tmp_path / "stats.geojson", zones).read_text())
    assert [f["properties"]["zone"] for f in geo["features"]] == ["north", "south"]


def test_exposure_counts_people_and_cropland_in_the_flood(tmp_path):
    import rasterio

    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    flood_box = (slice(0, 100), slice(0, 100))  # exactly the top-left 10 x 10 population cells of 100 m
    path = write_product(tmp_path / "map.tif", simple_layers(200, 200, flood_box, (slice(150, 190), slice(0, 80))))
    people = np.full((2, 2), 7.0, np.float32)  # people per 100 m cell... in cells of 1 km
    people_path = tmp_path / "pop.tif"
    with rasterio.open(people_path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", crs=UTM,
                       transform=Affine(1000.0, 0, ORIGIN[0], 0, -1000.0, ORIGIN[1])) as dst:  # fmt: skip
        dst.write(people, 1)
    cover = np.full((200, 200), 10, np.uint8)
    cover[:50] = 40  # cropland: the flood's top half
    cover_path = tmp_path / "cover.tif"
    with rasterio.open(cover_path, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint8", crs=UTM,
                       transform=transform) as dst:  # fmt: skip
        dst.write(cover, 1)
    areas = flood_areas(path, population=people_path, worldcover=cover_path)
    # the flood covers 1 km² of a 1 km² cell of 7 people (ground area vs nominal cell: within the UTM scale)
    assert areas.people_exposed == pytest.approx(7.0, rel=2e-3)
    assert areas.cropland_flooded_km2 == pytest.approx(areas.flooded_km2 / 2, rel=1e-3)
    assert areas.built_up_flooded_km2 == 0


def test_bad_zones_are_refused_in_one_line(tmp_path):
    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    path = write_product(
        tmp_path / "map.tif", simple_layers(50, 50, (slice(0, 5), slice(0, 5)), (slice(9, 10), slice(0, 5)))
    )
    duplicated = zone_file(tmp_path, transform, UTM, {"a": (0, 0, 10, 10)}, name="dup.geojson")
    features = json.loads(duplicated.read_text())
    features["features"] *= 2
    duplicated.write_text(json.dumps(features))
    with pytest.raises(InputError, match="duplicated: a"):
        zone_statistics(path, duplicated)
    no_geometry = tmp_path / "nogeom.geojson"
    no_geometry.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone": "x"}, "geometry": None}]}))  # fmt: skip
    with pytest.raises(InputError, match="no geometry"):
        zone_statistics(path, no_geometry)
    far = zone_file(tmp_path, Affine(10.0, 0, 100_000.0, 0, -10.0, 1_000_000.0), UTM, {"far": (0, 0, 10, 10)},
                    name="far.geojson")  # fmt: skip
    with pytest.raises(InputError, match="no zone overlaps"):
        zone_statistics(path, far)


def test_stats_command_and_api_give_the_same_table(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    import gee_flood
    from gee_flood.cli import app

    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    path = write_product(tmp_path / "map.tif", simple_layers(200, 120, (slice(10, 110), slice(20, 70)),
                                                             (slice(150, 190), slice(0, 80))))  # fmt: skip
    zones = zone_file(tmp_path, transform, UTM, {"north": (0, 0, 120, 60), "south": (0, 60, 120, 200)})
    result = CliRunner().invoke(app, ["stats", "--map", str(path), "--zones", str(zones), "--out",
                                      str(tmp_path / "stats.geojson")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("north: flooded 0.25")
    table = gee_flood.flood_statistics(path, zones)
    assert isinstance(table, pd.DataFrame) and list(table["zone"]) == ["north", "south"]
    written = json.loads((tmp_path / "stats.geojson").read_text())
    assert [f["properties"]["flooded_km2"] for f in written["features"]] == pytest.approx(
        table["flooded_km2"].tolist(), rel=1e-9
    )


def test_stats_command_writes_geoparquet_named_by_the_id_field(tmp_path):
    import geopandas
    from typer.testing import CliRunner

    from gee_flood.cli import app

    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    path = write_product(tmp_path / "map.tif", simple_layers(200, 120, (slice(10, 110), slice(20, 70)),
                                                             (slice(150, 190), slice(0, 80))))  # fmt: skip
    zones = zone_file(tmp_path, transform, UTM, {"north": (0, 0, 120, 60), "south": (0, 60, 120, 200)})
    named = geopandas.read_file(zones).assign(code=["N1", "S2"], name=["x", "y"])  # "name" would be the default
    named.to_file(tmp_path / "coded.geojson", driver="GeoJSON")
    out = tmp_path / "stats.parquet"
    result = CliRunner().invoke(app, ["stats", "--map", str(path), "--zones", str(tmp_path / "coded.geojson"),
                                      "--id-field", "code", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = geopandas.read_parquet(out)
    assert written["zone"].tolist() == ["N1", "S2"] and written.geometry.notna().all()
    north = geodesic_area_of_box(UTM, transform, slice(10, 60), slice(20, 70)) / 1e6
    assert written["flooded_km2"].iloc[0] == pytest.approx(north, rel=1e-3)

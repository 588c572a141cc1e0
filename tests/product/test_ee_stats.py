"""The Earth Engine route of the statistics (reduceRegions over pixelArea on the pushed asset) against the local route
and the truth, in the emulator (every graph sent is checked against Earth Engine's algorithm list by conftest)."""

from __future__ import annotations

import pytest
from affine import Affine

from ee_emulator import EmulatorServer
from gee_flood.earthengine import EESettings, export
from gee_flood.errors import RemoteError
from gee_flood.inference import to_cog
from gee_flood.product import zone_statistics
from gee_flood.product.ee_stats import AREA_COLUMNS, ee_zone_statistics

from .conftest import UTM, simple_layers, write_product
from .test_stats import geodesic_area_of_box, zone_file

BUCKET = "product-stats"
#: 300 km east of the central meridian: a pixel count times 100 m² would be off by 0.14 %.
TRANSFORM = Affine(10.0, 0, 800_000.0, 0, -10.0, 5_000_000.0)
FLOOD_BOX, EXCLUDED_BOX = (slice(10, 110), slice(20, 70)), (slice(150, 190), slice(0, 80))


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    from google.cloud import storage as gcs

    from ee_emulator.storage import storage_emulator

    root = tmp_path_factory.mktemp("ee-stats")
    tiled = write_product(root / "tiled.tif", simple_layers(200, 120, FLOOD_BOX, EXCLUDED_BOX), transform=TRANSFORM)
    cog = to_cog(tiled, root / "flood.tif")
    zones = zone_file(root, TRANSFORM, UTM, {"north": (0, 0, 120, 60), "south": (0, 60, 120, 200)})
    asset = "projects/emulator/assets/floods/stats"
    catalog, _files = exposure_catalog(root)
    with (
        storage_emulator(BUCKET),
        EmulatorServer(catalog, assets_dir=root / "assets", operation_step_s=0.01) as server,
    ):
        export.push_flood_map(cog, asset, f"gs://{BUCKET}/maps", client=gcs.Client(), poll_s=0.01, ee_url=server.url)
        yield cog, asset, zones, EESettings(project="emulator", endpoint="standard", url=server.url)


#: Synthetic FAO GAUL 2015 units over the map (pixel boxes col0, row0, col1, row1) with Earth Engine's property
#: names: two provinces split at row 60, each split into two districts at column 45 (two of them both called
#: "Riverside"), and a province far away that filterBounds leaves out.
GAUL = {
    1: {("Northland", 11): (0, 0, 120, 60), ("Southland", 12): (0, 60, 120, 200), ("Farland", 13): (5000, 0, 5120, 60)},
    2: {
        ("Riverside", 111): (0, 0, 45, 60),
        ("Hills", 112): (45, 0, 120, 60),
        ("Riverside", 121): (0, 60, 45, 200),
        ("Plain", 122): (45, 60, 120, 200),
        ("Far", 131): (5000, 0, 5120, 60),
    },
}


def gaul_features(units):
    """GAUL-like features (EPSG:4326 polygons of the map's pixel boxes) with level-1 or level-2 properties."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    features = []
    for (name, code), (c0, r0, c1, r1) in units.items():
        ring = [list(to_wgs84.transform(*(TRANSFORM * (c, r)))) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1),
                                                                            (c0, r0))]  # fmt: skip
        properties = {"ADM0_CODE": 1, "ADM0_NAME": "Emulatia", "ADM1_CODE": code, "ADM1_NAME": name,
                      "DISP_AREA": "NO", "STATUS": "Member State"}  # fmt: skip
        if code > 100:  # a district: its province's code and name above it
            province = next(key for key in GAUL[1] if key[1] == code // 10)
            properties.update(ADM1_CODE=province[1], ADM1_NAME=province[0], ADM2_CODE=code, ADM2_NAME=name)
        features.append({"geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": properties})
    return features


def exposure_catalog(root):
    """GHS-POP (7 people per 100 m cell) and WorldCover (cropland in the map's top 100 rows) over the map, served
    under their Earth Engine ids and written as the local files a user would download."""
    import datetime as dt

    import numpy as np
    import rasterio

    from ee_emulator import CatalogBuilder
    from gee_flood.geo import PixelGrid

    people = np.full((20, 12), 7.0, np.float32)
    people_grid = PixelGrid(UTM, Affine(100.0, 0, TRANSFORM.c, 0, -100.0, TRANSFORM.f), 12, 20)
    cover = np.where(np.arange(200)[:, None] < 100, 40, 10).repeat(120, axis=1).astype(np.uint8)
    cover_grid = PixelGrid(UTM, TRANSFORM, 120, 200)
    when = {"system:time_start": dt.datetime(2021, 1, 1)}
    with CatalogBuilder(root / "catalog") as builder:
        builder.add_image("JRC/GHSL/P2023A/GHS_POP", "2020", people, people_grid, ["population_count"], when)
        builder.add_image("ESA/WorldCover/v200", "2021", cover, cover_grid, ["Map"], when)
        for level, units in GAUL.items():
            builder.add_table(f"FAO/GAUL/2015/level{level}", gaul_features(units))
    files = {}
    for name, values, grid in (("pop", people, people_grid), ("cover", cover, cover_grid)):
        files[name] = root / f"{name}.tif"
        with rasterio.open(files[name], "w", driver="GTiff", width=grid.width, height=grid.height, count=1,
                           dtype=values.dtype, crs=UTM, transform=grid.transform) as dst:  # fmt: skip
            dst.write(values, 1)
    return root / "catalog", files


def test_earth_engine_and_local_routes_agree_and_match_the_truth(pushed):
    cog, asset, zones, settings = pushed
    remote = ee_zone_statistics(asset, zones, settings=settings)
    local = zone_statistics(cog, zones)
    assert list(remote["zone"]) == list(local["zone"]) == ["north", "south"]
    for column in AREA_COLUMNS:
        for got, expected in zip(remote[column], local[column], strict=True):
            assert got == pytest.approx(expected, rel=0.01, abs=1e-9), column
    truth_north = geodesic_area_of_box(UTM, TRANSFORM, slice(10, 60), slice(20, 70)) / 1e6
    truth_south = geodesic_area_of_box(UTM, TRANSFORM, slice(60, 110), slice(20, 70)) / 1e6
    assert remote["flooded_km2"].tolist() == pytest.approx([truth_north, truth_south], rel=0.01)
    excluded = geodesic_area_of_box(UTM, TRANSFORM, *EXCLUDED_BOX) / 1e6
    assert remote["excluded_km2"].sum() == pytest.approx(excluded, rel=0.01)
    whole = ee_zone_statistics(asset, settings=settings)
    assert whole["flooded_km2"].iloc[0] == pytest.approx(truth_north + truth_south, rel=0.01)


def test_exposure_agrees_between_the_routes_and_with_the_truth(pushed):
    cog, asset, zones, settings = pushed
    files = pushed_files(cog)
    remote = ee_zone_statistics(asset, zones, settings=settings, population="JRC/GHSL/P2023A/GHS_POP/2020",
                                worldcover="ESA/WorldCover/v200/2021")  # fmt: skip
    local = zone_statistics(cog, zones, population=files["pop"], worldcover=files["cover"])
    for column in ("people_exposed", "cropland_flooded_km2", "built_up_flooded_km2"):
        assert remote[column].tolist() == pytest.approx(local[column].tolist(), rel=0.01, abs=1e-9), column
    # the flood covers 10 x 5 whole cells of 7 people; cropland is its part above row 100
    assert remote["people_exposed"].sum() == pytest.approx(50 * 7, rel=0.01)
    cropland = geodesic_area_of_box(UTM, TRANSFORM, slice(10, 100), slice(20, 70)) / 1e6
    assert remote["cropland_flooded_km2"].sum() == pytest.approx(cropland, rel=0.01)


def pushed_files(cog):
    return {"pop": cog.parent / "pop.tif", "cover": cog.parent / "cover.tif"}


def test_a_missing_asset_is_one_line(pushed):
    _, _, zones, settings = pushed
    with pytest.raises(RemoteError, match="'projects/emulator/assets/floods/none' not found") as caught:
        ee_zone_statistics("projects/emulator/assets/floods/none", zones, settings=settings)
    assert "\n" not in str(caught.value)


def test_stats_command_earth_engine_route(pushed, tmp_path):
    from typer.testing import CliRunner

    from gee_flood.cli import app

    cog, asset, zones, settings = pushed
    out = tmp_path / "remote.csv"
    result = CliRunner().invoke(app, ["stats", "--asset", asset, "--zones", str(zones), "--out", str(out),
                                      "--ee-url", settings.url, "--ee-population",
                                      "JRC/GHSL/P2023A/GHS_POP/2020"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0].startswith("zone,flooded_km2,excluded_km2")
    assert result.output.splitlines()[0].startswith("north: flooded 0.25") and "175 people" in result.output


def test_admin_zones_from_fao_gaul_in_earth_engine_agree_with_the_local_route_and_the_truth(
    pushed, tmp_path, monkeypatch
):
    from gee_flood.product.ee_stats import ee_admin_zones

    cog, asset, _zones, settings = pushed
    files = pushed_files(cog)
    population = "JRC/GHSL/P2023A/GHS_POP/2020"
    for level, expected in ((1, ["Northland", "Southland"]),
                            (2, ["Riverside (111)", "Hills", "Riverside (121)", "Plain"])):  # fmt: skip
        remote = ee_zone_statistics(asset, admin=level, population=population,
                                    worldcover="ESA/WorldCover/v200/2021", settings=settings)  # fmt: skip
        assert remote["zone"].tolist() == expected  # the far unit is filtered out in Earth Engine
        assert remote["ADM0_NAME"].tolist() == ["Emulatia"] * len(expected)
        # the local route over the same units, exported as a zones file (what --out zones.geojson writes)
        units = ee_admin_zones(asset, level, settings=settings)
        assert units["zone"].tolist() == expected
        local = zone_statistics(cog, units, population=files["pop"], worldcover=files["cover"])
        for column in (*AREA_COLUMNS, "people_exposed", "cropland_flooded_km2", "built_up_flooded_km2"):
            assert remote[column].tolist() == pytest.approx(local[column].tolist(), rel=0.01, abs=1e-9), column
    # the truth: the flood box (rows 10-110, columns 20-70) cut by the units' edges (row 60, column 45)
    truth = [geodesic_area_of_box(UTM, TRANSFORM, rows, cols) / 1e6
             for rows in (slice(10, 60), slice(60, 110)) for cols in (slice(20, 45), slice(45, 70))]  # fmt: skip
    assert remote["flooded_km2"].tolist() == pytest.approx(truth, rel=0.01)
    assert remote["people_exposed"].sum() == pytest.approx(50 * 7, rel=0.01)  # 10 x 5 whole cells of 7 people
    cropland = geodesic_area_of_box(UTM, TRANSFORM, slice(10, 100), slice(20, 70)) / 1e6  # cropland above row 100
    assert remote["cropland_flooded_km2"].sum() == pytest.approx(cropland, rel=0.01)
    import gee_flood.earthengine.session as session

    answers: list = []
    real_with_retries = session.with_retries

    def recording(call, **kwargs):
        answers.append(real_with_retries(call, **kwargs))
        return answers[-1]

    monkeypatch.setattr(session, "with_retries", recording)
    province = ee_zone_statistics(asset, admin=1, settings=settings)
    statistics = answers[-1]["features"]  # the units' statistics come back without the units' polygons
    assert len(statistics) == 2 and all(feature["geometry"] is None for feature in statistics)
    assert province["flooded_km2"].tolist() == pytest.approx([truth[0] + truth[1], truth[2] + truth[3]], rel=0.01)


def test_stats_command_admin_level_writes_the_units_with_their_statistics(pushed, tmp_path):
    import geopandas
    from typer.testing import CliRunner

    from gee_flood.cli import app

    _cog, asset, _zones, settings = pushed
    out = tmp_path / "provinces.geojson"
    result = CliRunner().invoke(app, ["stats", "--asset", asset, "--admin-level", "1", "--out", str(out),
                                      "--ee-url", settings.url])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = geopandas.read_file(out)
    assert written["zone"].tolist() == ["Northland", "Southland"] and written["ADM1_CODE"].tolist() == [11, 12]
    assert written.geometry.notna().all() and result.output.splitlines()[0].startswith("Northland: flooded 0.2")
    refused = CliRunner().invoke(app, ["stats", "--asset", asset, "--admin-level", "3", "--out",
                                       str(tmp_path / "x.csv"), "--ee-url", settings.url])  # fmt: skip
    assert refused.exit_code != 0 and "--admin-level 3: expected 1 or 2" in refused.output
    assert not (tmp_path / "x.csv").exists()

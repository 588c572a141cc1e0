"""The demo, end to end (reduced --quick size), asserting on what it reports and writes."""

import json

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from gee_flood.cli import app


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_report_scores(demo_run):
    out, output = demo_run
    report = json.loads((out / "report.json").read_text())
    scene = report["scene_scores"]
    chips = report["chip_scores"]
    # Every stage ran and the report covers every method.
    assert set(scene) == {"otsu", "s2_ndwi", "weak", "student"}
    assert set(chips) == {"otsu", "s2_ndwi", "weak", "student", "teacher"}
    assert report["corpus"]["chips"] >= 4
    # The SAR-only student maps the flood well, also under the clouds that blind the optical index.
    assert scene["student"]["all"]["iou"] > 0.6
    assert scene["student"]["under_cloud"]["iou"] > 0.5
    assert scene["s2_ndwi"]["under_cloud"]["iou"] == 0.0
    assert report["clouds"]["true_water_under_cloud_fraction"] > 0.05
    # The teacher sees S1 and S2 and does best on the clear-sky corpus chips.
    assert chips["teacher"]["total_iou"] > 0.8
    assert chips["teacher"]["total_iou"] >= chips["otsu"]["total_iou"]
    assert "Where the clouds hid the flood" in (out / "report.md").read_text()
    assert "Where the clouds hid the flood" in output


def test_demo_outputs(demo_run):
    out, _ = demo_run
    with rasterio.open(out / "flood_map.tif") as src:
        assert src.crs is not None and src.count >= 2
        assert src.descriptions == ("likelihood", "water", "flood", "reference_water", "exclusion")
    html = (out / "map.html").read_text()
    assert "data:image/png;base64" in html
    assert (out / "overview.png").stat().st_size > 10_000
    manifest = json.loads((out / "corpus" / "manifest.json").read_text())
    assert len(manifest["chips"]) >= 4
    report = json.loads((out / "report.json").read_text())
    assert report["asset"] == "projects/gee-flood-demo/assets/demo/flood_map"
    # The asset landed in the emulated Earth Engine (its store is under the demo's output).
    assert any((out / "ee-assets").rglob("*"))


def test_demo_flood_product(demo_run):
    out, _ = demo_run
    report = json.loads((out / "report.json").read_text())
    product = report["product"]
    rows = {(row["zone"], row["method"]): row for row in product["zones"]}
    provinces = ("West Province", "East Province")  # the catalog's FAO GAUL level 1, read from Earth Engine
    assert set(rows) == {(zone, method) for zone in provinces for method in ("student", "change")}
    assert sum(product["truth_flooded_km2"].values()) > 0.05  # the synthetic flood, on the ground
    for row in rows.values():
        assert row["flooded_km2"] >= 0 and row["excluded_km2"] >= 0 and row["people_exposed"] >= 0
        assert row["flooded_km2"] <= row["mapped_km2"]
    assert any(row["flooded_km2"] > 0 for row in rows.values())
    assert (out / "statistics.csv").read_text().startswith("zone,flooded_km2")
    with rasterio.open(out / "flood_map.tif") as src:
        assert src.tags()["product_input_hand"] == "hand.tif"  # read from the emulator's MERIT Hydro
    with rasterio.open(out / "flood_map_change.tif") as src:
        assert src.tags()["checkpoint_role"] == "change-unspider"
    assert "Flood product" in (out / "report.md").read_text()
    assert "Flooded and excluded km²" in (out / "map.html").read_text()
    # The Earth Engine route (reduceRegions on the pushed asset, per GAUL unit) agrees with the local route.
    remote = {row["zone"]: row for row in product["earth_engine"]}
    assert set(remote) == set(provinces)
    for zone, row in remote.items():
        for name in ("flooded_km2", "excluded_km2", "people_exposed", "cropland_flooded_km2"):
            assert row[name] == pytest.approx(row[f"local_{name}"], rel=0.01, abs=1e-6), (zone, name)
        assert row["flooded_km2"] == pytest.approx(rows[(zone, "student")]["flooded_km2"], rel=0.01, abs=1e-6)
    assert sum(row["flooded_km2"] for row in remote.values()) > 0


def test_demo_watches_every_post_event_acquisition(demo_run):
    out, _ = demo_run
    watch = json.loads((out / "report.json").read_text())["watch"]
    assert watch["collection"] == "projects/gee-flood-demo/assets/demo/watch"
    assert watch["found"] >= 1 and len(watch["flooded_km2"]) == watch["pushed"] >= 1
    assert all(km2 >= 0 for km2 in watch["flooded_km2"].values())
    # each per-date flooded km² is the flood layer of the kept map (not its water: reference water is no flood) on
    # the ground: 10 m pixels within UTM's areal scale error; excluded km² its valid excluded pixels
    maps = sorted((out / "watch").glob("*.tif"))
    assert len(maps) == watch["pushed"]
    for path, when in zip(maps, sorted(watch["flooded_km2"]), strict=True):
        with rasterio.open(path) as src:
            layers = dict(zip(src.descriptions, src.read(), strict=True))
            pixel_km2 = abs(src.transform.a * src.transform.e) / 1e6
        exclusion = layers["exclusion"]
        flood_km2 = float(((layers["flood"] == 1) & (exclusion == 0)).sum()) * pixel_km2
        assert watch["flooded_km2"][when] == pytest.approx(flood_km2, rel=2e-3, abs=1e-9)
        excluded_km2 = float(((exclusion != 0) & (exclusion & 1 == 0)).sum()) * pixel_km2
        assert watch["excluded_km2"][when] == pytest.approx(excluded_km2, rel=2e-3, abs=1e-9)
    plot = out / watch["plot"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5_000
    markdown = (out / "report.md").read_text()
    assert "## Watch: every post-event Sentinel-1 acquisition" in markdown and f"]({watch['plot']})" in markdown


def test_demo_event_series_agree_with_a_direct_computation(demo_run):
    """Maximum extent and flood duration over the demo event: Earth Engine and local routes against numpy."""
    out, _ = demo_run
    series = json.loads((out / "report.json").read_text())["watch"]["series"]
    assert series["pixels_differing_earth_engine_vs_local"] == 0
    maps = sorted((out / "watch").glob("*.tif"))
    stack = []
    for path in maps:
        with rasterio.open(path) as src:
            layers = dict(zip(src.descriptions, src.read(), strict=True))
            stack.append((layers["flood"] == 1) & (layers["exclusion"] == 0))  # flooded where observed
            pixel_km2 = abs(src.transform.a * src.transform.e) / 1e6
    flooded = np.stack(stack)
    extent = flooded.any(axis=0)
    assert extent.any()
    assert series["max_extent_km2"] == pytest.approx(extent.sum() * pixel_km2, rel=2e-3)  # on the ground (UTM)
    with rasterio.open(out / "watch_series" / "max_extent.tif") as src:
        np.testing.assert_array_equal(src.read(1) == 1, extent)
    with rasterio.open(out / "watch_series" / "flood_duration_days.tif") as src:
        duration = src.read(1)
    # flooded in both acquisitions: the time between them; in one: 0; never: no data
    times = sorted(json.loads((out / "report.json").read_text())["watch"]["flooded_km2"])
    assert len(times) == len(maps)
    both = flooded.all(axis=0)
    if len(maps) >= 2:
        assert np.nanmax(duration) == pytest.approx(series["longest_flood_days"], abs=1e-3)
        assert np.all(duration[both & ~np.isnan(duration)] > 0)
    assert np.all(np.isnan(duration[~extent]))

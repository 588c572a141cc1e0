"""The demo, end to end (reduced --quick size), asserting on what it reports and writes."""

import json

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
    assert set(rows) == {(zone, method) for zone in ("west", "east") for method in ("student", "change")}
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

"""predict --aoi --date: Sentinel-1 read through xee from the project's Earth Engine emulator."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from ee_emulator import CatalogBuilder, EmulatorServer
from gee_flood.cli import app
from gee_flood.geo import PixelGrid

from .conftest import synthetic_s1

runner = CliRunner()
SIZE = 160
GRID = PixelGrid("EPSG:32633", Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0), SIZE, SIZE)


def _aoi(path, crs_box):
    ring = rasterio.warp.transform_geom("EPSG:32633", "EPSG:4326", {"type": "Polygon", "coordinates": [crs_box]})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                                            "geometry": ring}]}))  # fmt: skip
    return path


def test_predict_from_earth_engine_emulator(tmp_path, student_ckpt):
    s1_db = synthetic_s1(SIZE, SIZE, seed=3)
    with CatalogBuilder(tmp_path / "catalog") as builder:
        builder.add_image("COPERNICUS/S1_GRD", "S1A_20190315", s1_db, GRID, ["VV", "VH"], {
            "system:time_start": dt.datetime(2019, 3, 15, 5, 30), "instrumentMode": "IW",
            "transmitterReceiverPolarisation": ["VV", "VH"], "orbitProperties_pass": "ASCENDING",
            "relativeOrbitNumber_start": 117})  # fmt: skip
    inside = [(500_200.0, 4_999_800.0), (501_200.0, 4_999_800.0), (501_200.0, 4_998_800.0),
              (500_200.0, 4_998_800.0), (500_200.0, 4_999_800.0)]  # fmt: skip
    aoi = _aoi(tmp_path / "aoi.geojson", inside)
    elsewhere = _aoi(tmp_path / "far.geojson", [(x + 200_000, y) for x, y in inside])
    out, kept = tmp_path / "flood.tif", tmp_path / "s1.tif"
    with EmulatorServer(tmp_path / "catalog") as server:
        common = ["predict", "--checkpoint", str(student_ckpt), "--date", "2019-03-15", "--ee-url", server.url,
                  "--tile", "64", "--overlap", "16", "--quiet"]  # fmt: skip
        result = runner.invoke(app, [*common, "--aoi", str(aoi), "--out", str(out), "--keep-scene", str(kept)])
        assert result.exit_code == 0, result.output
        far = runner.invoke(app, [*common, "--aoi", str(elsewhere), "--out", str(tmp_path / "far.tif")])
    assert far.exit_code == 2
    lines = far.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "S1_GRD" in lines[0], far.output
    assert not (tmp_path / "far.tif").exists()

    assert cog_validate(out, quiet=True)[0]
    with rasterio.open(kept) as scene, rasterio.open(out) as flood:
        assert scene.crs.to_epsg() == 32633 and flood.crs == scene.crs
        assert flood.transform.almost_equals(scene.transform) and flood.shape == scene.shape
        assert 90 <= scene.width <= 110 and 90 <= scene.height <= 110  # ~1 km AOI at 10 m
        # the pixels are the catalog's: compare VV at the same map position
        vv = scene.read(1)
        col, row = ~GRID.transform @ (scene.transform.c, scene.transform.f)
        r0, c0 = round(row), round(col)
        valid = np.isfinite(vv)
        expected = s1_db[0, r0 : r0 + scene.height, c0 : c0 + scene.width]
        assert valid.mean() > 0.9
        np.testing.assert_allclose(vv[valid], expected[valid], atol=1e-4)
        probability = flood.read(1)
        mapped = probability != 255  # valid S1 inside the AOI polygon
        assert mapped.mean() > 0.9 and not (mapped & ~valid).any()
        assert (probability[mapped] <= 100).all()

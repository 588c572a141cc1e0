"""predict --aoi --date --ee-auxiliary: the product's auxiliary datasets read from Earth Engine (the emulator) under
their real ids and bands, on the scene's grid. A dataset missing on the server: tests/test_hostile_inputs.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from ee_emulator import CatalogBuilder, EmulatorServer
from gee_flood.cli import app
from gee_flood.geo import PixelGrid
from gee_flood.product import EXCLUDED_HAND, EXCLUDED_URBAN
from tests.inference.conftest import synthetic_s1

SIZE = 160
GRID = PixelGrid("EPSG:32633", Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0), SIZE, SIZE)
BOX = [(500_200.0, 4_999_800.0), (501_200.0, 4_999_800.0), (501_200.0, 4_998_800.0), (500_200.0, 4_998_800.0),
       (500_200.0, 4_999_800.0)]  # fmt: skip


def write_catalog(root: Path, *, with_hand: bool = True) -> Path:
    """S1 and the auxiliary datasets: river (seasonality 12) in columns 0-39, town in rows 0-49, high ground in
    columns 120-159."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    with CatalogBuilder(root) as builder:
        builder.add_image("COPERNICUS/S1_GRD", "S1A_20190315", synthetic_s1(SIZE, SIZE, seed=3), GRID, ["VV", "VH"], {
            "system:time_start": dt.datetime(2019, 3, 15, 5, 30), "instrumentMode": "IW",
            "transmitterReceiverPolarisation": ["VV", "VH"], "orbitProperties_pass": "ASCENDING",
            "relativeOrbitNumber_start": 117})  # fmt: skip
        gsw = np.stack([np.where(cols < 40, 100, 0), np.where(cols < 40, 12, 0)]).astype(np.uint8)
        builder.add_image(None, "JRC/GSW1_4/GlobalSurfaceWater", gsw, GRID, ["occurrence", "seasonality"], {},
                          nodata=255)  # fmt: skip
        builder.add_image(None, "USGS/SRTMGL1_003", np.full((SIZE, SIZE), 20.0, np.float32), GRID, ["elevation"], {})
        if with_hand:
            hand = np.where(cols >= 120, 40.0, 1.0).astype(np.float32)
            builder.add_image(None, "MERIT/Hydro/v1_0_1", np.stack([hand, hand]), GRID, ["elv", "hnd"], {})
        cover = np.where(rows < 50, 50, 40).astype(np.uint8)
        builder.add_image("ESA/WorldCover/v200", "2021", cover, GRID, ["Map"],
                          {"system:time_start": dt.datetime(2021, 1, 1)})  # fmt: skip
    return root


def aoi(path: Path) -> Path:
    ring = rasterio.warp.transform_geom("EPSG:32633", "EPSG:4326", {"type": "Polygon", "coordinates": [BOX]})
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": ring}))
    return path


def predict_args(checkpoint: Path, area: Path, out: Path, url: str) -> list[str]:
    return ["predict", "--checkpoint", str(checkpoint), "--aoi", str(area), "--date", "2019-03-15", "--ee-url", url,
            "--tile", "64", "--overlap", "16", "--quiet", "--ee-auxiliary", "--out", str(out)]  # fmt: skip


@pytest.mark.slow  # about 12 s: xee reads of the scene and four datasets
def test_auxiliary_datasets_come_from_earth_engine(tmp_path, student_ckpt):
    catalog = write_catalog(tmp_path / "catalog")
    out = tmp_path / "flood.tif"
    with EmulatorServer(catalog) as server:
        result = CliRunner().invoke(app, predict_args(student_ckpt, aoi(tmp_path / "aoi.geojson"), out, server.url))
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        _, water, flood, reference, exclusion = src.read()
        col0, row0 = (~GRID.transform) * (src.transform.c, src.transform.f)
        assert src.tags()["product_input_hand"] == "hand.tif"
    rows, cols = np.mgrid[0 : flood.shape[0], 0 : flood.shape[1]]
    rows, cols = rows + round(row0), cols + round(col0)  # catalog pixel of each map pixel
    valid = water != 255
    assert ((reference == 1) == (cols < 40))[valid].all()
    assert (((exclusion & EXCLUDED_URBAN) != 0) == (rows < 50))[valid].all()
    assert (((exclusion & EXCLUDED_HAND) != 0) == (cols >= 120))[valid].all()
    assert not (flood[(reference == 1) | (exclusion > 1)] == 1).any()

"""A tiny emulator catalog built in the test (UTM 33N, 10 m pixels, 64x64) and a served emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from ee_emulator import CatalogBuilder, EmulatorServer, initialize_ee
from gee_flood.geo import PixelGrid as GeoReference

UTM = "EPSG:32633"
SIZE = 64
ORIGIN_X, ORIGIN_Y = 500_000.0, 5_000_640.0
S1 = "COPERNICUS/S1_GRD"
S2 = "COPERNICUS/S2_HARMONIZED"
S2_CLOUD = "COPERNICUS/S2_CLOUD_PROBABILITY"
CS_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
JRC = "JRC/GSW1_4/GlobalSurfaceWater"
GAUL1 = "FAO/GAUL/2015/level1"
S2_INDEX_1 = "20200106T100000_20200106T100500_T33TWL"
S2_INDEX_2 = "20200121T100000_20200121T100500_T33TWL"


def utm_grid(
    x_offset_px: float = 0.0, y_offset_px: float = 0.0, size: int = SIZE, pixel_m: float = 10.0
) -> GeoReference:
    """A north-up UTM grid, shifted from the catalog origin by whole or fractional 10 m pixels."""
    transform = Affine(pixel_m, 0, ORIGIN_X + 10.0 * x_offset_px, 0, -pixel_m, ORIGIN_Y - 10.0 * y_offset_px)
    return GeoReference(UTM, transform, size, size)


def utm_box(col0: float, row0: float, col1: float, row1: float) -> dict:
    """A GeoJSON polygon (EPSG:4326) of a pixel box of the catalog grid, its corners transformed from UTM."""
    from pyproj import Transformer

    xs = [ORIGIN_X + 10.0 * c for c in (col0, col1, col1, col0, col0)]
    ys = [ORIGIN_Y - 10.0 * r for r in (row0, row0, row1, row1, row0)]
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(xs, ys)
    return {"type": "Polygon", "coordinates": [[[x, y] for x, y in zip(lon, lat, strict=True)]]}


@dataclass
class Fixture:
    root: Path
    s1_a_vv: np.ndarray
    s1_b_vv: np.ndarray
    s2_1: np.ndarray
    cloud_1: np.ndarray


def build_catalog(root: Path) -> Fixture:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    s1_a_vv = (-20.0 + 0.1 * cols + 0.01 * rows).astype(np.float32)
    s1_a_vv[:8, :8] = np.nan  # no data (border noise) in the top-left corner
    s1_a = np.stack([s1_a_vv, np.full((SIZE, SIZE), -25.0, np.float32)])
    s1_b_vv = (-5.0 - 0.05 * rows).astype(np.float32)
    s1_b = np.stack([s1_b_vv, np.full((SIZE, SIZE), -15.0, np.float32)])
    s1_c = np.full((2, SIZE, SIZE), -10.0, np.float32)
    s2_1 = np.stack([(1000 + rows * 10 + cols).astype(np.uint16), np.full((SIZE, SIZE), 3000, np.uint16),
                     np.full((SIZE, SIZE), 2000, np.uint16)])  # fmt: skip
    s2_2 = s2_1 + 100
    cloud_1 = np.where(cols < 16, 90, 5).astype(np.uint8)
    s1_props = {"instrumentMode": "IW", "transmitterReceiverPolarisation": ["VV", "VH"]}
    with CatalogBuilder(root) as builder:
        builder.add_image(S1, "S1_A", s1_a, utm_grid(), ["VV", "VH"], {
            **s1_props, "system:time_start": dt.datetime(2020, 1, 5, 5, 30), "orbitProperties_pass": "ASCENDING",
            "relativeOrbitNumber_start": 117})  # fmt: skip
        builder.add_image(S1, "S1_B", s1_b, utm_grid(x_offset_px=32), ["VV", "VH"], {
            **s1_props, "system:time_start": dt.datetime(2020, 1, 17, 5, 30), "orbitProperties_pass": "DESCENDING",
            "relativeOrbitNumber_start": 22})  # fmt: skip
        builder.add_image(S1, "S1_C", s1_c, utm_grid(x_offset_px=10_000), ["HH", "HV"], {
            "instrumentMode": "EW", "transmitterReceiverPolarisation": ["HH", "HV"],
            "system:time_start": dt.datetime(2020, 2, 10)})  # fmt: skip
        for index, data, cloudy, day in ((S2_INDEX_1, s2_1, 12.5, 6), (S2_INDEX_2, s2_2, 80.0, 21)):
            builder.add_image(S2, index, data, utm_grid(), ["B3", "B8", "B11"], {
                "system:time_start": dt.datetime(2020, 1, day, 10), "CLOUDY_PIXEL_PERCENTAGE": cloudy,
                "MGRS_TILE": "33TWL"}, nodata=0)  # fmt: skip
            probability = cloud_1 if index == S2_INDEX_1 else np.full((SIZE, SIZE), 50, np.uint8)
            builder.add_image(S2_CLOUD, index, probability, utm_grid(), ["probability"],
                              {"system:time_start": dt.datetime(2020, 1, day, 10)})  # fmt: skip
        cs = np.stack([np.full((SIZE, SIZE), 0.9, np.float32), np.full((SIZE, SIZE), 0.8, np.float32)])
        builder.add_image(CS_PLUS, S2_INDEX_1, cs, utm_grid(), ["cs", "cs_cdf"], {})
        builder.add_image(None, JRC, np.where(cols > 48, 100, 0).astype(np.uint8), utm_grid(), ["occurrence"],
                          {}, nodata=255)  # fmt: skip
        builder.add_table(GAUL1, [
            {"geometry": utm_box(0, 0, 32, SIZE), "properties": {"ADM0_NAME": "Emulatia", "ADM1_NAME": "West",
                                                                "ADM1_CODE": 101}},
            {"geometry": utm_box(32, 0, SIZE, SIZE), "properties": {"ADM0_NAME": "Emulatia", "ADM1_NAME": "East",
                                                                   "ADM1_CODE": 102}},
            {"geometry": utm_box(10_000, 0, 10_064, SIZE), "properties": {"ADM0_NAME": "Emulatia",
                                                                         "ADM1_NAME": "Far", "ADM1_CODE": 103}},
        ])  # fmt: skip
    return Fixture(root, s1_a_vv, s1_b_vv, s2_1, cloud_1)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def server(catalog: Fixture) -> Iterator[EmulatorServer]:
    with EmulatorServer(catalog.root) as running:
        initialize_ee(running)
        yield running


@pytest.fixture
def ee_client(server: EmulatorServer):  # noqa: ANN201 - the ee module
    """The real ee client pointed at the module's emulator (re-initialised in case another test moved it)."""
    import ee

    if ee.data._get_state().cloud_api_base_url != server.url:  # noqa: SLF001
        initialize_ee(server)
    return ee

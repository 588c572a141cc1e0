"""predict's COG carries the product's layers; each checked against the scene's known truth.

A synthetic scene whose backscatter is water-like everywhere (and a threshold that calls every valid pixel water),
over terrain and land cover built region by region: a flat flood plain, a slope descending away from the radar
(shadow), a steep slope across the look direction, a town, a hillside far above the drainage, a river (reference
water), and a no-data block whose edge carries border noise. Whatever the network says, only the flood plain may be
flood; the expected layers are written down from the regions, not computed by the product's code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.product import (
    EXCLUDED_HAND,
    EXCLUDED_NODATA,
    EXCLUDED_SHADOW_LAYOVER,
    EXCLUDED_SLOPE,
    EXCLUDED_URBAN,
    LAYERS,
    NODATA,
    flood_areas,
)
from tests.inference.conftest import ORIGIN, UTM, write_s1

HEIGHT, WIDTH, W = 120, 240, 40  # six regions of 40 columns
PLAIN, SHADOW, STEEP, TOWN, HIGH, RIVER = (slice(k * W, (k + 1) * W) for k in range(6))
NODATA_ROWS = slice(100, 120)  # under the flood plain
BORDER = 2
ISLAND = (slice(50, 52), slice(138, 140))  # 4 px of cropland in the town: flood, below the minimum mapping unit


def raster(path, values, dtype="float32"):
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype=dtype, crs=UTM,
                       transform=ORIGIN) as dst:  # fmt: skip
        dst.write(values.astype(dtype), 1)
    return path


@pytest.fixture(scope="module")
def product(tmp_path_factory, student_ckpt):
    root = tmp_path_factory.mktemp("truth")
    s1 = np.stack([np.full((HEIGHT, WIDTH), -22.0), np.full((HEIGHT, WIDTH), -29.0)]).astype(np.float32)
    s1[:, NODATA_ROWS, PLAIN] = np.nan
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    dem = np.zeros((HEIGHT, WIDTH))
    # descending east (away from a radar looking at 80 deg) at 60 deg: steeper than the 53 deg grazing angle
    dem[:, SHADOW] = -math.tan(math.radians(60)) * (cols[:, SHADOW] - SHADOW.start) * 10.0
    # descending north at 20 deg, across the look direction: steep, but no shadow nor layover
    dem[:, STEEP] = 500.0 + math.tan(math.radians(20)) * rows[:, STEEP] * 10.0
    hand = np.full((HEIGHT, WIDTH), 2.0)
    hand[:, HIGH] = 40.0
    cover = np.full((HEIGHT, WIDTH), 10)
    cover[:, PLAIN] = 40
    cover[:, TOWN] = 50
    cover[ISLAND] = 40
    seasonality = np.zeros((HEIGHT, WIDTH))
    seasonality[:, RIVER] = 12
    out = root / "flood.tif"
    args = ["predict", "--checkpoint", str(student_ckpt), "--input", str(write_s1(root / "s1.tif", s1)),
            "--out", str(out), "--tile", "64", "--overlap", "16", "--threshold", "1e-6", "--quiet",
            "--dem", str(raster(root / "dem.tif", dem)), "--hand", str(raster(root / "hand.tif", hand)),
            "--worldcover", str(raster(root / "cover.tif", cover, "uint8")),
            "--reference-water", str(raster(root / "gsw.tif", seasonality, "uint8")),
            "--border-noise", str(BORDER)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        assert src.descriptions == LAYERS
        layers = dict(zip(LAYERS, src.read(), strict=True))
    return out, layers, result.output


def expected_exclusion() -> np.ndarray:
    bits = np.zeros((HEIGHT, WIDTH), np.uint8)
    bits[:, SHADOW] = EXCLUDED_SLOPE | EXCLUDED_SHADOW_LAYOVER
    bits[:, STEEP] = EXCLUDED_SLOPE
    bits[:, TOWN] = EXCLUDED_URBAN
    bits[ISLAND] = 0
    bits[:, HIGH] = EXCLUDED_HAND
    bits[NODATA_ROWS, PLAIN] = EXCLUDED_NODATA
    bits[NODATA_ROWS.start - BORDER : NODATA_ROWS.start, PLAIN] |= EXCLUDED_NODATA  # border noise above the hole
    bits[NODATA_ROWS.start - BORDER :, PLAIN.stop : PLAIN.stop + BORDER] |= EXCLUDED_NODATA  # beside it (chessboard)
    return bits


def interior() -> np.ndarray:
    """Pixels at least one column away from a region edge (the DEM's 3x3 gradient mixes neighbours there)."""
    inside = np.ones((HEIGHT, WIDTH), bool)
    for edge in range(W, WIDTH, W):
        inside[:, edge - 1 : edge + 1] = False
    return inside


def test_exclusion_bits_are_the_regions(product):
    _, layers, _ = product
    inside = interior()
    np.testing.assert_array_equal(layers["exclusion"][inside], expected_exclusion()[inside])


def test_only_the_flood_plain_is_flood(product):
    _, layers, _ = product
    flood = np.zeros((HEIGHT, WIDTH), np.uint8)
    flood[: NODATA_ROWS.start - BORDER, PLAIN] = 1
    flood[(expected_exclusion() & EXCLUDED_NODATA) != 0] = NODATA
    # the island is not excluded but smaller than the minimum mapping unit (8 px): removed
    np.testing.assert_array_equal(layers["flood"], flood)
    assert (layers["flood"][(layers["exclusion"] != 0)] != 1).all()  # excluded pixels are never flood


def test_water_likelihood_and_reference(product):
    _, layers, _ = product
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[NODATA_ROWS, PLAIN] = True
    np.testing.assert_array_equal(layers["likelihood"] == NODATA, hole)
    assert layers["likelihood"][~hole].max() <= 100
    np.testing.assert_array_equal(layers["water"], np.where(hole, NODATA, 1))  # every valid pixel is water-like
    reference = np.zeros((HEIGHT, WIDTH), np.uint8)
    reference[:, RIVER] = 1  # seasonality >= 10 months
    np.testing.assert_array_equal(layers["reference_water"], reference)


def geodesic_km2(rows: slice, cols: slice) -> float:
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    corners = [ORIGIN * (c, r) for c, r in ((cols.start, rows.start), (cols.stop, rows.start),
                                            (cols.stop, rows.stop), (cols.start, rows.stop))]  # fmt: skip
    lon, lat = to_wgs84.transform(*zip(*corners, strict=True))
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]) / 1e6


def test_flooded_and_excluded_km2_are_the_truths_area(product):
    out, _, output = product
    areas = flood_areas(out)
    assert areas.flooded_km2 == pytest.approx(geodesic_km2(slice(0, NODATA_ROWS.start - BORDER), PLAIN), rel=1e-3)
    excluded = sum(geodesic_km2(slice(0, HEIGHT), region) for region in (SHADOW, STEEP, TOWN, HIGH))
    excluded -= geodesic_km2(slice(NODATA_ROWS.start - BORDER, HEIGHT), slice(PLAIN.stop, PLAIN.stop + BORDER))
    excluded -= geodesic_km2(*ISLAND)
    assert areas.excluded_km2 == pytest.approx(excluded, rel=1e-2)  # region edges: within a column
    assert f"flooded {areas.flooded_km2:.3f} km²" in output

"""The product's layer rule: one vocabulary, flood = water - reference - excluded, no data everywhere."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from gee_flood.product import (
    EXCLUDED_NODATA,
    EXCLUDED_SLOPE,
    LAYERS,
    NODATA,
    ProductSettings,
    block_layers,
    reference_rows,
)


def test_layer_names_are_the_documented_vocabulary():
    assert LAYERS == ("likelihood", "water", "flood", "reference_water", "exclusion")


def test_block_layers_follow_the_rule():
    probability = np.array([[0.9, 0.9, 0.9, 0.2, np.nan]], np.float32)
    reference = np.array([[0, 1, 0, 1, 0]], np.uint8)
    exclusion = np.array([[0, 0, EXCLUDED_SLOPE, 0, 0]], np.uint8)
    layers = block_layers(probability, 0.5, reference=reference, exclusion=exclusion)
    assert layers.likelihood.tolist() == [[90, 90, 90, 20, NODATA]]
    assert layers.water.tolist() == [[1, 1, 1, 0, NODATA]]
    # reference water is not flood; an excluded pixel is never flood; no data stays no data
    assert layers.flood.tolist() == [[1, 0, 0, 0, NODATA]]
    assert layers.exclusion.tolist() == [[0, 0, EXCLUDED_SLOPE, 0, EXCLUDED_NODATA]]
    assert layers.stack().shape == (5, 1, 5)


def test_without_a_reference_it_is_unknown_and_removes_nothing():
    layers = block_layers(np.array([[0.8]], np.float32), 0.5)
    assert layers.reference_water.tolist() == [[NODATA]]
    assert layers.flood.tolist() == [[1]]


@pytest.mark.parametrize(
    ("kind", "threshold", "expected"),
    [("seasonality", None, [[0, 1, 1, NODATA]]), ("occurrence", None, [[0, 0, 0, NODATA]]),
     ("occurrence", 9.0, [[1, 1, 1, NODATA]])],
)  # fmt: skip
def test_reference_threshold_is_configurable(kind, threshold, expected):
    settings = ProductSettings(reference_kind=kind, reference_threshold=threshold)
    values = np.array([[9.0, 10.0, 12.0, np.nan]])
    assert reference_rows(values, settings).tolist() == expected


def test_settings_are_validated():
    with pytest.raises(ValidationError):
        ProductSettings(min_mapping_unit=-1)
    with pytest.raises(ValidationError):
        ProductSettings(slope_max_deg=0)


def test_layers_do_not_depend_on_the_chunking(tmp_path, monkeypatch):
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    from gee_flood.product import inputs as inputs_module
    from gee_flood.product.inputs import AuxRaster, Grid, ProductInputs

    rng = np.random.default_rng(1)
    dem = np.cumsum(rng.normal(0, 3, (60, 40)), axis=0)  # rough terrain: slopes change row by row
    transform = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40, height=60, count=1, dtype="float32", crs="EPSG:32633",
                       transform=transform) as dst:  # fmt: skip
        dst.write(dem.astype(np.float32), 1)
    grid = Grid(CRS.from_epsg(32633), transform, 40, 60)
    product = ProductInputs(dem=AuxRaster(path, "--dem", "bilinear")).attach(grid)
    probability = rng.random((60, 40)).astype(np.float32)
    whole = product.layers(probability, 0.5, 0)
    monkeypatch.setattr(inputs_module, "CHUNK_ROWS", 7)
    np.testing.assert_array_equal(product.layers(probability, 0.5, 0), whole)
    assert (whole[4] & EXCLUDED_SLOPE).any() and not (whole[4] & EXCLUDED_SLOPE).all()

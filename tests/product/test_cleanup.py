"""Streamed cleanup equals the whole-array computation (scipy over the full map), whatever the strip height."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from gee_flood.product import EXCLUDED_NODATA, NODATA
from gee_flood.product.cleanup import clean_product, mask_border_noise, remove_small_regions

from .conftest import write_product


def random_product(tmp_path, seed=0, shape=(97, 83)):
    rng = np.random.default_rng(seed)
    flood = (ndimage.uniform_filter(rng.random(shape), 3) > 0.55).astype(np.uint8)
    likelihood = np.where(flood == 1, 80, 10).astype(np.uint8)
    likelihood[:, :6] = NODATA  # swath edge on the left
    likelihood[40:45, 30:35] = NODATA  # a hole
    flood[likelihood == NODATA] = NODATA
    exclusion = np.where(likelihood == NODATA, EXCLUDED_NODATA, 0).astype(np.uint8)
    layers = {"likelihood": likelihood, "water": flood.copy(), "flood": flood, "exclusion": exclusion}
    return write_product(tmp_path / "map.tif", layers), layers


@pytest.mark.parametrize("strip_rows", [1, 7, 50, 512])
def test_minimum_mapping_unit_matches_whole_array_labelling(tmp_path, strip_rows):
    path, layers = random_product(tmp_path)
    fg = layers["flood"] == 1
    labels, _ = ndimage.label(fg, np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    expected = fg & (sizes[labels] >= 8)
    small = int(np.count_nonzero((sizes[1:] < 8) & (sizes[1:] > 0)))
    assert small > 0 and expected.sum() > 0  # the scene has both kinds
    with rasterio.open(path, "r+") as dataset:
        removed, regions = remove_small_regions(dataset, 8, strip_rows=strip_rows)
    with rasterio.open(path) as dataset:
        flood = dataset.read(3)
    assert np.array_equal(flood == 1, expected)
    assert removed == int(fg.sum() - expected.sum()) and regions == small
    assert np.array_equal(flood == NODATA, layers["flood"] == NODATA)


@pytest.mark.parametrize("strip_rows", [3, 512])
def test_border_noise_is_masked_next_to_no_data_only(tmp_path, strip_rows):
    path, layers = random_product(tmp_path)
    nodata = layers["likelihood"] == NODATA
    near = ndimage.binary_dilation(nodata, np.ones((5, 5), bool)) & ~nodata
    with rasterio.open(path, "r+") as dataset:
        assert mask_border_noise(dataset, 2, strip_rows=strip_rows) == near.sum()
    with rasterio.open(path) as dataset:
        flood, exclusion = dataset.read(3), dataset.read(5)
    assert np.array_equal(flood == NODATA, nodata | near)
    assert np.array_equal((exclusion & EXCLUDED_NODATA) != 0, nodata | near)
    assert (flood[:, -1] != NODATA).all()  # the raster's own edge is not the swath edge


def test_zero_disables_both(tmp_path):
    path, layers = random_product(tmp_path)
    with rasterio.open(path, "r+") as dataset:
        summary = clean_product(dataset, min_mapping_unit=0, border_px=0)
    assert summary.removed_pixels == summary.border_pixels == 0
    assert summary.flood_pixels == int((layers["flood"] == 1).sum())

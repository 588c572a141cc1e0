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

"""Exclusion bits against independent geometry: planes of known slope, facing towards or away from the radar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gee_flood.product import EXCLUDED_HAND, EXCLUDED_SHADOW_LAYOVER, EXCLUDED_SLOPE, EXCLUDED_URBAN, ProductSettings
from gee_flood.product.exclusion import exclusion_bits


def plane(rows: int, cols: int, slope_deg: float, facing_deg: float, pixel_m: float = 10.0) -> np.ndarray:
    """Elevation (m) of a plane descending towards ``facing_deg`` (clockwise from north); one halo row each side."""
    gradient = math.tan(math.radians(slope_deg))
    y, x = np.mgrid[-1 : rows + 1, 0:cols].astype(np.float64)
    east, north = x * pixel_m, -y * pixel_m
    facing = math.radians(facing_deg)
    return 1000.0 - gradient * (east * math.sin(facing) + north * math.cos(facing))


SETTINGS = ProductSettings(incidence_deg=37.0, look_azimuth_deg=80.0, slope_max_deg=5.0)


@pytest.mark.parametrize(
    ("slope", "facing", "expected"),
    [
        (2.0, 80.0, 0),  # gentle: mappable
        (20.0, 170.0, EXCLUDED_SLOPE),  # steep, across the look direction: slope only
        (60.0, 80.0, EXCLUDED_SLOPE | EXCLUDED_SHADOW_LAYOVER),  # descends away from the radar past the grazing angle
        (45.0, 260.0, EXCLUDED_SLOPE | EXCLUDED_SHADOW_LAYOVER),  # faces the radar steeper than incidence: layover
        (30.0, 260.0, EXCLUDED_SLOPE),  # faces the radar, below the incidence angle
        (45.0, 80.0, EXCLUDED_SLOPE),  # away from the radar, below the grazing angle (53 deg)
    ],
)
def test_terrain_bits_match_the_viewing_geometry(slope, facing, expected):
    bits = exclusion_bits(SETTINGS, dem=plane(6, 8, slope, facing))
    assert bits.shape == (6, 8)
    assert np.all(bits == expected), np.unique(bits)


def test_hand_and_urban_bits_and_unknowns():
    hand = np.array([[3.0, 20.0, np.nan]])
    cover = np.array([[50, 40, 10]])
    bits = exclusion_bits(SETTINGS, hand=hand, worldcover=cover)
    assert bits.tolist() == [[EXCLUDED_URBAN, EXCLUDED_HAND, 0]]

"""Where Sentinel-1 cannot see flood water: the ``exclusion`` layer's bits from terrain, drainage and land cover.

All functions work on row blocks already on the output grid (north-up), so predict streams them block by block.
The terrain geometry is computed by hand (numpy) because no dependency computes a radar shadow/layover mask from a
DEM on a streamed raster (Earth Engine's ``ee.Terrain`` gives slope and aspect only; SNAP is not a Python library).
"""

from __future__ import annotations

import numpy as np

from gee_flood.product.layers import (
    EXCLUDED_HAND,
    EXCLUDED_SHADOW_LAYOVER,
    EXCLUDED_SLOPE,
    EXCLUDED_URBAN,
    WORLDCOVER_BUILT_UP,
    ProductSettings,
)


def terrain_gradient(dem: np.ndarray, dx_m: float | np.ndarray, dy_m: float) -> tuple[np.ndarray, np.ndarray]:
    """East and north elevation gradients (m/m) of a DEM block with a one-row halo above and below.

    Args:
        dem: ``(rows + 2, cols)`` elevation in metres (first and last rows are the halo; at the scene's top and
            bottom, repeat the edge row). NaN where unknown.
        dx_m: Pixel width on the ground in metres (a scalar, or ``(rows + 2, 1)`` per row for a geographic grid).
        dy_m: Pixel height on the ground in metres.

    Returns:
        ``(d z / d east, d z / d north)``, each ``(rows, cols)``; central differences (one-sided at the left and
        right edges), as ``ee.Terrain.slope`` uses a 3x3 neighbourhood.
    """
    dz_dcol = np.gradient(dem, axis=1)[1:-1]
    dz_drow = (dem[2:] - dem[:-2]) / 2.0
    dx = dx_m[1:-1] if isinstance(dx_m, np.ndarray) else dx_m
    return dz_dcol / dx, -dz_drow / dy_m  # rows go south: north is minus the row direction


def slope_deg(dz_east: np.ndarray, dz_north: np.ndarray) -> np.ndarray:
    """Terrain slope in degrees from the two gradients."""
    return np.degrees(np.arctan(np.hypot(dz_east, dz_north)))


def shadow_layover(
    dz_east: np.ndarray, dz_north: np.ndarray, incidence_deg: float | np.ndarray, look_azimuth_deg: float
) -> np.ndarray:
    """Radar shadow or layover from the terrain and the viewing geometry (bool).

    The terrain's slope along the look direction is ``tan(s_r) = grad z . l`` with ``l`` the horizontal unit
    vector pointing away from the radar. A slope facing the radar (``s_r > 0``) steeper than the incidence angle
    is in layover; a slope facing away (``s_r < 0``) steeper than the grazing angle (``90 - incidence``) is in
    shadow.

    Args:
        dz_east: East gradient (m/m).
        dz_north: North gradient (m/m).
        incidence_deg: Incidence angle from the vertical, degrees (scalar or per pixel).
        look_azimuth_deg: Look direction, clockwise from north, degrees.
    """
    azimuth = np.radians(look_azimuth_deg)
    range_slope = np.degrees(np.arctan(dz_east * np.sin(azimuth) + dz_north * np.cos(azimuth)))
    incidence = np.asarray(incidence_deg, np.float64)
    layover = range_slope > incidence
    shadow = -range_slope > 90.0 - incidence
    return np.asarray(layover | shadow)


def exclusion_bits(
    settings: ProductSettings,
    *,
    dem: np.ndarray | None = None,
    dx_m: float | np.ndarray = 10.0,
    dy_m: float = 10.0,
    hand: np.ndarray | None = None,
    worldcover: np.ndarray | None = None,
    incidence_deg: float | np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """The auxiliary-data bits of the ``exclusion`` layer for one row block (the no-data bit is added later).

    Args:
        settings: Thresholds and viewing geometry.
        dem: ``(rows + 2, cols)`` elevation (m) with a one-row halo (see :func:`terrain_gradient`); gives the
            slope and shadow/layover bits.
        dx_m: Pixel width in metres.
        dy_m: Pixel height in metres.
        hand: ``(rows, cols)`` height above nearest drainage (m), NaN unknown.
        worldcover: ``(rows, cols)`` ESA WorldCover classes.
        incidence_deg: Incidence angle (degrees) per pixel or scalar (default: ``settings.incidence_deg``).
        shape: ``(rows, cols)`` when no input is given.

    Returns:
        ``(rows, cols)`` uint8 bit flags (unknown auxiliary values exclude nothing).
    """
    rows_cols = shape
    if dem is not None:
        rows_cols = (dem.shape[0] - 2, dem.shape[1])
    elif hand is not None:
        rows_cols = hand.shape
    elif worldcover is not None:
        rows_cols = worldcover.shape
    if rows_cols is None:
        raise ValueError("exclusion_bits needs an input or a shape")
    bits = np.zeros(rows_cols, np.uint8)
    if dem is not None:
        with np.errstate(invalid="ignore"):
            east, north = terrain_gradient(dem.astype(np.float64), dx_m, dy_m)
            slope = slope_deg(east, north)
            bits[np.nan_to_num(slope, nan=0.0) > settings.slope_max_deg] |= EXCLUDED_SLOPE
            angle = settings.incidence_deg if incidence_deg is None else incidence_deg
            geometry = shadow_layover(np.nan_to_num(east), np.nan_to_num(north), angle, settings.look_azimuth_deg)
        bits[geometry] |= EXCLUDED_SHADOW_LAYOVER
    if hand is not None:
        bits[np.nan_to_num(hand, nan=-np.inf) > settings.hand_max_m] |= EXCLUDED_HAND
    if worldcover is not None:
        bits[np.nan_to_num(worldcover, nan=0) == WORLDCOVER_BUILT_UP] |= EXCLUDED_URBAN
    return bits

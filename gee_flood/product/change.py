"""The change-detection reference: UN-SPIDER's recommended practice for flood mapping in Earth Engine.

The recipe most Earth Engine users copy (UN-SPIDER, "Recommended Practice: Flood Mapping and Damage Assessment
using Sentinel-1 SAR data in Google Earth Engine"): VH backscatter before and after the event, each smoothed by a
50 m circular focal mean, their ratio ``after / before`` (of the dB values, as the recipe divides them) above 1.25
is flood; then JRC Global Surface Water seasonality >= 10 months is removed as normal water, slopes over 5 degrees
are removed, and flood regions of fewer than 8 connected pixels are dropped. In gee-flood the last three are the
product's own layers (``reference_water``, ``exclusion``, the minimum mapping unit), so the method here is the
change test; it is checkpoint-free and serves both ``evaluate`` (bi-temporal chips) and ``predict``.

dB values are negative: a darker (wetter) scene after the event has a larger ``after / before``. OMBRIA's 8-bit
SAR is a positive brightness, so there darkening is ``before / after`` > 1.25, the same test.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: UN-SPIDER's defaults.
FOCAL_RADIUS_M = 50.0
RATIO_THRESHOLD = 1.25


def circular_footprint(radius_px: float) -> np.ndarray:
    """A disc of ``radius_px`` pixels (Earth Engine's ``'circle'`` kernel): pixels whose centre is within it."""
    reach = int(np.floor(radius_px))
    y, x = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return (x * x + y * y) <= radius_px * radius_px


def focal_mean(values: np.ndarray, radius_px: float) -> np.ndarray:
    """Mean over a circular neighbourhood, ignoring NaN (as Earth Engine ignores masked pixels); NaN stays NaN."""
    footprint = circular_footprint(radius_px).astype(np.float64)
    known = np.isfinite(values)
    filled = np.where(known, values, 0.0).astype(np.float64)
    total = ndimage.convolve(filled, footprint, mode="constant", cval=0.0)
    count = ndimage.convolve(known.astype(np.float64), footprint, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[~known] = np.nan
    return mean


def change_ratio(
    before: np.ndarray,
    after: np.ndarray,
    *,
    pixel_m: float = 10.0,
    radius_m: float = FOCAL_RADIUS_M,
    brightness: bool = False,
) -> np.ndarray:
    """The darkening ratio of two co-registered SAR images, each focal-mean filtered (NaN where either is missing).

    Args:
        before: Pre-event backscatter, ``(rows, cols)``: dB (VH) unless ``brightness``.
        after: Post-event backscatter, same grid and units.
        pixel_m: Pixel size in metres.
        radius_m: Focal-mean radius in metres (UN-SPIDER: 50).
        brightness: Values are a positive brightness (OMBRIA's 8-bit SAR), not dB.

    Returns:
        ``after / before`` for dB, ``before / after`` for brightness: > 1 where the scene darkened.
    """
    radius_px = max(radius_m / pixel_m, 0.5)
    pre, post = focal_mean(before, radius_px), focal_mean(after, radius_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pre / post if brightness else post / pre


def change_flood(
    before: np.ndarray,
    after: np.ndarray,
    *,
    pixel_m: float = 10.0,
    radius_m: float = FOCAL_RADIUS_M,
    threshold: float = RATIO_THRESHOLD,
    brightness: bool = False,
) -> np.ndarray:
    """UN-SPIDER's change test: ``(rows, cols)`` float, 1.0 flood, 0.0 not, NaN where either image has no data.

    The result is a probability-like field (0 or 1), so the product's layers, reference water, exclusions and
    minimum mapping unit apply to it as to a model's probability.
    """
    ratio = change_ratio(before, after, pixel_m=pixel_m, radius_m=radius_m, brightness=brightness)
    flood = (np.nan_to_num(ratio, nan=0.0) > threshold).astype(np.float32)
    flood[~np.isfinite(ratio) | ~np.isfinite(before) | ~np.isfinite(after)] = np.nan
    return flood

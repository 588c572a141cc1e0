"""Hand-made gee-flood maps for map/export tests (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from gee_flood.inference import to_cog

UTM = "EPSG:32633"


def write_flood_map(path: Path, water: np.ndarray, *, transform: Affine | None = None, cog: bool = True) -> Path:
    """Write a 2-band gee-flood map (probability %, mask) from a (H, W) array of 0/1/255."""
    transform = transform or Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    probability = np.where(water == 1, 90, np.where(water == 0, 10, 255)).astype(np.uint8)
    tiled = path.with_name(path.stem + ".tiled.tif") if cog else path
    with rasterio.open(
        tiled,
        "w",
        driver="GTiff",
        width=water.shape[1],
        height=water.shape[0],
        count=2,
        dtype="uint8",
        crs=UTM,
        transform=transform,
        nodata=255,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        dst.write(np.stack([probability, water.astype(np.uint8)]))
        dst.set_band_description(1, "water_probability")
        dst.set_band_description(2, "water_mask")
    if cog:
        to_cog(tiled, path)
        tiled.unlink()
    return path

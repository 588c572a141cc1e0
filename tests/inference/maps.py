"""Hand-made gee-flood maps for map/export tests (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from gee_flood.inference import to_cog
from gee_flood.product import LAYERS

UTM = "EPSG:32633"


def write_flood_map(path: Path, water: np.ndarray, *, transform: Affine | None = None, cog: bool = True) -> Path:
    """Write a gee-flood product map (every layer; flood = water, no reference, no exclusion) from 0/1/255 water."""
    transform = transform or Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    probability = np.where(water == 1, 90, np.where(water == 0, 10, 255)).astype(np.uint8)
    tiled = path.with_name(path.stem + ".tiled.tif") if cog else path
    with rasterio.open(
        tiled,
        "w",
        driver="GTiff",
        width=water.shape[1],
        height=water.shape[0],
        count=len(LAYERS),
        dtype="uint8",
        crs=UTM,
        transform=transform,
        nodata=255,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        water = water.astype(np.uint8)
        reference = np.where(water == 255, 255, 0).astype(np.uint8)
        exclusion = np.where(water == 255, 1, 0).astype(np.uint8)
        dst.write(np.stack([probability, water, water, reference, exclusion]))
        for index, name in enumerate(LAYERS, start=1):
            dst.set_band_description(index, name)
    if cog:
        to_cog(tiled, path)
        tiled.unlink()
    return path

"""Small flood product rasters with known truth for the product tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from gee_flood.product import EXCLUDED_NODATA, LAYERS, NODATA

UTM = "EPSG:32633"
ORIGIN = (500_000.0, 5_000_000.0)


def write_product(
    path: Path, layers: dict[str, np.ndarray], *, crs: str = UTM, transform: Affine | None = None
) -> Path:
    """A GeoTIFF with the product's bands, named as predict names them."""
    transform = transform or Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    height, width = next(iter(layers.values())).shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=len(LAYERS), dtype="uint8",
                       crs=crs, transform=transform, nodata=NODATA) as dst:  # fmt: skip
        for index, name in enumerate(LAYERS, start=1):
            dst.write(layers.get(name, np.zeros((height, width), np.uint8)), index)
            dst.set_band_description(index, name)
    return path


def simple_layers(
    height: int, width: int, flood_box: tuple[slice, slice], exclusion_box: tuple[slice, slice]
) -> dict[str, np.ndarray]:
    """Flood in one box, exclusion (slope) in another, no data in the last column."""
    flood = np.zeros((height, width), np.uint8)
    flood[flood_box] = 1
    exclusion = np.zeros((height, width), np.uint8)
    exclusion[exclusion_box] = 4
    exclusion[:, -1] = EXCLUDED_NODATA
    flood[:, -1] = NODATA
    water = flood.copy()
    return {
        "flood": flood,
        "water": water,
        "exclusion": exclusion,
        "likelihood": water * 90,
        "reference_water": np.zeros_like(flood),
    }


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory) -> Path:
    from tests.inference.conftest import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "student.ckpt")

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from tests.inference.conftest import ORIGIN, UTM, make_checkpoint, synthetic_s1, write_s1

HEIGHT, WIDTH = 300, 280


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "student.ckpt")


@pytest.fixture(scope="session")
def s1_db() -> np.ndarray:
    values = synthetic_s1(HEIGHT, WIDTH, seed=3)
    values[:, 20:40, 30:90] = np.nan  # a hole of no data
    return values


@pytest.fixture(scope="session")
def scene_tif(tmp_path_factory, s1_db) -> Path:
    return write_s1(tmp_path_factory.mktemp("scene") / "scene.tif", s1_db)


def as_dataarray(values: np.ndarray) -> xr.DataArray:
    """The scene as a rioxarray-georeferenced (band, y, x) DataArray on the GeoTIFF's grid."""
    x = ORIGIN.c + ORIGIN.a * (np.arange(values.shape[2]) + 0.5)
    y = ORIGIN.f + ORIGIN.e * (np.arange(values.shape[1]) + 0.5)
    array = xr.DataArray(values, dims=("band", "y", "x"), coords={"band": ["VV", "VH"], "y": y, "x": x})
    return array.rio.write_crs(UTM).rio.write_transform(ORIGIN)

"""gee_flood.inference.source: the scene sources predict reads rows from."""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401
import xarray as xr

from gee_flood.inference.source import XarraySceneSource
from tests.inference.conftest import ORIGIN, UTM


def test_xarray_rows_are_nan_where_not_finite_and_leave_the_callers_array_alone():
    values = np.full((2, 4, 5), -12.0, np.float32)
    values[0, 1, 2] = np.inf
    values[1, 2, 3] = np.nan
    array = xr.DataArray(values, dims=("band", "y", "x")).rio.write_crs(UTM).rio.write_transform(ORIGIN)
    array.values.flags.writeable = False  # e.g. a memory-mapped scene
    rows = XarraySceneSource(array).read_rows(0, 4)
    assert rows.dtype == np.float32 and rows.shape == (2, 4, 5)
    assert np.isnan(rows[0, 1, 2]) and np.isnan(rows[1, 2, 3])
    assert np.count_nonzero(np.isnan(rows)) == 2
    assert np.isposinf(array.values[0, 1, 2])

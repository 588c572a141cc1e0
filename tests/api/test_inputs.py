"""What gee_flood.predict accepts from rioxarray and xee, and what it refuses: no silent wrong map.

No data (``rio.nodata``, ``_FillValue``, ``rio.encoded_nodata``), units (dB only), resolution, exact coordinates,
``band`` labels from ``long_name``, any spatial dim names, a length-1 ``time``, xee's ``crs`` attribute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rioxarray
import xarray as xr
from affine import Affine

import gee_flood
from gee_flood.errors import DataError, GeeFloodWarning
from tests.api.conftest import as_dataarray
from tests.inference.conftest import UTM, synthetic_s1, write_s1

OPTIONS = {"tile": 128, "overlap": 32}


@pytest.fixture(scope="module")
def model(student_ckpt):
    return gee_flood.open_model(student_ckpt)


@pytest.fixture(scope="module")
def clean(s1_db) -> np.ndarray:
    return np.nan_to_num(s1_db, nan=-15.0)


@pytest.fixture(scope="module")
def reference(model, clean):
    return gee_flood.predict(model, as_dataarray(clean), **OPTIONS).compute()


def with_nodata_block(values: np.ndarray, fill: float) -> np.ndarray:
    holed = values.copy()
    holed[:, 100:200, :] = fill
    return holed


@pytest.mark.parametrize("how", ["rio.nodata", "_FillValue attribute", "encoded_nodata"])
def test_nodata_values_are_no_data_not_water(model, clean, how):
    array = as_dataarray(with_nodata_block(clean, -9999.0))
    if how == "rio.nodata":
        array = array.rio.write_nodata(-9999.0)
    elif how == "_FillValue attribute":
        array.attrs["_FillValue"] = -9999.0
    else:  # a masked read that kept the fill value in its encoding (the pixels are still -9999 here)
        array.encoding["_FillValue"] = -9999.0
    flood = gee_flood.predict(model, array, **OPTIONS)
    water = flood.water.values
    assert np.isnan(water[100:200]).all()  # no data, not water
    assert not np.isnan(water[:100]).any()


def test_a_geotiff_nodata_value_is_no_data_too(model, clean, tmp_path):
    path = write_s1(tmp_path / "scene.tif", with_nodata_block(clean, -9999.0), nodata=-9999.0)
    flood = gee_flood.predict(model, path, **OPTIONS)
    assert np.isnan(flood.water.values[100:200]).all()
    opened = rioxarray.open_rasterio(path)  # band 1, 2 with long_name ('VV', 'VH'); nodata -9999 not masked
    from_xarray = gee_flood.predict(model, opened, **OPTIONS)
    np.testing.assert_array_equal(from_xarray.water.values, flood.water.values)


@pytest.mark.parametrize(
    ("convert", "looks"),
    [
        (lambda db: 10 ** (db / 10), "linear power or amplitude"),  # linear power
        (lambda db: 10 ** (db / 20), "linear power or amplitude"),  # amplitude
        (lambda db: 10 ** (db / 20) * 600, r"digital numbers \(DN\)"),  # GRD digital numbers
    ],
)
def test_linear_or_dn_input_is_refused_not_mapped(model, clean, tmp_path, convert, looks):
    linear = convert(clean).astype(np.float32)
    with pytest.raises(DataError, match=f"look like {looks}, not backscatter in dB"):
        gee_flood.predict(model, as_dataarray(linear), **OPTIONS).compute()
    path = write_s1(tmp_path / "linear.tif", linear)
    with pytest.raises(DataError, match="not backscatter in dB"):
        gee_flood.predict(model, path, **OPTIONS).compute()


def test_db_scenes_bright_or_dark_pass_the_units_check(model):
    bright = synthetic_s1(256, 256, seed=2) + 6.0  # brighter than any real scene's median
    dark = np.full((2, 256, 256), -24.0, np.float32)  # all open water
    for values in (bright, dark):
        assert gee_flood.predict(model, as_dataarray(values), **OPTIONS).water.notnull().all()


def test_a_coarse_scene_warns_as_the_cli_does(model, clean):
    coarse = as_dataarray(clean).rio.write_transform(Affine(100.0, 0, 500_000.0, 0, -100.0, 5_000_000.0))
    coarse = coarse.assign_coords(x=500_000.0 + 100 * (np.arange(coarse.sizes["x"]) + 0.5))
    with pytest.warns(GeeFloodWarning, match="pixels are about 100.0 m"):
        gee_flood.predict(model, coarse, **OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeeFloodWarning)
        gee_flood.predict(model, as_dataarray(clean), **OPTIONS)  # 10 m: no warning


def test_geographic_coordinates_are_reused_exactly(model, clean):
    lon = 12.0 + 0.0001 * (np.arange(clean.shape[2]) + 0.5)
    lat = 45.0 - 0.0001 * (np.arange(clean.shape[1]) + 0.5)
    scene = xr.DataArray(clean, dims=("band", "y", "x"), coords={"band": ["VV", "VH"], "y": lat, "x": lon})
    scene = scene.rio.write_crs("EPSG:4326")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeeFloodWarning)
        flood = gee_flood.predict(model, scene, **OPTIONS)
    xr.align(flood, scene, join="exact")  # raises on any drift
    assert scene.where(flood.water == 1).sizes == scene.sizes


def test_rioxarray_and_xee_shapes_are_accepted(model, clean, reference):
    base = as_dataarray(clean)
    by_long_name = base.assign_coords(band=[1, 2]).assign_attrs(long_name=("VV", "VH"))
    reversed_bands = base.sel(band=["VH", "VV"])
    lat_lon = base.rename(x="lon", y="lat")
    upper = base.rename(x="X", y="Y")
    with_time = base.expand_dims(time=[np.datetime64("2019-03-05")])
    xee_like = base.expand_dims(time=1).transpose("time", "band", "x", "y")
    xee_like = xee_like.drop_vars("spatial_ref").assign_attrs(crs=UTM)
    xee_dataset = xr.Dataset(
        {name: base.sel(band=name, drop=True).expand_dims(time=1).drop_vars("spatial_ref") for name in ("VV", "VH")}
    )
    for variable in xee_dataset.data_vars.values():
        variable.attrs["crs"] = UTM
    for scene in (by_long_name, reversed_bands, lat_lon, upper, with_time, xee_like, xee_dataset):
        flood = gee_flood.predict(model, scene, **OPTIONS)
        np.testing.assert_array_equal(flood.water.values, reference.water.values)


def test_what_is_refused_says_what_to_do(model, clean):
    base = as_dataarray(clean)
    with pytest.raises(DataError, match=r"'time' has 2 steps; select one scene first, e.g. scene.isel\(time=0\)"):
        gee_flood.predict(model, base.expand_dims(time=2), **OPTIONS)
    with pytest.raises(DataError, match="no spatial dimensions"):
        gee_flood.predict(model, base.rename(x="col", y="row"), **OPTIONS)
    with pytest.raises(DataError, match="VV and VH"):
        gee_flood.predict(model, base.assign_coords(band=["HH", "HV"]), **OPTIONS)

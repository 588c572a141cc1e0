"""Catalog writing and validation (one-line errors for bad catalogs)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ee_emulator import Catalog, CatalogBuilder, CatalogEntry, write_catalog
from ee_emulator.errors import DataError, InputError
from tests.ee_emulator.conftest import utm_grid


def small_catalog(root: Path) -> Catalog:
    entries = [
        CatalogEntry("COPERNICUS/S1_GRD", "X1", np.zeros((2, 64, 64), np.float32), utm_grid(), ["VV", "VH"],
                     {"system:time_start": dt.datetime(2021, 3, 4, tzinfo=dt.UTC), "n": np.int64(3)}),
        CatalogEntry(None, "JRC/GSW1_4/GlobalSurfaceWater", np.ones((64, 64), np.uint8), utm_grid(),
                     ["occurrence"], nodata=255),
    ]  # fmt: skip
    return write_catalog(root, entries)


def test_write_and_load_roundtrip(tmp_path: Path) -> None:
    catalog = small_catalog(tmp_path)
    (image,) = catalog.collections["COPERNICUS/S1_GRD"]
    assert image.image_id == "COPERNICUS/S1_GRD/X1" and image.index == "X1" and image.bands == ("VV", "VH")
    assert image.properties == {"system:time_start": 1614816000000, "n": 3}
    assert image.grid.crs == "EPSG:32633" and image.grid.width == 64
    assert image.footprint["type"] == "Polygon"
    lon, lat = np.array(image.footprint["coordinates"][0]).mean(axis=0)
    assert 14.9 < lon < 15.1 and 45.1 < lat < 45.2
    jrc = catalog.find_image("JRC/GSW1_4/GlobalSurfaceWater")
    assert jrc is not None and jrc.nodata == (255.0,) and jrc.dtypes == ("uint8",)
    with rasterio.open(jrc.path) as dataset:
        assert dataset.descriptions == ("occurrence",) and dataset.nodata == 255
    record = json.loads((tmp_path / "catalog.json").read_text())
    assert record["collections"]["COPERNICUS/S1_GRD"]["images"][0]["path"] == "COPERNICUS_S1_GRD/X1.tif"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0].update(bands=["VV"]),
         r"names 1 bands \['VV'\] but .*X1.tif has 2 band"),
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0].update(path="missing.tif"),
         r"missing.tif does not exist"),
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0].update(id="OTHER/X1"),
         r"id must be 'COPERNICUS/S1_GRD/<index>'"),
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0].update(unexpected=1),
         r"invalid record at collections.COPERNICUS/S1_GRD.images.0.unexpected"),
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0]["properties"].update(
            {"system:time_start": "2021-01-01"}), r"system:time_start must be milliseconds"),
        (lambda c: c["collections"]["COPERNICUS/S1_GRD"]["images"][0].update(path="../x.tif"),
         r"must be relative to the catalog directory"),
    ],
)  # fmt: skip
def test_bad_catalogs_fail_with_one_line_errors(tmp_path: Path, mutate, message: str) -> None:  # noqa: ANN001
    small_catalog(tmp_path)
    path = tmp_path / "catalog.json"
    record = json.loads(path.read_text())
    mutate(record)
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match=message) as raised:
        Catalog.load(tmp_path)
    assert "\n" not in str(raised.value)


def test_missing_or_unparsable_catalog(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no catalog.json"):
        Catalog.load(tmp_path)
    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        Catalog.load(tmp_path)
    with pytest.raises(InputError, match="is not a directory"):
        Catalog.load(tmp_path / "nope")


def test_builder_rejects_inconsistent_input(tmp_path: Path) -> None:
    builder = CatalogBuilder(tmp_path)
    with pytest.raises(InputError, match="2 array bands but 1 names"):
        builder.add_image("C", "a", np.zeros((2, 64, 64), np.float32), utm_grid(), ["VV"])
    with pytest.raises(InputError, match="array is 32x64 px, georef is 64x64 px"):
        builder.add_image("C", "a", np.zeros((1, 32, 64), np.float32), utm_grid(), ["VV"])
    with pytest.raises(InputError, match="must be non-empty and contain no '/'"):
        builder.add_image("C", "a/b", np.zeros((1, 64, 64), np.float32), utm_grid(), ["VV"])
    assert not (tmp_path / "catalog.json").exists()

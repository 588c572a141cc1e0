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


def test_bands_on_their_own_grids_are_served_at_native_resolution(tmp_path: Path) -> None:
    """Sentinel-2-like: a 10 m and a 20 m band in one image, each on its own grid, read onto a 10 m grid."""
    import ee

    from ee_emulator import EmulatorServer, initialize_ee
    from tests.ee_emulator.test_pixels import compute

    rows, cols = np.mgrid[0:32, 0:32]
    coarse = (100 + rows * 32 + cols).astype(np.uint16)  # 20 m, 32 x 32 px: the same 640 m square
    fine = np.full((1, 64, 64), 7, np.uint16)
    with CatalogBuilder(tmp_path) as builder:
        builder.add_multiresolution_image(
            "COPERNICUS/S2_HARMONIZED", "T1", [(fine, utm_grid(), ["B4"]), (coarse[None], utm_grid(size=32,
            pixel_m=20.0), ["B5"])], {"system:time_start": dt.datetime(2020, 1, 1)}, band_order=["B5", "B4"],
        )  # fmt: skip
    raw = json.loads((tmp_path / "catalog.json").read_text())["collections"]["COPERNICUS/S2_HARMONIZED"]["images"][0]
    assert raw["bands"] == ["B5", "B4"] and raw["band_paths"] == {"B5": raw["path"].replace(".tif", "_1.tif")}
    image = Catalog.load(tmp_path).collections["COPERNICUS/S2_HARMONIZED"][0]
    assert image.bands == ("B5", "B4") and image.dtypes == ("uint16", "uint16")
    assert [source.grid.transform.a for source in image.sources()] == [20.0, 10.0]
    with EmulatorServer(tmp_path) as server:
        initialize_ee(server)
        loaded = ee.Image("COPERNICUS/S2_HARMONIZED/T1")
        assert loaded.bandNames().getInfo() == ["B5", "B4"]
        assert loaded.select("B5").projection().nominalScale().getInfo() == pytest.approx(20.0)
        # the asset's description (ee.data.getAsset) gives each band its own grid, as Earth Engine does
        described = ee.data.getAsset("COPERNICUS/S2_HARMONIZED/T1")["bands"]
        assert [band["grid"]["affineTransform"]["scaleX"] for band in described] == [20.0, 10.0]
        assert [band["grid"]["dimensions"]["width"] for band in described] == [32, 64]
        # its size counts both GeoTIFFs
        files = {source.path for source in image.sources()}
        assert len(files) == 2
        assert int(ee.data.getAsset("COPERNICUS/S2_HARMONIZED/T1")["sizeBytes"]) == sum(
            path.stat().st_size for path in files
        )
        pixels = compute(ee, loaded, utm_grid())
        # nearest neighbour (Earth Engine's default): each 20 m pixel becomes a 2 x 2 block of 10 m pixels
        np.testing.assert_array_equal(pixels["B5"], np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1))
        np.testing.assert_array_equal(pixels["B4"], 7)
        bilinear = compute(ee, loaded.select("B5").resample("bilinear"), utm_grid(size=32))["B5"]
        assert not np.array_equal(bilinear, np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:32, :32])


def test_band_paths_naming_an_unknown_band_is_one_line(tmp_path: Path) -> None:
    small_catalog(tmp_path)
    raw = json.loads((tmp_path / "catalog.json").read_text())
    raw["collections"]["COPERNICUS/S1_GRD"]["images"][0]["band_paths"] = {"HH": "x.tif"}
    (tmp_path / "catalog.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match=r"band_paths names bands \['HH'\] that are not in bands"):
        Catalog.load(tmp_path)


def test_refresh_serves_images_added_to_the_catalog_and_keeps_the_rest(tmp_path: Path) -> None:
    builder = CatalogBuilder(tmp_path)
    first = dt.datetime(2021, 3, 4, tzinfo=dt.UTC)
    builder.add_image("COPERNICUS/S1_GRD", "X1", np.zeros((2, 64, 64), np.float32), utm_grid(), ["VV", "VH"],
                      {"system:time_start": first})  # fmt: skip
    builder.write()
    catalog = Catalog.load(tmp_path)
    catalog.add_collection("projects/p/assets/c")  # a run-time asset: refresh keeps it
    builder.add_image("COPERNICUS/S1_GRD", "X2", np.ones((2, 64, 64), np.float32), utm_grid(), ["VV", "VH"],
                      {"system:time_start": first + dt.timedelta(days=6)})  # fmt: skip
    builder.write()
    assert catalog.refresh() == ["COPERNICUS/S1_GRD/X2"]
    assert [image.index for image in catalog.collections["COPERNICUS/S1_GRD"]] == ["X1", "X2"]
    assert catalog.find_collection("projects/p/assets/c") == []
    assert catalog.refresh() == []  # nothing new: nothing added twice
    with pytest.raises(InputError, match="in-memory catalog"):
        Catalog().refresh()


def test_tables_round_trip_and_bad_tables_are_one_line(tmp_path: Path) -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    with CatalogBuilder(tmp_path / "ok") as builder:
        builder.add_table("FAO/GAUL/2015/level1", [{"geometry": square, "properties": {"ADM1_NAME": "A"}}])
    table = Catalog.load(tmp_path / "ok").find_table("FAO/GAUL/2015/level1")
    assert table is not None and table.features[0]["properties"] == {"ADM1_NAME": "A"}
    with pytest.raises(InputError, match="feature 0 has no geometry"):
        CatalogBuilder(tmp_path / "bad").add_table("T", [{"geometry": None, "properties": {}}])
    with CatalogBuilder(tmp_path / "broken") as builder:
        builder.add_table("T", [{"geometry": square}])
    path = tmp_path / "broken" / "tables" / "T.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]}))
    with pytest.raises(DataError, match="feature 0 of .* has no geometry"):
        Catalog.load(tmp_path / "broken")

"""The corpus format: the fetch writer and the Sen1Floods11 reader use one layout and agree on every file."""

import datetime as dt

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from gee_flood.data import corpus_layout
from gee_flood.data.chip import S1_BANDS, S2_BANDS
from gee_flood.data.corpus_layout import (
    CORPUS_FILE_KINDS,
    HAND_LAYOUT,
    JRC_OCCURRENCE_WEAK,
    PART_LAYOUTS,
    S1_WEAK,
    WEAK_LAYOUT,
)
from gee_flood.data.sen1floods11 import Sen1Floods11Dataset
from gee_flood.earthengine.blocks import ChipResult
from gee_flood.earthengine.corpus import Corpus
from gee_flood.earthengine.grid import lay_chips_over_aoi
from gee_flood.earthengine.pairing import Mosaic, PairChoice
from gee_flood.geo import DateRange


def test_file_names_and_chip_ids_round_trip():
    assert S1_WEAK.folder == "WeaklyLabeled/S1Weak"
    assert S1_WEAK.relative_path("Ghana_103272") == "WeaklyLabeled/S1Weak/Ghana_103272_S1Weak.tif"
    assert S1_WEAK.chip_id_of(S1_WEAK.file_name("Sri-Lanka_12_3")) == "Sri-Lanka_12_3"
    assert S1_WEAK.chip_id_of("Ghana_103272_S2Weak.tif") is None
    assert S1_WEAK.chip_id_of(S1_WEAK.suffix) is None


def test_every_kind_has_one_folder_and_the_parts_are_consistent():
    kinds = [kind for layout in PART_LAYOUTS.values() for kind in layout.kinds()]
    assert len({kind.key for kind in kinds}) == len(kinds)  # a key names one folder and one suffix
    for name, layout in PART_LAYOUTS.items():
        assert all(kind.part == layout.folder for kind in layout.kinds()), name
    assert set(HAND_LAYOUT.modalities) == set(WEAK_LAYOUT.modalities) == {"s1", "s2"}
    assert HAND_LAYOUT.modalities["s1"].bands == WEAK_LAYOUT.modalities["s1"].bands == S1_BANDS
    assert HAND_LAYOUT.modalities["s2"].bands == WEAK_LAYOUT.modalities["s2"].bands == S2_BANDS
    # everything fetch writes is in the weak part, and everything the weak reader knows can be written
    assert set(CORPUS_FILE_KINDS) == set(WEAK_LAYOUT.kinds())
    assert set(corpus_layout.SPLIT_CSV) == {"train", "valid", "test", "bolivia"}


def _written_chip(root, *, labels: bool):
    dates = DateRange(dt.date(2019, 3, 1), dt.date(2019, 3, 20))
    _, specs = lay_chips_over_aoi(
        box(10.0, 45.0, 10.01, 45.005), crs="EPSG:32632", scale_m=10, chip_size=32, event="Po", dates=dates
    )
    chip = specs[0]
    time = dt.datetime(2019, 3, 5, 10, tzinfo=dt.UTC)
    footprint = box(9, 44, 11, 46)
    pair = PairChoice(
        Mosaic("S1", "S1/2019-03-05/DESCENDING/1", ("COPERNICUS/S1_GRD/a",), ("a",), time, footprint),
        Mosaic("S2", "S2/2019-03-05/22", ("COPERNICUS/S2_HARMONIZED/b",), ("b",), time, footprint, 5.0),
    )
    rng = np.random.default_rng(7)
    s1 = rng.normal(-12, 3, (2, 32, 32)).astype(np.float32)
    s1[:, 0, 0] = np.nan
    s2 = rng.integers(1, 4000, (13, 32, 32)).astype(np.int16)
    s2[:, 1, 1] = 0
    result = ChipResult(
        chip.chip_id, True, pair=pair, s1_db=s1, s2_dn=s2, cloud=np.zeros((32, 32), bool), cloud_fraction=0.0,
        valid_fraction=1.0,
    )  # fmt: skip
    if labels:
        result.s1_label = rng.integers(-1, 2, (32, 32)).astype(np.int16)
        result.s2_label = rng.integers(-1, 2, (32, 32)).astype(np.int16)
        result.occurrence = rng.integers(0, 101, (32, 32)).astype(np.uint8)
    corpus = Corpus(root, {"test": True})
    corpus.load()
    entry = corpus.write_chip(chip, result)
    return chip, result, entry


def test_writer_uses_the_layout(tmp_path):
    chip, _, entry = _written_chip(tmp_path, labels=True)
    assert (tmp_path / corpus_layout.MANIFEST_NAME).is_file()
    assert entry["files"] == {kind.key: kind.relative_path(chip.chip_id) for kind in CORPUS_FILE_KINDS}
    for kind in CORPUS_FILE_KINDS:
        with rasterio.open(tmp_path / kind.relative_path(chip.chip_id)) as dataset:
            assert dataset.descriptions == kind.bands and dataset.dtypes[0] == kind.dtype
            assert (dataset.nodata is None) == (kind.nodata is None)


@pytest.mark.parametrize("label_source", ["s1otsu", "s2index"])
def test_round_trip_written_by_fetch_read_by_the_reader(tmp_path, label_source):
    chip, result, _ = _written_chip(tmp_path, labels=True)
    dataset = Sen1Floods11Dataset(tmp_path, "all", part="weak", labels=label_source)
    assert dataset.chip_ids() == [chip.chip_id]
    assert dataset.paths(chip.chip_id)["s1"] == tmp_path / S1_WEAK.relative_path(chip.chip_id)
    read = dataset[0]
    np.testing.assert_array_equal(read.modality("s1"), result.s1_db)  # float32 dB, NaN kept
    expected_s2 = np.where(result.s2_dn == 0, np.nan, result.s2_dn / np.float32(10000)).astype(np.float32)
    np.testing.assert_allclose(read.modality("s2"), expected_s2, rtol=1e-6)
    written_label = result.s1_label if label_source == "s1otsu" else result.s2_label
    np.testing.assert_array_equal(read.label, written_label)
    assert read.georef is not None and read.georef.crs == chip.crs and read.georef.transform == chip.transform
    assert JRC_OCCURRENCE_WEAK not in WEAK_LAYOUT.extras.values()  # written for users, not loaded as a chip extra


def test_corpus_without_labels_is_read_unlabelled(tmp_path):
    chip, _, entry = _written_chip(tmp_path, labels=False)
    assert set(entry["files"]) == {"S1Weak", "S2Weak"}
    read = Sen1Floods11Dataset(tmp_path, "all", part="weak", labels=None)[0]
    assert read.chip_id == chip.chip_id and read.label is None and set(read.modalities) == {"s1", "s2"}

import dataclasses
import shutil

import numpy as np
import pytest
from affine import Affine

from gee_flood.data.sen1floods11 import Sen1Floods11Dataset, chip_event, find_layout
from gee_flood.errors import DataError, GeeFloodError, InputError
from tests.fixtures.datasets import (
    DEFAULT_HAND_SPLITS,
    write_corpus_fixture,
    write_sen1floods11_fixture,
    write_tif,
)

WEAK_IDS = ("Ghana_5079", "Nigeria_81933", "Bolivia_314919", "Spain_7370579")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_sen1floods11_fixture(tmp_path_factory.mktemp("s11") / "sen1floods11", weak_ids=WEAK_IDS)


@pytest.fixture
def tree(pristine, tmp_path):
    """A private copy of the fixture tree that a test may break."""
    root = tmp_path / "sen1floods11"
    shutil.copytree(pristine.root, root)
    return dataclasses.replace(
        pristine,
        root=root,
        events_dir=root / "v1.1" / "data" / "flood_events",
        splits_dir=root / "v1.1" / "splits" / "flood_handlabeled",
    )


def one_line(error: GeeFloodError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


def test_reads_hand_train_exactly(pristine):
    ds = Sen1Floods11Dataset(pristine.root, "train")
    assert ds.chip_ids() == list(DEFAULT_HAND_SPLITS["train"])
    assert set(ds.modalities) == {"s1", "s2"} and ds.label_source == "hand"
    assert ds.events == ["Ghana", "Ghana", "India"]
    chip = ds[0]
    truth = pristine.chips["Ghana_103272"]
    assert chip.chip_id == "Ghana_103272" and chip.event == "Ghana"
    s1 = chip.modality("s1")
    assert s1.dtype == np.float32 and s1.shape == (2, 32, 32)
    np.testing.assert_array_equal(s1, truth.s1_db)  # NaN where NaN, dB values unchanged
    s2 = chip.modality("s2")
    assert s2.shape == (13, 32, 32)
    expected_s2 = np.where(truth.s2_dn == 0, np.nan, truth.s2_dn / 10000.0).astype(np.float32)
    np.testing.assert_allclose(s2, expected_s2, rtol=0, atol=1e-7)
    assert np.isnan(s2).any() and np.nanmax(s2) <= 1.0
    np.testing.assert_array_equal(chip.label, truth.label.astype(np.int8))
    assert chip.label.dtype == np.int8 and (chip.label == -1).any()
    # valid = where the SAR has data; S2 no-data pixels stay NaN in s2 but do not invalidate the SAR pixel
    np.testing.assert_array_equal(chip.valid, np.isfinite(truth.s1_db).all(axis=0))
    assert not chip.valid[:, :2].any() and chip.valid[:, 2:].all()
    assert chip.georef.crs == "EPSG:4326"
    assert chip.georef.transform.almost_equals(truth.transform)
    assert abs(chip.georef.transform.a - 8.983e-5) < 1e-8
    np.testing.assert_array_equal(chip.extras["jrc_water"], truth.water)
    np.testing.assert_array_equal(chip.band("s1", "VH"), truth.s1_db[1])


def test_split_sizes_and_all(pristine):
    sizes = {split: len(Sen1Floods11Dataset(pristine.root, split)) for split in ("train", "valid", "test", "bolivia")}
    assert sizes == {split: len(ids) for split, ids in DEFAULT_HAND_SPLITS.items()}
    every = Sen1Floods11Dataset(pristine.root, "all")
    assert sorted(every.chip_ids()) == sorted(i for ids in DEFAULT_HAND_SPLITS.values() for i in ids)
    assert Sen1Floods11Dataset(pristine.root, "bolivia")[0].event == "Bolivia"


@pytest.mark.parametrize("sub", ["", "v1.1", "v1.1/data/flood_events"])
def test_root_may_be_top_v11_or_flood_events(pristine, sub):
    root = pristine.root / sub if sub else pristine.root
    events_dir, splits_dir = find_layout(root)
    assert events_dir == pristine.events_dir and splits_dir == pristine.splits_dir
    assert Sen1Floods11Dataset(root, "test").chip_ids() == list(DEFAULT_HAND_SPLITS["test"])


def test_modalities_labels_ids(pristine):
    ds = Sen1Floods11Dataset(pristine.root, "train", modalities=["s1"], labels="s1otsu", ids=["India_1018327"])
    chip = ds[0]
    assert list(chip.modalities) == ["s1"] and chip.chip_id == "India_1018327"
    expected = np.where(pristine.chips["India_1018327"].s1_db[1] < -22, 1, 0)
    np.testing.assert_array_equal(chip.label, expected)
    unlabelled = Sen1Floods11Dataset(pristine.root, "valid", labels=None)[0]
    assert unlabelled.label is None
    only_s2 = Sen1Floods11Dataset(pristine.root, "test", modalities=["s2"])[0]
    assert list(only_s2.modalities) == ["s2"]
    # with only optical input the valid mask comes from the optical data
    np.testing.assert_array_equal(only_s2.valid, np.isfinite(only_s2.modality("s2")).all(axis=0))
    assert chip_event("Sri-Lanka_12345") == "Sri-Lanka"


def test_modalities_declared_by_what_is_present(tmp_path):
    fixture = write_sen1floods11_fixture(tmp_path / "s", with_s2=False, with_jrc=False)
    ds = Sen1Floods11Dataset(fixture.root, "train")
    assert list(ds.modalities) == ["s1"] and ds[0].extras == {}
    with pytest.raises(InputError, match="S2Hand: missing, so modality 's2' is not available"):
        Sen1Floods11Dataset(fixture.root, "train", modalities=["s1", "s2"])


def test_weak_part_official(pristine):
    ds = Sen1Floods11Dataset(pristine.root, "all", part="weak")
    assert list(ds.modalities) == ["s1"] and ds.label_source is None
    assert sorted(ds.chip_ids()) == sorted(WEAK_IDS)
    # train leaves out the held-out Bolivia event and chips listed in the hand valid/test/bolivia splits
    train = Sen1Floods11Dataset(pristine.root, "train", part="weak", labels="s1otsu")
    assert train.chip_ids() == ["Ghana_5079", "Nigeria_81933"]
    chip = train[0]
    assert chip.label is not None and set(np.unique(chip.label)) <= {0, 1}
    s2index = Sen1Floods11Dataset(pristine.root, "train", part="weak", labels="s2index")[0].label
    np.testing.assert_array_equal(s2index, pristine.chips["Ghana_5079"].label)
    with pytest.raises(InputError, match="official weak part has no Sentinel-2"):
        Sen1Floods11Dataset(pristine.root, "all", part="weak", modalities=["s2"])
    with pytest.raises(InputError, match="valid/test/bolivia splits are hand-labelled"):
        Sen1Floods11Dataset(pristine.root, "test", part="weak")
    with pytest.raises(InputError, match="label source 'hand' does not exist for the Sen1Floods11 weak part"):
        Sen1Floods11Dataset(pristine.root, "all", part="weak", labels="hand")


def test_fetched_corpus(tmp_path):
    corpus = write_corpus_fixture(tmp_path / "corpus")
    ds = Sen1Floods11Dataset(corpus.root, "all", part="weak", labels="s2index")
    assert ds.chip_ids() == corpus.chip_ids and set(ds.modalities) == {"s1", "s2"}
    chip = ds[2]
    truth = corpus.chips["Demo_000003"]
    assert chip.event == "Demo" and chip.georef.crs == "EPSG:32633"
    assert chip.georef.transform.almost_equals(truth.transform)
    np.testing.assert_array_equal(chip.modality("s1"), truth.s1_db)
    np.testing.assert_allclose(
        chip.modality("s2"), np.where(truth.s2_dn == 0, np.nan, truth.s2_dn / 1e4).astype(np.float32), atol=1e-7
    )
    np.testing.assert_array_equal(chip.label, truth.label)
    assert Sen1Floods11Dataset(corpus.root, "all", part="weak")[0].label is None  # no labels unless asked
    with pytest.raises(InputError, match="HandLabeled: missing .*it has the weak part"):
        Sen1Floods11Dataset(corpus.root, "all", part="hand")
    # no split CSVs in a corpus: weak "train" is every chip outside held-out events
    assert Sen1Floods11Dataset(corpus.root, "train", part="weak").chip_ids() == corpus.chip_ids


def test_corpus_without_s2_or_labels(tmp_path):
    corpus = write_corpus_fixture(tmp_path / "c", with_s2=False, labels=())
    ds = Sen1Floods11Dataset(corpus.root, "train", part="weak")
    assert list(ds.modalities) == ["s1"] and len(ds) == 3  # no split CSVs: train = every non-held-out chip
    with pytest.raises(InputError, match="S1OtsuLabelWeak: missing, so labels 's1otsu' are not available"):
        Sen1Floods11Dataset(corpus.root, "all", part="weak", labels="s1otsu")


# ---------------------------------------------------------------------------------------------- bad input


def test_unknown_split_modality_part_ids_root(pristine, tmp_path):
    with pytest.raises(InputError, match="unknown Sen1Floods11 hand split 'val'") as error:
        Sen1Floods11Dataset(pristine.root, "val")
    assert "'valid'" in one_line(error.value)
    with pytest.raises(InputError, match="Sen1Floods11 has no modality 's3'"):
        Sen1Floods11Dataset(pristine.root, "train", modalities=["s3"])
    with pytest.raises(InputError, match="unknown Sen1Floods11 part 'strong'"):
        Sen1Floods11Dataset(pristine.root, "train", part="strong")
    with pytest.raises(InputError, match=r"has no chips \['Nowhere_1'\]"):
        Sen1Floods11Dataset(pristine.root, "train", ids=["Nowhere_1"])
    with pytest.raises(InputError, match="unknown label source 'otsu'"):
        Sen1Floods11Dataset(pristine.root, "train", labels="otsu")
    with pytest.raises(InputError, match="not a Sen1Floods11 folder"):
        Sen1Floods11Dataset(tmp_path, "train")
    with pytest.raises(InputError, match="Sen1Floods11 folder not found"):
        Sen1Floods11Dataset(tmp_path / "absent", "train")


def test_missing_file_fails_at_construction(tree):
    victim = tree.path("HandLabeled", "S2Hand", "Ghana_24858")
    victim.unlink()
    with pytest.raises(InputError, match="Ghana_24858_S2Hand.tif: file not found") as error:
        Sen1Floods11Dataset(tree.root, "train")
    one_line(error.value)
    assert len(Sen1Floods11Dataset(tree.root, "train", modalities=["s1"])) == 3


def test_split_csv_row_naming_missing_file(tree):
    csv_path = tree.splits_dir / "flood_valid_data.csv"
    csv_path.write_text(csv_path.read_text() + "Ghana_999_S1Hand.tif,Ghana_999_LabelHand.tif\n")
    with pytest.raises(InputError, match=r"flood_valid_data.csv:2: names Ghana_999_S1Hand.tif, which is missing"):
        Sen1Floods11Dataset(tree.root, "valid")
    label_path = tree.path("HandLabeled", "LabelHand", "Spain_7370579")
    label_path.unlink()
    with pytest.raises(InputError, match=r"flood_test_data.csv:1: names Spain_7370579_LabelHand.tif, which is missing"):
        Sen1Floods11Dataset(tree.root, "test")
    assert len(Sen1Floods11Dataset(tree.root, "test", labels=None)) == 1  # unlabelled use never needs the label


def test_malformed_and_missing_split_csv(tree):
    (tree.splits_dir / "flood_bolivia_data.csv").write_text("Bolivia_103757.tif\n")
    with pytest.raises(DataError, match="flood_bolivia_data.csv:1: expected"):
        Sen1Floods11Dataset(tree.root, "bolivia")
    (tree.splits_dir / "flood_test_data.csv").unlink()
    with pytest.raises(InputError, match="flood_test_data.csv: split file not found"):
        Sen1Floods11Dataset(tree.root, "test")
    shutil.rmtree(tree.root / "v1.1" / "splits")
    with pytest.raises(InputError, match="no Sen1Floods11 split CSVs found .*use split='all'"):
        Sen1Floods11Dataset(tree.root, "train")
    assert len(Sen1Floods11Dataset(tree.root, "all")) == 6


def _reference(tree, chip_id="Ghana_103272"):
    return tree.chips[chip_id]


def test_unreadable_file(tree):
    tree.path("HandLabeled", "S1Hand", "Ghana_103272").write_bytes(b"not a tiff at all")
    ds = Sen1Floods11Dataset(tree.root, "train")
    with pytest.raises(InputError, match="Ghana_103272_S1Hand.tif: unreadable GeoTIFF") as error:
        ds[0]
    one_line(error.value)


def test_wrong_band_count(tree):
    truth = _reference(tree)
    path = tree.path("HandLabeled", "S1Hand", "Ghana_103272")
    write_tif(
        path, np.concatenate([truth.s1_db, truth.s1_db[:1]]), crs="EPSG:4326", transform=truth.transform, nodata=np.nan
    )
    with pytest.raises(DataError, match="Ghana_103272_S1Hand.tif: has 3 bands, expected 2"):
        Sen1Floods11Dataset(tree.root, "train")[0]
    path = tree.path("HandLabeled", "S2Hand", "Ghana_24858")
    write_tif(path, _reference(tree, "Ghana_24858").s2_dn[:12], crs="EPSG:4326", transform=truth.transform, nodata=0)
    with pytest.raises(DataError, match="Ghana_24858_S2Hand.tif: has 12 bands, expected 13"):
        Sen1Floods11Dataset(tree.root, "train")[1]


def test_wrong_shape(tree):
    truth = _reference(tree)
    path = tree.path("HandLabeled", "LabelHand", "Ghana_103272")
    write_tif(path, truth.label[:16, :16], crs="EPSG:4326", transform=truth.transform, nodata=None)
    with pytest.raises(
        DataError, match="Ghana_103272_LabelHand.tif: is 16x16 px, but Ghana_103272_S1Hand.tif is 32x32"
    ):
        Sen1Floods11Dataset(tree.root, "train")[0]


def test_s1_s2_grid_mismatch(tree):
    truth = _reference(tree)
    shifted = truth.transform @ Affine.translation(5, 0)  # 5 pixels east
    write_tif(
        tree.path("HandLabeled", "S2Hand", "Ghana_103272"), truth.s2_dn, crs="EPSG:4326", transform=shifted, nodata=0
    )
    with pytest.raises(DataError, match="Ghana_103272_S2Hand.tif: not on the grid of Ghana_103272_S1Hand.tif") as error:
        Sen1Floods11Dataset(tree.root, "train")[0]
    assert "bounds" in one_line(error.value)
    other_crs = tree.path("HandLabeled", "S2Hand", "Ghana_24858")
    write_tif(other_crs, truth.s2_dn, crs="EPSG:3857", transform=_reference(tree, "Ghana_24858").transform, nodata=0)
    with pytest.raises(DataError, match="not on the grid"):
        Sen1Floods11Dataset(tree.root, "train")[1]


def test_all_nan_input(tree):
    truth = _reference(tree)
    nan = np.full_like(truth.s1_db, np.nan)
    write_tif(
        tree.path("HandLabeled", "S1Hand", "Ghana_103272"),
        nan,
        crs="EPSG:4326",
        transform=truth.transform,
        nodata=np.nan,
    )
    with pytest.raises(DataError, match="Ghana_103272_S1Hand.tif: has no valid pixels"):
        Sen1Floods11Dataset(tree.root, "train")[0]
    zeros = np.zeros_like(truth.s2_dn)
    write_tif(
        tree.path("HandLabeled", "S2Hand", "Ghana_24858"),
        zeros,
        crs="EPSG:4326",
        transform=_reference(tree, "Ghana_24858").transform,
        nodata=0,
    )
    with pytest.raises(DataError, match="Ghana_24858_S2Hand.tif: has no valid pixels"):
        Sen1Floods11Dataset(tree.root, "train")[1]


def test_wrong_dtype_and_label_values(tree):
    truth = _reference(tree)
    write_tif(
        tree.path("HandLabeled", "S2Hand", "Ghana_103272"),
        truth.s2_dn.astype(np.float32) / 1e4,
        crs="EPSG:4326",
        transform=truth.transform,
        nodata=0,
    )
    with pytest.raises(DataError, match="S2Hand.tif: is float32, expected int16 reflectance x 10000"):
        Sen1Floods11Dataset(tree.root, "train")[0]
    bad_label = _reference(tree, "Ghana_24858").label.copy()
    bad_label[5, 5] = 7
    write_tif(
        tree.path("HandLabeled", "LabelHand", "Ghana_24858"),
        bad_label,
        crs="EPSG:4326",
        transform=_reference(tree, "Ghana_24858").transform,
        nodata=None,
    )
    with pytest.raises(DataError, match=r"Ghana_24858_LabelHand.tif: label values \[7\] outside 1"):
        Sen1Floods11Dataset(tree.root, "train")[1]


def test_label_nodata_tag_means_no_data(tree):
    truth = _reference(tree, "India_1018327")
    label = truth.label.copy()
    label[label == -1] = 255
    write_tif(
        tree.path("HandLabeled", "LabelHand", "India_1018327"),
        label.astype(np.int16),
        crs="EPSG:4326",
        transform=truth.transform,
        nodata=255,
    )
    chip = Sen1Floods11Dataset(tree.root, "train")[2]
    np.testing.assert_array_equal(chip.label, truth.label)

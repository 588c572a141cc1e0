from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gee_flood.data import ChipDataset, known_datasets, open_dataset, register_dataset
from gee_flood.data.ombria import OmbriaDataset
from gee_flood.data.sen1floods11 import Sen1Floods11Dataset
from gee_flood.errors import InputError
from tests.fixtures.datasets import write_corpus_fixture, write_sen1floods11_fixture

SHARED_OMBRIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ombria"


@pytest.fixture(scope="module")
def sen1floods11(tmp_path_factory):
    return write_sen1floods11_fixture(tmp_path_factory.mktemp("f") / "s11", size=16)


def write_ombria(root: Path, ids=("0001", "0002")) -> Path:
    rng = np.random.default_rng(0)
    for sid in ids:
        for sensor, prefix, shape in (("OmbriaS1", "S1", (256, 256)), ("OmbriaS2", "S2", (256, 256, 3))):
            for time in ("BEFORE", "AFTER", "MASK"):
                folder = root / sensor / "train" / time
                folder.mkdir(parents=True, exist_ok=True)
                if time == "MASK":
                    arr = np.where(rng.random((256, 256)) > 0.5, 255, 0).astype(np.uint8)
                else:
                    arr = rng.integers(1, 255, shape, dtype=np.uint8)
                Image.fromarray(arr).save(folder / f"{prefix}_{time.lower()}_{sid}.png")
    return root


def test_opens_sen1floods11_parts_and_corpus(sen1floods11, tmp_path):
    hand = open_dataset("sen1floods11", sen1floods11.root, "train")
    assert isinstance(hand, Sen1Floods11Dataset) and isinstance(hand, ChipDataset)
    assert hand.part == "hand" and hand.label_source == "hand" and len(hand) == 3
    weak = open_dataset("sen1floods11", sen1floods11.root, "all", part="weak", labels="s1otsu", modalities=["s1"])
    assert weak.part == "weak" and weak.label_source == "s1otsu" and list(weak.modalities) == ["s1"]
    corpus = write_corpus_fixture(tmp_path / "corpus")
    fetched = open_dataset("sen1floods11", corpus.root, "all", labels="s2index", ids=["Demo_000002"])
    assert fetched.part == "weak" and fetched.chip_ids() == ["Demo_000002"]  # a corpus opens as the weak part
    assert set(fetched[0].modalities) == {"s1", "s2"} and fetched[0].label is not None


def test_opens_ombria(tmp_path):
    root = write_ombria(tmp_path / "ombria")
    ds = open_dataset("ombria", root, "train", modalities=["s1_uint8"], ids=["0002"])
    assert isinstance(ds, OmbriaDataset) and ds.chip_ids() == ["0002"]
    assert ds[0].label is not None and list(ds[0].modalities) == ["s1_uint8"]
    assert open_dataset("ombria", root, "train", labels=None)[0].label is None
    with pytest.raises(InputError, match="OMBRIA has no label source 's1otsu'"):
        open_dataset("ombria", root, "train", labels="s1otsu")
    with pytest.raises(InputError, match=r"OMBRIA takes no options \['part'\]"):
        open_dataset("ombria", root, "train", part="weak")


def test_unknown_name_lists_known_and_registration(sen1floods11):
    with pytest.raises(InputError, match="unknown dataset 'sen2floods'; known datasets: ombria, sen1floods11"):
        open_dataset("sen2floods", sen1floods11.root, "train")
    seen = {}

    def opener(root, split, *, modalities, labels, ids, **kw):
        seen.update(root=root, split=split, labels=labels, kw=kw)
        return Sen1Floods11Dataset(sen1floods11.root, "test")

    register_dataset("toy", opener)
    try:
        assert "toy" in known_datasets()
        ds = open_dataset("toy", None, "test", labels=None, seed=3)
        assert len(ds) == 1 and seen == {"root": None, "split": "test", "labels": None, "kw": {"seed": 3}}
    finally:
        from gee_flood.data import factory

        factory._OPENERS.pop("toy")


@pytest.mark.skipif(not SHARED_OMBRIA.is_dir(), reason="real OMBRIA data not present at ../shared/data/ombria")
def test_real_ombria_through_factory():
    ds = open_dataset("ombria", SHARED_OMBRIA, "test", modalities=["s1_uint8"])
    assert len(ds) == 70 and ds[0].modality("s1_uint8").shape == (1, 256, 256)

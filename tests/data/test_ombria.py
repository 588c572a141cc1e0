from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gee_flood.data.ombria import OmbriaDataset
from gee_flood.errors import DataError, InputError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ombria"


def write_fixture(root: Path, ids=("0001", "0002"), split="train"):
    rng = np.random.default_rng(0)
    for sid in ids:
        for sensor, prefix, channels in (("OmbriaS1", "S1", 1), ("OmbriaS2", "S2", 3)):
            for time in ("BEFORE", "AFTER", "MASK"):
                folder = root / sensor / split / time
                folder.mkdir(parents=True, exist_ok=True)
                if time == "MASK":
                    arr = np.where(rng.random((256, 256)) > 0.7, 255, 0).astype(np.uint8)
                else:
                    shape = (256, 256) if channels == 1 else (256, 256, 3)
                    arr = rng.integers(1, 255, shape, dtype=np.uint8)
                Image.fromarray(arr).save(folder / f"{prefix}_{time.lower()}_{sid}.png")
    return root


def test_reads_fixture(tmp_path):
    root = write_fixture(tmp_path)
    ds = OmbriaDataset(root, "train")
    assert len(ds) == 2 and ds.chip_ids() == ["0001", "0002"]
    chip = ds[0]
    assert chip.modality("s1_uint8").shape == (1, 256, 256)
    assert chip.modality("s2_falsecolor_uint8_pre").shape == (3, 256, 256)
    assert set(np.unique(chip.label)) <= {0, 1}
    assert chip.specs["s1_uint8"].units == "uint8 DN"


def test_unlabelled_pool_never_reads_masks(tmp_path):
    root = write_fixture(tmp_path)
    for mask in (root / "OmbriaS1" / "train" / "MASK").glob("*.png"):
        mask.write_bytes(b"garbage")
    # Masks are listed (ids) but never opened when with_labels=False.
    chip = OmbriaDataset(root, "train", with_labels=False)[0]
    assert chip.label is None


def test_bad_inputs(tmp_path):
    root = write_fixture(tmp_path)
    with pytest.raises(InputError, match="unknown OMBRIA split 'val'"):
        OmbriaDataset(root, "val")
    with pytest.raises(InputError, match="not an OMBRIA folder"):
        OmbriaDataset(tmp_path / "nope")
    bad = root / "OmbriaS2" / "train" / "AFTER" / "S2_after_0001.png"
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(bad)
    with pytest.raises(DataError, match="S2_after_0001.png: has 1 channels, expected 3"):
        OmbriaDataset(root, "train")[0]
    (root / "OmbriaS1" / "train" / "AFTER" / "S1_after_0002.png").unlink()
    with pytest.raises(InputError, match="S1_after_0002.png: file not found"):
        OmbriaDataset(root, "train")[1]


@pytest.mark.skipif(not SHARED.is_dir(), reason="real OMBRIA data not present at ../shared/data/ombria")
def test_real_ombria_counts():
    train = OmbriaDataset(SHARED, "train", modalities=["s1_uint8"])
    test = OmbriaDataset(SHARED, "test", modalities=["s1_uint8"])
    assert len(train) == 624 and len(test) == 70
    chip = test[0]
    assert 0.0 <= chip.label.mean() <= 1.0

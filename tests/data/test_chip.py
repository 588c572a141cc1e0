import numpy as np
import pytest

from gee_flood.data.chip import S1, S2, Chip, stack_modalities
from gee_flood.errors import DataError


def make_chip(height=8, width=8, **kw):
    s1 = np.full((2, height, width), -12.0, np.float32)
    s2 = np.full((13, height, width), 0.1, np.float32)
    return Chip("c1", "ev", {"s1": s1, "s2": s2}, {"s1": S1, "s2": S2}, **kw)


def test_band_by_name_and_stack_order():
    chip = make_chip()
    chip.modalities["s1"][1] = -20.0
    assert chip.band("s1", "VH").mean() == -20.0
    stacked, channels = stack_modalities(chip, ["s2", "s1"])
    assert stacked.shape == (15, 8, 8)
    assert channels[0] == "s2/B1" and channels[-1] == "s1/VH"
    assert stacked[-1].mean() == -20.0


def test_valid_mask_from_nan():
    chip = make_chip()
    chip2 = Chip(
        "c2", "ev", {"s1": np.where(np.eye(8, dtype=bool), np.nan, 0).astype(np.float32)[None].repeat(2, 0)}, {"s1": S1}
    )
    assert chip.valid.all()
    assert chip2.valid.sum() == 64 - 8


def test_wrong_band_count_is_one_line_error():
    with pytest.raises(DataError, match="expected \\(2, H, W\\)"):
        Chip("bad", "ev", {"s1": np.zeros((3, 4, 4), np.float32)}, {"s1": S1})


def test_label_shape_mismatch():
    with pytest.raises(DataError, match="label shape"):
        make_chip(label=np.zeros((4, 4), np.int8))

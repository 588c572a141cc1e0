from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_chips

from gee_flood.data.normalization import compute_stats
from gee_flood.errors import InputError
from gee_flood.models.preprocessing import Preprocessing
from gee_flood.training import config_from_dict, labelled_subset_ids
from gee_flood.training.data import PreparedChip, TrainingSamples, build_splits, prepare_chip, sample_weights

OMBRIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ombria"


def test_labelled_subset_is_seeded_disjoint_and_shares_validation_across_fractions():
    ids = [f"{i:04d}" for i in range(100)]
    train, validation, pool = labelled_subset_ids(ids, 0.1, seed=0, validation=3)
    assert (len(train), len(validation), len(pool)) == (7, 3, 90)
    assert not (set(train) | set(validation)) & set(pool)
    assert sorted(train + validation + pool) == ids
    assert labelled_subset_ids(ids, 0.1, seed=0, validation=3) == (train, validation, pool)
    assert labelled_subset_ids(ids, 0.1, seed=1, validation=3)[1] != validation
    all_train, all_validation, all_pool = labelled_subset_ids(ids, 1.0, seed=0, validation=3)
    assert all_validation == validation and not all_pool and set(train) < set(all_train)
    with pytest.raises(InputError, match="validation"):
        labelled_subset_ids(ids, 0.02, seed=0, validation=5)


def test_augmentation_moves_every_layer_together():
    size = 16
    pattern = np.arange(size * size, dtype=np.float32).reshape(size, size)
    chip = PreparedChip(
        chip_id="c",
        inputs=pattern[None].astype(np.float16) / 256,
        label=(pattern % 3 == 0).astype(np.int8),
        teacher_valid=pattern % 5 != 0,
        teacher_logits=(pattern / 256).astype(np.float16),
    )
    samples = TrainingSamples([chip], crop_size=8, flips=True, rot90=True)
    torch.manual_seed(0)
    for _ in range(20):
        sample = samples[0]
        assert sample["inputs"].shape == (1, 8, 8)
        original = (sample["inputs"][0] * 256).round()
        assert torch.equal(sample["label"], (original % 3 == 0).long())
        assert torch.equal(sample["teacher_valid"], original % 5 != 0)
        assert torch.allclose(sample["teacher_logits"], sample["inputs"][0], atol=1e-2)


def test_prepare_chip_labels_and_weak_labels():
    chip = synthetic_chips(1, seed=0, clouds=True)[0]
    stats = compute_stats([chip], ["s1"])
    preprocessing = Preprocessing(("s1",), stats)
    hand = prepare_chip(chip, preprocessing, teacher_modalities=["s1", "s2"])
    assert np.array_equal(hand.label, chip.label)
    assert not hand.teacher_valid[chip.extras["s2_cloud"]].any()
    blind = prepare_chip(chip, preprocessing, use_label=False)
    assert (blind.label == -1).all() and not blind.has_label
    weak = prepare_chip(chip, preprocessing, labels="otsu")
    agreement = (weak.label == chip.label).mean()
    assert 0.6 < agreement < 1.0  # Otsu on noisy SAR: right mostly, not always
    assert sample_weights([True, False, False, False], 0.5) == [0.5, 0.5 / 3, 0.5 / 3, 0.5 / 3]
    assert sample_weights([True, False], None) is None


@pytest.mark.skipif(not OMBRIA.is_dir(), reason="OMBRIA not present at ../shared/data/ombria")
def test_ombria_protocol_a_splits_never_read_pool_masks():
    config = config_from_dict(
        {
            "role": "student",
            "data": {
                "dataset": "ombria",
                "root": str(OMBRIA),
                "inputs": ["s1_uint8"],
                "labelled_fraction": 0.1,
                "validation_count": 12,
                "unlabelled": "pool",
            },
        }
    )
    splits = build_splits(config, ["s1_uint8", "s2_falsecolor_uint8"])
    assert (len(splits.labelled), len(splits.validation), len(splits.unlabelled)) == (50, 12, 562)
    assert splits.unlabelled[0].label is None  # opened with labels off: masks are never read
    assert splits.labelled[0].label is not None
    labelled = set(splits.labelled.chip_ids()) | set(splits.validation.chip_ids())
    assert not labelled & set(splits.unlabelled.chip_ids())

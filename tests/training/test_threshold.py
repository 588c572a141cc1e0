"""Threshold from a water-fraction prior (not the validation chips), and the larger unlabelled pool."""

import json

import numpy as np
import pytest
import torch
from conftest import splits_of, synthetic_chips, tiny_config
from torch import nn

from gee_flood.data.chip import S1
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import InputError
from gee_flood.models import InputModality, ModelCard
from gee_flood.models.card import ArchitectureSpec
from gee_flood.models.checkpoint import LoadedModel
from gee_flood.training import train
from gee_flood.training.config import config_from_dict
from gee_flood.training.data import PreparedChip, build_splits
from gee_flood.training.threshold import prior_threshold
from tests.fixtures.datasets import write_ombria_fixture
from tests.fixtures.training import TINY_OMBRIA


class _FirstChannelLogits(nn.Module):
    """A 'network' whose water logits are its first input channel."""

    def forward(self, inputs):
        return inputs[:, :1]


def _model():
    card = ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(modalities={"s1": BandStats(bands=["VV", "VH"], mean=[0, 0], std=[1, 1])}),
        architecture=ArchitectureSpec(name="Unet", encoder_name="resnet18", encoder_depth=2),
    )
    return LoadedModel(_FirstChannelLogits(), card)


def _chip(chip_id, logits, *, label=None, teacher=None, valid=None):
    shape = logits.shape
    return PreparedChip(
        chip_id=chip_id,
        inputs=np.stack([logits, logits]).astype(np.float16),
        label=np.full(shape, -1, np.int8) if label is None else label.astype(np.int8),
        teacher_valid=np.ones(shape, bool) if valid is None else valid,
        teacher_logits=None if teacher is None else teacher.astype(np.float16),
        has_label=label is not None,
    )


def test_student_threshold_matches_the_teachers_water_fraction_on_the_pool(tmp_path):
    rng = np.random.default_rng(0)
    config = tiny_config("student", tmp_path, data={"unlabelled": "pool"}, threshold={"method": "prior"})
    teacher_water = np.zeros((16, 16))
    teacher_water[:4] = 5.0  # the teacher says a quarter is water...
    teacher_water[4:] = -5.0
    valid = np.ones((16, 16), bool)
    valid[:, :2] = False  # ...where it has a signal (its water rows keep their share of the valid pixels)
    pool = [_chip(f"p{i}", rng.normal(0, 2, (16, 16)), teacher=teacher_water, valid=valid) for i in range(3)]
    labelled = _chip("l", rng.normal(0, 2, (16, 16)), label=np.ones((16, 16)))  # all water: must not be the prior
    prior = prior_threshold(config, _model(), [labelled, *pool], teachers=[_model()])
    assert prior is not None and prior.source == "teacher-pool" and prior.chips == 3
    assert prior.prior_fraction == pytest.approx(0.25)
    probability = np.concatenate(
        [torch.sigmoid(torch.tensor(c.inputs[0].astype(np.float32)))[valid].numpy() for c in pool]
    )
    assert (probability > prior.threshold).mean() == pytest.approx(0.25, abs=0.01)


def test_baseline_threshold_matches_its_training_labels_and_is_clipped(tmp_path):
    config = tiny_config("baseline", tmp_path, kind="supervised", threshold={"method": "prior", "bounds": [0.2, 0.8]})
    label = np.zeros((16, 16))
    label[:8] = 1
    label[0] = -1  # ignored pixels are not counted
    logits = np.where(label == 1, 0.4, -0.4) + np.linspace(-0.01, 0.01, 256).reshape(16, 16)
    prior = prior_threshold(config, _model(), [_chip("a", logits, label=label)])
    assert prior is not None and prior.source == "training-labels"
    assert prior.prior_fraction == pytest.approx(7 / 15)
    assert 1 / (1 + np.exp(0.4)) < prior.threshold < 1 / (1 + np.exp(-0.4))  # between the two classes
    clipped = prior_threshold(config, _model(), [_chip("b", np.full((16, 16), 6.0), label=label)])
    assert clipped is not None and clipped.threshold == 0.8
    with pytest.raises(InputError, match=r"threshold\.bounds"):
        tiny_config("baseline", tmp_path, kind="supervised", threshold={"bounds": [0.9, 0.1]})


def test_a_student_run_writes_the_prior_threshold_into_model_ckpt(tmp_path):
    chips = synthetic_chips(10, seed=3)
    splits = splits_of(chips[:4], chips[4:6], chips[6:])
    teacher = train(tiny_config("teacher", tmp_path, inputs=("s1", "s2"), steps=4), splits=splits)
    config = tiny_config("student", tmp_path, steps=4, data={"unlabelled": "pool"}, threshold={"method": "prior"})
    result = train(config, splits=splits, teacher=teacher.checkpoint)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["threshold_method"] == "prior" and summary["prior_source"] == "teacher-pool"
    assert summary["prior_chips"] == 4 and 0 < summary["prior_fraction"] < 1
    assert result.card.labels.threshold == summary["threshold"]
    assert 0.05 <= summary["threshold"] <= 0.95 and "validation_threshold" in summary


def _ombria_config(root, **data):
    raw = {
        "role": "student",
        "data": {
            "dataset": "ombria",
            "root": str(root),
            "inputs": ["s1_uint8"],
            "labelled_fraction": 0.5,
            "validation_count": 2,
            "unlabelled": "pool",
            **data,
        },
    }
    return config_from_dict(raw)


def test_the_pre_event_images_join_the_pool_and_a_fetched_corpus_can_too(tmp_path):
    root = write_ombria_fixture(tmp_path / "ombria", train=8, test=1)
    modalities = ["s1_uint8", "s2_falsecolor_uint8"]
    plain = build_splits(_ombria_config(root), modalities)
    larger = build_splits(_ombria_config(root, pre_event_pool=True), modalities)
    assert plain.summary["unlabelled_chips"] == 4 and larger.summary["unlabelled_chips"] == 4 + 6  # not validation
    extra_ids = larger.unlabelled.chip_ids()[4:]
    assert all(one.endswith("_pre") for one in extra_ids)
    assert not {one.removesuffix("_pre") for one in extra_ids} & set(larger.summary["validation_ids"])
    chip = larger.unlabelled[4]
    assert sorted(chip.modalities) == sorted(modalities) and chip.label is None
    from gee_flood.data.ombria import OmbriaDataset

    source = OmbriaDataset(root, "train", modalities=["s1_uint8_pre"])
    original = source[source.chip_ids().index(extra_ids[0].removesuffix("_pre"))]
    assert np.array_equal(chip.modalities["s1_uint8"], original.modalities["s1_uint8_pre"])
    other = write_ombria_fixture(tmp_path / "corpus", train=3, test=1, seed=1)
    corpus = {"dataset": "ombria", "root": str(other), "split": "train"}
    both = build_splits(_ombria_config(root, extra_unlabelled=[corpus]), modalities)
    assert both.summary["unlabelled_chips"] == 4 + 3 and both.unlabelled[6].label is None


def test_a_tiny_ombria_student_trains_on_the_larger_pool(tmp_path):
    root = write_ombria_fixture(tmp_path / "ombria", train=8, test=1)
    teacher_config = _ombria_config(root).model_dump(mode="json")
    teacher_config.update(role="teacher", data={**teacher_config["data"], "unlabelled": "none"})
    teacher_config["data"]["inputs"] = ["s1_uint8", "s2_falsecolor_uint8"]
    overrides = {**TINY_OMBRIA, "trainer.output_dir": str(tmp_path / "runs")}
    teacher = train(config_from_dict(teacher_config, overrides))
    config = config_from_dict(
        _ombria_config(root, pre_event_pool=True).model_dump(mode="json"),
        {**overrides, "augment.enabled": True, "threshold.method": "prior"},
    )
    result = train(config, teacher=teacher.checkpoint)
    assert result.summary["unlabelled_chips"] == 10 and result.summary["train_chips"] == 12
    assert result.summary["prior_source"] == "teacher-pool"


def test_an_online_teacher_is_run_on_the_pool_for_the_prior(tmp_path):
    config = tiny_config(
        "student", tmp_path, data={"unlabelled": "pool"}, distill={"mode": "online"}, threshold={"method": "prior"}
    )
    teacher = _model()
    teacher.card.labels.threshold = 0.5
    logits = np.linspace(-3, 3, 256).reshape(16, 16)
    chip = _chip("p", logits, teacher=None)
    chip.teacher_inputs = np.stack([logits - 1.0, logits]).astype(np.float16)  # the teacher: less water
    prior = prior_threshold(config, _model(), [chip], teachers=[teacher])
    assert prior is not None and prior.source == "teacher-pool"
    assert prior.prior_fraction == pytest.approx(float((logits - 1.0 > 0).mean()), abs=0.01)
    assert prior.threshold == pytest.approx(1 / (1 + np.exp(-1.0)), abs=0.02)  # where the student's logit is 1

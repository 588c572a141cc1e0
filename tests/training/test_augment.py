"""SAR augmentation: which channels, each degradation's statistics, determinism, and its place in training."""

import numpy as np
import pytest
import torch
from conftest import splits_of, synthetic_chips, tiny_config

from gee_flood.data.chip import OMBRIA_S1, OMBRIA_S2, S1, S2
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import InputError
from gee_flood.models import InputModality, ModelCard
from gee_flood.models.card import ArchitectureSpec
from gee_flood.training import train
from gee_flood.training.augment import SarAugment, SarGroup, sar_channel_groups
from gee_flood.training.config import AugmentConfig

ONLY_NOTHING = {"probability": 1.0, "speckle_looks": None, "gain_db": 0.0, "band_gain_db": 0.0, "gradient_db": 0.0}


def _card(specs, per_chip=()):
    stats = {
        spec.name: BandStats(
            bands=list(spec.bands), mean=[0.0] * len(spec.bands), std=[2.0 + i for i in range(len(spec.bands))]
        )
        for spec in specs
    }
    return ModelCard(
        role="teacher",
        inputs=[InputModality.from_spec(spec) for spec in specs],
        normalization=NormalizationStats(dataset="t", modalities=stats),
        per_chip_standardized=list(per_chip),
        architecture=ArchitectureSpec(name="Unet", encoder_name="resnet18"),
    )


def _augment(groups, **options):
    return SarAugment(AugmentConfig(enabled=True, **{**ONLY_NOTHING, **options}), groups)


def test_sar_channels_and_their_db_scale_come_from_the_card():
    groups = sar_channel_groups(_card([S1, S2]), unit_db=4.0)
    assert groups == [SarGroup((0, 1), (2.0, 3.0))]  # dB bands: one unit is the band's normalisation std
    ombria = sar_channel_groups(_card([OMBRIA_S1, OMBRIA_S2], per_chip=[OMBRIA_S1.name]), unit_db=4.0)
    assert ombria == [SarGroup((0,), (4.0,))]  # 8-bit, per-image stretched SAR: unit_db
    assert sar_channel_groups(_card([S2]), unit_db=4.0) == []
    assert SarAugment.for_card(AugmentConfig(), _card([S1])) is None  # off by default


def test_optical_channels_and_the_input_are_left_alone_and_a_seed_repeats_it():
    inputs = torch.randn(4, 3, 16, 16)
    before = inputs.clone()
    augment = SarAugment(AugmentConfig(enabled=True, probability=1.0), [SarGroup((0,), (4.0,))])
    torch.manual_seed(3)
    first = augment(inputs)
    torch.manual_seed(3)
    again = augment(inputs)
    assert torch.equal(inputs, before)
    assert torch.equal(first, again)
    assert torch.equal(first[:, 1:], inputs[:, 1:])
    assert not torch.allclose(first[:, 0], inputs[:, 0])
    torch.manual_seed(4)
    assert not torch.equal(augment(inputs), first)


@pytest.mark.parametrize("looks", [1.0, 4.0])
def test_speckle_is_unit_mean_gamma_of_the_given_looks_in_intensity(looks):
    torch.manual_seed(0)
    out = _augment([SarGroup((0,), (1.0,))], speckle_looks=looks, min_resolution_scale=1.0)(torch.zeros(8, 1, 64, 64))
    intensity = 10 ** (out.double() / 10)  # one normalised unit is 1 dB here
    assert intensity.mean().item() == pytest.approx(1.0, abs=0.02)
    assert intensity.var().item() == pytest.approx(1 / looks, rel=0.06)  # Gamma(L, rate L): variance 1 / L


def test_gain_is_one_shift_per_acquisition_and_band_within_range():
    torch.manual_seed(1)
    groups = [SarGroup((0, 1), (2.0, 2.0)), SarGroup((2,), (1.0,))]
    out = _augment(groups, gain_db=1.5, band_gain_db=0.5, min_resolution_scale=1.0)(torch.zeros(32, 3, 8, 8))
    shift_db = out * torch.tensor([2.0, 2.0, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(shift_db, shift_db[..., :1, :1].expand_as(shift_db))  # constant over the crop
    assert shift_db.abs().max() <= 2.0 + 1e-5 and shift_db.abs().max() > 1.0
    vv_minus_vh = (shift_db[:, 0] - shift_db[:, 1])[:, 0, 0]  # bands of one acquisition move apart by <= 1 dB
    assert vv_minus_vh.abs().max() <= 1.0 + 1e-5 and vv_minus_vh.abs().max() > 0


def test_gradient_is_a_linear_ramp_of_at_most_its_amplitude():
    torch.manual_seed(2)
    out = _augment([SarGroup((0,), (1.0,))], gradient_db=3.0, min_resolution_scale=1.0)(torch.zeros(16, 1, 32, 32))
    ramp = out[:, 0].double()
    assert torch.allclose(ramp.diff(dim=-1).diff(dim=-1), torch.zeros(()).double(), atol=1e-5)  # planar
    assert torch.allclose(ramp.diff(dim=-2).diff(dim=-2), torch.zeros(()).double(), atol=1e-5)
    span = ramp.amax(dim=(-2, -1)) - ramp.amin(dim=(-2, -1))
    assert span.max() <= 3.0 * 2**0.5 + 1e-4 and span.max() > 0.5  # corner to corner at most sqrt(2) x edge to edge


def test_resolution_jitter_blurs_detail_and_keeps_the_size_and_flat_areas():
    torch.manual_seed(0)
    checker = (torch.arange(32).view(1, -1) + torch.arange(32).view(-1, 1)) % 2
    inputs = torch.stack([checker.float(), torch.full((32, 32), 0.7)]).unsqueeze(0).repeat(4, 1, 1, 1)
    out = _augment([SarGroup((0, 1), (1.0, 1.0))], min_resolution_scale=0.25)(inputs)
    assert out.shape == inputs.shape
    assert out[:, 0].std() < 0.5 * inputs[:, 0].std()  # the 1 px pattern is gone
    assert torch.allclose(out[:, 1], inputs[:, 1], atol=1e-6)  # a flat image stays flat


def test_a_run_with_augmentation_repeats_under_its_seed_and_differs_from_a_plain_one(tmp_path):
    chips = synthetic_chips(6, seed=8)
    augment = {"enabled": True, "probability": 1.0, "speckle_looks": 1.0, "gradient_db": 6.0}
    states = []
    for run in ("a", "b", "plain"):
        config = tiny_config(
            "baseline",
            tmp_path / run,
            kind="supervised",
            steps=6,
            data={"crop_size": 16},
            trainer={"val_every_steps": 3},
            augment=augment if run != "plain" else {},
        )
        result = train(config, splits=splits_of(chips[:4], chips[4:]))
        states.append(torch.load(result.checkpoint, weights_only=True)["state_dict"])
        assert np.isfinite(result.best_val_iou)
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    assert not all(torch.equal(states[0][key], states[2][key]) for key in states[0])


def test_bad_augmentation_settings_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match=r"augment\.speckle_looks"):
        tiny_config("baseline", tmp_path, kind="supervised", augment={"speckle_looks": 0})
    with pytest.raises(InputError, match=r"augment\.min_resolution_scale"):
        tiny_config("baseline", tmp_path, kind="supervised", augment={"min_resolution_scale": 1.5})


def test_the_module_augments_training_batches_not_validation_ones():
    from types import SimpleNamespace

    from gee_flood.training.config import LossConfig, OptimConfig
    from gee_flood.training.module import FloodSegmentationModule

    card = _card([S1])
    card.architecture = ArchitectureSpec(
        name="Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[8, 8, 8]
    )
    augment = SarAugment(AugmentConfig(enabled=True, probability=1.0), sar_channel_groups(card, 4.0))
    module = FloodSegmentationModule(card, OptimConfig(), LossConfig(), augment=augment)
    batch = {"inputs": torch.zeros(2, 2, 16, 16), "label": torch.zeros(2, 16, 16, dtype=torch.long)}
    module._trainer = SimpleNamespace(training=False)  # validation
    assert torch.equal(module.on_after_batch_transfer(batch, 0)["inputs"], batch["inputs"])
    module._trainer = SimpleNamespace(training=True)
    augmented = module.on_after_batch_transfer(batch, 0)
    assert not torch.equal(augmented["inputs"], batch["inputs"]) and torch.equal(augmented["label"], batch["label"])

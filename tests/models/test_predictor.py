import numpy as np
import pytest
import torch

from gee_flood.data.chip import S1, S2, Chip
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.errors import DataError
from gee_flood.models import (
    ArchitectureSpec,
    CheckpointPredictor,
    InputModality,
    ModelCard,
    Preprocessing,
    build_model,
    save_checkpoint,
)
from gee_flood.models.predictor import predict_logits


def card(threshold=0.5):
    stats = NormalizationStats(modalities={"s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0])})
    result = ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=stats,
        architecture=ArchitectureSpec(
            name="Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4]
        ),
    )
    result.labels.threshold = threshold
    return result


def chip(height=40, width=36):
    rng = np.random.default_rng(0)
    s1 = rng.normal(-12, 4, (2, height, width)).astype(np.float32)
    s1[:, 0, 0] = np.nan
    return Chip("c", "e", {"s1": s1}, {"s1": S1})


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(card()).eval()
    return model, save_checkpoint(model, card(threshold=0.3), tmp_path / "m.ckpt")


def test_predictor_pads_odd_sizes_and_matches_the_network(saved):
    model, path = saved
    predictor = CheckpointPredictor(path)
    assert predictor.required_modalities == ["s1"] and predictor.threshold == pytest.approx(0.3)
    sample = chip(40, 36)  # not multiples of 8: padded inside, cropped back
    probability = predictor.predict_proba(sample)
    assert probability.shape == (40, 36) and probability.dtype == np.float32
    assert probability[0, 0] == 0.0  # invalid input pixel
    inputs = torch.from_numpy(Preprocessing.from_card(card()).chip_inputs(sample))[None]
    padded = torch.nn.functional.pad(inputs, (0, 4, 0, 0), mode="reflect")
    with torch.no_grad():
        expected = torch.sigmoid(model(padded)[0, 0, :40, :36]).numpy()
    expected[0, 0] = 0.0
    assert np.allclose(probability, expected, atol=1e-5)
    mask = predictor.predict(sample)
    assert mask.dtype == np.uint8 and np.array_equal(mask, (probability > 0.3).astype(np.uint8))
    assert np.array_equal(
        CheckpointPredictor(path, threshold=0.9).predict(sample), (probability > 0.9).astype(np.uint8)
    )


def test_flip_averaging_is_flip_equivariant(saved):
    model, _ = saved
    inputs = torch.randn(1, 2, 16, 16)
    forward = predict_logits(model, card(), inputs, flips=True)
    flipped = predict_logits(model, card(), inputs.flip(-1), flips=True)
    assert torch.allclose(forward.flip(-1), flipped, atol=1e-4)


def test_wrong_inputs_fail_clearly(saved):
    _, path = saved
    predictor = CheckpointPredictor(path)
    optical = Chip("o", "e", {"s2": np.zeros((13, 8, 8), np.float32)}, {"s2": S2})
    with pytest.raises(DataError, match="chip o: the student checkpoint needs modality 's1'"):
        predictor.predict(optical)
    swapped = Chip(
        "w", "e", {"s1": np.zeros((2, 8, 8), np.float32)}, {"s1": S1.__class__("s1", ("VH", "VV"), "dB", "")}
    )
    with pytest.raises(DataError, match="in that order"):
        predictor.predict(swapped)


def test_per_chip_standardisation_makes_predictions_scale_invariant(tmp_path):
    from gee_flood.models import standardize_per_chip

    array = np.array([[[1.0, 2.0], [3.0, np.nan]]], np.float32)
    standardized = standardize_per_chip(array)
    assert np.isnan(standardized[0, 1, 1])
    assert np.nanmean(standardized) == pytest.approx(0.0, abs=1e-6)
    assert np.nanstd(standardized) == pytest.approx(1.0, abs=1e-5)
    stretched_card = card()
    stretched_card.per_chip_standardized = ["s1"]
    stretched_card.normalization.modalities["s1"].mean = [0.0, 0.0]
    stretched_card.normalization.modalities["s1"].std = [1.0, 1.0]
    torch.manual_seed(0)
    path = save_checkpoint(build_model(stretched_card), stretched_card, tmp_path / "s.ckpt")
    predictor = CheckpointPredictor(path)
    sample = chip(32, 32)
    rescaled = Chip("r", "e", {"s1": sample.modalities["s1"] * 2.0 + 10.0}, {"s1": S1})
    assert np.allclose(predictor.predict_proba(sample), predictor.predict_proba(rescaled), atol=1e-5)

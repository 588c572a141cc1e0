"""One preprocessing owner: training, statistics, the chip predictor and the tiled runner give the same inputs."""

import dataclasses

import numpy as np
import pytest
import torch

from gee_flood.data.chip import S1, Chip
from gee_flood.data.normalization import BandStats, NormalizationStats, compute_stats
from gee_flood.errors import DataError, InputError
from gee_flood.inference.runner import TileRunner
from gee_flood.models import (
    ArchitectureSpec,
    CheckpointPredictor,
    InputModality,
    LoadedModel,
    ModelCard,
    Preprocessing,
    build_model,
)
from gee_flood.training.data import TrainingSamples, ValidationSamples, prepare_chip


def _card(per_chip: tuple[str, ...] = ()) -> ModelCard:
    stats = BandStats(bands=["VV", "VH"], mean=[-12.5, -19.25], std=[4.1, 3.7], clip_min=[-40, -45], clip_max=[5, 0])
    return ModelCard(
        role="student",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(modalities={"s1": stats}),
        per_chip_standardized=list(per_chip),
        architecture=ArchitectureSpec(encoder_name="resnet18", encoder_depth=3, decoder_channels=[8, 8, 4]),
    )


def _chip(size: int = 64) -> Chip:
    rng = np.random.default_rng(3)
    s1 = rng.normal([[[-12.0]], [[-19.0]]], 5.0, (2, size, size)).astype(np.float32)
    s1[0, :3, :5] = np.nan  # no data
    s1[1, 10, 10] = -80.0  # clipped
    return Chip("c", "e", {"s1": s1}, {"s1": S1}, label=np.zeros((size, size), np.int8))


def _network_inputs(model: torch.nn.Module, run) -> torch.Tensor:
    """The tensor ``run()`` feeds the network (captured at its forward call)."""
    seen: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    try:
        run()
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0].contiguous()


def _paths(card: ModelCard, chip: Chip) -> dict[str, torch.Tensor]:
    """Network input of ``chip`` as training, the chip predictor and the tiled runner prepare it."""
    torch.manual_seed(0)
    model = build_model(card).eval()
    loaded = LoadedModel(model=model, card=card)
    prepared = prepare_chip(chip, Preprocessing.from_card(card))
    validation = ValidationSamples([prepared])[0]["inputs"]
    training = TrainingSamples([prepared], crop_size=None, flips=False, rot90=False)[0]["inputs"]
    assert torch.equal(validation, training)
    predictor = CheckpointPredictor(loaded)
    inputs = {
        "training": validation[None],
        "chip predictor": _network_inputs(model, lambda: predictor.predict_proba(chip)),
    }
    if not card.per_chip_standardized:
        runner = TileRunner(loaded, device="cpu", batch_size=1, runtime="torch")
        tile = runner.normalize(chip.modality("s1"))
        inputs["tiled runner"] = _network_inputs(runner.model, lambda: runner.probabilities(tile[None]))
    return inputs


def test_training_and_inference_paths_give_bit_identical_network_inputs():
    card, chip = _card(), _chip()
    inputs = _paths(card, chip)
    predictor, runner = inputs["chip predictor"], inputs["tiled runner"]
    assert predictor.dtype == runner.dtype == torch.float32 and predictor.shape == (1, 2, 64, 64)
    assert torch.equal(predictor, runner)
    # training stores chips as float16 (half the memory); it feeds the inference input rounded to float16, bit for bit
    assert torch.equal(inputs["training"], predictor.half().float())
    assert torch.isfinite(predictor).all() and predictor[0, 0, 0, 0] == 0.0  # no data -> 0 (the band mean)
    clipped = (max(-80.0, -45.0) - (-19.25)) / 3.7
    assert predictor[0, 1, 10, 10].item() == pytest.approx(clipped, rel=1e-6)


def test_per_chip_standardisation_is_the_same_in_training_and_prediction_and_refused_in_strips():
    card, chip = _card(per_chip=("s1",)), _chip()
    inputs = _paths(card, chip)
    assert torch.equal(inputs["training"], inputs["chip predictor"].half().float())
    with pytest.raises(InputError, match="standardises s1 over each chip"):
        TileRunner(LoadedModel(model=build_model(card), card=card), device="cpu", runtime="torch")


def test_statistics_are_computed_over_the_standardised_inputs():
    chip = _chip()
    stats = compute_stats([chip], ["s1"], per_chip_standardized=["s1"]).modalities["s1"]
    assert stats.mean == pytest.approx([0.0, 0.0], abs=1e-5) and stats.std == pytest.approx([1.0, 1.0], abs=1e-4)
    raw = compute_stats([chip], ["s1"]).modalities["s1"]
    assert raw.mean[1] == pytest.approx(float(np.nanmean(chip.modality("s1")[1])), rel=1e-5)
    # with those statistics, the network input of the chip has zero mean and unit spread per band
    prepared = Preprocessing(("s1",), NormalizationStats(modalities={"s1": stats}), frozenset({"s1"}))
    normalised = prepared.chip_inputs(chip)
    assert np.nanmean(normalised[1]) == pytest.approx(0.0, abs=1e-4)


def test_preprocessing_refuses_missing_modalities_and_foreign_bands():
    preprocessing = Preprocessing.from_card(_card())
    with pytest.raises(DataError, match="'s1'"):
        preprocessing.arrays_inputs({"s2": np.zeros((13, 4, 4), np.float32)})
    other = _chip()
    other.specs["s1"] = dataclasses.replace(S1, bands=("VH", "VV"))
    with pytest.raises(DataError, match="bands"):
        preprocessing.chip_inputs(other)
    with pytest.raises(DataError, match="statistics"):
        Preprocessing(("s1",)).arrays_inputs({"s1": np.zeros((2, 4, 4), np.float32)})

"""End-to-end training on tiny synthetic chips: loss goes down, distillation works, determinism, checkpoints."""

import numpy as np
import pytest
import torch
from conftest import splits_of, synthetic_chips, tiny_config

from gee_flood.data.chip import S1
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.data.synthetic import SceneConfig, generate_scene
from gee_flood.errors import DataError, InputError
from gee_flood.evaluation.metrics import MetricAccumulator
from gee_flood.models import CheckpointPredictor, InputModality, ModelCard, load_model, read_card
from gee_flood.models.card import checkpoint_reference
from gee_flood.training import read_metrics, train
from gee_flood.training.module import FloodSegmentationModule


def test_training_lowers_the_loss_and_writes_the_run_directory(tmp_path):
    chips = synthetic_chips(10, seed=1)
    config = tiny_config("baseline", tmp_path, kind="supervised", steps=40, trainer={"val_every_steps": 20})
    result = train(config, splits=splits_of(chips[:8], chips[8:]))
    rows = read_metrics(result.run_dir / "metrics.csv")
    losses = [row["train/loss"] for row in rows if "train/loss" in row]
    assert len(losses) >= 4
    assert np.mean(losses[-2:]) < 0.7 * losses[0]
    for name in ("config.yaml", "metrics.csv", "curve.png", "model.ckpt", "summary.json", "checkpoints/best.ckpt"):
        assert (result.run_dir / name).is_file(), name
    assert (result.run_dir / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resolved = (result.run_dir / "config.yaml").read_text()
    assert "normalization:" in resolved and "mean:" in resolved  # computed stats are recorded
    card = read_card(result.checkpoint)
    assert card.role == "baseline" and card.modality_names == ["s1"]
    assert card.training.labelled_chips == 8 and card.training.steps == 40
    assert 0.0 < card.labels.threshold < 1.0
    assert result.summary["steps"] == 40


def _iou(predictor, chips):
    accumulator = MetricAccumulator()
    for chip in chips:
        accumulator.add(chip.chip_id, chip.event, predictor.predict(chip).astype(bool), chip.label, chip.valid)
    return accumulator.overall().total_iou


def test_student_learns_from_teacher_alone_on_a_synthetic_scene(tmp_path):
    """The student never sees a hand label (supervised weight 0): all it knows comes from the teacher.

    Chips come from a synthetic flood scene (gee_flood.data.synthetic) with 30 % S2 cloud; the teacher sees
    S1 + S2, the student S1 only, and no teacher signal is used under clouds.
    """
    scene = generate_scene(SceneConfig(seed=3, height=256, width=256, floodplain_width_m=500))
    chips = scene.to_chips(32)
    order = np.random.default_rng(0).permutation(len(chips))
    mixed = [i for i in order if 0.1 < chips[i].label.mean() < 0.9]  # hand-labelled chips show water and land
    labelled, validation = [chips[i] for i in mixed[:8]], [chips[i] for i in mixed[8:12]]
    rest = [i for i in order if i not in set(mixed[:12])]
    pool, test = [chips[i] for i in rest[:36]], [chips[i] for i in rest[36:]]
    teacher_config = tiny_config("teacher", tmp_path, inputs=("s1", "s2"), steps=40)
    teacher = train(teacher_config, splits=splits_of(labelled, validation))
    student_config = tiny_config(
        "student",
        tmp_path,
        steps=40,
        loss={"weight": 0.0},
        distill={"weight": 1.0, "temperature": 1.0, "on_labelled": False},
        data={"unlabelled": "pool"},
    )
    student = train(student_config, splits=splits_of(labelled, validation, pool), teacher=teacher.checkpoint)
    card = read_card(student.checkpoint)
    assert card.role == "student" and card.sar_only and card.training.label_source == "hand+teacher"
    rows = read_metrics(student.run_dir / "metrics.csv")
    signal = [row["train/teacher_signal"] for row in rows if "train/teacher_signal" in row]
    assert signal and max(signal) < 0.95  # clouds removed part of the teacher signal
    chance = _iou(_AllWater(), test)  # IoU of calling everything water
    student_iou = _iou(CheckpointPredictor(student.checkpoint), test)
    assert student_iou > chance + 0.3, (student_iou, chance)


class _AllWater:
    def predict(self, chip):
        return np.ones(chip.shape, np.uint8)


def test_online_teacher_with_chips_read_on_the_fly(tmp_path):
    labelled = synthetic_chips(4, seed=6)
    pool = synthetic_chips(4, seed=7, clouds=True, prefix="pool")
    teacher = train(
        tiny_config("teacher", tmp_path, inputs=("s1", "s2"), steps=5), splits=splits_of(labelled, pool[:2])
    )
    lazy = {"unlabelled": "pool", "preload": False, "clip": {"s1": [[-40, -45], [0, -5]]}}
    config = tiny_config("student", tmp_path, steps=5, distill={"mode": "online"}, data=lazy)
    result = train(config, splits=splits_of(labelled, pool[:2], pool), teacher=teacher.checkpoint)
    assert any("train/distill" in row for row in read_metrics(result.run_dir / "metrics.csv"))
    assert result.card.normalization.modalities["s1"].clip_min == [-40.0, -45.0]
    assert result.summary["train_chips"] == 8
    cached = tiny_config("student", tmp_path, steps=5, data=lazy)
    with pytest.raises(InputError, match="online"):
        train(cached, splits=splits_of(labelled, pool[:2], pool), teacher=teacher.checkpoint)


def test_fixed_seed_gives_identical_weights_and_metrics(tmp_path):
    chips = synthetic_chips(6, seed=8)
    results = []
    for run in ("a", "b"):
        config = tiny_config("baseline", tmp_path / run, kind="supervised", steps=12, data={"crop_size": 16})
        results.append(train(config, splits=splits_of(chips[:4], chips[4:])))
    first, second = (torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in results)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    metrics = [read_metrics(r.run_dir / "metrics.csv") for r in results]
    assert metrics[0] == metrics[1]
    other = tiny_config("baseline", tmp_path / "c", kind="supervised", steps=12, seed=1, data={"crop_size": 16})
    third = torch.load(train(other, splits=splits_of(chips[:4], chips[4:])).checkpoint, weights_only=True)
    assert not all(torch.equal(first[key], third["state_dict"][key]) for key in first)


def test_lightning_checkpoint_round_trip(tmp_path):
    chips = synthetic_chips(6, seed=9)
    config = tiny_config("teacher", tmp_path, steps=10, trainer={"early_stopping_patience": 5})
    result = train(config, splits=splits_of(chips[:4], chips[4:]))
    # the files the run writes are plain data (no pickled Python objects): weights_only loading reads them whole
    lightning_ckpt = torch.load(result.lightning_checkpoint, weights_only=True)
    assert "gee_flood_card" in lightning_ckpt and "optimizer_states" in lightning_ckpt
    assert any(key.startswith("EarlyStopping") for key in lightning_ckpt["callbacks"])
    assert "hyper_parameters" not in lightning_ckpt
    assert torch.serialization.get_unsafe_globals_in_checkpoint(result.lightning_checkpoint) == []
    assert torch.serialization.get_unsafe_globals_in_checkpoint(result.checkpoint) == []
    from_lightning = load_model(result.lightning_checkpoint)
    from_slim = load_model(result.checkpoint)
    assert from_lightning.card.labels.threshold == from_slim.card.labels.threshold
    inputs = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(from_lightning.model(inputs), from_slim.model(inputs))
    # the same weights as the Lightning module held
    weights = {k[len("model.") :]: v for k, v in lightning_ckpt["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(weights[k], v) for k, v in from_slim.model.state_dict().items())
    # a Lightning checkpoint serves as a teacher as it is
    student_config = tiny_config("student", tmp_path, steps=2, data={"unlabelled": "pool"})
    student = train(student_config, splits=splits_of(chips[:4], chips[4:], chips), teacher=result.lightning_checkpoint)
    assert student.card.training.teacher_checkpoint == checkpoint_reference(result.lightning_checkpoint)
    assert set(torch.load(student.checkpoint, weights_only=True)) == {"state_dict", "gee_flood_card"}


def test_module_never_saves_hyper_parameters_as_objects(tmp_path):
    config = tiny_config("baseline", tmp_path, kind="supervised", steps=2)
    card = ModelCard(
        role="baseline",
        inputs=[InputModality.from_spec(S1)],
        normalization=NormalizationStats(modalities={"s1": BandStats(bands=["VV", "VH"], mean=[0, 0], std=[1, 1])}),
        architecture=config.model.architecture,
    )
    module = FloodSegmentationModule(card, config.optim, config.loss)
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": {"optim": config.optim}, "hparams_name": "x"}
    module.on_save_checkpoint(checkpoint)  # as Lightning calls it last, on the whole checkpoint
    assert set(checkpoint) == {"state_dict", "gee_flood_card"}
    torch.save(checkpoint, tmp_path / "module.ckpt")
    assert load_model(tmp_path / "module.ckpt").card.role == "baseline"


def test_wrong_modalities_are_rejected(tmp_path):
    chips = synthetic_chips(6, seed=10)
    result = train(
        tiny_config("baseline", tmp_path, kind="supervised", steps=2), splits=splits_of(chips[:4], chips[4:])
    )
    predictor = CheckpointPredictor(result.checkpoint)
    assert predictor.required_modalities == ["s1"]
    optical_only = synthetic_chips(1, seed=11)[0]
    del optical_only.modalities["s1"], optical_only.specs["s1"]
    with pytest.raises(DataError, match="needs modality 's1'"):
        predictor.predict(optical_only)
    # a student whose teacher needs S2 cannot train on SAR-only data
    teacher = train(
        tiny_config("teacher", tmp_path, inputs=("s1", "s2"), steps=2), splits=splits_of(chips[:4], chips[4:])
    )
    sar_only = synthetic_chips(6, seed=12)
    for chip in sar_only:
        del chip.modalities["s2"], chip.specs["s2"]
    config = tiny_config("student", tmp_path, steps=2, data={"unlabelled": "pool"})
    with pytest.raises(InputError, match="s2"):
        train(config, splits=splits_of(sar_only[:4], sar_only[4:], sar_only), teacher=teacher.checkpoint)
    with pytest.raises(InputError, match="teacher checkpoint"):
        train(config, splits=splits_of(sar_only[:4], sar_only[4:], sar_only))


def test_ensemble_of_teachers_is_averaged(tmp_path):
    from gee_flood.models.predictor import predict_logits
    from gee_flood.models.preprocessing import Preprocessing
    from gee_flood.training.data import prepare_chip
    from gee_flood.training.datamodule import add_teacher_logits

    labelled = synthetic_chips(4, seed=13)
    pool = synthetic_chips(3, seed=14, prefix="pool")
    splits = splits_of(labelled, pool[:2])
    first = train(tiny_config("teacher", tmp_path / "a", inputs=("s1", "s2"), steps=3), splits=splits)
    second = train(tiny_config("teacher", tmp_path / "b", inputs=("s2",), steps=3, seed=1), splits=splits)
    teachers = [load_model(first.checkpoint), load_model(second.checkpoint)]
    chip = pool[0]
    student = Preprocessing(("s1",), first.card.normalization)
    item = prepare_chip(chip, student, teacher_modalities=["s1", "s2"])
    inputs = [Preprocessing.from_card(t.card).chip_inputs(chip) for t in teachers]
    add_teacher_logits([(item, inputs)], teachers, flips=False)
    probabilities = [
        torch.sigmoid(predict_logits(t.model, t.card, torch.from_numpy(x)[None], flips=False))[0]
        for t, x in zip(teachers, inputs, strict=True)
    ]
    expected = (probabilities[0] + probabilities[1]) / 2
    assert torch.allclose(torch.sigmoid(torch.from_numpy(item.teacher_logits.astype(np.float32))), expected, atol=2e-3)
    config = tiny_config("student", tmp_path, steps=2, data={"unlabelled": "pool"})
    student = train(config, splits=splits_of(labelled, pool[:2], pool), teacher=[first.checkpoint, second.checkpoint])
    named = student.card.training.teacher_checkpoint
    assert named == f"{checkpoint_reference(first.checkpoint)}, {checkpoint_reference(second.checkpoint)}"
    assert str(tmp_path) not in student.card.model_dump_json()  # cards carry names and hashes, never local paths
    online = tiny_config("student", tmp_path, steps=2, data={"unlabelled": "pool"}, distill={"mode": "online"})
    with pytest.raises(InputError, match="one teacher"):
        train(online, splits=splits_of(labelled, pool[:2], pool), teacher=[first.checkpoint, second.checkpoint])


def test_ema_weights_and_last_checkpoint_selection(tmp_path):
    chips = synthetic_chips(6, seed=15)
    config = tiny_config(
        "baseline", tmp_path, kind="supervised", steps=12, optim={"ema_decay": 0.8}, trainer={"select": "last"}
    )
    result = train(config, splits=splits_of(chips[:4], chips[4:]))
    last = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 12 and "averaging_state" in last  # the EMA weights are what is saved
    assert result.lightning_checkpoint.name == "last.ckpt" and result.summary["selected"] == "last"
    slim = torch.load(result.checkpoint, weights_only=True)["state_dict"]
    averaged = {k[len("model.") :]: v for k, v in last["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(slim[k], averaged[k]) for k in slim)
    assert int(last["averaging_state"]["n_averaged"]) == 12  # one EMA update per optimizer step


def test_channels_last_changes_the_layout_not_the_training(tmp_path):
    chips = synthetic_chips(6, seed=8)
    states = {}
    for layout in (True, False):
        config = tiny_config(
            "baseline", tmp_path / str(layout), kind="supervised", steps=8, data={"crop_size": 16},
            trainer={"channels_last": layout},
        )  # fmt: skip
        checkpoint = train(config, splits=splits_of(chips[:4], chips[4:])).checkpoint
        states[layout] = torch.load(checkpoint, weights_only=True)["state_dict"]
        loaded = load_model(checkpoint).model
        assert loaded(torch.randn(1, 2, 32, 32)).shape == (1, 1, 32, 32)  # a plain NCHW model either way
        module = FloodSegmentationModule(read_card(checkpoint), config.optim, config.loss, channels_last=layout)
        conv = next(p for p in module.model.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[-1] > 1)
        assert conv.is_contiguous(memory_format=torch.channels_last) == layout
        assert module(torch.randn(2, 2, 32, 32)).shape == (2, 32, 32)
    assert states[True].keys() == states[False].keys()
    # same seed, same data: the weights agree up to float summation order (amplified by 8 Adam steps)
    assert all(torch.allclose(states[True][k].float(), states[False][k].float(), atol=1e-2) for k in states[True])

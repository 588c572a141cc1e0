"""A probability threshold that does not overfit the validation chips: match a water-fraction prior.

With ``threshold.method: prior`` (:class:`~gee_flood.training.config.ThresholdConfig`), the threshold written into
``model.ckpt`` is the one at which the trained model predicts as much water as a prior measured without the
validation chips:

- a student with a teacher: the teacher's water fraction on the unlabelled training chips, where the teacher has a
  signal (its cached logits, centred on its own tuned threshold when ``distill.center_on_threshold``, or the frozen
  teacher run on the chips for online distillation): the student is calibrated to the teacher on the pool;
- a teacher or a baseline: the water fraction of its training labels (hand or weak) on its labelled chips.

The threshold is the ``1 - fraction`` quantile of the model's water probability over the same pixels, clipped to
``threshold.bounds``. Pixels are subsampled (seeded) and at most ``threshold.max_chips`` chips are scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gee_flood.models.checkpoint import LoadedModel
from gee_flood.models.predictor import predict_logits
from gee_flood.training.config import TrainConfig
from gee_flood.training.data import PreparedChip

#: Pixels drawn per chip for the quantile.
PIXELS_PER_CHIP = 16384


@dataclass(frozen=True)
class PriorThreshold:
    """A threshold matched to a water-fraction prior.

    Attributes:
        threshold: The probability threshold (clipped to the configured bounds).
        prior_fraction: The prior water fraction (0-1).
        source: ``teacher-pool`` or ``training-labels``.
        chips: Chips scored.
        pixels: Pixels the quantile was taken over.
    """

    threshold: float
    prior_fraction: float
    source: str
    chips: int
    pixels: int


def prior_threshold(
    config: TrainConfig, model: LoadedModel, chips: Sequence[PreparedChip], teachers: Sequence[LoadedModel] = ()
) -> PriorThreshold | None:
    """Return the threshold at which ``model`` predicts the prior water fraction, or None without usable pixels.

    Args:
        config: The run's config (``threshold``, ``distill``, ``trainer.seed``).
        model: The trained model (eval mode), as saved.
        chips: The run's prepared training chips (labelled and unlabelled).
        teachers: The student's teachers (used when their logits are not cached on the chips).
    """
    student = config.role == "student" and bool(teachers)
    pool = [chip for chip in chips if not chip.has_label] if student else []
    if student and pool:
        picked, source = _spread(pool, config.threshold.max_chips), "teacher-pool"
    else:
        picked, source = _spread([c for c in chips if c.has_label], config.threshold.max_chips), "training-labels"
    rng = np.random.default_rng(config.trainer.seed)
    probabilities: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    model.model.eval()
    for chip in picked:
        if source == "teacher-pool":
            mask = chip.teacher_valid.astype(bool)
            target = _teacher_logits(config, chip, teachers) > 0
        else:
            mask = chip.label >= 0
            target = chip.label == 1
        where = np.flatnonzero(mask)
        if where.size == 0:
            continue
        if where.size > PIXELS_PER_CHIP:
            where = rng.choice(where, PIXELS_PER_CHIP, replace=False)
        with torch.no_grad():
            logits = predict_logits(model.model, model.card, torch.from_numpy(chip.inputs.astype(np.float32))[None])
        probabilities.append(torch.sigmoid(logits[0]).numpy().ravel()[where])
        targets.append(np.asarray(target).ravel()[where])
    if not probabilities:
        return None
    probability = np.concatenate(probabilities)
    fraction = float(np.concatenate(targets).mean())
    low, high = config.threshold.bounds
    threshold = float(np.clip(np.quantile(probability, 1.0 - fraction), low, high))
    return PriorThreshold(round(threshold, 4), fraction, source, len(probabilities), int(probability.size))


def _spread(chips: Sequence[PreparedChip], count: int) -> list[PreparedChip]:
    """At most ``count`` chips, evenly spread over the sequence (deterministic)."""
    if len(chips) <= count:
        return list(chips)
    take = np.linspace(0, len(chips) - 1, count).round().astype(int)
    return [chips[int(i)] for i in take]


@torch.no_grad()
def _teacher_logits(config: TrainConfig, chip: PreparedChip, teachers: Sequence[LoadedModel]) -> np.ndarray:
    """The teacher's water logits of a chip, relative to its decision boundary (> 0: water)."""
    if chip.teacher_logits is not None:  # cached: the logit of the teachers' mean probability, maybe centred
        logits = chip.teacher_logits.astype(np.float32)
        if config.distill.center_on_threshold:
            return logits
        return logits - _logit(float(np.mean([t.card.labels.threshold for t in teachers])))
    assert chip.teacher_inputs is not None, "online distillation keeps the teacher inputs on the chips"
    teacher = teachers[0]
    teacher.model.eval()
    batch = torch.from_numpy(chip.teacher_inputs.astype(np.float32))[None]
    logits = predict_logits(teacher.model, teacher.card, batch)[0].numpy()
    return logits - _logit(teacher.card.labels.threshold)


def _logit(probability: float) -> float:
    clipped = min(max(probability, 1e-3), 1 - 1e-3)
    return math.log(clipped / (1 - clipped))

"""The Lightning data module of a run: prepared training and validation chips, their samplers and loaders.

:class:`FloodDataModule` turns a run's :class:`~gee_flood.training.data.Splits` into
:class:`~gee_flood.training.data.PreparedChip` s once (in :meth:`FloodDataModule.setup`), through the model card's
:class:`~gee_flood.models.preprocessing.Preprocessing`; a student with cached teachers also gets the teachers'
averaged logits here. Its loaders draw ``optim.max_steps x optim.batch_size`` training samples per process, with
replacement (weighted by ``data.labelled_share``), and read every validation chip once.

Under DDP (``trainer.world_size > 1``) every process prepares the same chips; one seeded stream of draws is dealt
out in turn to the processes (process ``r`` takes draws ``r, r + N, ...``), and each process validates every
``N``-th chip (the validation metric sums confusion counts over processes, so the score is the single-process one).
With one process the loaders are exactly those of a plain run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L  # noqa: N812
import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler, WeightedRandomSampler

from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import Chip
from gee_flood.errors import InputError
from gee_flood.models.card import ModelCard
from gee_flood.models.checkpoint import LoadedModel
from gee_flood.models.predictor import predict_logits
from gee_flood.models.preprocessing import Preprocessing
from gee_flood.training.config import TrainConfig
from gee_flood.training.data import (
    LazyPreparedChips,
    PreparedChip,
    Splits,
    TrainingSamples,
    ValidationSamples,
    prepare_chip,
    sample_weights,
)

#: Chips whose cached teacher logits are computed in one forward pass.
TEACHER_BATCH = 8


class FloodDataModule(L.LightningDataModule):
    """Training and validation data of one run.

    Args:
        config: The run's config (data, optimiser batch size and steps, distillation, trainer workers).
        splits: Its labelled, validation and unlabelled chips.
        card: The run's model card (its preprocessing makes the network inputs).
        teachers: The student's teachers (none for a teacher or baseline).
        online: Run the single teacher online on each batch (keep its inputs) instead of caching its logits.
        progress: Show progress bars while preparing chips.

    Attributes:
        train_chips: Prepared training chips (after :meth:`setup`).
        validation_chips: Prepared validation chips (after :meth:`setup`).
    """

    def __init__(
        self,
        config: TrainConfig,
        splits: Splits,
        card: ModelCard,
        teachers: Sequence[LoadedModel] = (),
        *,
        online: bool = False,
        progress: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.splits = splits
        self.preprocessing = Preprocessing.from_card(card)
        self.teachers = list(teachers)
        self.online = online
        self.progress = progress
        self.train_chips: Sequence[PreparedChip] | None = None
        self.validation_chips: list[PreparedChip] | None = None

    def setup(self, stage: str) -> None:
        """Prepare the chips once (fit and validate share them)."""
        if self.train_chips is None:
            self.train_chips = prepare_training_chips(
                self.config, self.splits, self.preprocessing, self.teachers, online=self.online, progress=self.progress
            )
        if self.validation_chips is None:
            self.validation_chips = [
                prepare_chip(chip, self.preprocessing, labels="hand")
                for chip in progress_over(self.splits.validation, "reading validation chips", self.progress)
            ]

    def train_dataloader(self) -> DataLoader:
        """Random crops of training chips: ``max_steps x batch_size`` draws per process, with replacement."""
        assert self.train_chips is not None, "setup() prepares the chips"
        data, optim = self.config.data, self.config.optim
        chips = self.train_chips
        samples = TrainingSamples(chips, crop_size=data.crop_size, flips=data.flips, rot90=data.rot90)
        world, rank = self._world_and_rank()
        draws = optim.max_steps * optim.batch_size * world
        flags = chips.has_label if isinstance(chips, LazyPreparedChips) else [c.has_label for c in chips]
        weights = sample_weights(flags, data.labelled_share)
        sampler: Sampler[int]
        if weights is None:
            sampler = RandomSampler(samples, replacement=True, num_samples=draws)
        else:
            sampler = WeightedRandomSampler(weights, num_samples=draws, replacement=True)
        if world > 1:
            sampler = EveryNthSampler(sampler, start=rank, step=world)
        workers = self.config.trainer.num_workers
        return DataLoader(
            samples,
            batch_size=optim.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        """Whole validation chips, four per batch (each process its share under DDP)."""
        assert self.validation_chips is not None, "setup() prepares the chips"
        world, rank = self._world_and_rank()
        indices = list(range(len(self.validation_chips)))
        if len(indices) >= world:  # fewer chips than processes: each validates all (same IoU, counts x N)
            indices = indices[rank::world]
        return DataLoader(ValidationSamples(self.validation_chips), batch_size=4, sampler=indices, num_workers=0)

    def _world_and_rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)


class EveryNthSampler(Sampler[int]):
    """Every ``step``-th index of another sampler, from ``start``: one process's share of a shared stream.

    Args:
        sampler: The stream of indices (the same on every process: same seed, same state).
        start: This process's rank.
        step: The number of processes.
    """

    def __init__(self, sampler: Sampler[int], *, start: int, step: int) -> None:
        self.sampler = sampler
        self.start = start
        self.step = step

    def __iter__(self) -> Iterator[int]:
        for position, index in enumerate(self.sampler):
            if position % self.step == self.start:
                yield index

    def __len__(self) -> int:
        total = len(self.sampler)  # type: ignore[arg-type]
        return max(0, math.ceil((total - self.start) / self.step))


def progress_over(dataset: ChipDataset, description: str, enabled: bool) -> Iterator[Any]:
    """Iterate over ``dataset`` with a progress bar (when ``enabled`` and on a terminal: :mod:`gee_flood._progress`)."""
    from gee_flood._progress import track

    return track(dataset, len(dataset), description, enabled=enabled)


def prepare_training_chips(
    config: TrainConfig,
    splits: Splits,
    preprocessing: Preprocessing,
    teachers: Sequence[LoadedModel],
    *,
    online: bool,
    progress: bool,
) -> Sequence[PreparedChip]:
    """Prepare labelled and unlabelled chips; for cached teachers, add their (averaged) logits, in batches.

    Raises:
        InputError: Chips read on the fly (``data.preload: false``) with cached teacher logits.
    """
    sources: list[tuple[ChipDataset, bool]] = [(splits.labelled, True)]
    if splits.unlabelled is not None and config.role == "student":
        sources.append((splits.unlabelled, False))
    teacher_modalities = list(dict.fromkeys(name for t in teachers for name in t.card.modality_names)) or None
    teacher_preprocessing = [Preprocessing.from_card(t.card) for t in teachers]
    cached = bool(teachers) and not online
    center = config.distill.center_on_threshold

    def prepare(chip: Chip, labelled: bool) -> PreparedChip:
        return prepare_chip(
            chip,
            preprocessing,
            labels=config.data.labels,
            otsu_method=config.data.otsu_method,
            use_label=labelled,
            teacher_modalities=teacher_modalities,
            teacher_preprocessing=teacher_preprocessing[0] if online else None,
        )

    if not config.data.preload:
        if cached:
            raise InputError("data.preload: false reads chips on the fly; use distill.mode: online for the teacher")
        return LazyPreparedChips(sources, prepare)
    prepared: list[PreparedChip] = []
    for dataset, labelled in sources:
        pending: list[tuple[PreparedChip, list[np.ndarray]]] = []
        description = "labelled chips" if labelled else "unlabelled chips"
        for chip in progress_over(dataset, description, progress):
            item = prepare(chip, labelled)
            if cached:
                pending.append((item, [one.chip_inputs(chip) for one in teacher_preprocessing]))
                if len(pending) == TEACHER_BATCH:
                    add_teacher_logits(pending, teachers, config.distill.teacher_flips, center=center)
                    pending = []
            prepared.append(item)
        if pending:
            add_teacher_logits(pending, teachers, config.distill.teacher_flips, center=center)
    return prepared


@torch.no_grad()
def add_teacher_logits(
    pending: Sequence[tuple[PreparedChip, list[np.ndarray]]],
    teachers: Sequence[LoadedModel],
    flips: bool,
    *,
    center: bool = False,
) -> None:
    """Set each pending chip's teacher logits: the logit of the teachers' mean water probability.

    Args:
        pending: Prepared chips with each teacher's network input (in ``teachers`` order).
        teachers: The teachers.
        flips: Average each teacher over flips (test-time augmentation).
        center: Shift each teacher's logits by ``-logit(threshold)`` (its tuned threshold) first, so a teacher that
            is right at probability 0.3 gives targets that cross 0.5 where it decides "water".
    """
    shapes = {inputs[0].shape[-2:] for _, inputs in pending}
    for shape in shapes:
        group = [p for p in pending if p[1][0].shape[-2:] == shape]
        probability = None
        for index, teacher in enumerate(teachers):
            batch = torch.from_numpy(np.stack([inputs[index] for _, inputs in group]))
            logits = predict_logits(teacher.model, teacher.card, batch, flips=flips)
            if center:
                threshold = min(max(teacher.card.labels.threshold, 1e-3), 1 - 1e-3)
                logits = logits - math.log(threshold / (1 - threshold))
            one = torch.sigmoid(logits)
            probability = one if probability is None else probability + one
        assert probability is not None
        logits = torch.logit((probability / len(teachers)).clamp(1e-6, 1 - 1e-6)).clamp(-20, 20)
        for (item, _), chip_logits in zip(group, logits.numpy(), strict=True):
            item.teacher_logits = chip_logits.astype(np.float16)

"""Training data: labelled subset / unlabelled pool / validation splits, per-chip tensors and augmentation.

Every training chip is turned once into a :class:`PreparedChip` (normalised inputs by modality, integer labels
with -1 wherever nothing is known, the mask of pixels where the teacher has a signal, and, for a student with a
cached teacher, the teacher's logits). :class:`TrainingSamples` crops and flips all of a chip's layers with the
same random transform, so the teacher's targets stay aligned with the student's input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import LABEL_NODATA, Chip, ModalitySpec
from gee_flood.data.factory import open_dataset
from gee_flood.data.weak_labels import s1_otsu_label
from gee_flood.errors import DataError, InputError
from gee_flood.models.preprocessing import Preprocessing, optical_valid


class SubsetChipDataset(ChipDataset):
    """Chips ``indices`` of another dataset, in that order."""

    def __init__(self, base: ChipDataset, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = list(indices)
        self.name = base.name
        self.modalities = dict(base.modalities)

    def __len__(self) -> int:
        return len(self.indices)

    def chip_ids(self) -> list[str]:
        """Return chip ids in index order."""
        ids = self.base.chip_ids()
        return [ids[i] for i in self.indices]

    def __getitem__(self, index: int) -> Chip:
        return self.base[self.indices[index]]


class ConcatChipDataset(ChipDataset):
    """Several datasets of the same modalities, one after the other (the unlabelled pool plus a fetched corpus)."""

    def __init__(self, parts: Sequence[ChipDataset]) -> None:
        self.parts = list(parts)
        self.name = self.parts[0].name
        self.modalities = dict(self.parts[0].modalities)
        self.offsets = np.cumsum([0] + [len(part) for part in self.parts]).tolist()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def chip_ids(self) -> list[str]:
        """Return chip ids in index order."""
        return [chip_id for part in self.parts for chip_id in part.chip_ids()]

    def __getitem__(self, index: int) -> Chip:
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.parts[part][index - self.offsets[part]]


class PreEventChipDataset(ChipDataset):
    """The pre-event images of a dataset's chips as chips of their own: modality ``m`` read from ``m_pre``.

    Args:
        base: A dataset opened with the ``_pre`` twins of the wanted modalities (and no labels).
        specs: The specs of the wanted (post-event) modalities, by name.
    """

    def __init__(self, base: ChipDataset, specs: dict[str, ModalitySpec]) -> None:
        missing = [f"{name}_pre" for name in specs if f"{name}_pre" not in base.modalities]
        if missing:
            raise InputError(f"data.pre_event_pool: dataset {base.name!r} has no pre-event twins {missing}")
        self.base = base
        self.name = base.name
        self.modalities = dict(specs)

    def __len__(self) -> int:
        return len(self.base)

    def chip_ids(self) -> list[str]:
        """Return the base chip ids with ``_pre`` appended."""
        return [f"{chip_id}_pre" for chip_id in self.base.chip_ids()]

    def __getitem__(self, index: int) -> Chip:
        chip = self.base[index]
        arrays = {name: chip.modalities[f"{name}_pre"] for name in self.modalities}
        return Chip(
            chip_id=f"{chip.chip_id}_pre",
            event=chip.event,
            modalities=arrays,
            specs=dict(self.modalities),
            label=None,
            valid=chip.valid,
            georef=chip.georef,
            extras={},
        )


@dataclass
class Splits:
    """The chips of one run.

    Attributes:
        labelled: Labelled training chips.
        validation: Labelled validation chips (model selection and threshold tuning only).
        unlabelled: Unlabelled chips (their labels are never read), or None.
        summary: Sizes and ids, recorded in the run directory.
    """

    labelled: ChipDataset
    validation: ChipDataset
    unlabelled: ChipDataset | None
    summary: dict[str, Any] = field(default_factory=dict)


def labelled_subset_ids(
    ids: Sequence[str], fraction: float, seed: int, validation: int | float | None
) -> tuple[list[str], list[str], list[str]]:
    """Split ``ids`` into (labelled-train, validation, pool) by a seeded permutation.

    The labelled subset is the first ``round(fraction * len(ids))`` ids of the permutation; validation chips
    (a count, or a share of the subset; none if None) are its first ids; the pool is the rest of the split.
    """
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    size = max(1, int(round(fraction * len(ids))))
    subset, pool = order[:size], order[size:]
    if validation is None:
        return subset, [], pool
    count = validation if isinstance(validation, int) else max(1, int(round(validation * size)))
    if count >= size:
        raise InputError(
            f"the labelled subset has {size} chips; cannot hold out {count} for validation "
            "(raise data.labelled_fraction or lower data.validation_count)"
        )
    return subset[count:], subset[:count], pool


def build_splits(config: Any, modalities: Sequence[str]) -> Splits:
    """Open the labelled, validation and unlabelled chips that a :class:`TrainConfig` describes.

    Args:
        config: The run's :class:`~gee_flood.training.config.TrainConfig`.
        modalities: Every modality to load (model inputs plus, for a student, the teacher's inputs).
    """
    data = config.data
    seed = data.subset_seed if data.subset_seed is not None else config.trainer.seed
    read_labels = None if data.labels == "otsu" else data.labels
    full = open_dataset(data.dataset, data.root, data.split, modalities=modalities, labels=read_labels, **data.options)
    ids = full.chip_ids()
    separate = data.validation is not None or data.validation_split is not None
    hold_out = None if separate else (data.validation_count or data.validation_fraction)
    train_ids, validation_ids, pool_ids = labelled_subset_ids(ids, data.labelled_fraction, seed, hold_out)
    index = {chip_id: i for i, chip_id in enumerate(ids)}
    labelled: ChipDataset = SubsetChipDataset(full, [index[i] for i in train_ids])
    if data.validation is not None:
        source = data.validation
        validation = open_dataset(
            source.dataset, source.root, source.split, modalities=data.inputs, labels="hand", **source.options
        )
    elif data.validation_split:
        validation = open_dataset(
            data.dataset, data.root, data.validation_split, modalities=config.data.inputs, labels="hand", **data.options
        )
    else:
        hand = full if data.labels == "hand" else open_dataset(data.dataset, data.root, data.split, **_opts(data))
        validation = SubsetChipDataset(hand, [index[i] for i in validation_ids])
    unlabelled: ChipDataset | None = None
    if data.unlabelled == "pool" and pool_ids:
        blind = open_dataset(data.dataset, data.root, data.split, modalities=modalities, labels=None, **data.options)
        unlabelled = SubsetChipDataset(blind, [index[i] for i in pool_ids])
    elif data.unlabelled != "none":
        source = data.unlabelled
        unlabelled = open_dataset(
            source.dataset, source.root, source.split, modalities=modalities, labels=None, **source.options
        )
    extra = [
        open_dataset(source.dataset, source.root, source.split, modalities=modalities, labels=None, **source.options)
        for source in data.extra_unlabelled
    ]
    if data.pre_event_pool and config.role == "student":
        twins = [f"{name}_pre" for name in modalities]
        before = open_dataset(data.dataset, data.root, data.split, modalities=twins, labels=None, **data.options)
        training = [index[i] for i in [*train_ids, *pool_ids]]  # never the validation chips
        extra.append(PreEventChipDataset(SubsetChipDataset(before, training), dict(full.modalities)))
    if extra:
        unlabelled = ConcatChipDataset([unlabelled, *extra] if unlabelled is not None else extra)
    summary = {
        "dataset": data.dataset,
        "split": data.split,
        "subset_seed": seed,
        "labelled_fraction": data.labelled_fraction,
        "labelled_chips": len(labelled),
        "validation_chips": len(validation),
        "unlabelled_chips": len(unlabelled) if unlabelled is not None else 0,
        "labelled_ids": train_ids,
        "validation_ids": validation.chip_ids() if separate else validation_ids,
    }
    return Splits(labelled=labelled, validation=validation, unlabelled=unlabelled, summary=summary)


def _opts(data: Any) -> dict[str, Any]:
    return {"modalities": data.inputs, "labels": "hand", **data.options}


@dataclass
class PreparedChip:
    """One chip as arrays ready for training (float16 to halve memory).

    Attributes:
        chip_id: The chip's id.
        inputs: ``(C, H, W)`` normalised model input.
        label: ``(H, W)`` int8: 1 water, 0 not, -1 ignored (no label, unlabelled chip, invalid input).
        teacher_valid: ``(H, W)`` bool: the teacher has a signal here (optical input clear, SAR valid).
        teacher_inputs: ``(C', H, W)`` normalised teacher input (online distillation), or None.
        teacher_logits: ``(H, W)`` cached teacher water logits, or None.
        has_label: Whether the chip is a labelled chip.
    """

    chip_id: str
    inputs: np.ndarray
    label: np.ndarray
    teacher_valid: np.ndarray
    teacher_inputs: np.ndarray | None = None
    teacher_logits: np.ndarray | None = None
    has_label: bool = True


def weak_otsu_labels(chip: Chip, inputs: Sequence[str], method: str = "global") -> np.ndarray:
    """Return Otsu weak labels of ``chip`` from the first band of its first SAR input (water darker)."""
    sar = [name for name in inputs if not chip.specs[name].optical]
    if not sar:
        raise InputError(f"Otsu weak labels need a SAR input; inputs are {list(inputs)}")
    band = chip.modality(sar[0])[0]
    try:
        label, _ = s1_otsu_label(band, chip.valid, method=method)  # type: ignore[arg-type]
    except DataError:
        label = np.full(chip.shape, LABEL_NODATA, np.int8)
    return label


def prepare_chip(
    chip: Chip,
    preprocessing: Preprocessing,
    *,
    labels: str = "hand",
    otsu_method: str = "global",
    use_label: bool = True,
    teacher_modalities: Sequence[str] | None = None,
    teacher_preprocessing: Preprocessing | None = None,
) -> PreparedChip:
    """Turn a chip into a :class:`PreparedChip`.

    The network input is ``preprocessing.chip_inputs(chip)`` (what inference computes), stored as float16.

    Args:
        chip: The chip.
        preprocessing: The model's preprocessing (:meth:`Preprocessing.from_card` of the run's card).
        labels: ``otsu`` computes weak labels from the SAR input; otherwise the chip's labels are used.
        otsu_method: Otsu variant for ``labels="otsu"``.
        use_label: False for unlabelled chips (everything -1).
        teacher_modalities: The teacher's input modalities (their optical ones decide ``teacher_valid``); default
            the model's.
        teacher_preprocessing: The teacher's preprocessing: store the teacher's input too (online distillation).
    """
    assert chip.valid is not None
    inputs = list(preprocessing.modalities)
    if not use_label:
        label = np.full(chip.shape, LABEL_NODATA, np.int8)
    elif labels == "otsu":
        label = weak_otsu_labels(chip, inputs, otsu_method)
    elif chip.label is None:
        raise DataError(f"chip {chip.chip_id}: has no label, but is in the labelled set")
    else:
        label = np.where(chip.valid, chip.label, LABEL_NODATA).astype(np.int8)
    teacher_input = None
    if teacher_preprocessing is not None:
        teacher_input = teacher_preprocessing.chip_inputs(chip).astype(np.float16)
    return PreparedChip(
        chip_id=chip.chip_id,
        inputs=preprocessing.chip_inputs(chip).astype(np.float16),
        label=label,
        teacher_valid=optical_valid(chip, list(teacher_modalities) if teacher_modalities else inputs),
        teacher_inputs=teacher_input,
        has_label=use_label,
    )


def check_modalities(dataset: ChipDataset, wanted: Sequence[str], *, where: str) -> dict[str, ModalitySpec]:
    """Return the dataset's specs of ``wanted`` or raise a one-line error naming what is missing."""
    missing = [name for name in wanted if name not in dataset.modalities]
    if missing:
        raise InputError(f"{where}: needs modalities {missing}; dataset has {sorted(dataset.modalities)}")
    return {name: dataset.modalities[name] for name in wanted}


class TrainingSamples(Dataset[dict[str, torch.Tensor]]):
    """Randomly cropped and flipped training samples of prepared chips.

    Every layer of a chip (inputs, labels, teacher mask, teacher logits or inputs) gets the same crop, flips and
    rotation. Randomness comes from torch's global generator, so ``lightning.seed_everything`` fixes it.

    Args:
        chips: Prepared chips.
        crop_size: Crop side (px), or None for whole chips.
        flips: Random horizontal and vertical flips.
        rot90: Random 90-degree rotations (square crops only).
    """

    def __init__(
        self, chips: Sequence[PreparedChip], *, crop_size: int | None = None, flips: bool = True, rot90: bool = True
    ) -> None:
        self.chips = chips if isinstance(chips, LazyPreparedChips) else list(chips)
        self.crop_size = crop_size
        self.flips = flips
        self.rot90 = rot90

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        chip = self.chips[index]
        layers: dict[str, np.ndarray] = {
            "inputs": chip.inputs,
            "label": chip.label[None],
            "teacher_valid": chip.teacher_valid[None],
        }
        if chip.teacher_inputs is not None:
            layers["teacher_inputs"] = chip.teacher_inputs
        if chip.teacher_logits is not None:
            layers["teacher_logits"] = chip.teacher_logits[None]
        height, width = chip.label.shape
        if self.crop_size is not None and (height > self.crop_size or width > self.crop_size):
            size_h, size_w = min(self.crop_size, height), min(self.crop_size, width)
            top = int(torch.randint(0, height - size_h + 1, ()).item())
            left = int(torch.randint(0, width - size_w + 1, ()).item())
            layers = {k: v[:, top : top + size_h, left : left + size_w] for k, v in layers.items()}
        if self.flips:
            if torch.rand(()) < 0.5:
                layers = {k: v[:, :, ::-1] for k, v in layers.items()}
            if torch.rand(()) < 0.5:
                layers = {k: v[:, ::-1, :] for k, v in layers.items()}
        sample_h, sample_w = layers["label"].shape[-2:]
        if self.rot90 and sample_h == sample_w:
            turns = int(torch.randint(0, 4, ()).item())
            if turns:
                layers = {k: np.rot90(v, turns, axes=(1, 2)) for k, v in layers.items()}
        sample = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in layers.items()}
        sample["inputs"] = sample["inputs"].float()
        sample["label"] = sample["label"][0].long()
        sample["teacher_valid"] = sample["teacher_valid"][0]
        if "teacher_inputs" in sample:
            sample["teacher_inputs"] = sample["teacher_inputs"].float()
        if "teacher_logits" in sample:
            sample["teacher_logits"] = sample["teacher_logits"][0].float()
        return sample


class ValidationSamples(Dataset[dict[str, torch.Tensor]]):
    """Whole validation chips: normalised input and labels (-1 where invalid or unlabelled)."""

    def __init__(self, chips: Sequence[PreparedChip]) -> None:
        self.chips = list(chips)

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        chip = self.chips[index]
        return {"inputs": torch.from_numpy(chip.inputs).float(), "label": torch.from_numpy(chip.label).long()}


def sample_weights(has_label: Sequence[bool], labelled_share: float | None) -> list[float] | None:
    """Per-chip sampling weights so that labelled chips make up ``labelled_share`` of draws (None: uniform).

    Args:
        has_label: For every training chip, whether it is a labelled chip.
        labelled_share: Wanted share of labelled chips among draws.
    """
    labelled = sum(1 for flag in has_label if flag)
    unlabelled = len(has_label) - labelled
    if labelled_share is None or labelled == 0 or unlabelled == 0:
        return None
    return [labelled_share / labelled if flag else (1 - labelled_share) / unlabelled for flag in has_label]


class LazyPreparedChips(Sequence[PreparedChip]):
    """Training chips prepared on access (for corpora too large to hold in memory).

    Args:
        parts: ``(dataset, labelled)`` pairs, concatenated in order.
        prepare: ``prepare(chip, labelled) -> PreparedChip``.
    """

    def __init__(self, parts: Sequence[tuple[ChipDataset, bool]], prepare: Callable[[Chip, bool], PreparedChip]):
        self.parts = list(parts)
        self.prepare = prepare
        self.offsets = np.cumsum([0] + [len(dataset) for dataset, _ in self.parts]).tolist()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def has_label(self) -> list[bool]:
        """Whether each chip is labelled, without reading any chip."""
        return [labelled for dataset, labelled in self.parts for _ in range(len(dataset))]

    def __getitem__(self, index: int) -> PreparedChip:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        dataset, labelled = self.parts[part]
        return self.prepare(dataset[index - self.offsets[part]], labelled)

"""One way to open any dataset by name: ``open_dataset("sen1floods11", root, "train")``.

Training and evaluation open data only through :func:`open_dataset`. A dataset is an *opener*: a function
``(root, split, *, modalities, labels, ids, **kw) -> ChipDataset`` registered under a name with
:func:`register_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gee_flood.data.base import ChipDataset
from gee_flood.errors import InputError

#: Signature of an opener: ``(root, split, *, modalities, labels, ids, **kw) -> ChipDataset``.
DatasetOpener = Callable[..., ChipDataset]

#: ``labels`` default: each dataset's natural labels (hand labels for Sen1Floods11's hand part, EMS masks for
#: OMBRIA, none for a weak part or fetched corpus unless asked).
AUTO = "auto"

_OPENERS: dict[str, DatasetOpener] = {}


def register_dataset(name: str, opener: DatasetOpener) -> None:
    """Register (or replace) the opener of dataset ``name``."""
    _OPENERS[name] = opener


def known_datasets() -> list[str]:
    """Return the names :func:`open_dataset` accepts."""
    return sorted(_OPENERS)


def open_dataset(
    name: str,
    root: str | Path | None,
    split: str,
    *,
    modalities: Sequence[str] | None = None,
    labels: str | None = AUTO,
    ids: Sequence[str] | None = None,
    **kw: Any,
) -> ChipDataset:
    """Open dataset ``name`` at ``root``.

    Args:
        name: ``"sen1floods11"`` (hand or weak part; a fetched corpus is a weak part) or ``"ombria"``
            (see :func:`known_datasets`).
        root: Dataset folder (see each reader).
        split: Split name (Sen1Floods11: train, valid, test, bolivia, all; OMBRIA: train, test).
        modalities: Modality names to load; default: every modality the dataset has.
        labels: Label source. Sen1Floods11: ``"hand"``, ``"s1otsu"``, ``"s2index"``; OMBRIA: ``"hand"`` (its EMS
            masks); ``None`` for unlabelled; ``"auto"`` for the dataset's natural labels.
        ids: Optional subset of chip ids, in order.
        **kw: Reader-specific options (Sen1Floods11: ``part="hand"|"weak"``, ``splits_dir``...). For
            Sen1Floods11 without ``part``, a folder with only ``WeaklyLabeled/`` (a fetched corpus) opens as the
            weak part.

    Raises:
        InputError: Unknown dataset name (the message lists the known ones) or bad arguments.
    """
    opener = _OPENERS.get(name)
    if opener is None:
        raise InputError(f"unknown dataset {name!r}; known datasets: {', '.join(known_datasets())}")
    return opener(root, split, modalities=modalities, labels=labels, ids=ids, **kw)


def _open_sen1floods11(
    root: str | Path | None,
    split: str,
    *,
    modalities: Sequence[str] | None,
    labels: str | None,
    ids: Sequence[str] | None,
    part: str | None = None,
    **kw: Any,
) -> ChipDataset:
    from gee_flood.data.sen1floods11 import Sen1Floods11Dataset, find_layout

    if root is None:
        raise InputError("dataset 'sen1floods11' needs a root folder")
    if part is None:
        events_dir, _ = find_layout(root)
        part = "weak" if not (events_dir / "HandLabeled").is_dir() else "hand"
    return Sen1Floods11Dataset(root, split, part=part, modalities=modalities, labels=labels, ids=ids, **kw)  # type: ignore[arg-type]


def _open_ombria(
    root: str | Path | None,
    split: str,
    *,
    modalities: Sequence[str] | None,
    labels: str | None,
    ids: Sequence[str] | None,
    **kw: Any,
) -> ChipDataset:
    from gee_flood.data.ombria import OmbriaDataset

    if root is None:
        raise InputError("dataset 'ombria' needs a root folder")
    if labels not in (AUTO, "hand", None):
        raise InputError(f"OMBRIA has no label source {labels!r}; use 'hand' (its EMS flood masks) or None")
    if kw:
        raise InputError(f"OMBRIA takes no options {sorted(kw)}")
    return OmbriaDataset(
        root,
        split,
        modalities=list(modalities) if modalities is not None else None,
        ids=list(ids) if ids is not None else None,
        with_labels=labels is not None,
    )


register_dataset("sen1floods11", _open_sen1floods11)
register_dataset("ombria", _open_ombria)


def _open_synthetic(
    root: str | Path | None,
    split: str,
    *,
    modalities: Sequence[str] | None,
    labels: str | None,
    ids: Sequence[str] | None,
    **kw: Any,
) -> ChipDataset:
    """Synthetic scenes need no root; options (scenes, size, chip_size, seed) come as keyword arguments."""
    from gee_flood.data.synthetic import SyntheticDataset

    if ids is not None:
        raise InputError("the synthetic dataset takes no ids; choose scenes/seed instead")
    if labels not in (AUTO, "hand", "truth", None):
        raise InputError(f"synthetic scenes have no label source {labels!r}; use 'truth' or None")
    return SyntheticDataset(split, modalities=modalities, with_labels=labels is not None, **kw)


register_dataset("synthetic", _open_synthetic)

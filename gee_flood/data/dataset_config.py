"""Per-dataset configs (``configs/datasets/<name>.yaml``) and normalisation statistics computed from training data.

The dataset configs ship inside the package (``gee_flood.configs.datasets``, also the repository's
``configs/datasets/`` through the top-level link) and are read through :mod:`importlib.resources`, so they are
found from a wheel too.

A :class:`DatasetConfig` says what a dataset is (splits, modalities, label sources) and, where a published recipe
exists, its normalisation (:class:`~gee_flood.data.normalization.NormalizationStats`). Statistics for anything
else are computed from the training split at run time with :func:`compute_dataset_stats` (``gee-flood data
stats``) and written as YAML with :func:`write_stats`; OMBRIA-derived numbers are never committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gee_flood._io import write_text_atomic
from gee_flood.data.chip import Chip
from gee_flood.data.factory import open_dataset
from gee_flood.data.normalization import NormalizationStats, compute_stats
from gee_flood.errors import DataError, InputError

#: Folder of the dataset configs shipped with the package (a :class:`~pathlib.Path` when installed as files).
DATASET_CONFIG_DIR: Traversable = resources.files("gee_flood.configs.datasets")


class DatasetConfig(BaseModel):
    """What a dataset is and how its inputs are normalised.

    Attributes:
        name: Dataset name as :func:`~gee_flood.data.open_dataset` knows it.
        description: One paragraph for humans.
        citation: Reference to cite.
        splits: Split names.
        modalities: Modality names the dataset can provide.
        label_sources: Label sources (``hand``, ``s1otsu``, ``s2index``).
        normalization: Published or fixed normalisation (clip, mean, std per band in the modality's units), or None
            when it must be computed from the training split.
        normalization_source: Where the normalisation numbers come from.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    citation: str = ""
    splits: list[str]
    modalities: list[str]
    label_sources: list[str] = []
    normalization: NormalizationStats | None = None
    normalization_source: str = ""


def load_dataset_config(name_or_path: str | Path) -> DatasetConfig:
    """Load a dataset config by name (``"sen1floods11"`` -> packaged ``datasets/sen1floods11.yaml``) or path.

    Raises:
        InputError: File not found, not YAML, or not a valid config.
    """
    given = Path(name_or_path)
    path: Path | Traversable = given
    if given.suffix not in (".yaml", ".yml"):
        path = DATASET_CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(list_dataset_configs()) or "none"
        raise InputError(f"{name_or_path}: dataset config not found (known configs: {known})")
    payload = _read_yaml(path)
    try:
        return DatasetConfig.model_validate(payload)
    except ValidationError as error:
        raise InputError(f"{path}: not a valid dataset config ({_first_error(error)})") from None


def list_dataset_configs() -> list[str]:
    """Return the names of the dataset configs shipped with the package, sorted (``ombria``, ``sen1floods11``)."""
    return sorted(entry.name.removesuffix(".yaml") for entry in DATASET_CONFIG_DIR.iterdir() if _is_yaml(entry))


def _is_yaml(entry: Traversable) -> bool:
    return entry.name.endswith(".yaml") and entry.is_file()


def write_stats(stats: NormalizationStats, path: str | Path) -> Path:
    """Write normalisation statistics as YAML, atomically, and return the path."""
    text = "# Normalisation statistics: z = (clip(x) - mean) / std per band, in each modality's units.\n"
    text += yaml.safe_dump(stats.model_dump(), sort_keys=False)
    return write_text_atomic(path, text)


def format_stats(stats: NormalizationStats) -> str:
    """Return statistics as human lines: ``s1: VV -15.06±4.182, VH -23.3±5.62``."""
    lines = []
    for name, band_stats in stats.modalities.items():
        pairs = zip(band_stats.bands, band_stats.mean, band_stats.std, strict=True)
        lines.append(f"{name}: " + ", ".join(f"{band} {mean:.4g}±{std:.4g}" for band, mean, std in pairs))
    return "\n".join(lines)


def read_stats(path: str | Path) -> NormalizationStats:
    """Read statistics written by :func:`write_stats` (or a dataset config's ``normalization`` block).

    Raises:
        InputError: File not found, not YAML, or not statistics.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: statistics file not found")
    payload = _read_yaml(path)
    if isinstance(payload, dict) and "normalization" in payload:  # a dataset config
        payload = payload["normalization"]
        if payload is None:
            raise InputError(f"{path}: has no normalisation statistics (compute them with 'gee-flood data stats')")
    try:
        return NormalizationStats.model_validate(payload)
    except ValidationError as error:
        raise InputError(f"{path}: not normalisation statistics ({_first_error(error)})") from None


def compute_dataset_stats(
    name: str,
    root: str | Path,
    split: str = "train",
    modalities: Sequence[str] | None = None,
    *,
    max_chips: int | None = None,
    use_config_clip: bool = True,
    progress: bool = True,
    seed: int = 0,
    **open_kw: Any,
) -> NormalizationStats:
    """Compute per-band mean and std of ``modalities`` over the valid pixels of a dataset split.

    Args:
        name: Dataset name (see :func:`~gee_flood.data.open_dataset`).
        root: Dataset folder.
        split: Split to compute from; use the training split only.
        modalities: Modalities (default: every modality of the dataset).
        max_chips: Use at most this many chips (a seeded random subset), or all.
        use_config_clip: Clip values as the dataset config's published normalisation does before computing
            (e.g. Sen1Floods11 S1 to [-50, 1] dB), and record the clip with the statistics.
        progress: Show a progress bar.
        seed: Seed of the chip and pixel subsampling.
        **open_kw: Passed to :func:`~gee_flood.data.open_dataset` (e.g. ``part="weak"``).

    Returns:
        The statistics (``dataset`` set to ``name``).

    Raises:
        InputError: Bad dataset, split or modality.
        DataError: No chips, or a band without valid pixels.
    """
    dataset = open_dataset(name, root, split, modalities=modalities, labels=None, **open_kw)
    names = list(dataset.modalities)
    indices = list(range(len(dataset)))
    if not indices:
        raise DataError(f"{name} {split}: no chips to compute statistics from")
    if max_chips is not None and max_chips < 1:
        raise InputError(f"max_chips must be at least 1, got {max_chips}")
    if max_chips is not None and max_chips < len(indices):
        indices = sorted(np.random.default_rng(seed).choice(len(indices), max_chips, replace=False).tolist())
    clip: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
    if use_config_clip:
        config = load_dataset_config(name) if name in list_dataset_configs() else None
        if config is not None and config.normalization is not None:
            for modality, band_stats in config.normalization.modalities.items():
                if modality in names and band_stats.clip_min is not None and band_stats.clip_max is not None:
                    clip[modality] = (band_stats.clip_min, band_stats.clip_max)

    def chips() -> Iterator[Chip]:
        for index in _track(indices, f"{name} {split}: statistics", enabled=progress):
            yield dataset[index]

    return compute_stats(chips(), names, dataset=name, clip=clip or None, seed=seed)


def _track(items: Sequence[int], description: str, *, enabled: bool) -> Iterator[int]:
    from gee_flood._progress import track

    yield from track(items, len(items), description, enabled=enabled)


def _read_yaml(path: Path | Traversable) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(f"{path}: unreadable YAML ({' '.join(str(error).split())})") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    return f"{where}: {first['msg']}"


__all__ = [
    "DATASET_CONFIG_DIR",
    "DatasetConfig",
    "compute_dataset_stats",
    "format_stats",
    "list_dataset_configs",
    "load_dataset_config",
    "read_stats",
    "write_stats",
]

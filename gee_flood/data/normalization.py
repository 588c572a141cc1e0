"""Per-band normalisation statistics, computed from training data and stored with configs and checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from gee_flood.data.chip import Chip
from gee_flood.errors import DataError


class BandStats(BaseModel):
    """Statistics of one modality's bands (same order as the modality's band names).

    Attributes:
        bands: Band names, in order.
        mean: Per-band mean in the modality's units.
        std: Per-band standard deviation in the modality's units (never 0).
        clip_min: Values are clipped to at least this before normalising (per band), or None.
        clip_max: Values are clipped to at most this before normalising (per band), or None.
    """

    bands: list[str]
    mean: list[float]
    std: list[float]
    clip_min: list[float] | None = None
    clip_max: list[float] | None = None


class NormalizationStats(BaseModel):
    """Normalisation for every modality of a dataset: ``(clip(x) - mean) / std``, per band."""

    dataset: str = ""
    modalities: dict[str, BandStats] = Field(default_factory=dict)

    def normalize(self, modality: str, array: np.ndarray) -> np.ndarray:
        """Normalise a ``(bands, H, W)`` array of ``modality``; NaN (no data) becomes 0 (the mean)."""
        if modality not in self.modalities:
            raise DataError(f"no normalisation statistics for modality {modality!r}; have {sorted(self.modalities)}")
        stats = self.modalities[modality]
        if array.shape[0] != len(stats.bands):
            raise DataError(f"modality {modality!r}: {array.shape[0]} bands, statistics are for {len(stats.bands)}")
        shape = (-1, 1, 1)
        out = array.astype(np.float32, copy=True)
        if stats.clip_min is not None or stats.clip_max is not None:
            lo = np.asarray(stats.clip_min, np.float32).reshape(shape) if stats.clip_min is not None else None
            hi = np.asarray(stats.clip_max, np.float32).reshape(shape) if stats.clip_max is not None else None
            out = np.clip(out, lo, hi)
        out -= np.asarray(stats.mean, np.float32).reshape(shape)
        out /= np.asarray(stats.std, np.float32).reshape(shape)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def standardize_per_chip(array: np.ndarray) -> np.ndarray:
    """Return ``(x - mean) / std`` of each band of a ``(bands, H, W)`` array over its own finite pixels.

    For images whose brightness scale differs from chip to chip (OMBRIA's 8-bit PNGs are stretched per image), this
    removes the per-image scale before the dataset-wide normalisation. NaN stays NaN.
    """
    out = array.astype(np.float32, copy=True)
    for band in out:
        finite = band[np.isfinite(band)]
        if finite.size:
            band -= finite.mean()
            band /= max(float(finite.std()), 1e-6)
    return out


def compute_stats(
    chips: Iterable[Chip],
    modalities: Sequence[str],
    *,
    dataset: str = "",
    clip: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    max_pixels_per_chip: int = 65536,
    seed: int = 0,
    per_chip_standardized: Sequence[str] = (),
) -> NormalizationStats:
    """Compute per-band mean and std over valid pixels of ``chips`` (training data only).

    Each chip goes through the step :class:`gee_flood.models.preprocessing.Preprocessing` applies before
    normalisation (:func:`standardize_per_chip` where asked), so the statistics describe exactly what the network's
    normalisation is applied to.

    Args:
        chips: Training chips.
        modalities: Modality names to compute statistics for.
        dataset: Dataset name recorded with the statistics.
        clip: Optional per-modality ``(mins, maxs)`` applied before the statistics (and at normalisation).
        max_pixels_per_chip: Random subsample of valid pixels per chip, bounding memory.
        seed: Seed of the subsample.
        per_chip_standardized: Modalities standardised over each chip first (as the model card will say).

    Returns:
        The statistics.
    """
    rng = np.random.default_rng(seed)
    sums: dict[str, np.ndarray] = {}
    squares: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    bands: dict[str, list[str]] = {}
    clip = clip or {}
    for chip in chips:
        for name in modalities:
            array = chip.modality(name)
            if name in per_chip_standardized:
                array = standardize_per_chip(array)
            bands[name] = list(chip.specs[name].bands)
            flat = array.reshape(array.shape[0], -1)
            if name in clip:
                lo, hi = clip[name]
                flat = np.clip(flat, np.asarray(lo)[:, None], np.asarray(hi)[:, None])
            if flat.shape[1] > max_pixels_per_chip:
                flat = flat[:, rng.choice(flat.shape[1], max_pixels_per_chip, replace=False)]
            finite = np.isfinite(flat)
            values = np.where(finite, flat, 0.0).astype(np.float64)
            sums[name] = sums.get(name, 0) + values.sum(axis=1)
            squares[name] = squares.get(name, 0) + (values**2).sum(axis=1)
            counts[name] = counts.get(name, 0) + finite.sum(axis=1)
    if not counts:
        raise DataError(f"cannot compute normalisation statistics for {dataset or 'dataset'}: no chips")
    result = NormalizationStats(dataset=dataset)
    for name in modalities:
        n = counts[name]
        if (n == 0).any():
            raise DataError(f"cannot compute statistics for modality {name!r}: a band has no valid pixels")
        mean = sums[name] / n
        std = np.sqrt(np.maximum(squares[name] / n - mean**2, 0.0))
        std = np.where(std < 1e-6, 1.0, std)
        clip_range = clip.get(name)
        result.modalities[name] = BandStats(
            bands=bands[name],
            mean=mean.tolist(),
            std=std.tolist(),
            clip_min=list(map(float, clip_range[0])) if clip_range is not None else None,
            clip_max=list(map(float, clip_range[1])) if clip_range is not None else None,
        )
    return result

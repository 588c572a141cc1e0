"""The one owner of "chip -> network input": :class:`Preprocessing`, built from a model card.

Training data preparation (:mod:`gee_flood.training.data`), normalisation statistics
(:func:`gee_flood.data.normalization.compute_stats`), the chip predictor
(:class:`gee_flood.models.predictor.CheckpointPredictor`) and the tiled scene runner
(:class:`gee_flood.inference.runner.TileRunner`) all turn raw modality arrays into network input here, so a
checkpoint sees at inference exactly the channels, order and scaling it was trained on. The steps, in order, per
modality named by the card:

1. per-chip standardisation (:func:`standardize_per_chip`) for the modalities the card lists in
   ``per_chip_standardized`` (statistics are computed over the result of this step);
2. the card's per-band normalisation ``(clip(x) - mean) / std``, no data (NaN) becoming 0 (the band mean);
3. channels concatenated in the card's input order, float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gee_flood.data.chip import Chip
from gee_flood.data.normalization import NormalizationStats, standardize_per_chip
from gee_flood.errors import DataError

if TYPE_CHECKING:
    from gee_flood.models.card import ModelCard


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """How raw modality arrays become a network's ``(channels, H, W)`` float32 input.

    Build it with :meth:`from_card` (a trained or about-to-be-trained model), or directly with
    ``normalization=None`` to compute the statistics a card will carry (:meth:`standardized` only).

    Attributes:
        modalities: Input modality names in channel order.
        normalization: Per-band statistics, or None before they are computed.
        per_chip_standardized: Modalities standardised over each chip before ``normalization``.
    """

    modalities: tuple[str, ...]
    normalization: NormalizationStats | None = None
    per_chip_standardized: frozenset[str] = frozenset()

    @classmethod
    def from_card(cls, card: ModelCard) -> Preprocessing:
        """The preprocessing a model card describes (its inputs, normalisation and per-chip standardisation)."""
        return cls(
            modalities=tuple(card.modality_names),
            normalization=card.normalization,
            per_chip_standardized=frozenset(card.per_chip_standardized),
        )

    def standardized(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Step 1 only: each input modality, per-chip standardised where the card says so, else as it is.

        Args:
            arrays: ``(bands, H, W)`` arrays in the modalities' units, by modality name (extra names ignored).

        Raises:
            DataError: If a modality is missing.
        """
        out: dict[str, np.ndarray] = {}
        for name in self.modalities:
            if name not in arrays:
                raise DataError(f"no {name!r} input; have {sorted(arrays)}")
            array = arrays[name]
            out[name] = standardize_per_chip(array) if name in self.per_chip_standardized else array
        return out

    def arrays_inputs(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the ``(channels, H, W)`` float32 network input of raw arrays by modality name.

        Args:
            arrays: ``(bands, H, W)`` arrays in the modalities' units (dB, reflectance...); NaN = no data.

        Raises:
            DataError: If a modality is missing, has no statistics, or a different band count.
        """
        if self.normalization is None:
            raise DataError("preprocessing without normalisation statistics cannot make network inputs")
        standardized = self.standardized(arrays)
        normalized = [self.normalization.normalize(name, standardized[name]) for name in self.modalities]
        return np.concatenate(normalized, axis=0).astype(np.float32, copy=False)

    def chip_inputs(self, chip: Chip) -> np.ndarray:
        """Return the ``(channels, H, W)`` float32 network input of ``chip`` (its band names checked first).

        Raises:
            DataError: If the chip lacks a modality or the statistics are for other bands.
        """
        if self.normalization is not None:
            for name in self.modalities:
                band_stats = self.normalization.modalities.get(name)
                if name in chip.specs and band_stats is not None and list(chip.specs[name].bands) != band_stats.bands:
                    raise DataError(
                        f"chip {chip.chip_id}: modality {name!r} has bands {list(chip.specs[name].bands)}, the "
                        f"normalisation statistics are for {band_stats.bands}"
                    )
        return self.arrays_inputs({name: chip.modality(name) for name in self.modalities})


def optical_valid(chip: Chip, modalities: Sequence[str]) -> np.ndarray:
    """Return a bool ``(H, W)`` mask where every *optical* modality among ``modalities`` sees the ground.

    A pixel is excluded where any optical band is NaN (no data, or cloud written as no data) or where the chip's
    ``extras["s2_cloud"]`` (or ``extras["<modality>_cloud"]``) flags a cloud. Pixels invalid for the chip's SAR
    input (``chip.valid``) are excluded too. With no optical modality the mask is ``chip.valid``.
    """
    assert chip.valid is not None
    mask = chip.valid.copy()
    for name in modalities:
        if not chip.specs[name].optical:
            continue
        mask &= np.isfinite(chip.modality(name)).all(axis=0)
        for key in (f"{name}_cloud", "s2_cloud" if name.startswith("s2") else None):
            if key is not None and key in chip.extras:
                mask &= ~chip.extras[key].astype(bool)
    return mask

"""SAR-specific augmentation of training batches: speckle, gain shifts, resolution jitter, incidence-like ramps.

:class:`SarAugment` degrades the SAR channels of a normalised ``(N, C, H, W)`` batch the way another sensor, date
or orbit would: multiplicative gamma speckle with a configurable equivalent number of looks, a calibration/
intensity shift per acquisition and per band, a linear ramp across the crop (backscatter falls with the incidence
angle across a swath), and a coarser resolution (down-sampled, then up-sampled back to the crop size). Optical
channels (a teacher's S2) are left as they are. Amplitudes are in dB; the normalised inputs are converted per band
(:func:`sar_channel_groups`).

Written by hand with torch tensor ops: torchvision's and kornia's photometric transforms are additive Gaussian
noise, colour jitter and blur for RGB images; none draws multiplicative gamma speckle in dB, a per-acquisition dB
gain or an incidence-angle ramp, and none treats some channels of a multi-modal input as SAR and others as optical.
The resampling itself is ``torch.nn.functional.interpolate`` (area down, bilinear up).

Random parameters and the speckle field are drawn on the CPU from torch's global generator (which
``lightning.seed_everything`` seeds), so a seed gives the same augmentation on any device. Under DDP every process
is seeded alike, so the processes draw the same augmentation parameters for their different batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812

from gee_flood.data.chip import MODALITIES
from gee_flood.models.card import ModelCard
from gee_flood.training.config import AugmentConfig


@dataclass(frozen=True)
class SarGroup:
    """The channels of one SAR acquisition in the network input.

    Attributes:
        channels: Channel indices in the network input.
        db_per_unit: dB that one normalised unit stands for, per channel.
    """

    channels: tuple[int, ...]
    db_per_unit: tuple[float, ...]


def sar_channel_groups(card: ModelCard, unit_db: float) -> list[SarGroup]:
    """Return the SAR acquisitions of a model's input, in channel order.

    A modality is SAR when the project knows it as non-optical (:data:`gee_flood.data.chip.MODALITIES`) or, if
    unknown, when its units are dB. A band in dB that is not standardised per chip stands for its normalisation
    std in dB per unit; any other SAR band (OMBRIA's 8-bit, per-image stretched SAR) for ``unit_db``.

    Args:
        card: The model's card (inputs in channel order, normalisation, per-chip standardisation).
        unit_db: dB per normalised unit of SAR bands not in dB.
    """
    groups: list[SarGroup] = []
    offset = 0
    for modality in card.inputs:
        count = len(modality.bands)
        spec = MODALITIES.get(modality.name)
        sar = (not spec.optical) if spec is not None else modality.units == "dB"
        if sar:
            stats = card.normalization.modalities.get(modality.name)
            in_db = modality.units == "dB" and modality.name not in card.per_chip_standardized and stats is not None
            scale = tuple(float(s) for s in stats.std) if in_db and stats is not None else (unit_db,) * count
            groups.append(SarGroup(tuple(range(offset, offset + count)), scale))
        offset += count
    return groups


class SarAugment:
    """Random SAR degradations of the SAR channels of a normalised batch.

    Args:
        config: Amplitudes and probability (``augment`` section of the training config).
        groups: The SAR acquisitions of the input (:func:`sar_channel_groups`); no group: the batch is unchanged.
    """

    def __init__(self, config: AugmentConfig, groups: Sequence[SarGroup]) -> None:
        self.config = config
        self.groups = list(groups)

    @classmethod
    def for_card(cls, config: AugmentConfig, card: ModelCard) -> SarAugment | None:
        """The augmentation of a model's training batches, or None when ``config.enabled`` is off."""
        if not config.enabled:
            return None
        return cls(config, sar_channel_groups(card, config.unit_db))

    def __call__(self, inputs: Tensor) -> Tensor:
        """Return an augmented copy of ``inputs`` ``(N, C, H, W)`` (normalised); the input is not changed."""
        if not self.groups or inputs.shape[0] == 0:
            return inputs
        out = inputs.clone()
        count, _, height, width = inputs.shape
        channels = [c for group in self.groups for c in group.channels]
        scale = torch.tensor([s for group in self.groups for s in group.db_per_unit], dtype=torch.float32)
        sar = out[:, channels].float()
        sar = self._resolution(sar, count)
        offset_db = torch.zeros(count, len(channels), height, width)
        offset_db += self._speckle_db(count, len(channels), height, width)
        offset_db += self._gain_db(count, len(channels))
        offset_db += self._gradient_db(count, height, width)
        sar = sar + (offset_db / scale.view(1, -1, 1, 1)).to(sar.device)
        out[:, channels] = sar.to(out.dtype)
        return out

    def _chosen(self, count: int) -> Tensor:
        """Which samples get a transform (``probability`` each)."""
        return torch.rand(count) < self.config.probability

    def _resolution(self, sar: Tensor, count: int) -> Tensor:
        """Down-sample chosen samples by a random scale (area) and up-sample back (bilinear)."""
        low = self.config.min_resolution_scale
        chosen = self._chosen(count)
        scales = low + (1 - low) * torch.rand(count)
        if low >= 1:
            return sar
        height, width = sar.shape[-2:]
        for index in torch.nonzero(chosen).flatten().tolist():
            size = (max(1, round(height * float(scales[index]))), max(1, round(width * float(scales[index]))))
            if size == (height, width):
                continue
            coarse = F.interpolate(sar[index : index + 1], size=size, mode="area")
            sar[index : index + 1] = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        return sar

    def _speckle_db(self, count: int, channels: int, height: int, width: int) -> Tensor:
        """``10 log10(G)`` with ``G ~ Gamma(L, rate L)`` (mean 1 in intensity) on chosen samples, else 0."""
        looks = self.config.speckle_looks
        chosen = self._chosen(count)
        if looks is None:
            return torch.zeros(())
        rate = torch.tensor(float(looks))
        gamma = torch.distributions.Gamma(rate, rate).sample((count, channels, height, width))
        speckle = 10 * torch.log10(gamma.clamp_min(1e-6))
        return speckle * chosen.view(-1, 1, 1, 1)

    def _gain_db(self, count: int, channels: int) -> Tensor:
        """Per sample: one shift per acquisition plus one per band, uniform in their ranges (dB)."""
        chosen = self._chosen(count)
        per_group = (2 * torch.rand(count, len(self.groups)) - 1) * self.config.gain_db
        expand = torch.tensor([g for g, group in enumerate(self.groups) for _ in group.channels])
        per_band = (2 * torch.rand(count, channels) - 1) * self.config.band_gain_db
        gain = (per_group[:, expand] + per_band) * chosen.view(-1, 1)
        return gain.view(count, channels, 1, 1)

    def _gradient_db(self, count: int, height: int, width: int) -> Tensor:
        """A linear ramp across the crop in a random direction, edge to edge up to ``gradient_db`` dB."""
        chosen = self._chosen(count)
        amplitude = (2 * torch.rand(count) - 1) * self.config.gradient_db * chosen
        angle = 2 * torch.pi * torch.rand(count)
        rows = torch.linspace(-0.5, 0.5, height).view(1, height, 1)
        cols = torch.linspace(-0.5, 0.5, width).view(1, 1, width)
        along = torch.cos(angle).view(-1, 1, 1) * cols + torch.sin(angle).view(-1, 1, 1) * rows
        return (amplitude.view(-1, 1, 1) * along).unsqueeze(1)

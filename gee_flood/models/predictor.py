"""Run a gee-flood checkpoint on chips: water probability and water mask.

:class:`CheckpointPredictor` implements the evaluation ``Predictor`` protocol (``.name``,
``.required_modalities``, ``.predict(chip) -> (H, W) uint8 mask``) for any checkpoint whose card names its inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gee_flood.data.chip import Chip
from gee_flood.models.card import ModelCard
from gee_flood.models.checkpoint import LoadedModel, load_model
from gee_flood.models.preprocessing import Preprocessing


def _pad_multiple(card: ModelCard) -> int:
    """Return the size multiple the network's input must have (``2 ** encoder_depth``)."""
    return 2 ** int(card.architecture.encoder_depth)


@torch.no_grad()
def predict_logits(model: nn.Module, card: ModelCard, inputs: torch.Tensor, *, flips: bool = False) -> torch.Tensor:
    """Return water logits ``(N, H, W)`` for normalised inputs ``(N, C, H, W)``, padding to the network's multiple.

    Args:
        model: The network (eval mode).
        card: Its card (for the size multiple).
        inputs: Normalised input batch on the model's device.
        flips: Average probabilities over horizontal/vertical flips (test-time augmentation), returned as logits.
    """
    multiple = _pad_multiple(card)
    height, width = inputs.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        inputs = nn.functional.pad(inputs, (0, pad_w, 0, pad_h), mode=mode)
    if not flips:
        logits = model(inputs)[:, 0]
    else:
        probability = torch.zeros(inputs.shape[0], *inputs.shape[-2:], device=inputs.device)
        for dims in ((), (-1,), (-2,), (-2, -1)):
            flipped = inputs.flip(dims) if dims else inputs
            out = torch.sigmoid(model(flipped)[:, 0].float())
            probability += out.flip(dims) if dims else out
        logits = torch.logit((probability / 4).clamp(1e-6, 1 - 1e-6))
    return logits[..., :height, :width].float()


class CheckpointPredictor:
    """Predict water with a trained checkpoint (teacher, student or baseline).

    Args:
        path: A checkpoint written by gee-flood training (Lightning ``.ckpt``) or :func:`save_checkpoint`.
        device: Torch device to run on (``"cpu"``, ``"cuda"``).
        threshold: Probability above which a pixel is water; default: the card's (tuned on validation data).
        flips: Test-time flip averaging.

    Attributes:
        name: ``"<role>:<file name>"``.
        required_modalities: Modality names the checkpoint needs, in input order.
        card: The checkpoint's :class:`ModelCard`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | LoadedModel,
        *,
        device: str | torch.device = "cpu",
        threshold: float | None = None,
        flips: bool = False,
    ) -> None:
        loaded = path if isinstance(path, LoadedModel) else load_model(path, map_location=device)
        self.card: ModelCard = loaded.card
        self.preprocessing = Preprocessing.from_card(self.card)
        self.model = loaded.model.to(device).eval()
        self.device = torch.device(device)
        self.threshold = self.card.labels.threshold if threshold is None else float(threshold)
        self.flips = flips
        label = Path(path).name if not isinstance(path, LoadedModel) else "model"
        self.name = f"{self.card.role}:{label}"
        self.required_modalities = self.card.modality_names

    def __repr__(self) -> str:
        arch = self.card.architecture
        return (
            f"CheckpointPredictor({self.name!r}, inputs={self.required_modalities}, "
            f"architecture={arch.name}/{arch.encoder_name}, threshold={self.threshold:.2f})"
        )

    def predict_proba(self, chip: Chip) -> np.ndarray:
        """Return the water probability ``(H, W)`` float32 of ``chip`` (0 where the chip's input is invalid).

        Raises:
            DataError: If the chip lacks an input modality, or its bands/units differ from the checkpoint's.
        """
        self.card.check_inputs(chip.specs, where=f"chip {chip.chip_id}")
        inputs = self.preprocessing.chip_inputs(chip)
        tensor = torch.from_numpy(inputs)[None].to(self.device)
        logits = predict_logits(self.model, self.card, tensor, flips=self.flips)[0]
        probability = torch.sigmoid(logits).cpu().numpy().astype(np.float32)
        if chip.valid is not None:
            probability[~chip.valid] = 0.0
        return probability

    def predict(self, chip: Chip) -> np.ndarray:
        """Return the ``(H, W)`` uint8 water mask (1 water, 0 not water) of ``chip``."""
        return (self.predict_proba(chip) > self.threshold).astype(np.uint8)

"""Build networks from a :class:`ModelCard`, and save/load self-describing checkpoints.

A gee-flood checkpoint is a ``torch.save`` dict with at least ``"state_dict"`` and ``"gee_flood_card"`` (the card
as plain JSON-compatible data). Lightning checkpoints written by :mod:`gee_flood.training` have the same two keys
(the Lightning module stores the network as ``self.model``, so its keys carry a ``"model."`` prefix that
:func:`load_model` strips).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch import nn

from gee_flood._io import atomic_path
from gee_flood.errors import InputError
from gee_flood.models.card import ModelCard

CARD_KEY = "gee_flood_card"


def build_model(card: ModelCard) -> nn.Module:
    """Build the (untrained) network that ``card`` describes: ``in_channels`` inputs, one water-logit output."""
    arch = card.architecture
    try:
        factory = getattr(smp, arch.name)
    except AttributeError:
        raise InputError(f"architecture {arch.name!r} is not a segmentation-models-pytorch architecture") from None
    kwargs = dict(arch.kwargs)
    if arch.decoder_channels is not None:
        kwargs["decoder_channels"] = tuple(arch.decoder_channels)
    return factory(
        encoder_name=arch.encoder_name,
        encoder_depth=arch.encoder_depth,
        encoder_weights=kwargs.pop("encoder_weights", None),
        in_channels=card.in_channels,
        classes=1,
        **kwargs,
    )


@dataclass
class LoadedModel:
    """A network in eval mode with the card that describes it (and the file it came from, if any)."""

    model: nn.Module
    card: ModelCard
    source: Path | None = None


def save_checkpoint(model: nn.Module, card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` weights with its card, atomically, and return the path."""
    payload = {"state_dict": model.state_dict(), CARD_KEY: card.model_dump(mode="json")}
    final = Path(path)
    with atomic_path(final) as tmp:
        torch.save(payload, tmp)
    return final


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read only the card of a checkpoint."""
    return ModelCard.model_validate(_load_payload(Path(path))[CARD_KEY])


def load_model(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network described by a checkpoint's card and load its weights.

    Args:
        path: A checkpoint written by :func:`save_checkpoint` or by gee-flood's Lightning training.
        map_location: Device to load the weights to.

    Returns:
        The network (eval mode) and its card.

    Raises:
        InputError: If the file is missing, is not a checkpoint, or is not a gee-flood checkpoint.
    """
    checkpoint = Path(path)
    payload = _load_payload(checkpoint, map_location=map_location)
    card = ModelCard.model_validate(payload[CARD_KEY])
    model = build_model(card)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise InputError(f"{checkpoint}: checkpoint has no state_dict")
    if any(key.startswith("model.") for key in state):
        state = {key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{checkpoint}: weights do not match the architecture in its card ({first})") from None
    model.eval()
    return LoadedModel(model=model, card=card, source=checkpoint)


def _load_payload(path: Path, *, map_location: str | torch.device = "cpu") -> dict:
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises many types for non-checkpoint files
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or CARD_KEY not in payload:
        raise InputError(f"{path}: not a gee-flood checkpoint (no model card inside)")
    return payload

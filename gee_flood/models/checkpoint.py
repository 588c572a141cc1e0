"""Build networks from a :class:`ModelCard`, and save/load self-describing checkpoints.

A gee-flood checkpoint is a ``torch.save`` dict with at least ``"state_dict"`` and ``"gee_flood_card"`` (the card
as plain JSON-compatible data). Lightning checkpoints written by :mod:`gee_flood.training` have the same two keys
(the Lightning module stores the network as ``self.model``, so its keys carry a ``"model."`` prefix that
:func:`load_model` strips).

Checkpoints are data, not code: they are read with ``torch.load(..., weights_only=True)``, which accepts tensors
and plain containers/numbers/strings and never calls a Python object named in the file. A file that needs more
(a pickled class, a function to call) is refused with a one-line :class:`InputError`; a file the user trusts can
be rewritten as plain data once with :func:`convert_trusted_checkpoint`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segmentation_models_pytorch as smp
import torch
from pydantic import ValidationError
from torch import nn

from gee_flood._io import atomic_path
from gee_flood.errors import DataError, InputError, InputNotFoundError
from gee_flood.models.card import ArchitectureSpec, ModelCard

CARD_KEY = "gee_flood_card"


def architecture_names() -> list[str]:
    """Return the segmentation-models-pytorch architecture class names (``Unet``, ``FPN``...)."""
    return sorted(factory.__name__ for factory in smp.MODEL_ARCHITECTURES_MAPPING.values())


def encoder_names() -> list[str]:
    """Return segmentation-models-pytorch's own encoder names (any timm model is also accepted as ``tu-<name>``)."""
    return sorted(smp.encoders.get_encoder_names())


def check_architecture(arch: ArchitectureSpec, *, where: str = "model.architecture") -> None:
    """Refuse, in one line, an architecture segmentation-models-pytorch cannot build (run before reading any data).

    Unknown architecture and encoder names are refused with the valid names listed; the network is then built once
    (random weights, one input channel; no download) to catch what only smp and timm know: a ``tu-<timm model>``
    that does not exist, a depth or decoder width the encoder cannot take.

    Args:
        arch: The architecture to check.
        where: What to call it in the message (a config key, a checkpoint path).

    Raises:
        InputError: Naming ``where`` and the problem.
    """
    _check_names(arch, where)
    _construct(arch, in_channels=1, where=where)


def _check_names(arch: ArchitectureSpec, where: str) -> None:
    if arch.name not in architecture_names():
        raise InputError(
            f"{where}.name: {arch.name!r} is not a segmentation-models-pytorch architecture; expected one of "
            f"{', '.join(architecture_names())}"
        )
    encoder = arch.encoder_name
    if not encoder.startswith("tu-") and encoder not in encoder_names():
        raise InputError(
            f"{where}.encoder_name: {encoder!r} is not a segmentation-models-pytorch encoder; expected "
            f"tu-<timm model> or one of {', '.join(encoder_names())}"
        )


def _construct(arch: ArchitectureSpec, *, in_channels: int, where: str) -> nn.Module:
    """Build the smp network of ``arch`` (random weights unless its kwargs name some), errors as one line."""
    factory = getattr(smp, arch.name)
    kwargs = dict(arch.kwargs)
    if arch.decoder_channels is not None:
        kwargs["decoder_channels"] = tuple(arch.decoder_channels)
    try:
        return factory(
            encoder_name=arch.encoder_name,
            encoder_depth=arch.encoder_depth,
            encoder_weights=kwargs.pop("encoder_weights", None),
            in_channels=in_channels,
            classes=1,
            **kwargs,
        )
    except (KeyError, ValueError, TypeError, AssertionError, RuntimeError) as error:  # smp and timm raise these
        reason = " ".join(str(error).strip("'\"").split())[:300] or type(error).__name__
        raise InputError(f"{where}: cannot build {arch.name} with encoder {arch.encoder_name!r} ({reason})") from None


def build_model(card: ModelCard, *, where: str = "model.architecture") -> nn.Module:
    """Build the (untrained) network that ``card`` describes: ``in_channels`` inputs, one water-logit output.

    Args:
        card: The model card.
        where: What to call the architecture in an error (a config key, a checkpoint path).

    Raises:
        InputError: The card's architecture cannot be built (unknown name, encoder, depth or option), in one line.
    """
    _check_names(card.architecture, where)
    return _construct(card.architecture, in_channels=card.in_channels, where=where)


@dataclass
class LoadedModel:
    """A network in eval mode with the card that describes it (and the file it came from, if any)."""

    model: nn.Module
    card: ModelCard
    source: Path | None = None


def save_checkpoint(model: nn.Module, card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` weights with its card, atomically, and return the path.

    The file holds plain data only (tensors, and the card as JSON-compatible values), so it loads with
    ``torch.load(path, weights_only=True)``.

    Raises:
        DataError: A weight is NaN or infinite (a diverged training run): nothing is written.
    """
    state = model.state_dict()
    bad = non_finite_weight(state)
    if bad is not None:
        raise DataError(f"{path}: not written: weight {bad} is NaN or infinite (the training diverged)")
    payload = {"state_dict": state, CARD_KEY: card.model_dump(mode="json")}
    final = Path(path)
    with atomic_path(final) as tmp:
        torch.save(payload, tmp)
    return final


def non_finite_weight(state: Mapping[str, Any]) -> str | None:
    """Return the name of the first floating-point tensor in ``state`` holding NaN or an infinity, or None."""
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read only the card of a checkpoint (refusing, unread, one that holds Python objects; see :func:`load_model`)."""
    checkpoint = Path(path)
    return _card(_load_payload(checkpoint), checkpoint)


def load_model(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network described by a checkpoint's card and load its weights.

    Args:
        path: A checkpoint written by :func:`save_checkpoint` or by gee-flood's Lightning training.
        map_location: Device to load the weights to.

    Returns:
        The network (eval mode) and its card.

    Raises:
        InputError: If the file is missing, is not a checkpoint, holds Python objects beyond plain data (refused
            unread), or is not a gee-flood checkpoint.
    """
    checkpoint = Path(path)
    payload = _load_payload(checkpoint, map_location=map_location)
    model, card = _model_from_payload(payload, checkpoint)
    return LoadedModel(model=model, card=card, source=checkpoint)


def convert_trusted_checkpoint(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Rewrite a checkpoint that holds Python objects as a plain-data gee-flood checkpoint.

    Only for a trusted file (you know its source): ``src`` is unpickled with ``weights_only=False``, which runs whatever
    code the file names. The result at ``dst`` holds the weights and the card only (as :func:`save_checkpoint`
    writes them) and loads with ``weights_only=True``.

    Args:
        src: The trusted checkpoint (a dict with ``"state_dict"`` and ``"gee_flood_card"``, the card as data or as a
            :class:`ModelCard`).
        dst: Where to write the converted checkpoint (atomically).

    Returns:
        ``dst``.

    Raises:
        InputError: If ``src`` is missing or unreadable, is not a gee-flood checkpoint, or its weights do not match
            its card.
    """
    source = Path(src)
    if not source.is_file():
        raise InputNotFoundError(f"{source}: checkpoint file not found")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=False)  # trusted by the caller
    except Exception as error:  # torch raises many types for non-checkpoint files
        raise InputError(f"{source}: not a readable PyTorch checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, Mapping) or CARD_KEY not in payload:
        raise InputError(f"{source}: not a gee-flood checkpoint (no model card inside)")
    card = payload[CARD_KEY]
    plain = {**payload, CARD_KEY: card.model_dump(mode="json") if isinstance(card, ModelCard) else card}
    model, model_card = _model_from_payload(plain, source)
    return save_checkpoint(model, model_card, dst)


def _model_from_payload(payload: Mapping[str, Any], checkpoint: Path) -> tuple[nn.Module, ModelCard]:
    """Build the network of a loaded checkpoint's card and load its weights (eval mode)."""
    card = _card(payload, checkpoint)
    model = build_model(card, where=f"{checkpoint}: card architecture")
    state = payload.get("state_dict")
    if not isinstance(state, Mapping):
        raise InputError(f"{checkpoint}: checkpoint has no state_dict")
    if any(key.startswith("model.") for key in state):
        state = {key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{checkpoint}: weights do not match the architecture in its card ({first})") from None
    bad = non_finite_weight(state)
    if bad is not None:
        raise InputError(f"{checkpoint}: weight {bad} is NaN or infinite; the checkpoint is unusable")
    model.eval()
    return model, card


def _card(payload: Mapping[str, Any], checkpoint: Path) -> ModelCard:
    """Validate the card of a loaded checkpoint."""
    try:
        return ModelCard.model_validate(payload[CARD_KEY])
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "card"
        raise InputError(f"{checkpoint}: invalid model card ({where}: {first['msg']})") from None


def _load_payload(path: Path, *, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint as plain data (``weights_only=True``); never run code named in the file."""
    if not path.is_file():
        raise InputNotFoundError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for non-checkpoint files
        if _holds_python_objects(path, error):
            raise InputError(
                f"{path}: refused: the checkpoint contains Python objects that would run code on load (not plain "
                "tensors/data); if you trust its source, convert it once with "
                f"gee_flood.models.checkpoint.convert_trusted_checkpoint({str(path)!r}, 'converted.ckpt')"
            ) from None
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or CARD_KEY not in payload:
        raise InputError(f"{path}: not a gee-flood checkpoint (no model card inside)")
    return payload


def _holds_python_objects(path: Path, error: Exception) -> bool:
    """Tell a checkpoint refused by the weights-only unpickler from a file that is not a checkpoint at all.

    The weights-only unpickler raises :class:`pickle.UnpicklingError` both for a pickle that names a disallowed
    global (a class to build, a function to call) and for bytes that are not a pickle. A torch zip archive whose
    pickle was refused, or a legacy file refused for a ``GLOBAL``, holds Python objects; anything else is junk.
    """
    if not isinstance(error, pickle.UnpicklingError):
        return False
    return zipfile.is_zipfile(path) or "GLOBAL" in str(error)

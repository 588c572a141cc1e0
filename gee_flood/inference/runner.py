"""Run a SAR-only checkpoint on batches of tiles (normalisation from its card, ``torch.inference_mode``, CUDA)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from gee_flood.data.chip import ModalitySpec
from gee_flood.errors import InputError
from gee_flood.models import LoadedModel, ModelCard, load_model


def check_sar_only(card: ModelCard, checkpoint: str | os.PathLike[str], available: Mapping[str, ModalitySpec]) -> None:
    """Refuse, in one line, a checkpoint that needs anything but the Sentinel-1 bands the scene provides.

    Raises:
        InputError: If the checkpoint needs optical input (a teacher) or another SAR product.
    """
    if not card.sar_only:
        needs = "; ".join(f"{m.name} ({', '.join(m.bands)}, {m.units})" for m in card.inputs)
        raise InputError(
            f"{checkpoint}: a {card.role} checkpoint that needs optical input [{needs}]; predict maps floods from "
            "Sentinel-1 alone and needs a SAR-only student (or baseline) checkpoint"
        )
    card.check_inputs(available, where=f"{checkpoint} on this scene")


def resolve_device(device: str | None) -> torch.device:
    """``"cuda"`` when present unless ``device`` says otherwise."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InputError(f"--device {device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    return resolved


class TileRunner:
    """Turns raw VV, VH dB tiles into water probabilities with one checkpoint.

    Args:
        loaded: The network and its card.
        device: Where to run (``None``: CUDA when present).
        batch_size: Tiles per forward pass.
    """

    def __init__(self, loaded: LoadedModel, *, device: str | None = None, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise InputError(f"--batch-size {batch_size}: expected at least 1")
        self.card = loaded.card
        self.device = resolve_device(device)
        self.model = loaded.model.to(self.device).eval()
        self.batch_size = batch_size
        self.modality = self.card.inputs[0].name

    def normalize(self, s1_db: np.ndarray) -> np.ndarray:
        """Normalise a ``(2, rows, cols)`` dB array with the card's statistics; NaN becomes the band mean (0)."""
        return self.card.normalization.normalize(self.modality, s1_db)

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        """Return ``(N, T, T)`` float32 water probabilities for ``(N, 2, T, T)`` *normalised* tiles."""
        out = np.empty((tiles.shape[0], tiles.shape[2], tiles.shape[3]), np.float32)
        with torch.inference_mode():
            for start in range(0, tiles.shape[0], self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(tiles[start : start + self.batch_size]))
                logits = self.model(batch.to(self.device, non_blocking=True))
                out[start : start + batch.shape[0]] = torch.sigmoid(logits[:, 0].float()).cpu().numpy()
        return out


@functools.lru_cache(maxsize=2)
def _cached_runner(checkpoint: str, mtime_ns: int, device: str | None, batch_size: int) -> TileRunner:
    return TileRunner(load_model(checkpoint), device=device, batch_size=batch_size)


def runner_for(checkpoint: str | os.PathLike[str], *, device: str | None, batch_size: int) -> TileRunner:
    """A :class:`TileRunner` for ``checkpoint``, loaded once per process (Dask workers reuse it across tasks)."""
    path = Path(checkpoint).resolve()
    if not path.is_file():
        raise InputError(f"{checkpoint}: checkpoint file not found")
    return _cached_runner(str(path), path.stat().st_mtime_ns, device, batch_size)

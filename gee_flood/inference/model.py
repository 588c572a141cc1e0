"""A checkpoint loaded once, with its model card on show (``repr`` and a notebook HTML table).

The engine's loaded model (``gee-flood predict`` and :func:`gee_flood.predict` both run it); the notebook API
re-exports it as :class:`gee_flood.FloodModel` and :func:`gee_flood.open_model`.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gee_flood.inference.runner import TileRunner
    from gee_flood.models import LoadedModel, ModelCard


class FloodModel:
    """A SAR-only (or any) gee-flood checkpoint, loaded once; :func:`gee_flood.predict` runs it.

    The card says what the network needs and gives: its role, architecture, inputs (bands and units), the
    normalisation, the water threshold and the pixel size it was trained at. Pickles as its checkpoint path and
    card (a Dask worker loads the file itself, once per process: :func:`gee_flood.inference.runner.runner_for`).

    Attributes:
        checkpoint: The checkpoint file.
        card: Its model card (:class:`gee_flood.models.ModelCard`).

    Example:
        >>> model = gee_flood.open_model("student.ckpt")  # doctest: +SKIP
        >>> model.card.inputs[0].units, model.threshold  # doctest: +SKIP
        ('dB', 0.5)
    """

    def __init__(self, loaded: LoadedModel, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.card: ModelCard = loaded.card
        self._loaded: LoadedModel | None = loaded
        self._runners: dict[tuple[str | None, int, str], TileRunner] = {}
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        """Water probability threshold of the card (0-1), e.g. ``model.threshold``."""
        return float(self.card.labels.threshold)

    @property
    def sar_only(self) -> bool:
        """True if the network needs Sentinel-1 only (a student or SAR baseline: it can map a scene)."""
        return bool(self.card.sar_only)

    def runner(self, *, device: str | None = None, batch_size: int = 8, runtime: str = "auto") -> TileRunner:
        """The tile runner of this model for a device, batch size and runtime (built once, then reused).

        Raises:
            InputError: A card that standardises per chip, a bad device, batch size or runtime.

        Example:
            >>> runner = model.runner(device="cpu")  # doctest: +SKIP
            >>> probabilities = runner.probabilities(runner.normalize(s1_db)[None])  # one tile  # doctest: +SKIP
        """
        from gee_flood.inference.runner import TileRunner, runner_for

        key = (device, batch_size, runtime)
        with self._lock:
            if key not in self._runners:
                if self._loaded is None:  # unpickled (a Dask task): the process's runner, loaded once per process
                    runner = runner_for(self.checkpoint, device=device, batch_size=batch_size, runtime=runtime)
                else:
                    # TileRunner moves its network to the device in place: a second runner (another device or
                    # runtime) gets its own copy, or it would pull the first one's weights off its device.
                    loaded = self._loaded
                    if self._runners:
                        loaded = dataclasses.replace(loaded, model=copy.deepcopy(loaded.model))
                    runner = TileRunner(loaded, device=device, batch_size=batch_size, runtime=runtime)
                self._runners[key] = runner
            return self._runners[key]

    def __getstate__(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "card": self.card}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.checkpoint = state["checkpoint"]
        self.card = state["card"]
        self._loaded = None
        self._runners = {}
        self._lock = threading.Lock()

    def _rows(self) -> list[tuple[str, str]]:
        card = self.card
        arch = card.architecture
        inputs = "; ".join(f"{m.name}: {', '.join(m.bands)} ({m.units})" for m in card.inputs)
        norm = "; ".join(
            f"{name}: mean {[round(v, 3) for v in stats.mean]}, std {[round(v, 3) for v in stats.std]}"
            for name, stats in card.normalization.modalities.items()
        )
        return [
            ("role", card.role + ("" if card.sar_only else " (needs optical input: cannot map a SAR scene)")),
            ("architecture", f"{arch.name} / {arch.encoder_name}, depth {arch.encoder_depth}"),
            ("inputs", inputs),
            ("normalisation", norm),
            ("output", f"{card.labels.output} -> water probability 0-1"),
            ("threshold", f"{card.labels.threshold:g}"),
            ("pixel size", f"{card.pixel_size_m:g} m" if card.pixel_size_m else "any"),
            ("trained on", f"{card.training.dataset or '?'} ({card.training.label_source or '?'} labels)"),
            ("checkpoint", str(self.checkpoint)),
        ]

    def __repr__(self) -> str:
        lines = "\n".join(f"  {name}: {value}" for name, value in self._rows())
        return f"FloodModel(\n{lines}\n)"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th><td style='text-align:left'>"
            f"{html.escape(value)}</td></tr>"
            for name, value in self._rows()
        )
        return f"<table><caption>gee-flood model</caption>{rows}</table>"


def open_model(checkpoint: str | os.PathLike[str]) -> FloodModel:
    """Load a gee-flood checkpoint once (weights and card; the file holds data only, no code runs).

    Args:
        checkpoint: A ``.ckpt`` written by ``gee-flood train`` (a student, baseline or teacher).

    Returns:
        The model; ``repr(model)`` (or the notebook cell) shows its card.

    Raises:
        InputError: A missing file or a file that is not a gee-flood checkpoint.

    Example:
        >>> model = gee_flood.open_model("runs/student-seed42/model.ckpt")  # doctest: +SKIP
        >>> model.threshold, model.card.inputs[0].bands  # doctest: +SKIP
        (0.45, ['VV', 'VH'])
    """
    from gee_flood.errors import InputNotFoundError
    from gee_flood.models import load_model

    path = Path(checkpoint)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: checkpoint file not found")
    return FloodModel(load_model(path), path.resolve())

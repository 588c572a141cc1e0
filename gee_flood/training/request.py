"""What a ``gee-flood train`` command asks for: one frozen :class:`TrainRequest`, built once by the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal


@dataclass(frozen=True, kw_only=True)
class TrainRequest:
    """One training request, passed unchanged from the command line to the training service.

    :func:`gee_flood.training.run.train_from_request` reads the config, checks it against the role and trains.

    Attributes:
        role: ``teacher``, ``student`` or ``baseline`` (the ``train`` sub-command).
        config_path: The resolved YAML config (a packaged config's file or the user's path).
        kind: Baseline kind, ``supervised`` (hand labels) or ``weak`` (weak labels); None for other roles.
        teachers: The student's teacher checkpoints (``--teacher``, repeatable; averaged), overriding
            ``teacher_checkpoint`` in the config; empty to use the config's.
        overrides: Dotted config overrides (``{"trainer.seed": 1, "optim.max_steps": 100}``), read-only.
        overwrite: Replace the run directory (``trainer.output_dir``/``name``) if it exists and is not empty
            (``--overwrite``); otherwise such a run is refused before anything is read or written.
    """

    role: Literal["teacher", "student", "baseline"]
    config_path: Path
    kind: str | None = None
    teachers: tuple[Path, ...] = ()
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "teachers", tuple(Path(one) for one in self.teachers))
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

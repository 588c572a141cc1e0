"""The one progress display of gee-flood: rich bars on standard error, only on a terminal.

Every long step (predicting tiles or row blocks, reading chips, normalisation statistics, training steps, evaluation,
fetching chips, downloading data, ingesting an asset) shows its progress through here, so one terminal sees one kind
of bar, and a log file (standard error not a terminal) or ``--quiet`` sees none: no carriage-return floods in CI logs.
Lightning's own bar (which counts epochs, ``Epoch 0/-2`` on step-based runs) is replaced by :class:`StepProgress`, a
Lightning callback that counts optimiser steps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


def shown(requested: bool, console: Console | None = None) -> bool:
    """Whether to show progress: asked for (not ``--quiet``) and standard error (or ``console``) is a terminal."""
    if not requested:
        return False
    if console is not None:
        return bool(console.is_terminal)
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _columns() -> tuple[Any, ...]:
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn())  # fmt: skip


def rich_progress(*columns: Any, enabled: bool, console: Console | None = None) -> Progress:
    """A rich ``Progress`` (``columns``, default: label, bar, count, times) drawn only when :func:`shown`.

    For bars with columns of their own (a download's bytes, a fetch's chip id); a plain count uses
    :func:`progress_bar`.
    """
    console = console or Console(stderr=True)
    return Progress(*(columns or _columns()), console=console, disable=not shown(enabled, console), transient=False)


@contextlib.contextmanager
def progress_bar(
    total: int | None, label: str, *, enabled: bool, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """A bar of ``total`` units; yields ``advance(n)``. Nothing is drawn unless :func:`shown`."""
    with rich_progress(enabled=enabled, console=console) as bar:
        task = bar.add_task(label, total=total)
        yield lambda advance: bar.update(task, advance=advance)


def track(items: Iterable[T], total: int, label: str, *, enabled: bool, console: Console | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a bar (see :func:`progress_bar`)."""
    with progress_bar(total, label, enabled=enabled, console=console) as advance:
        for item in items:
            yield item
            advance(1)


def step_progress(total_steps: int, *, console: Console | None = None) -> Any:
    """A Lightning callback showing training progress in optimiser steps (the bar of :func:`progress_bar`)."""
    import lightning as L

    class StepProgress(L.Callback):
        """Training steps done of ``max_steps``, with the last logged loss; drawn by rank 0 only."""

        def __init__(self) -> None:
            self._bar: Progress | None = None
            self._task: Any = None

        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if not trainer.is_global_zero:
                return
            self._bar = Progress(
                *_columns(), TextColumn("{task.fields[loss]}"), console=console or Console(stderr=True)
            )
            self._bar.start()
            self._task = self._bar.add_task("training steps", total=total_steps, loss="")

        def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
            if self._bar is None:
                return
            loss = trainer.callback_metrics.get("train/loss")
            text = f"loss {float(loss):.4f}" if loss is not None else ""
            self._bar.update(self._task, completed=trainer.global_step, loss=text)

        def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    return StepProgress()

"""One progress display (rich), shown only on a terminal and never with --quiet; Lightning's own bar is off."""

from __future__ import annotations

import io
import sys

from rich.console import Console

from gee_flood import _progress
from gee_flood._progress import progress_bar, shown, track


def test_a_log_file_gets_no_bar_and_no_carriage_returns():
    log = io.StringIO()
    console = Console(file=log, force_terminal=False)
    assert list(track(range(50), 50, "reading chips", enabled=True, console=console)) == list(range(50))
    with progress_bar(10, "predicting tiles", enabled=True, console=console) as advance:
        advance(10)
    assert log.getvalue() == ""


def test_a_terminal_gets_the_bar_unless_quiet():
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    assert shown(True, terminal) and not shown(False, terminal)
    with progress_bar(3, "predicting tiles", enabled=True, console=terminal) as advance:
        advance(3)
    assert "predicting tiles" in screen.getvalue()


def test_training_uses_our_step_bar_and_never_lightnings(monkeypatch, tmp_path):
    import lightning as L

    from gee_flood.training import run
    from tests.training.conftest import tiny_config

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    config = tiny_config("student", tmp_path)
    checkpointing = L.pytorch.callbacks.ModelCheckpoint()
    callbacks = run._callbacks(config, checkpointing, progress=True)
    assert any(type(callback).__name__ == "StepProgress" for callback in callbacks)
    assert not any(type(c).__name__ == "StepProgress" for c in run._callbacks(config, checkpointing, progress=False))
    trainer = run._trainer(config, callbacks, run_dir=tmp_path, progress=True)
    assert trainer.progress_bar_callback is None  # Lightning's bar (Epoch 0/-2 on step-based runs) is off


def test_one_progress_library():
    """rich only: tqdm (whose bars fill a log with carriage returns) is gone from the package."""
    from pathlib import Path

    root = Path(_progress.__file__).parent
    assert [path.name for path in root.rglob("*.py") if "tqdm" in path.read_text()] == []


def test_every_bar_of_the_package_is_built_by_the_progress_module():
    """No module draws a rich bar of its own (evaluation, fetch, download, ingestion go through _progress)."""
    import re
    from pathlib import Path

    root = Path(_progress.__file__).parent
    own = re.compile(r"\bProgress\(|rich\.progress import .*\btrack\b")
    offenders = [
        path.name for path in root.rglob("*.py") if path.name != "_progress.py" and own.search(path.read_text())
    ]
    assert offenders == []


def test_fetch_and_download_bars_are_quiet_in_a_log(monkeypatch, capsys):
    from gee_flood.data.download import _Progress
    from gee_flood.earthengine.fetch import _progress as fetch_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with fetch_progress(True) as bar:  # asked for, but standard error is a log file
        task = bar.add_task("fetch", total=3, note="")
        bar.update(task, advance=3, note="chip-1")
    with _Progress(2, 100, enabled=True) as download:
        download.advance_bytes(100)
        download.advance_file()
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "fetch" not in captured.err and "files" not in captured.err

"""Atomic file writes for the emulator's catalog and assets (a crash leaves the old file or none, never half a file).

The emulator is a separate package and does not import gee_flood, so it keeps its own copy of these two helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    A crash or exception at any moment leaves either the previous file or no file at ``final_path``, never a
    half-written one. The temporary file keeps the final suffix so format-sniffing writers (rasterio) work.

    Args:
        final_path: Where the finished file should end up.
        suffix: Suffix of the temporary file; defaults to the final path's suffix.

    Yields:
        The temporary path to write to.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.",
        suffix=(suffix if suffix is not None else final.suffix) + ".part",
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let the writer create it; some writers refuse to overwrite
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: writer produced no file")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json_atomic(path: str | os.PathLike[str], payload: Any, *, indent: int = 2) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically and return the path."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=False, default=_json_default) + "\n")
    return final


def _json_default(value: Any) -> Any:
    # numpy scalars and paths are common in results; convert them instead of failing.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

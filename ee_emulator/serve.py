"""Run the emulator in the foreground (what ``ee-emulator serve`` does)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ee_emulator.errors import InputError
from ee_emulator.faults import FaultConfig, FaultRule
from ee_emulator.server import EmulatorServer


def load_faults(path: str | Path | None) -> FaultConfig | None:
    """Read a fault configuration JSON file: ``{"seed": 0, "rules": [{"endpoint": ..., "kind": ...}, ...]}``.

    Raises:
        InputError: If the file is missing, not JSON, or a rule has unknown keys or values.
    """
    if path is None:
        return None
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"fault file {path}: does not exist") from None
    except json.JSONDecodeError as error:
        raise InputError(f"fault file {path}: is not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("rules", []), list):
        raise InputError(f'fault file {path}: expected {{"seed": N, "rules": [...]}}')
    rules = []
    for position, rule in enumerate(payload.get("rules", [])):
        try:
            rules.append(FaultRule(**rule))
        except TypeError as error:
            raise InputError(f"fault file {path}: rule {position}: {error}") from None
    return FaultConfig(tuple(rules), int(payload.get("seed", 0)))


def serve(
    catalog_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    faults_file: str | Path | None = None,
    assets_dir: str | Path | None = None,
    bucket_dir: str | Path | None = None,
    default_resampling: str = "nearest",
    projects: list[str] | None = None,
    bucket_locations: dict[str, str] | None = None,
    announce: Callable[[str], Any] = print,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Serve a catalog until ``stop`` is set or Ctrl-C; return the request counters.

    Args:
        catalog_dir: Catalog directory (``catalog.json`` + GeoTIFFs).
        host: Loopback interface to listen on.
        port: TCP port (0 picks a free one).
        faults_file: Optional fault configuration JSON (see :func:`load_faults`).
        assets_dir: Where ingested/exported assets are kept (a temporary directory if None).
        bucket_dir: Local stand-in for Cloud Storage buckets (``bucket_dir/<bucket>/<object>``).
        default_resampling: ``"nearest"`` (Earth Engine's default) or ``"bilinear"`` (float bands).
        projects: The Cloud projects that exist (None: ``emulator`` only).
        bucket_locations: Location spec of each ``bucket_dir`` bucket (default ``US``).
        announce: Where the URL and instructions are printed.
        stop: Event that ends serving (Ctrl-C does too).
    """
    faults = load_faults(faults_file)
    server = EmulatorServer(catalog_dir, host=host, port=port, faults=faults, assets_dir=assets_dir,
                            bucket_dir=bucket_dir, default_resampling=default_resampling, projects=projects,
                            bucket_locations=bucket_locations)  # fmt: skip
    stop = stop or threading.Event()
    with server:
        counts = {name: len(images) for name, images in server.catalog.collections.items()}
        announce(f"Earth Engine emulator serving {catalog_dir} at {server.url}")
        announce(f"  collections: {counts}; images: {sorted(server.catalog.images)}")
        announce("  point the ee client at it with:")
        announce(f"    ee.Initialize(credentials=None, url={server.url!r}, project='emulator')")
        announce("    # or: from ee_emulator import initialize_ee; initialize_ee(" + repr(server.url) + ")")
        announce("  press Ctrl-C to stop")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            announce("stopping")
        return server.stats.snapshot()

"""Assets and long-running operations (filled in below)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gee_flood.emulator.catalog import Catalog
from gee_flood.emulator.errors import EEError


class AssetService:
    """Assets and operations."""

    def __init__(
        self,
        catalog: Catalog,
        assets_dir: Path,
        *,
        bucket_dir: Path | None,
        step_s: float,
        evaluate: Callable[[Any, str], Any],
    ) -> None:
        self.catalog = catalog

    def handle(
        self, endpoint: str, params: dict[str, str], query: dict[str, str], payload: dict[str, Any], project: str
    ) -> Any:
        """Answer an asset or operation request."""
        raise EEError(f"{endpoint} is not implemented by the gee-flood emulator yet", 501)

    def shutdown(self) -> None:
        """Wait for background operations."""

"""The on-disk corpus ``gee-flood fetch`` writes, read back by the Sen1Floods11 reader.

File names, folders, bands, dtypes and nodata values are :mod:`gee_flood.data.corpus_layout`'s (one definition for
this writer and the reader): ``CORPUS/manifest.json`` and ``CORPUS/WeaklyLabeled/<Kind>/<Event>_<id>_<Kind>.tif``
for the kinds in :data:`~gee_flood.data.corpus_layout.CORPUS_FILE_KINDS`.

Every GeoTIFF is a Cloud-Optimized GeoTIFF (rio-cogeo) written to a temporary name and renamed into place; the
manifest is rewritten atomically after each chip and lists chips sorted by id, with no timestamps, so the same
inputs give a byte-identical manifest. A chip counts as done when it is in the manifest and its files open with
the expected shape; anything else is fetched again.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pydantic import ValidationError
from rasterio.io import MemoryFile
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from gee_flood._io import atomic_path, write_json_atomic
from gee_flood.data.corpus_layout import (
    CORPUS_FILE_KINDS,
    JRC_OCCURRENCE_WEAK,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    S1_OTSU_LABEL_WEAK,
    S1_WEAK,
    S2_INDEX_LABEL_WEAK,
    S2_WEAK,
    CorpusManifest,
    FileKind,
)
from gee_flood.earthengine.blocks import ChipResult
from gee_flood.earthengine.grid import ChipSpec
from gee_flood.errors import DataError, InputError


def write_cog(
    path: str | Path,
    data: np.ndarray,
    *,
    crs: str,
    transform: Any,
    nodata: float | None,
    band_names: tuple[str, ...],
) -> Path:
    """Write ``(bands, H, W)`` as a deflate Cloud-Optimized GeoTIFF, atomically.

    Args:
        path: Final path.
        data: Array in the file's dtype.
        crs: CRS code.
        transform: Affine transform of the top-left corner.
        nodata: Nodata value (``None``: none declared).
        band_names: Band descriptions.
    """
    bands, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(data)
            dataset.descriptions = band_names
        with memory.open() as source, atomic_path(path) as tmp:
            cog_translate(source, str(tmp), cog_profiles.get("deflate"), nodata=nodata, in_memory=True, quiet=True)
    return Path(path)


def _file_ok(path: Path, kind: FileKind, width: int, height: int) -> bool:
    if not path.is_file():
        return False
    try:
        with rasterio.open(path) as dataset:
            if (dataset.count, dataset.width, dataset.height) != (len(kind.bands), width, height):
                return False
            dataset.read(dataset.count, window=Window(0, height - 1, width, 1))
        return True
    except rasterio.errors.RasterioError:
        return False


class Corpus:
    """A corpus directory: its manifest and chip files.

    Args:
        root: The corpus directory (created with the first file written).
        options: The data-affecting fetch options; a corpus keeps the options it was started with.
    """

    def __init__(self, root: str | Path, options: dict[str, Any]) -> None:
        self.root = Path(root)
        self.options = json.loads(json.dumps(options))
        self.chips: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.manifest_path = self.root / MANIFEST_NAME

    def load(self) -> None:
        """Read the manifest if there is one and remove temporary files left by a killed run.

        Raises:
            InputError: If the output exists but is not a corpus, or was fetched with other options.
        """
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--out {self.root}: exists and is not a directory")
        for kind in CORPUS_FILE_KINDS:
            folder = self.root / kind.folder
            if folder.is_dir():
                for partial in folder.glob(".*.part"):
                    with contextlib.suppress(FileNotFoundError):
                        partial.unlink()
        for partial in self.root.glob(f".{MANIFEST_NAME}.*.part"):
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        if not self.manifest_path.is_file():
            return
        try:
            payload = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"{self.manifest_path}: is not a readable manifest ({error})") from None
        if not isinstance(payload, dict) or payload.get("version") != MANIFEST_VERSION:
            raise InputError(f"{self.manifest_path}: is not a gee-flood corpus manifest (version {MANIFEST_VERSION})")
        try:
            manifest = CorpusManifest.model_validate(payload)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(
                f"{self.manifest_path}: is not a valid corpus manifest ({where}: {first['msg']}); restore the file "
                "gee-flood wrote, or fetch into another --out"
            ) from None
        previous = manifest.options
        if previous is not None and previous != self.options:
            changed = sorted(
                key for key in set(previous) | set(self.options) if previous.get(key) != self.options.get(key)
            )
            details = ", ".join(f"{key} {previous.get(key)!r} -> {self.options.get(key)!r}" for key in changed[:4])
            raise InputError(
                f"--out {self.root}: holds a corpus fetched with other options ({details}); "
                "use another --out or the same options"
            )
        # The entries as written (validated above), so a resumed run rewrites a byte-identical manifest.
        self.chips = {entry["chip_id"]: entry for entry in payload.get("chips", [])}
        self.skipped = {entry.chip_id: entry.reason for entry in manifest.skipped}

    def check_same_place(self, chips: list[ChipSpec]) -> None:
        """Refuse chips whose id is in the manifest with another grid (another AOI under the same event name).

        Raises:
            InputError: On the first mismatch.
        """
        for chip in chips:
            entry = self.chips.get(chip.chip_id)
            if entry is None:
                continue
            same = (
                entry.get("crs") == chip.crs
                and (entry.get("width"), entry.get("height")) == (chip.width, chip.height)
                and np.allclose(
                    entry.get("transform", []), chip.transform_list, rtol=0, atol=abs(chip.transform.a) * 1e-3
                )
            )
            if not same:
                raise InputError(
                    f"--out {self.root}: chip {chip.chip_id} already exists there at another place; "
                    "use another --out or --event"
                )

    def is_done(self, chip: ChipSpec) -> bool:
        """Return True if the chip is finished (files readable) or was recorded as skipped."""
        if chip.chip_id in self.skipped:
            return True
        entry = self.chips.get(chip.chip_id)
        if entry is None:
            return False
        kinds = {kind.key: kind for kind in CORPUS_FILE_KINDS}
        for key, relative in (entry.get("files") or {}).items():
            kind = kinds.get(key)
            if kind is None or not _file_ok(self.root / relative, kind, chip.width, chip.height):
                return False
        return bool(entry.get("files"))

    def write_chip(self, chip: ChipSpec, result: ChipResult) -> dict[str, Any]:
        """Write the chip's GeoTIFFs, then record it in the manifest (atomically).

        Returns:
            The manifest entry.
        """
        if not result.ok or result.pair is None or result.s1_db is None or result.s2_dn is None:
            raise DataError(f"chip {chip.chip_id}: nothing to write ({result.reason})")
        files: dict[str, str] = {}
        layers: list[tuple[FileKind, np.ndarray]] = [(S1_WEAK, result.s1_db), (S2_WEAK, result.s2_dn)]
        if result.s1_label is not None:
            layers.append((S1_OTSU_LABEL_WEAK, result.s1_label[None]))
        if result.s2_label is not None:
            layers.append((S2_INDEX_LABEL_WEAK, result.s2_label[None]))
        if result.occurrence is not None:
            layers.append((JRC_OCCURRENCE_WEAK, result.occurrence[None]))
        for kind, data in layers:
            relative = kind.relative_path(chip.chip_id)
            write_cog(
                self.root / relative,
                data.astype(kind.dtype, copy=False),
                crs=chip.crs,
                transform=chip.transform,
                nodata=kind.nodata,
                band_names=kind.bands,
            )
            files[kind.key] = relative
        pair = result.pair
        entry = {
            "chip_id": chip.chip_id,
            "event": chip.event,
            "footprint": chip.footprint_geojson(),
            "crs": chip.crs,
            "transform": chip.transform_list,
            "width": chip.width,
            "height": chip.height,
            "s1_ids": list(pair.s1.image_ids),
            "s1_time": _iso(pair.s1.time),
            "s1_mosaic": pair.s1.key,
            "s2_ids": list(pair.s2.image_ids),
            "s2_time": _iso(pair.s2.time),
            "s2_mosaic": pair.s2.key,
            "cloud_fraction": round(float(result.cloud_fraction), 6),
            "valid_fraction": round(float(result.valid_fraction), 6),
            "files": files,
        }
        self.chips[chip.chip_id] = entry
        self.skipped.pop(chip.chip_id, None)
        self.save()
        return entry

    def record_skip(self, chip_id: str, reason: str) -> None:
        """Record a chip that was read but rejected (too cloudy, too little data), so a rerun does not read it again."""
        self.skipped[chip_id] = reason
        self.save()

    def save(self) -> None:
        """Rewrite the manifest atomically (chips sorted by id)."""
        payload = {
            "version": MANIFEST_VERSION,
            "options": self.options,
            "chips": [self.chips[chip_id] for chip_id in sorted(self.chips)],
            "skipped": [{"chip_id": chip_id, "reason": self.skipped[chip_id]} for chip_id in sorted(self.skipped)],
        }
        write_json_atomic(self.manifest_path, payload)


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")

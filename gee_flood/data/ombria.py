"""OMBRIA reader (Drakonakis et al., IEEE JSTARS 2022): 256x256 PNG samples of S1 and S2, before and after a flood.

Layout, kept exactly as published::

    OmbriaS1/{train,test}/{BEFORE,AFTER,MASK}/S1_{before,after,mask}_NNNN.png
    OmbriaS2/{train,test}/{BEFORE,AFTER,MASK}/S2_{before,after,mask}_NNNN.png

The images are 8-bit quantised and not georeferenced, so the modalities are named for what they are
(``s1_uint8``: one SAR channel 0-255, dark = water; ``s2_falsecolor_uint8``: a 3-channel false-colour composite)
rather than pretending to be dB or reflectance. Values are returned as float32 0-255.

Masks are EMS flood *extent* (255 = flooded after the event); water already present before the event may be 0.
OMBRIA publishes no event ids, so every chip's event is ``"ombria"``. Optical pixels that are exactly black in all
three channels are the scene's no-data fill and are set to NaN (the SAR input stays valid there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import (
    LABEL_LAND,
    LABEL_WATER,
    OMBRIA_S1,
    OMBRIA_S1_PRE,
    OMBRIA_S2,
    OMBRIA_S2_PRE,
    Chip,
    ModalitySpec,
)
from gee_flood.errors import DataError, InputError

OMBRIA_SPLITS = ("train", "test")
OMBRIA_SIZE = 256

# modality name -> (sensor folder, file stem prefix, time folder)
_LAYOUT: dict[str, tuple[str, str, str]] = {
    OMBRIA_S1.name: ("OmbriaS1", "S1", "AFTER"),
    OMBRIA_S2.name: ("OmbriaS2", "S2", "AFTER"),
    OMBRIA_S1_PRE.name: ("OmbriaS1", "S1", "BEFORE"),
    OMBRIA_S2_PRE.name: ("OmbriaS2", "S2", "BEFORE"),
}
_SPECS: dict[str, ModalitySpec] = {s.name: s for s in (OMBRIA_S1, OMBRIA_S2, OMBRIA_S1_PRE, OMBRIA_S2_PRE)}


class OmbriaDataset(ChipDataset):
    """OMBRIA samples of one split as :class:`Chip` records.

    Args:
        root: The ``ombria`` folder holding ``OmbriaS1`` and ``OmbriaS2``.
        split: ``"train"`` or ``"test"``.
        modalities: Which modalities to load (default: all four: S1/S2, after/before).
        ids: Optional subset of sample ids (``"0013"``...) to expose, in the given order.
        with_labels: If False, masks are never read (for the unlabelled pool of label-scarce protocols).
    """

    name = "ombria"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        modalities: tuple[str, ...] | list[str] | None = None,
        ids: list[str] | None = None,
        *,
        with_labels: bool = True,
    ) -> None:
        self.root = Path(root)
        if split not in OMBRIA_SPLITS:
            raise InputError(f"unknown OMBRIA split {split!r}; expected one of {list(OMBRIA_SPLITS)}")
        if not (self.root / "OmbriaS1").is_dir() or not (self.root / "OmbriaS2").is_dir():
            raise InputError(f"{self.root}: not an OMBRIA folder (expected OmbriaS1/ and OmbriaS2/ inside)")
        self.split = split
        names = tuple(modalities) if modalities is not None else tuple(_LAYOUT)
        unknown = [m for m in names if m not in _LAYOUT]
        if unknown:
            raise InputError(f"OMBRIA has no modality {unknown}; it has {list(_LAYOUT)}")
        self.modalities = {name: _SPECS[name] for name in names}
        self.with_labels = with_labels
        available = self._scan_ids()
        if ids is None:
            self._ids = available
        else:
            missing = sorted(set(ids) - set(available))
            if missing:
                raise InputError(f"{self.root}: OMBRIA {split} has no samples {missing[:5]}")
            self._ids = list(ids)

    def _scan_ids(self) -> list[str]:
        folder = self.root / "OmbriaS1" / self.split / "MASK"
        if not folder.is_dir():
            raise InputError(f"{folder}: missing (OMBRIA {self.split} masks)")
        ids = sorted(p.stem.rsplit("_", 1)[-1] for p in folder.glob("S1_mask_*.png"))
        if not ids:
            raise InputError(f"{folder}: no S1_mask_NNNN.png files")
        return ids

    def __len__(self) -> int:
        return len(self._ids)

    def chip_ids(self) -> list[str]:
        """Return sample ids (``"0001"``...) in index order."""
        return list(self._ids)

    def path(self, modality: str, sample_id: str) -> Path:
        """Return the PNG path of ``modality`` (or ``"mask"``) for ``sample_id``."""
        if modality == "mask":
            return self.root / "OmbriaS1" / self.split / "MASK" / f"S1_mask_{sample_id}.png"
        sensor, prefix, time = _LAYOUT[modality]
        return self.root / sensor / self.split / time / f"{prefix}_{time.lower()}_{sample_id}.png"

    def __getitem__(self, index: int) -> Chip:
        sample_id = self._ids[index]
        arrays: dict[str, np.ndarray] = {}
        for name, spec in self.modalities.items():
            pixels = _read_png(self.path(name, sample_id), channels=len(spec.bands))
            array = np.moveaxis(pixels, -1, 0).astype(np.float32)
            if spec.optical:
                array[:, (pixels == 0).all(axis=-1)] = np.nan
            arrays[name] = array
        sar = [a for n, a in arrays.items() if not self.modalities[n].optical]
        valid = np.ones((OMBRIA_SIZE, OMBRIA_SIZE), bool)
        for array in sar or arrays.values():
            valid &= np.isfinite(array).all(axis=0)
        label = None
        if self.with_labels:
            mask = _read_png(self.path("mask", sample_id), channels=1)[..., 0]
            if not np.isin(mask, (0, 255)).all():
                raise DataError(f"{self.path('mask', sample_id)}: mask values must be 0 or 255")
            label = np.where(mask == 255, LABEL_WATER, LABEL_LAND).astype(np.int8)
        return Chip(
            chip_id=f"ombria_{self.split}_{sample_id}",
            event="ombria",
            modalities=arrays,
            specs=dict(self.modalities),
            label=label,
            valid=valid,
        )


def _read_png(path: Path, *, channels: int) -> np.ndarray:
    """Read a PNG as ``(H, W, channels)`` uint8, with one-line errors for missing/odd files."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: unreadable image ({error})") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[-1] != channels:
        raise DataError(f"{path}: has {pixels.shape[-1]} channels, expected {channels}")
    if pixels.shape[:2] != (OMBRIA_SIZE, OMBRIA_SIZE):
        raise DataError(f"{path}: is {pixels.shape[1]}x{pixels.shape[0]} px, expected {OMBRIA_SIZE}x{OMBRIA_SIZE}")
    return pixels

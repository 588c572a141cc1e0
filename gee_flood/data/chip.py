"""The one chip record used everywhere, and the named modalities it carries.

A :class:`Chip` is a co-registered stack of named modalities over one footprint, with an optional label,
a validity mask and (when known) its :class:`~gee_flood.geo.PixelGrid`. Model code asks for modalities by *name*
(``chip.modality("s1")``) and bands by *name* (``chip.band("s1", "VV")``), never by position, so a dataset
that orders bands differently cannot silently feed the wrong channel.

Label semantics (Sen1Floods11's): ``1`` water, ``0`` not water, ``-1`` no data (ignored by losses and metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gee_flood.errors import DataError
from gee_flood.geo import PixelGrid

LABEL_WATER = 1
LABEL_LAND = 0
LABEL_NODATA = -1

S1_BANDS: tuple[str, ...] = ("VV", "VH")
S2_BANDS: tuple[str, ...] = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "B7",
    "B8",
    "B8A",
    "B9",
    "B10",
    "B11",
    "B12",
)


@dataclass(frozen=True)
class ModalitySpec:
    """What one modality is: its bands, units and the value range a reader produces.

    Attributes:
        name: Modality key used in :attr:`Chip.modalities` (``"s1"``, ``"s2"``, ``"s1_pre"``...).
        bands: Band names in storage order.
        units: Physical units of the float32 values (``"dB"``, ``"reflectance"``, ``"uint8 DN"``).
        description: One line for humans and checkpoint metadata.
        optical: True if clouds can hide the ground in this modality (teacher signal is masked there).
    """

    name: str
    bands: tuple[str, ...]
    units: str
    description: str
    optical: bool = False

    def with_name(self, name: str, description_suffix: str = "") -> ModalitySpec:
        """Return the same modality under another key (e.g. its pre-event twin)."""
        return ModalitySpec(name, self.bands, self.units, self.description + description_suffix, self.optical)


S1 = ModalitySpec(
    "s1",
    S1_BANDS,
    "dB",
    "Sentinel-1 GRD IW backscatter sigma0 VV, VH in decibels (COPERNICUS/S1_GRD convention)",
)
S2 = ModalitySpec(
    "s2",
    S2_BANDS,
    "reflectance",
    "Sentinel-2 L1C top-of-atmosphere reflectance (0-1, i.e. DN / 10000), 13 bands",
    optical=True,
)
S1_PRE = S1.with_name("s1_pre", " (pre-event acquisition)")
S2_PRE = S2.with_name("s2_pre", " (pre-event acquisition)")

OMBRIA_S1 = ModalitySpec(
    "s1_uint8",
    ("sar_uint8",),
    "uint8 DN",
    "OMBRIA 8-bit quantised SAR backscatter (0-255, dark = smooth/water); not dB",
)
OMBRIA_S2 = ModalitySpec(
    "s2_falsecolor_uint8",
    ("fc_red", "fc_green", "fc_blue"),
    "uint8 DN",
    "OMBRIA 8-bit Sentinel-2 false-colour composite (water blue/cyan); not reflectance",
    optical=True,
)
OMBRIA_S1_PRE = OMBRIA_S1.with_name("s1_uint8_pre", " (pre-event)")
OMBRIA_S2_PRE = OMBRIA_S2.with_name("s2_falsecolor_uint8_pre", " (pre-event)")

#: Every modality the project knows, by name.
MODALITIES: dict[str, ModalitySpec] = {
    spec.name: spec for spec in (S1, S2, S1_PRE, S2_PRE, OMBRIA_S1, OMBRIA_S2, OMBRIA_S1_PRE, OMBRIA_S2_PRE)
}


@dataclass
class Chip:
    """One co-registered sample.

    Attributes:
        chip_id: Unique id within its dataset (e.g. ``"Ghana_103272"``, ``"ombria_0013"``).
        event: Flood event the chip belongs to (used for per-event metrics).
        modalities: Modality name -> float32 array of shape ``(bands, height, width)``; NaN marks no data.
        specs: Modality name -> :class:`ModalitySpec` describing the array's bands and units.
        label: int8 array ``(height, width)``: 1 water, 0 not water, -1 no data; ``None`` if unlabelled.
        valid: bool array ``(height, width)``; False where any *input* has no data. Labels are ignored there.
        georef: Pixel grid on Earth, if known.
        extras: Auxiliary per-pixel layers (e.g. ``"s2_cloud"`` bool, ``"jrc_water"``), by name.
    """

    chip_id: str
    event: str
    modalities: dict[str, np.ndarray]
    specs: dict[str, ModalitySpec]
    label: np.ndarray | None = None
    valid: np.ndarray | None = None
    georef: PixelGrid | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.modalities:
            raise DataError(f"chip {self.chip_id}: has no modalities")
        shapes = {name: arr.shape[-2:] for name, arr in self.modalities.items()}
        if len(set(shapes.values())) != 1:
            raise DataError(f"chip {self.chip_id}: modalities have different shapes {shapes}")
        for name, arr in self.modalities.items():
            spec = self.specs.get(name)
            if spec is None:
                raise DataError(f"chip {self.chip_id}: modality {name!r} has no spec")
            if arr.ndim != 3 or arr.shape[0] != len(spec.bands):
                raise DataError(
                    f"chip {self.chip_id}: modality {name!r} has shape {arr.shape}, expected "
                    f"({len(spec.bands)}, H, W) for bands {list(spec.bands)}"
                )
            if arr.dtype != np.float32:
                self.modalities[name] = arr.astype(np.float32)
        height, width = self.shape
        if self.label is not None:
            if self.label.shape != (height, width):
                raise DataError(f"chip {self.chip_id}: label shape {self.label.shape} != image {(height, width)}")
            self.label = self.label.astype(np.int8, copy=False)
        if self.valid is None:
            self.valid = np.ones((height, width), dtype=bool)
            for arr in self.modalities.values():
                self.valid &= np.isfinite(arr).all(axis=0)
        elif self.valid.shape != (height, width):
            raise DataError(f"chip {self.chip_id}: valid mask shape {self.valid.shape} != {(height, width)}")
        if self.georef is not None and (self.georef.height, self.georef.width) != (height, width):
            raise DataError(
                f"chip {self.chip_id}: georeference is {self.georef.height}x{self.georef.width} px, "
                f"image is {height}x{width} px"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(height, width)`` in pixels."""
        first = next(iter(self.modalities.values()))
        return int(first.shape[-2]), int(first.shape[-1])

    def modality(self, name: str) -> np.ndarray:
        """Return the ``(bands, H, W)`` float32 array of modality ``name``.

        Raises:
            DataError: If the chip does not carry that modality.
        """
        try:
            return self.modalities[name]
        except KeyError:
            raise DataError(
                f"chip {self.chip_id}: has no modality {name!r}; it has {sorted(self.modalities)}"
            ) from None

    def band(self, modality: str, band: str) -> np.ndarray:
        """Return one band ``(H, W)`` of a modality by name (e.g. ``chip.band("s1", "VV")``)."""
        spec = self.specs[modality] if modality in self.specs else None
        array = self.modality(modality)
        assert spec is not None
        if band not in spec.bands:
            raise DataError(f"chip {self.chip_id}: modality {modality!r} has no band {band!r}; has {spec.bands}")
        return array[spec.bands.index(band)]

    def labelled_mask(self) -> np.ndarray:
        """Return a bool ``(H, W)`` mask of pixels that count for losses and metrics (valid and labelled)."""
        assert self.valid is not None
        if self.label is None:
            return np.zeros(self.shape, dtype=bool)
        return self.valid & (self.label != LABEL_NODATA)


def stack_modalities(chip: Chip, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Concatenate the named modalities of ``chip`` along bands, in the order given.

    Args:
        chip: The chip to read.
        names: Modality names, e.g. ``["s1", "s2"]``.

    Returns:
        A float32 array ``(sum of bands, H, W)`` and the list of ``"modality/band"`` channel names.
    """
    arrays = [chip.modality(name) for name in names]
    channels = [f"{name}/{band}" for name in names for band in chip.specs[name].bands]
    return np.concatenate(arrays, axis=0), channels


def require_modalities(available: Mapping[str, ModalitySpec], wanted: Sequence[str], *, where: str) -> None:
    """Raise a one-line :class:`DataError` if any of ``wanted`` is not in ``available``."""
    missing = [name for name in wanted if name not in available]
    if missing:
        raise DataError(f"{where}: needs modalities {missing}, but only {sorted(available)} are available")

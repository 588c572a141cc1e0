"""The on-disk format of Sen1Floods11 and of a fetched corpus: folder and file names, and what each file holds.

One definition for the writer (:mod:`gee_flood.earthengine.corpus`, ``gee-flood fetch``) and the reader
(:mod:`gee_flood.data.sen1floods11`). A fetched corpus is Sen1Floods11's weakly labelled part with Sentinel-2 added::

    v1.1/data/flood_events/HandLabeled/{S1Hand,S2Hand,LabelHand,S1OtsuLabelHand,JRCWaterHand}/<Event>_<id>_<Kind>.tif
    v1.1/data/flood_events/WeaklyLabeled/{S1Weak,S1OtsuLabelWeak,S2IndexLabelWeak}/<Event>_<id>_<Kind>.tif
    v1.1/splits/flood_handlabeled/flood_{train,valid,test,bolivia}_data.csv   # rows "X_S1Hand.tif,X_LabelHand.tif"

    CORPUS/manifest.json
    CORPUS/WeaklyLabeled/S1Weak/<Event>_<id>_S1Weak.tif                      2 bands VV, VH; float32 dB; nodata NaN
    CORPUS/WeaklyLabeled/S2Weak/<Event>_<id>_S2Weak.tif                      13 bands B1..B12; int16 DN; nodata 0
    CORPUS/WeaklyLabeled/S1OtsuLabelWeak/<Event>_<id>_S1OtsuLabelWeak.tif    optional; int16 1/0/-1
    CORPUS/WeaklyLabeled/S2IndexLabelWeak/<Event>_<id>_S2IndexLabelWeak.tif  optional; int16 1/0/-1
    CORPUS/WeaklyLabeled/JRCOccurrenceWeak/<Event>_<id>_JRCOccurrenceWeak.tif  optional; uint8 0-100 (% of months)

Chip ids are ``<Event>_<id>``; every file of a chip is ``<part>/<Kind>/<chip id>_<Kind>.tif``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gee_flood.data.chip import S1_BANDS, S2_BANDS

#: The corpus manifest (chips, their grids, scene ids and files), at the corpus root.
MANIFEST_NAME = "manifest.json"
#: Version written into (and required from) the manifest.
MANIFEST_VERSION = 1
#: The lock file of a corpus folder (``fetch`` holds it while writing; it holds the writer's pid, else is empty).
CORPUS_LOCK_NAME = ".gee-flood-fetch.lock"


class ManifestChip(BaseModel):
    """One finished chip of a corpus manifest (the writer adds scene ids, times and fractions, kept as they are)."""

    model_config = ConfigDict(extra="allow", strict=True)

    chip_id: str = Field(min_length=1)
    crs: str | None = None
    transform: list[float] | None = Field(default=None, min_length=6, max_length=9)
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    files: dict[str, str] = Field(default_factory=dict)


class ManifestSkip(BaseModel):
    """A chip read and rejected (too cloudy, too little data), so a rerun does not read it again."""

    model_config = ConfigDict(extra="forbid", strict=True)

    chip_id: str = Field(min_length=1)
    reason: str = ""


class CorpusManifest(BaseModel):
    """``CORPUS/manifest.json``, validated on load: a hand-edited manifest is refused in one line naming its field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Literal[1]
    options: dict[str, Any] | None = None
    chips: list[ManifestChip] = Field(default_factory=list)
    skipped: list[ManifestSkip] = Field(default_factory=list)


HAND_FOLDER = "HandLabeled"
WEAK_FOLDER = "WeaklyLabeled"

#: The official hand-labelled split CSVs, by split name.
SPLIT_CSV: Mapping[str, str] = MappingProxyType(
    {name: f"flood_{name}_data.csv" for name in ("train", "valid", "test", "bolivia")}
)


@dataclass(frozen=True)
class FileKind:
    """One kind of per-chip GeoTIFF: where it lives and what it holds.

    Attributes:
        key: The kind's name, which is both its folder name and its file suffix (e.g. ``"S1Weak"``); also the key
            of the file in a corpus manifest's ``files``.
        part: Folder of its part of the dataset (``"HandLabeled"`` or ``"WeaklyLabeled"``).
        bands: Band names in file order.
        dtype: Data type the writer stores (the reader also accepts any float for S1, any integer for S2).
        nodata: Nodata value declared in the file (``None``: none declared).
        description: What the values are, with units.
    """

    key: str
    part: str
    bands: tuple[str, ...]
    dtype: str
    nodata: float | None
    description: str

    @property
    def folder(self) -> str:
        """Return the folder relative to the events folder (or corpus root), e.g. ``WeaklyLabeled/S1Weak``."""
        return f"{self.part}/{self.key}"

    @property
    def suffix(self) -> str:
        """Return the end of every file name of this kind, e.g. ``_S1Weak.tif``."""
        return f"_{self.key}.tif"

    def file_name(self, chip_id: str) -> str:
        """Return ``<chip_id>_<Kind>.tif``."""
        return f"{chip_id}{self.suffix}"

    def relative_path(self, chip_id: str) -> str:
        """Return ``<part>/<Kind>/<chip_id>_<Kind>.tif`` (relative to the events folder or corpus root)."""
        return f"{self.folder}/{self.file_name(chip_id)}"

    def chip_id_of(self, file_name: str) -> str | None:
        """Return the chip id of a file name of this kind, or ``None`` if the name is not of this kind."""
        if not file_name.endswith(self.suffix) or len(file_name) == len(self.suffix):
            return None
        return file_name[: -len(self.suffix)]


_S1 = "Sentinel-1 VV, VH backscatter sigma0 in dB"
_S2 = "Sentinel-2 L1C top-of-atmosphere reflectance x 10000 (DN), 0 = no data"
_LABEL = "label: 1 water, 0 not water, -1 no data"

S1_HAND = FileKind("S1Hand", HAND_FOLDER, S1_BANDS, "float32", float("nan"), _S1)
S2_HAND = FileKind("S2Hand", HAND_FOLDER, S2_BANDS, "int16", 0, _S2)
LABEL_HAND = FileKind("LabelHand", HAND_FOLDER, ("label",), "int16", None, f"hand {_LABEL}")
S1_OTSU_LABEL_HAND = FileKind("S1OtsuLabelHand", HAND_FOLDER, ("label",), "int16", None, f"S1 Otsu {_LABEL}")
JRC_WATER_HAND = FileKind("JRCWaterHand", HAND_FOLDER, ("water",), "int16", None, "JRC permanent water: > 0 water")

S1_WEAK = FileKind("S1Weak", WEAK_FOLDER, S1_BANDS, "float32", float("nan"), _S1)
S2_WEAK = FileKind("S2Weak", WEAK_FOLDER, S2_BANDS, "int16", 0, _S2)
S1_OTSU_LABEL_WEAK = FileKind("S1OtsuLabelWeak", WEAK_FOLDER, ("label",), "int16", None, f"S1 Otsu weak {_LABEL}")
S2_INDEX_LABEL_WEAK = FileKind(
    "S2IndexLabelWeak", WEAK_FOLDER, ("label",), "int16", None, f"S2 water-index weak {_LABEL}"
)
JRC_OCCURRENCE_WEAK = FileKind(
    "JRCOccurrenceWeak", WEAK_FOLDER, ("occurrence",), "uint8", None, "JRC water occurrence, % of months (0-100)"
)


@dataclass(frozen=True)
class PartLayout:
    """The files of one part of the dataset, by the role the reader gives them.

    Attributes:
        folder: The part's folder (``"HandLabeled"`` or ``"WeaklyLabeled"``).
        modalities: Modality name (``"s1"``, ``"s2"``) -> its imagery files.
        labels: Label source (``"hand"``, ``"s1otsu"``, ``"s2index"``) -> its label files.
        extras: ``Chip.extras`` key (``"jrc_water"``) -> its auxiliary files.
        other: Files a writer may add that the reader does not load (e.g. JRC occurrence).
    """

    folder: str
    modalities: Mapping[str, FileKind]
    labels: Mapping[str, FileKind]
    extras: Mapping[str, FileKind]
    other: tuple[FileKind, ...] = ()

    def kinds(self) -> tuple[FileKind, ...]:
        """Return every file kind of the part."""
        return (*self.modalities.values(), *self.labels.values(), *self.extras.values(), *self.other)


HAND_LAYOUT = PartLayout(
    folder=HAND_FOLDER,
    modalities=MappingProxyType({"s1": S1_HAND, "s2": S2_HAND}),
    labels=MappingProxyType({"hand": LABEL_HAND, "s1otsu": S1_OTSU_LABEL_HAND}),
    extras=MappingProxyType({"jrc_water": JRC_WATER_HAND}),
)
WEAK_LAYOUT = PartLayout(
    folder=WEAK_FOLDER,
    modalities=MappingProxyType({"s1": S1_WEAK, "s2": S2_WEAK}),
    labels=MappingProxyType({"s1otsu": S1_OTSU_LABEL_WEAK, "s2index": S2_INDEX_LABEL_WEAK}),
    extras=MappingProxyType({}),
    other=(JRC_OCCURRENCE_WEAK,),
)
#: The parts of Sen1Floods11 by the name readers take (``part="hand"``/``"weak"``).
PART_LAYOUTS: Mapping[str, PartLayout] = MappingProxyType({"hand": HAND_LAYOUT, "weak": WEAK_LAYOUT})

#: What ``gee-flood fetch`` writes per chip (S1 and S2 always; the labels and occurrence when asked), in order.
CORPUS_FILE_KINDS: tuple[FileKind, ...] = (
    S1_WEAK,
    S2_WEAK,
    S1_OTSU_LABEL_WEAK,
    S2_INDEX_LABEL_WEAK,
    JRC_OCCURRENCE_WEAK,
)

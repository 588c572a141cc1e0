"""Sen1Floods11 reader (Bonafilia et al., CVPR Workshops 2020), v1.1 layout, and fetched corpora in the same layout.

File and folder names are :mod:`gee_flood.data.corpus_layout`'s (shared with the corpus writer of
``gee-flood fetch``): ``v1.1/data/flood_events/{HandLabeled,WeaklyLabeled}/<Kind>/<Event>_<id>_<Kind>.tif`` and the
hand-labelled split CSVs ``v1.1/splits/flood_handlabeled/flood_{train,valid,test,bolivia}_data.csv``; a fetched
corpus is a weak part with Sentinel-2 added (``CORPUS/WeaklyLabeled/...`` beside ``CORPUS/manifest.json``).

Rasters (EPSG:4326 with ~8.98e-5 degree pixels in the official data; any CRS in a corpus):

- ``S1*``: 2 bands VV, VH; float32 backscatter in dB; no data NaN -> modality ``s1`` as is.
- ``S2*``: 13 bands B1..B12 (S2 order, B8A after B8); int16 top-of-atmosphere reflectance x 10000; no data 0 ->
  modality ``s2`` as float32 reflectance (DN / 10000) with NaN where a band is 0.
- labels: int16 ``1`` water, ``0`` not water, ``-1`` no data.
- ``JRCWaterHand``: JRC permanent water -> ``chip.extras["jrc_water"]`` (bool), when the file is there.

A chip's ``valid`` mask is where its SAR input has data (the optical input may be cloudy or missing there: its
pixels are NaN and handled by whoever uses S2), as for OMBRIA. Chip ids are ``<Event>_<id>``; the event is the
file name before the last ``_<id>``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import LABEL_NODATA, S1, S2, Chip, ModalitySpec
from gee_flood.data.corpus_layout import PART_LAYOUTS, SPLIT_CSV, FileKind, PartLayout
from gee_flood.errors import DataError, InputError
from gee_flood.geo import PixelGrid

Part = Literal["hand", "weak"]

#: Split names: the four official hand-labelled CSVs, plus ``"all"`` (every chip found on disk).
SEN1FLOODS11_SPLITS: tuple[str, ...] = ("train", "valid", "test", "bolivia", "all")
#: Split names of the weak part (no official weak splits exist; ``train`` leaves out held-out data, see below).
WEAK_SPLITS: tuple[str, ...] = ("train", "all")
#: Events never trained on (Bolivia is the held-out test event of the benchmark).
HELD_OUT_EVENTS: tuple[str, ...] = ("Bolivia",)
#: Label sources, by the name users pass as ``labels=``.
LABEL_SOURCES: tuple[str, ...] = ("hand", "s1otsu", "s2index")

_S2_SCALE = 10000.0
_SPECS: dict[str, ModalitySpec] = {"s1": S1, "s2": S2}


def chip_event(chip_id: str) -> str:
    """Return the flood event of a chip id (``"Sri-Lanka_12345"`` -> ``"Sri-Lanka"``)."""
    return chip_id.rsplit("_", 1)[0] if "_" in chip_id else chip_id


def find_layout(root: str | Path) -> tuple[Path, Path | None]:
    """Locate the ``flood_events`` folder and the hand-labelled splits folder under ``root``.

    Args:
        root: The dataset top (holding ``v1.1/``), ``v1.1`` itself, the ``flood_events`` folder, or a fetched corpus
            (holding ``WeaklyLabeled/``).

    Returns:
        ``(events_dir, splits_dir)``: the folder holding ``HandLabeled/`` and/or ``WeaklyLabeled/``, and the folder
        holding ``flood_train_data.csv``... (``None`` if there is none).

    Raises:
        InputError: If no such folder is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: Sen1Floods11 folder not found")
    candidates = [root, root / "flood_events", root / "data" / "flood_events", root / "v1.1" / "data" / "flood_events"]
    events_dir = next(
        (c for c in candidates if any((c / layout.folder).is_dir() for layout in PART_LAYOUTS.values())), None
    )
    if events_dir is None:
        raise InputError(
            f"{root}: not a Sen1Floods11 folder (expected HandLabeled/ or WeaklyLabeled/ in it, in flood_events/, "
            "or in v1.1/data/flood_events/)"
        )
    split_candidates = [
        root / "v1.1" / "splits" / "flood_handlabeled",
        root / "splits" / "flood_handlabeled",
        root / "splits",
        events_dir.parent.parent / "splits" / "flood_handlabeled",
        events_dir / "splits" / "flood_handlabeled",
    ]
    splits_dir = next((c for c in split_candidates if any((c / n).is_file() for n in SPLIT_CSV.values())), None)
    return events_dir, splits_dir


class Sen1Floods11Dataset(ChipDataset):
    """Sen1Floods11 chips (hand-labelled or weakly labelled part, or a fetched corpus) as :class:`Chip` records.

    Args:
        root: Dataset top (holding ``v1.1/``), the ``flood_events`` folder, or a fetched corpus folder.
        split: ``"train"``, ``"valid"``, ``"test"``, ``"bolivia"`` (the official hand-labelled CSVs) or ``"all"``
            (every chip on disk). The weak part has ``"all"`` and ``"train"``; its ``train`` leaves out the
            held-out events (:data:`HELD_OUT_EVENTS`) and any chip listed in the hand-labelled valid, test or
            Bolivia CSVs, when those are found.
        part: ``"hand"`` (``HandLabeled``) or ``"weak"`` (``WeaklyLabeled``; a fetched corpus is a weak part).
        modalities: Modalities to load (``"s1"``, ``"s2"``); default: every one present on disk.
        labels: ``"hand"`` (LabelHand), ``"s1otsu"`` (S1 Otsu labels), ``"s2index"`` (weak S2 index labels) or
            ``None`` (unlabelled). ``"auto"`` (default): ``"hand"`` for the hand part when present, else ``None``.
        ids: Optional subset of chip ids (``"Ghana_103272"``...) to expose, in the given order.
        splits_dir: Folder of the split CSVs, if not found under ``root`` automatically.
        with_extras: Read auxiliary layers (``jrc_water``) when present.

    Raises:
        InputError: Missing folder or file, unknown split, modality or label source, unknown id.
    """

    name = "sen1floods11"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        part: Part = "hand",
        modalities: Sequence[str] | None = None,
        labels: str | None = "auto",
        ids: Sequence[str] | None = None,
        splits_dir: str | Path | None = None,
        with_extras: bool = True,
    ) -> None:
        if part not in PART_LAYOUTS:
            raise InputError(f"unknown Sen1Floods11 part {part!r}; expected 'hand' or 'weak'")
        self.root = Path(root)
        self.part: Part = part
        self.split = split
        self.events_dir, found_splits = find_layout(self.root)
        self.splits_dir = Path(splits_dir) if splits_dir is not None else found_splits
        layout: PartLayout = PART_LAYOUTS[part]
        self.part_dir = self.events_dir / layout.folder
        self._layout = layout
        if not self.part_dir.is_dir():
            other = "weak" if part == "hand" else "hand"
            hint = (
                f"; it has the {other} part (part={other!r})"
                if (self.events_dir / PART_LAYOUTS[other].folder).is_dir()
                else ""
            )
            raise InputError(f"{self.part_dir}: missing (Sen1Floods11 {part} part){hint}")

        present = {name: kind for name, kind in layout.modalities.items() if self._dir(kind).is_dir()}
        if not present:
            expected = [kind.key for kind in layout.modalities.values()]
            raise InputError(f"{self.part_dir}: has no imagery folder (expected one of {expected})")
        wanted = list(modalities) if modalities is not None else list(present)
        for name in wanted:
            if name not in layout.modalities:
                raise InputError(f"Sen1Floods11 has no modality {name!r}; it has {list(layout.modalities)}")
            if name not in present:
                folder = self._dir(layout.modalities[name])
                note = (
                    " (the official weak part has no Sentinel-2; fetch a paired corpus with 'gee-flood fetch')"
                    if part == "weak" and name == "s2"
                    else ""
                )
                raise InputError(f"{folder}: missing, so modality {name!r} is not available{note}")
        if not wanted:
            raise InputError("Sen1Floods11: no modalities requested")
        self.modalities = {name: _SPECS[name] for name in wanted}
        self._modality_kinds = {name: present[name] for name in wanted}

        self.label_source = self._resolve_labels(labels)
        self._label_kind = layout.labels[self.label_source] if self.label_source else None
        self._extra_kinds = (
            {key: kind for key, kind in layout.extras.items() if self._dir(kind).is_dir()} if with_extras else {}
        )

        chip_ids = self._split_ids(split)
        if ids is not None:
            known = set(chip_ids)
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise InputError(f"Sen1Floods11 {part} split {split!r} has no chips {unknown[:5]}")
            chip_ids = list(ids)
        self._ids = chip_ids
        for chip_id in self._ids:  # fail at construction, not in the middle of an epoch
            for path in self._required_paths(chip_id):
                if not path.is_file():
                    raise InputError(f"{path}: file not found (chip {chip_id}, Sen1Floods11 {part} split {split!r})")

    # ------------------------------------------------------------------ layout
    def _resolve_labels(self, labels: str | None) -> str | None:
        layout = self._layout
        if labels == "auto":
            if self.part == "hand" and self._dir(layout.labels["hand"]).is_dir():
                return "hand"
            return None
        if labels is None:
            return None
        if labels not in LABEL_SOURCES:
            raise InputError(f"unknown label source {labels!r}; expected one of {list(LABEL_SOURCES)} or None")
        if labels not in layout.labels:
            raise InputError(
                f"label source {labels!r} does not exist for the Sen1Floods11 {self.part} part; "
                f"it has {list(layout.labels)}"
            )
        folder = self._dir(layout.labels[labels])
        if not folder.is_dir():
            raise InputError(f"{folder}: missing, so labels {labels!r} are not available")
        return labels

    def _dir(self, kind: FileKind) -> Path:
        return self.events_dir / kind.folder

    def _file(self, kind: FileKind, chip_id: str) -> Path:
        return self.events_dir / kind.relative_path(chip_id)

    def _required_paths(self, chip_id: str) -> list[Path]:
        paths = [self._file(kind, chip_id) for kind in self._modality_kinds.values()]
        if self._label_kind is not None:
            paths.append(self._file(self._label_kind, chip_id))
        return paths

    def _scan_ids(self) -> list[str]:
        kind = next(iter(self._modality_kinds.values()))
        folder = self._dir(kind)
        ids = sorted(i for i in (kind.chip_id_of(p.name) for p in folder.glob(f"*{kind.suffix}")) if i)
        if not ids:
            raise InputError(f"{folder}: no *{kind.suffix} files")
        return ids

    def _split_ids(self, split: str) -> list[str]:
        allowed = SEN1FLOODS11_SPLITS if self.part == "hand" else WEAK_SPLITS
        if split not in allowed:
            extra = (
                "; the official valid/test/bolivia splits are hand-labelled (part='hand')"
                if self.part == "weak" and split in SEN1FLOODS11_SPLITS
                else ""
            )
            raise InputError(
                f"unknown Sen1Floods11 {self.part} split {split!r}; expected one of {list(allowed)}{extra}"
            )
        if split == "all":
            return self._scan_ids()
        if self.part == "hand":
            return self._read_split_csv(split, check_files=True)
        held_out: set[str] = set()
        if self.splits_dir is not None:
            for name in ("valid", "test", "bolivia"):
                if (self.splits_dir / SPLIT_CSV[name]).is_file():
                    held_out.update(self._read_split_csv(name, check_files=False))
        return [i for i in self._scan_ids() if i not in held_out and chip_event(i) not in HELD_OUT_EVENTS]

    def _read_split_csv(self, split: str, *, check_files: bool) -> list[str]:
        """Read ``flood_<split>_data.csv``: rows ``<id>_S1Hand.tif,<id>_LabelHand.tif``, no header."""
        if self.splits_dir is None:
            raise InputError(
                f"{self.root}: no Sen1Floods11 split CSVs found (looked for v1.1/splits/flood_handlabeled/); "
                "pass splits_dir= or use split='all'"
            )
        path = self.splits_dir / SPLIT_CSV[split]
        if not path.is_file():
            raise InputError(f"{path}: split file not found")
        hand = PART_LAYOUTS["hand"]
        s1_kind, label_kind = hand.modalities["s1"], hand.labels["hand"]
        s1_dir, label_dir = self._dir(s1_kind), self._dir(label_kind)
        check_dirs = {
            0: s1_dir if "s1" in self._modality_kinds else None,
            1: label_dir if self.label_source == "hand" else None,
        }
        ids: list[str] = []
        try:
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise InputError(f"{path}: unreadable split file ({error})") from None
        for line, row in enumerate(rows, start=1):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells:
                continue
            chip_id = s1_kind.chip_id_of(cells[0])
            if chip_id is None or len(cells) > 2:
                raise DataError(
                    f"{path}:{line}: expected '<Event>_<id>{s1_kind.suffix},<Event>_<id>{label_kind.suffix}', got {row}"
                )
            ids.append(chip_id)
            if check_files:
                for column, folder in check_dirs.items():
                    if folder is not None and column < len(cells) and not (folder / cells[column]).is_file():
                        raise InputError(f"{path}:{line}: names {cells[column]}, which is missing from {folder}")
        if not ids:
            raise DataError(f"{path}: split file lists no chips")
        return ids

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._ids)

    def chip_ids(self) -> list[str]:
        """Return chip ids (``"Ghana_103272"``...) in index order."""
        return list(self._ids)

    @property
    def events(self) -> list[str]:
        """Return the flood event of every chip, in index order."""
        return [chip_event(i) for i in self._ids]

    def paths(self, chip_id: str) -> dict[str, Path]:
        """Return the files of ``chip_id`` by role (modality names, ``"label"``, extras keys)."""
        paths = {name: self._file(kind, chip_id) for name, kind in self._modality_kinds.items()}
        if self._label_kind is not None:
            paths["label"] = self._file(self._label_kind, chip_id)
        for key, kind in self._extra_kinds.items():
            paths[key] = self._file(kind, chip_id)
        return paths

    def __getitem__(self, index: int) -> Chip:
        chip_id = self._ids[index]
        paths = self.paths(chip_id)
        arrays: dict[str, np.ndarray] = {}
        reference: tuple[Path, PixelGrid] | None = None
        for name in self.modalities:
            path = paths[name]
            if name == "s1":
                array, georef = read_s1(path)
            else:
                array, georef = read_s2(path)
            reference = _check_grid(chip_id, path, georef, reference)
            arrays[name] = array
        assert reference is not None
        label = None
        if "label" in paths:
            label, georef = read_label(paths["label"])
            _check_grid(chip_id, paths["label"], georef, reference)
        extras: dict[str, np.ndarray] = {}
        for key in self._extra_kinds:
            if paths[key].is_file():
                water, georef = read_water_mask(paths[key])
                _check_grid(chip_id, paths[key], georef, reference)
                extras[key] = water
        sar = [arrays[n] for n in arrays if not self.modalities[n].optical]
        valid = np.ones((reference[1].height, reference[1].width), bool)
        for array in sar or list(arrays.values()):
            valid &= np.isfinite(array).all(axis=0)
        return Chip(
            chip_id=chip_id,
            event=chip_event(chip_id),
            modalities=arrays,
            specs=dict(self.modalities),
            label=label,
            valid=valid,
            georef=reference[1],
            extras=extras,
        )


def _check_grid(
    chip_id: str, path: Path, georef: PixelGrid, reference: tuple[Path, PixelGrid] | None
) -> tuple[Path, PixelGrid]:
    """Return ``reference`` (or this file as the reference); raise if ``georef`` is not on its grid."""
    if reference is None:
        return path, georef
    ref_path, ref = reference
    if (georef.height, georef.width) != (ref.height, ref.width):
        raise DataError(
            f"{path}: is {georef.width}x{georef.height} px, but {ref_path.name} is {ref.width}x{ref.height} px "
            f"(chip {chip_id})"
        )
    if not ref.same_grid(georef):
        raise DataError(
            f"{path}: not on the grid of {ref_path.name} (chip {chip_id}): CRS {georef.crs} bounds "
            f"{_fmt_bounds(georef.bounds)} vs CRS {ref.crs} bounds {_fmt_bounds(ref.bounds)}"
        )
    return reference


def _fmt_bounds(bounds: tuple[float, float, float, float]) -> str:
    return "(" + ", ".join(f"{v:.6f}" for v in bounds) + ")"


def _read(path: Path, bands: int, what: str) -> tuple[np.ndarray, PixelGrid, float | None]:
    """Read every band of a GeoTIFF with one-line errors; return ``(array, georef, nodata)``."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with rasterio.open(path) as src:
            if src.count != bands:
                raise DataError(f"{path}: has {src.count} bands, expected {bands} ({what})")
            if src.crs is None:
                raise DataError(f"{path}: has no CRS (expected a georeferenced GeoTIFF)")
            array = src.read()
            georef = PixelGrid(src.crs.to_string(), src.transform, src.width, src.height)
            nodata = src.nodata
    except RasterioError as error:
        raise InputError(f"{path}: unreadable GeoTIFF ({error})") from None
    return array, georef, nodata


def read_s1(path: str | Path) -> tuple[np.ndarray, PixelGrid]:
    """Read a Sentinel-1 chip (``S1Hand``/``S1Weak``): VV, VH backscatter in dB, float32, NaN = no data.

    Returns:
        ``(array (2, H, W) float32 dB, georef)``.

    Raises:
        InputError: Missing or unreadable file.
        DataError: Wrong band count or dtype, no CRS, or no valid pixel.
    """
    path = Path(path)
    raw, georef, nodata = _read(path, len(S1.bands), "VV, VH in dB")
    if not np.issubdtype(raw.dtype, np.floating):
        raise DataError(f"{path}: is {raw.dtype}, expected float32 backscatter in dB")
    array = raw.astype(np.float32, copy=False)
    if nodata is not None and not np.isnan(nodata):
        array[array == nodata] = np.nan
    array[~np.isfinite(array)] = np.nan
    if np.isnan(array).all():
        raise DataError(f"{path}: has no valid pixels (all no data)")
    return array, georef


def read_s2(path: str | Path) -> tuple[np.ndarray, PixelGrid]:
    """Read a Sentinel-2 chip (``S2Hand``/``S2Weak``): 13 L1C bands, int16 DN = reflectance x 10000, 0 = no data.

    Returns:
        ``(array (13, H, W) float32 reflectance 0-1 with NaN = no data, georef)``.

    Raises:
        InputError: Missing or unreadable file.
        DataError: Wrong band count or dtype, no CRS, or no valid pixel.
    """
    path = Path(path)
    raw, georef, nodata = _read(path, len(S2.bands), "B1..B12 reflectance x 10000")
    if not np.issubdtype(raw.dtype, np.integer):
        raise DataError(f"{path}: is {raw.dtype}, expected int16 reflectance x 10000")
    missing = raw == 0
    if nodata is not None and not np.isnan(nodata) and nodata != 0:
        missing |= raw == nodata
    array = raw.astype(np.float32) / np.float32(_S2_SCALE)
    array[missing] = np.nan
    if missing.all():
        raise DataError(f"{path}: has no valid pixels (all no data)")
    return array, georef


def read_label(path: str | Path) -> tuple[np.ndarray, PixelGrid]:
    """Read a label chip: int16 ``1`` water, ``0`` not water, ``-1`` no data (a file nodata value also means -1).

    Returns:
        ``(label (H, W) int8, georef)``.

    Raises:
        InputError: Missing or unreadable file.
        DataError: Not one band, no CRS, or values other than 1/0/-1.
    """
    path = Path(path)
    raw, georef, nodata = _read(path, 1, "label 1/0/-1")
    band = raw[0]
    if np.issubdtype(band.dtype, np.floating):
        nan = np.isnan(band)
        band = np.where(nan, LABEL_NODATA, band)
    if nodata is not None and not np.isnan(nodata):
        band = np.where(band == nodata, LABEL_NODATA, band)
    bad = np.setdiff1d(np.unique(band), (-1, 0, 1))
    if bad.size:
        raise DataError(f"{path}: label values {bad[:5].tolist()} outside 1 (water), 0 (not water), -1 (no data)")
    return band.astype(np.int8), georef


def read_water_mask(path: str | Path) -> tuple[np.ndarray, PixelGrid]:
    """Read a one-band water layer (JRC permanent water): True where the value is positive and not no data."""
    path = Path(path)
    raw, georef, nodata = _read(path, 1, "water mask")
    band = raw[0]
    water = np.nan_to_num(band.astype(np.float64), nan=0.0) > 0
    if nodata is not None and not np.isnan(nodata):
        water &= band != nodata
    return water, georef

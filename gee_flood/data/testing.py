"""Tiny on-disk datasets in the exact real formats, for tests (never real data).

- :func:`write_sen1floods11_fixture` writes a Sen1Floods11 v1.1 tree (``v1.1/data/flood_events/...`` and
  ``v1.1/splits/flood_handlabeled/*.csv``): EPSG:4326, ~8.98e-5 degree pixels, deflate-compressed GeoTIFFs,
  S1 float32 dB with NaN no data, S2 int16 reflectance x 10000 with 0 no data, labels int16 1/0/-1.
- :func:`write_corpus_fixture` writes a fetched-corpus tree (``manifest.json`` + ``WeaklyLabeled/...``) as
  ``gee-flood fetch`` does: Cloud-Optimized GeoTIFFs in a UTM CRS with S2 alongside S1.

Each chip is a small synthetic flood: a disc of water (dark SAR, low NIR/SWIR) on land, a strip of S1 no data,
a few S2 no-data pixels and a border of label no data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

#: Sen1Floods11 pixel size in degrees (about 10 m at the equator).
SEN1FLOODS11_PIXEL_DEG = 8.983152841195215e-05

DEFAULT_HAND_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("Ghana_103272", "Ghana_24858", "India_1018327"),
    "valid": ("USA_430764",),
    "test": ("Spain_7370579",),
    "bolivia": ("Bolivia_103757",),
}
DEFAULT_WEAK_IDS: tuple[str, ...] = ("Ghana_5079", "Nigeria_81933", "Bolivia_314919")


@dataclass
class ChipTruth:
    """What was written for one chip (to compare a reader's output with)."""

    chip_id: str
    s1_db: np.ndarray  # (2, H, W) float32 with NaN
    s2_dn: np.ndarray  # (13, H, W) int16 with 0 = no data
    label: np.ndarray  # (H, W) int16 1/0/-1
    water: np.ndarray  # (H, W) bool
    transform: Affine
    crs: str


@dataclass
class Sen1Floods11Fixture:
    """Paths and contents of a fixture tree."""

    root: Path
    events_dir: Path
    splits_dir: Path
    splits: dict[str, list[str]]
    weak_ids: list[str]
    chips: dict[str, ChipTruth] = field(default_factory=dict)

    def path(self, part_folder: str, folder: str, chip_id: str) -> Path:
        """Return ``events_dir/part_folder/folder/<chip_id>_<folder>.tif``."""
        return self.events_dir / part_folder / folder / f"{chip_id}_{folder}.tif"


@dataclass
class CorpusFixture:
    """Paths and contents of a fetched-corpus fixture."""

    root: Path
    chip_ids: list[str]
    chips: dict[str, ChipTruth] = field(default_factory=dict)

    def path(self, folder: str, chip_id: str) -> Path:
        """Return ``root/WeaklyLabeled/folder/<chip_id>_<folder>.tif``."""
        return self.root / "WeaklyLabeled" / folder / f"{chip_id}_{folder}.tif"


def write_tif(
    path: str | Path,
    array: np.ndarray,
    *,
    crs: str,
    transform: Affine,
    nodata: float | None,
    driver: str = "GTiff",
) -> Path:
    """Write ``array`` (bands, H, W) as a deflate-compressed GeoTIFF (or ``driver="COG"``) in its own dtype."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 2:
        array = array[None]
    profile = {
        "driver": driver,
        "count": array.shape[0],
        "height": array.shape[1],
        "width": array.shape[2],
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate" if driver == "GTiff" else "DEFLATE",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return path


def make_chip(
    chip_id: str, *, size: int, crs: str, transform: Affine, rng: np.random.Generator, s2_zero_fraction: float = 0.02
) -> ChipTruth:
    """Return synthetic S1 (dB), S2 (DN) and label arrays for one chip."""
    rows, cols = np.mgrid[0:size, 0:size]
    centre = rng.uniform(size * 0.3, size * 0.7, 2)
    radius = rng.uniform(size * 0.15, size * 0.3)
    water = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2
    vv = np.where(water, -20.0, -9.0) + rng.normal(0, 1.0, (size, size))
    vh = np.where(water, -27.0, -16.0) + rng.normal(0, 1.0, (size, size))
    s1_db = np.stack([vv, vh]).astype(np.float32)
    s1_db[:, :, :2] = np.nan  # a strip of no data at the western edge
    land = np.array([1300, 1100, 1000, 900, 1300, 2200, 2600, 2800, 3000, 900, 20, 2100, 1400], np.float64)
    wet = np.array([1200, 1000, 900, 700, 600, 500, 450, 400, 380, 300, 10, 150, 100], np.float64)
    s2 = np.where(water[None], wet[:, None, None], land[:, None, None]) * rng.uniform(0.9, 1.1, (13, size, size))
    s2_dn = np.clip(np.round(s2), 1, 10000).astype(np.int16)
    s2_dn[:, rng.random((size, size)) < s2_zero_fraction] = 0
    label = np.where(water, 1, 0).astype(np.int16)
    label[0, :] = -1  # a row without label
    return ChipTruth(chip_id, s1_db, s2_dn, label, water, transform, crs)


def _geographic_transform(index: int, size: int) -> Affine:
    # Chips lie side by side near the equator; each id has its own bounds shared by all its files.
    lon = 10.0 + index * size * SEN1FLOODS11_PIXEL_DEG * 1.5
    return Affine(SEN1FLOODS11_PIXEL_DEG, 0.0, lon, 0.0, -SEN1FLOODS11_PIXEL_DEG, 5.0)


def write_sen1floods11_fixture(
    root: str | Path,
    *,
    size: int = 32,
    hand_splits: Mapping[str, Sequence[str]] | None = None,
    weak_ids: Sequence[str] | None = None,
    with_s2: bool = True,
    with_jrc: bool = True,
    seed: int = 0,
) -> Sen1Floods11Fixture:
    """Write a tiny Sen1Floods11 v1.1 tree under ``root`` (the dataset top, which then holds ``v1.1/``).

    Args:
        root: Destination folder.
        size: Chip width and height in pixels (512 in the real data).
        hand_splits: Split name -> chip ids of the hand-labelled part (default :data:`DEFAULT_HAND_SPLITS`).
        weak_ids: Chip ids of the weakly labelled part (default :data:`DEFAULT_WEAK_IDS`).
        with_s2: Write ``HandLabeled/S2Hand``.
        with_jrc: Write ``HandLabeled/JRCWaterHand``.
        seed: Seed of the synthetic content.

    Returns:
        The fixture's paths and written arrays.
    """
    root = Path(root)
    splits = {name: list(ids) for name, ids in (hand_splits or DEFAULT_HAND_SPLITS).items()}
    weak = list(weak_ids if weak_ids is not None else DEFAULT_WEAK_IDS)
    events_dir = root / "v1.1" / "data" / "flood_events"
    splits_dir = root / "v1.1" / "splits" / "flood_handlabeled"
    fixture = Sen1Floods11Fixture(root, events_dir, splits_dir, splits, weak)
    rng = np.random.default_rng(seed)
    crs = "EPSG:4326"
    hand_ids = [chip_id for ids in splits.values() for chip_id in ids]
    parts = [("HandLabeled", chip_id) for chip_id in hand_ids] + [("WeaklyLabeled", chip_id) for chip_id in weak]
    for index, (part, chip_id) in enumerate(parts):
        truth = make_chip(chip_id, size=size, crs=crs, transform=_geographic_transform(index, size), rng=rng)
        fixture.chips.setdefault(chip_id, truth)  # an id in both parts keeps its hand-labelled truth
        if part == "HandLabeled":
            files = {"S1Hand": (truth.s1_db, np.nan), "LabelHand": (truth.label, None)}
            files["S1OtsuLabelHand"] = (np.where(truth.s1_db[1] < -22, 1, 0).astype(np.int16), None)
            if with_s2:
                files["S2Hand"] = (truth.s2_dn, 0)
            if with_jrc:
                files["JRCWaterHand"] = (truth.water.astype(np.uint8), None)
        else:
            files = {
                "S1Weak": (truth.s1_db, np.nan),
                "S1OtsuLabelWeak": (np.where(truth.s1_db[1] < -22, 1, 0).astype(np.int16), None),
                "S2IndexLabelWeak": (truth.label, None),
            }
        for folder, (array, nodata) in files.items():
            write_tif(fixture.path(part, folder, chip_id), array, crs=crs, transform=truth.transform, nodata=nodata)
    splits_dir.mkdir(parents=True, exist_ok=True)
    for name, ids in splits.items():
        rows = "".join(f"{chip_id}_S1Hand.tif,{chip_id}_LabelHand.tif\n" for chip_id in ids)
        (splits_dir / f"flood_{name}_data.csv").write_text(rows)
    return fixture


def write_corpus_fixture(
    root: str | Path,
    *,
    chip_ids: Sequence[str] = ("Demo_000001", "Demo_000002", "Demo_000003"),
    size: int = 32,
    crs: str = "EPSG:32633",
    with_s2: bool = True,
    labels: Sequence[str] = ("S1OtsuLabelWeak", "S2IndexLabelWeak"),
    seed: int = 1,
) -> CorpusFixture:
    """Write a tiny fetched corpus (``manifest.json`` + ``WeaklyLabeled/``) of COGs in a UTM CRS, 10 m pixels."""
    root = Path(root)
    fixture = CorpusFixture(root, list(chip_ids))
    rng = np.random.default_rng(seed)
    records = []
    for index, chip_id in enumerate(chip_ids):
        transform = Affine(10.0, 0.0, 500000.0 + index * size * 15.0, 0.0, -10.0, 4_000_000.0)
        truth = make_chip(chip_id, size=size, crs=crs, transform=transform, rng=rng)
        fixture.chips[chip_id] = truth
        files = {"S1Weak": (truth.s1_db, np.nan)}
        if with_s2:
            files["S2Weak"] = (truth.s2_dn, 0)
        for folder in labels:
            files[folder] = (truth.label, None)
        written = {}
        for folder, (array, nodata) in files.items():
            path = write_tif(
                fixture.path(folder, chip_id), array, crs=crs, transform=transform, nodata=nodata, driver="COG"
            )
            written[folder] = path.relative_to(root).as_posix()
        records.append(
            {
                "chip_id": chip_id,
                "event": chip_id.rsplit("_", 1)[0],
                "crs": crs,
                "transform": list(transform)[:6],
                "width": size,
                "height": size,
                "files": written,
            }
        )
    (root / "manifest.json").write_text(json.dumps({"version": 1, "chips": records}, indent=2))
    return fixture

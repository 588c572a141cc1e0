"""Pairing Sentinel-1 with Sentinel-2, computed locally on scene metadata.

Scenes of one sensor acquired on the same UTC day in the same orbit are one *mosaic* (Sentinel-1: same pass and
relative orbit; Sentinel-2: same sensing orbit). For each chip, the candidate pairs are the S1 and S2 mosaics whose
footprints cover the chip, acquired within the chip's date windows and at most ``max_days`` calendar days apart,
ranked closest in time first (then the least cloudy S2 scene). Each S2 mosaic appears once, with its best S1
partner, so a chip found too cloudy in one S2 mosaic falls back to the next S2 mosaic.

Everything here is plain Python on metadata; nothing talks to Earth Engine.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.strtree import STRtree

from gee_flood.earthengine.grid import ChipSpec

Sensor = Literal["S1", "S2"]


@dataclass(frozen=True)
class SceneRecord:
    """Metadata of one Earth Engine image.

    Attributes:
        sensor: ``"S1"`` or ``"S2"``.
        image_id: Full asset id (``COPERNICUS/S1_GRD/S1A_IW_GRDH_...``).
        index: ``system:index``.
        time: Acquisition start (``system:time_start``), UTC.
        footprint: Outline in EPSG:4326.
        properties: Other metadata (``orbitProperties_pass``, ``relativeOrbitNumber_start``,
            ``CLOUDY_PIXEL_PERCENTAGE``, ``SENSING_ORBIT_NUMBER``...).
    """

    sensor: Sensor
    image_id: str
    index: str
    time: dt.datetime
    footprint: Polygon | MultiPolygon
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Mosaic:
    """Scenes of one sensor from the same day and orbit, read as one mosaic.

    Attributes:
        sensor: ``"S1"`` or ``"S2"``.
        key: Stable identifier (``S1/2019-03-05/DESCENDING/64``).
        image_ids: Full asset ids, sorted.
        indexes: ``system:index`` values, in the same order.
        time: Earliest acquisition time (UTC).
        footprint: Union of the scene footprints (EPSG:4326).
        cloudy_percentage: Mean scene ``CLOUDY_PIXEL_PERCENTAGE`` (S2), else ``None``.
    """

    sensor: Sensor
    key: str
    image_ids: tuple[str, ...]
    indexes: tuple[str, ...]
    time: dt.datetime
    footprint: Polygon | MultiPolygon = field(hash=False, compare=False)
    cloudy_percentage: float | None = None

    @property
    def day(self) -> dt.date:
        """Return the UTC day of the mosaic."""
        return self.time.date()


@dataclass(frozen=True)
class PairChoice:
    """A candidate S1/S2 pair for one chip."""

    s1: Mosaic
    s2: Mosaic

    @property
    def key(self) -> str:
        """Return ``"<s1 key>|<s2 key>"``."""
        return f"{self.s1.key}|{self.s2.key}"

    @property
    def gap_days(self) -> float:
        """Return the time between the acquisitions in days."""
        return abs((self.s1.time - self.s2.time).total_seconds()) / 86400.0


def _s1_group(scene: SceneRecord) -> str:
    props = scene.properties
    orbit_pass = props.get("orbitProperties_pass") or "?"
    orbit = props.get("relativeOrbitNumber_start")
    orbit_text = str(int(orbit)) if isinstance(orbit, int | float) else str(orbit or "?")
    return f"S1/{scene.time.date().isoformat()}/{orbit_pass}/{orbit_text}"


def _s2_group(scene: SceneRecord) -> str:
    orbit = scene.properties.get("SENSING_ORBIT_NUMBER")
    orbit_text = str(int(orbit)) if isinstance(orbit, int | float) else str(orbit or "?")
    return f"S2/{scene.time.date().isoformat()}/{orbit_text}"


def group_mosaics(scenes: Iterable[SceneRecord]) -> list[Mosaic]:
    """Group scenes into same-day, same-orbit mosaics (sorted by key)."""
    groups: dict[str, list[SceneRecord]] = defaultdict(list)
    for scene in scenes:
        groups[_s1_group(scene) if scene.sensor == "S1" else _s2_group(scene)].append(scene)
    mosaics = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda scene: scene.image_id)
        clouds = [
            float(scene.properties["CLOUDY_PIXEL_PERCENTAGE"])
            for scene in members
            if isinstance(scene.properties.get("CLOUDY_PIXEL_PERCENTAGE"), int | float)
        ]
        mosaics.append(
            Mosaic(
                sensor=members[0].sensor,
                key=key,
                image_ids=tuple(scene.image_id for scene in members),
                indexes=tuple(scene.index for scene in members),
                time=min(scene.time for scene in members),
                footprint=shapely.union_all([scene.footprint for scene in members]),
                cloudy_percentage=(sum(clouds) / len(clouds)) if clouds else None,
            )
        )
    return mosaics


class _CoverageIndex:
    """Find mosaics covering a chip footprint, with an R-tree over mosaic footprints."""

    def __init__(self, mosaics: Sequence[Mosaic]) -> None:
        self.mosaics = list(mosaics)
        for mosaic in self.mosaics:
            shapely.prepare(mosaic.footprint)
        self.tree = STRtree([mosaic.footprint for mosaic in self.mosaics]) if self.mosaics else None

    def covering(self, footprint: Polygon, min_coverage: float) -> list[Mosaic]:
        if self.tree is None:
            return []
        found = []
        area = footprint.area
        for position in self.tree.query(footprint):
            mosaic = self.mosaics[int(position)]
            if mosaic.footprint.covers(footprint):
                found.append(mosaic)
            elif area > 0 and mosaic.footprint.intersection(footprint).area / area >= min_coverage:
                found.append(mosaic)
        return found


def candidate_pairs(
    chips: Sequence[ChipSpec],
    s1_mosaics: Sequence[Mosaic],
    s2_mosaics: Sequence[Mosaic],
    *,
    max_days: int,
    min_coverage: float = 0.99,
    max_candidates: int = 3,
) -> dict[str, list[PairChoice]]:
    """Rank candidate S1/S2 pairs for every chip.

    Args:
        chips: Chips to pair.
        s1_mosaics: Sentinel-1 mosaics.
        s2_mosaics: Sentinel-2 mosaics.
        max_days: Largest gap between the S1 and S2 UTC days.
        min_coverage: Smallest fraction of the chip a mosaic footprint must cover.
        max_candidates: Keep at most this many S2 mosaics per chip (each with its best S1 partner).

    Returns:
        Chip id -> ranked candidates (empty list if none).
    """
    s1_index, s2_index = _CoverageIndex(s1_mosaics), _CoverageIndex(s2_mosaics)
    result: dict[str, list[PairChoice]] = {}
    for chip in chips:
        s1_options = [
            mosaic
            for mosaic in s1_index.covering(chip.footprint, min_coverage)
            if chip.s1_dates.start <= mosaic.day <= chip.s1_dates.end
        ]
        s2_options = [
            mosaic
            for mosaic in s2_index.covering(chip.footprint, min_coverage)
            if chip.s2_dates.start <= mosaic.day <= chip.s2_dates.end
        ]
        pairs = [
            PairChoice(s1, s2) for s1 in s1_options for s2 in s2_options if abs((s1.day - s2.day).days) <= max_days
        ]
        pairs.sort(key=_rank)
        best_per_s2: dict[str, PairChoice] = {}
        for pair in pairs:
            best_per_s2.setdefault(pair.s2.key, pair)
        ranked = sorted(best_per_s2.values(), key=_rank)
        result[chip.chip_id] = ranked[:max_candidates]
    return result


def _rank(pair: PairChoice) -> tuple[float, float, str, str]:
    cloud = pair.s2.cloudy_percentage if pair.s2.cloudy_percentage is not None else 100.0
    return (round(pair.gap_days, 6), cloud, pair.s1.key, pair.s2.key)


def closest_gap_days(s1_mosaics: Sequence[Mosaic], s2_mosaics: Sequence[Mosaic]) -> int | None:
    """Return the smallest S1-S2 gap in calendar days over all mosaics, ignoring coverage (for error messages)."""
    gaps = [abs((s1.day - s2.day).days) for s1 in s1_mosaics for s2 in s2_mosaics]
    return min(gaps) if gaps else None

"""Which Sentinel-1 acquisitions cover an area of interest: one Earth Engine metadata request.

An *acquisition* is one pass of one satellite over the AOI: the ``COPERNICUS/S1_GRD`` scenes (IW, VV+VH) of one
relative orbit sensed together (consecutive slices of one datatake), mosaicked
(:func:`gee_flood.earthengine.pairing.group_mosaics`, the grouping fetch and predict use). It is keyed by its sensing
start, platform, pass and relative orbit, so two passes on one UTC day (an ascending and a descending one) are two
acquisitions. The query is :func:`gee_flood.earthengine.queries.s1_collection` (the filters fetch and predict use).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

from gee_flood.errors import DataError
from gee_flood.geo import AreaOfInterest, DateRange
from gee_flood.watch._remote import retried

#: Fraction of the AOI an acquisition's footprint must cover to be mapped (footprints are polygons: 0.999
#: absorbs the rounding of reprojected footprint vertices, not missing swaths).
FULL_COVER = 0.999


@dataclass(frozen=True)
class Acquisition:
    """One Sentinel-1 acquisition over the AOI (one pass: one platform, one relative orbit, one sensing time).

    Attributes:
        key: Stable identifier ``<S1A|S1B|S1C|S1>/<sensing start, ISO UTC>/<pass>/<relative orbit>``, e.g.
            ``S1A/2019-03-05T05:30:12Z/DESCENDING/66``.
        image_ids: ``COPERNICUS/S1_GRD/<index>`` of its scenes, sorted.
        time: Earliest sensing start of its scenes (UTC, whole seconds as Earth Engine's ``system:time_start``).
        platform: ``Sentinel-1A``/``-1B``/``-1C`` (from the scene index), or ``Sentinel-1`` if unknown.
        relative_orbit: ``relativeOrbitNumber_start``.
        orbit_pass: ``ASCENDING`` or ``DESCENDING``.
        coverage: Fraction (0-1) of the AOI's area (in lon/lat degrees²) its footprint covers.
    """

    key: str
    image_ids: tuple[str, ...]
    time: dt.datetime
    platform: str
    relative_orbit: int
    orbit_pass: str
    coverage: float

    @property
    def date(self) -> dt.date:
        """The UTC day (what ``predict --date`` takes)."""
        return self.time.astimezone(dt.UTC).date()

    @property
    def same_orbit(self) -> tuple[str, int]:
        """(pass, relative orbit): acquisitions sharing it see the AOI with the same geometry (12-day repeat)."""
        return self.orbit_pass, self.relative_orbit

    @property
    def full_cover(self) -> bool:
        """True if the footprint covers the whole AOI (:data:`FULL_COVER`)."""
        return self.coverage >= FULL_COVER

    @property
    def slug(self) -> str:
        """Asset-name-safe identifier: ``<YYYYMMDDTHHMMSS>_<A|D><orbit>``."""
        stamp = self.time.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
        return f"{stamp}_{self.orbit_pass[:1]}{self.relative_orbit:03d}"


def _platform(indexes: tuple[str, ...]) -> str:
    """``Sentinel-1A`` from an index like ``S1A_IW_GRDH_...`` (Earth Engine's S1 indexes start with the mission)."""
    letters = {index[2] for index in indexes if len(index) > 2 and index.startswith("S1")}
    return f"Sentinel-1{letters.pop()}" if len(letters) == 1 else "Sentinel-1"


def _platform_code(platform: str) -> str:
    """``S1A`` for ``Sentinel-1A`` (``S1`` when unknown): the key's first part."""
    return "S1" + platform.removeprefix("Sentinel-1")


def find_acquisitions(
    aoi: AreaOfInterest, since: dt.date, until: dt.date, *, orbit_pass: str | None = None
) -> list[Acquisition]:
    """List the Sentinel-1 acquisitions intersecting ``aoi`` between ``since`` and ``until`` (UTC days, inclusive).

    One ``getInfo`` request (through the retrying session); Earth Engine must be initialised
    (:func:`gee_flood.earthengine.initialize`).

    Args:
        aoi: Area of interest (EPSG:4326).
        since: First UTC day.
        until: Last UTC day.
        orbit_pass: Only ``ASCENDING`` or ``DESCENDING`` (None: both).

    Returns:
        Acquisitions sorted by time, each with its AOI coverage (partial ones included; see ``full_cover``).

    Raises:
        DataError: If a scene's metadata is malformed.
    """
    import ee

    from gee_flood.earthengine import queries
    from gee_flood.earthengine.pairing import group_mosaics

    dates = DateRange(since, until)
    query = queries.SceneQuery("watch", aoi.geometry, dates, dates)
    collection = queries.s1_collection(aoi.geometry, dates, orbit_pass)  # type: ignore[arg-type]
    request = ee.Dictionary({"watch": ee.Dictionary({"s1": queries._scene_table(collection, queries.S1_METADATA)})})
    info: Any = retried(request.getInfo, what="the Sentinel-1 acquisitions query")
    scenes = queries.parse_metadata(info, [query])["watch"].s1
    by_id = {scene.image_id: scene for scene in scenes}
    area = aoi.geometry.area or 1.0
    found = []
    for mosaic in group_mosaics(scenes):
        first = by_id[mosaic.image_ids[0]]
        try:
            orbit = int(first.properties["relativeOrbitNumber_start"])
            direction = str(first.properties["orbitProperties_pass"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{first.image_id}: no relativeOrbitNumber_start / orbitProperties_pass") from None
        footprint: Polygon | MultiPolygon = mosaic.footprint
        platform = _platform(mosaic.indexes)
        stamp = mosaic.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(
            Acquisition(
                key=f"{_platform_code(platform)}/{stamp}/{direction}/{orbit}",
                image_ids=mosaic.image_ids,
                time=mosaic.time,
                platform=platform,
                relative_orbit=orbit,
                orbit_pass=direction,
                coverage=min(1.0, footprint.intersection(aoi.geometry).area / area),
            )
        )
    return sorted(found, key=lambda acquisition: (acquisition.time, acquisition.key))

"""Earth Engine queries: the Sentinel-1/2 collections, one batched metadata request, and the mosaics read per chip.

- :func:`s1_collection`: ``COPERNICUS/S1_GRD`` in IW mode with both VV and VH, in a date range, over a region,
  optionally one orbit pass.
- :func:`s2_collection`: ``COPERNICUS/S2_HARMONIZED`` (L1C, 13 bands) with a scene-level
  ``CLOUDY_PIXEL_PERCENTAGE`` prefilter.
- :func:`metadata_request` / :func:`parse_metadata`: ONE ``getInfo`` of a dictionary holding, for every query
  group, per-image properties and footprints of S1, S2 and the cloud-mask collection, parsed into
  :class:`~gee_flood.earthengine.pairing.SceneRecord` for local pairing.
- :func:`s1_mosaic` / :func:`s2_mosaic`: the images read for a chip. Sentinel-2 gets a ``cloud`` state band from
  Cloud Score+ (``cs`` linked with ``linkCollection``; clear where ``cs >= threshold``) or from
  ``COPERNICUS/S2_CLOUD_PROBABILITY`` (``probability`` linked on ``system:index``; cloudy where above threshold).
- :func:`bands_as_collection`: turns a multi-band image into a collection of single-band images so that xee
  fetches all bands of a window in one ``computePixels`` request (xee reads one variable per request; its primary
  dimension becomes the band axis).

Building these objects needs an initialised Earth Engine client (:func:`gee_flood.earthengine.session.initialize`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from gee_flood.data.chip import S1_BANDS, S2_BANDS
from gee_flood.earthengine.pairing import SceneRecord
from gee_flood.errors import DataError
from gee_flood.geo import DateRange

S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
CLOUD_SCORE_PLUS_COLLECTION = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
CLOUD_PROBABILITY_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
JRC_SURFACE_WATER = "JRC/GSW1_4/GlobalSurfaceWater"

#: Name of the Sentinel-2 cloud state band: 1 clear, 2 cloudy, masked (0 once read) where unobserved.
CLOUD_STATE_BAND = "cloud"
#: Name of the JRC occurrence band (percent of months with water, 1984-2021).
OCCURRENCE_BAND = "occurrence"

CloudMask = Literal["cloudscore", "probability"]
OrbitPass = Literal["ASCENDING", "DESCENDING"]

#: Default per-pixel cloud thresholds: Cloud Score+ ``cs`` below 0.6 is cloudy (Google's suggested 0.5-0.65);
#: s2cloudless probability above 50 % is cloudy.
DEFAULT_CLOUD_THRESHOLD: dict[str, float] = {"cloudscore": 0.6, "probability": 50.0}

S1_METADATA = ("orbitProperties_pass", "relativeOrbitNumber_start", "instrumentMode")
S2_METADATA = ("CLOUDY_PIXEL_PERCENTAGE", "SENSING_ORBIT_NUMBER", "MGRS_TILE", "SPACECRAFT_NAME")


@dataclass(frozen=True)
class SceneQuery:
    """One group of chips sharing a search: a region and S1/S2 date windows.

    Attributes:
        key: Group key (used in the batched request's dictionary).
        region: Search region in EPSG:4326.
        s1_dates: Sentinel-1 days.
        s2_dates: Sentinel-2 days.
    """

    key: str
    region: Polygon | MultiPolygon
    s1_dates: DateRange
    s2_dates: DateRange


@dataclass(frozen=True)
class QueryOptions:
    """Collection filters shared by all groups.

    Attributes:
        orbit_pass: ``"ASCENDING"``, ``"DESCENDING"`` or ``None`` (any).
        max_scene_cloud_pct: Scene-level ``CLOUDY_PIXEL_PERCENTAGE`` prefilter (0-100).
        cloud_mask: ``"cloudscore"`` (Cloud Score+) or ``"probability"`` (S2 cloud probability).
    """

    orbit_pass: OrbitPass | None = None
    max_scene_cloud_pct: float = 80.0
    cloud_mask: CloudMask = "cloudscore"


@dataclass(frozen=True)
class GroupScenes:
    """Metadata returned for one :class:`SceneQuery`."""

    s1: list[SceneRecord]
    s2: list[SceneRecord]
    cloud_indexes: frozenset[str]


def _ee():
    import ee

    return ee


def ee_geometry(region: Polygon | MultiPolygon) -> Any:
    """Return an ``ee.Geometry`` for a lon/lat shapely polygon (geodesic=False: edges straight in lon/lat)."""
    ee = _ee()
    geojson = json.loads(json.dumps(mapping(region)))  # tuples -> lists, as the EE client expects
    return ee.Geometry(geojson, geodesic=False)


def _date_filter(collection: Any, dates: DateRange) -> Any:
    return collection.filterDate(dates.start.isoformat(), (dates.end + dt.timedelta(days=1)).isoformat())


def s1_collection(region: Polygon | MultiPolygon, dates: DateRange, orbit_pass: OrbitPass | None = None) -> Any:
    """Return ``COPERNICUS/S1_GRD`` IW scenes with VV and VH, in ``dates`` (UTC days), over ``region``."""
    ee = _ee()
    collection = (
        _date_filter(ee.ImageCollection(S1_COLLECTION), dates)
        .filterBounds(ee_geometry(region))
        .filter(ee.Filter.eq("instrumentMode", "IW"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VV"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VH"))
    )
    if orbit_pass is not None:
        collection = collection.filter(ee.Filter.eq("orbitProperties_pass", orbit_pass))
    return collection


def s2_collection(region: Polygon | MultiPolygon, dates: DateRange, max_scene_cloud_pct: float = 100.0) -> Any:
    """Return ``COPERNICUS/S2_HARMONIZED`` scenes in ``dates`` over ``region`` with at most that scene cloud %."""
    ee = _ee()
    return (
        _date_filter(ee.ImageCollection(S2_COLLECTION), dates)
        .filterBounds(ee_geometry(region))
        .filter(ee.Filter.lte("CLOUDY_PIXEL_PERCENTAGE", max_scene_cloud_pct))
    )


def cloud_collection_id(method: CloudMask) -> str:
    """Return the collection holding per-pixel cloud information for ``method``."""
    return CLOUD_SCORE_PLUS_COLLECTION if method == "cloudscore" else CLOUD_PROBABILITY_COLLECTION


def _scene_table(collection: Any, properties: Sequence[str]) -> Any:
    """Map each image to a Feature: its footprint plus the properties pairing needs."""
    ee = _ee()

    def summarise(image: Any) -> Any:
        image = ee.Image(image)
        values = {"index": image.get("system:index"), "time": image.get("system:time_start")}
        values.update({name: image.get(name) for name in properties})
        return ee.Feature(image.geometry(), values)

    return ee.FeatureCollection(collection.map(summarise))


def metadata_request(queries: Sequence[SceneQuery], options: QueryOptions) -> Any:
    """Return ONE ``ee.Dictionary`` with, per query key, S1 and S2 scene tables and the cloud-collection indexes.

    ``.getInfo()`` of it is the only metadata request of a fetch.
    """
    ee = _ee()
    groups = {}
    for query in queries:
        s2 = s2_collection(query.region, query.s2_dates, options.max_scene_cloud_pct)
        cloud = _date_filter(ee.ImageCollection(cloud_collection_id(options.cloud_mask)), query.s2_dates).filterBounds(
            ee_geometry(query.region)
        )
        groups[query.key] = ee.Dictionary(
            {
                "s1": _scene_table(s1_collection(query.region, query.s1_dates, options.orbit_pass), S1_METADATA),
                "s2": _scene_table(s2, S2_METADATA),
                "cloud": cloud.aggregate_array("system:index"),
            }
        )
    return ee.Dictionary(groups)


def _footprint(geometry: Any, where: str) -> Polygon | MultiPolygon:
    if not isinstance(geometry, Mapping) or "type" not in geometry:
        raise DataError(f"{where}: Earth Engine returned no footprint")
    if geometry["type"] == "LinearRing":
        geometry = {"type": "Polygon", "coordinates": [geometry["coordinates"]]}
    geom = shape(geometry)
    if geom.geom_type == "GeometryCollection":
        polygons = [part for part in geom.geoms if part.geom_type in ("Polygon", "MultiPolygon")]
        if not polygons:
            raise DataError(f"{where}: footprint has no polygon")
        geom = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise DataError(f"{where}: footprint is a {geom.geom_type}, expected a polygon")
    if not geom.is_valid:
        geom = geom.buffer(0)
    return geom


def _records(
    table: Mapping[str, Any] | None, sensor: str, collection_id: str, properties: Sequence[str]
) -> list[SceneRecord]:
    records = []
    for feature in (table or {}).get("features", []):
        props = feature.get("properties") or {}
        index = props.get("index")
        time_ms = props.get("time")
        if index is None or time_ms is None:
            raise DataError(f"{collection_id}: an image has no system:index or system:time_start")
        records.append(
            SceneRecord(
                sensor=sensor,  # type: ignore[arg-type]
                image_id=f"{collection_id}/{index}",
                index=str(index),
                time=dt.datetime.fromtimestamp(float(time_ms) / 1000.0, tz=dt.UTC),
                footprint=_footprint(feature.get("geometry"), f"{collection_id}/{index}"),
                properties={name: props.get(name) for name in properties if props.get(name) is not None},
            )
        )
    return sorted(records, key=lambda record: record.image_id)


def parse_metadata(info: Mapping[str, Any], queries: Sequence[SceneQuery]) -> dict[str, GroupScenes]:
    """Turn the ``getInfo`` result of :func:`metadata_request` into scene records per query key."""
    result = {}
    for query in queries:
        group = info.get(query.key) or {}
        result[query.key] = GroupScenes(
            s1=_records(group.get("s1"), "S1", S1_COLLECTION, S1_METADATA),
            s2=_records(group.get("s2"), "S2", S2_COLLECTION, S2_METADATA),
            cloud_indexes=frozenset(str(index) for index in group.get("cloud") or []),
        )
    return result


def scene_collection(collection_id: str, indexes: Sequence[str]) -> Any:
    """Return an ImageCollection of exactly the scenes ``<collection_id>/<index>``, in the order given.

    Built from image ids (``ImageCollection.fromImages`` of ``Image.load``), not by filtering the whole collection
    on ``system:index``: Earth Engine then loads only these scenes instead of scanning the collection's index on
    every ``computePixels`` (see docs/benchmarks.md). A mosaic of it puts the last scene on top.
    """
    ee = _ee()
    return ee.ImageCollection([ee.Image(f"{collection_id}/{index}") for index in indexes])


def s1_mosaic(indexes: Sequence[str]) -> Any:
    """Return the VV, VH (dB, float32) mosaic of the given ``COPERNICUS/S1_GRD`` scenes (last on top)."""
    return scene_collection(S1_COLLECTION, indexes).mosaic().select(list(S1_BANDS)).toFloat()


def s2_mosaic(
    indexes: Sequence[str],
    *,
    cloud_mask: CloudMask = "cloudscore",
    cloud_threshold: float | None = None,
    with_occurrence: bool = False,
) -> Any:
    """Return the 13-band L1C mosaic (DN, uint16) plus the ``cloud`` state band (and JRC ``occurrence``).

    Scenes are mosaicked in the order given (last on top). Each scene's cloud band is linked from the cloud
    collection by ``system:index`` (``Image.linkCollection``: a keyed lookup, not a filter of the scenes). The
    cloud state is 1 where clear, 2 where cloudy, masked where there is no cloud information or no scene.
    """
    ee = _ee()
    threshold = DEFAULT_CLOUD_THRESHOLD[cloud_mask] if cloud_threshold is None else float(cloud_threshold)
    if cloud_mask == "cloudscore":
        cloud_collection, cloud_band = CLOUD_SCORE_PLUS_COLLECTION, "cs"
    else:
        cloud_collection, cloud_band = CLOUD_PROBABILITY_COLLECTION, "probability"
    # Link each loaded scene (its system:index is the asset's), then mosaic: no Collection.map closure needed.
    scenes = [
        ee.Image(f"{S2_COLLECTION}/{index}").linkCollection(ee.ImageCollection(cloud_collection), [cloud_band])
        for index in indexes
    ]
    mosaic = ee.ImageCollection(scenes).mosaic()
    cloud = mosaic.select(cloud_band)
    cloudy = cloud.lt(threshold) if cloud_mask == "cloudscore" else cloud.gt(threshold)
    # Cast before adding: the 0/1 comparison has an integer range of [0, 1], and 1 + 1 must not be clamped to it.
    state = cloudy.toUint16().add(1).rename([CLOUD_STATE_BAND])
    image = mosaic.select(list(S2_BANDS)).addBands(state)
    if with_occurrence:
        occurrence = ee.Image(JRC_SURFACE_WATER).select([OCCURRENCE_BAND]).unmask(0)
        image = image.addBands(occurrence)
    return image.toUint16()


def s2_read_bands(with_occurrence: bool) -> tuple[str, ...]:
    """Return the band names of :func:`s2_mosaic`'s image, in order."""
    return (*S2_BANDS, CLOUD_STATE_BAND, *((OCCURRENCE_BAND,) if with_occurrence else ()))


#: Property holding a band's position in :func:`bands_as_collection` (xee's primary coordinate).
BAND_ORDER_PROPERTY = "band_order"
#: Band name every image of :func:`bands_as_collection` carries (xee's single variable).
STACK_VARIABLE = "value"


def bands_as_collection(image: Any, bands: Sequence[str]) -> Any:
    """Return an ImageCollection with one single-band image per band of ``image``, all named ``value``.

    xee issues one ``computePixels`` per variable and chunk, stacking the collection's images as bands of that
    request; with bands as images, one request returns every band of a window.
    """
    ee = _ee()
    return ee.ImageCollection.fromImages(
        [
            image.select([band]).rename([STACK_VARIABLE]).set(BAND_ORDER_PROPERTY, position)
            for position, band in enumerate(bands)
        ]
    )

"""Geometries: constructors, bounds, area, buffer, centroid, intersection, transform.

Geometries in EPSG:4326 are measured on the WGS84 ellipsoid (pyproj ``Geod``), as Earth Engine measures geodesic
geometries; geometries in a projected CRS are measured in that plane.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.affinity
import shapely.geometry
from shapely.geometry.base import BaseGeometry

from ee_emulator.errors import EEError
from ee_emulator.objects import WGS84, EEFeature, Geometry, Projection, element_geometry
from ee_emulator.registry import algorithm

_GEOD = pyproj.Geod(ellps="WGS84")


def crs_of(crs: Any) -> str:
    """A CRS argument (Projection, string or None) as a CRS string (EPSG:4326 when None)."""
    if crs is None:
        return WGS84
    if isinstance(crs, Projection):
        return crs.crs
    if isinstance(crs, str):
        return crs
    raise EEError(f"Invalid CRS {crs!r}")


def _make(shape: BaseGeometry, crs: Any, geodesic: Any = False) -> Geometry:
    """A geometry in ``crs``.

    Coordinates given in a Projection with a non-identity transform (pixel units, as ``Export.image`` sends for
    ``dimensions``) are mapped to CRS units.
    """
    crs_text = crs_of(crs)
    if isinstance(crs, Projection) and tuple(crs.transform) != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0):
        a, b, c, d, e, f = crs.transform
        shape = shapely.affinity.affine_transform(shape, [a, b, d, e, c, f])
    return Geometry(shape, crs_text, _geodesic(geodesic, crs_text))


def as_geometry(value: Any, where: str) -> Geometry:
    """A Geometry argument; Features, images and collections give their geometry."""
    if isinstance(value, dict) and "type" in value and "coordinates" in value:
        return Geometry(shapely.geometry.shape(value), WGS84)
    geometry = element_geometry(value)
    if geometry is None:
        raise EEError(f"{where}: expected a Geometry, got {type(value).__name__}")
    return geometry


def _geodesic(geodesic: Any, crs: str) -> bool:
    return bool(geodesic) if geodesic is not None else crs == WGS84


@algorithm("GeometryConstructors.Point")
def point(coordinates: list[float], crs: Any = None) -> Geometry:
    """A point."""
    return _make(shapely.geometry.Point(coordinates), crs)


@algorithm("GeometryConstructors.MultiPoint")
def multi_point(coordinates: list[Any], crs: Any = None) -> Geometry:
    """Several points."""
    return _make(shapely.geometry.MultiPoint(coordinates), crs)


@algorithm("GeometryConstructors.LineString")
def line_string(coordinates: list[Any], crs: Any = None, geodesic: Any = None, maxError: Any = None) -> Geometry:
    """A line."""
    return _make(shapely.geometry.LineString(coordinates), crs, geodesic)


@algorithm("GeometryConstructors.LinearRing")
def linear_ring(coordinates: list[Any], crs: Any = None, geodesic: Any = None, maxError: Any = None) -> Geometry:
    """A closed ring."""
    return _make(shapely.geometry.LinearRing(coordinates), crs, geodesic)


@algorithm("GeometryConstructors.Polygon")
def polygon(
    coordinates: list[Any], crs: Any = None, geodesic: Any = None, maxError: Any = None, evenOdd: bool = True
) -> Geometry:
    """A polygon: a list of rings (the first is the shell)."""
    rings = coordinates
    if rings and isinstance(rings[0][0], int | float):
        rings = [rings]
    try:
        shape = shapely.geometry.Polygon(rings[0], rings[1:])
    except (ValueError, IndexError, TypeError):
        raise EEError(f"GeometryConstructors.Polygon: invalid coordinates {str(coordinates)[:200]}") from None
    return _make(shape, crs, geodesic)


@algorithm("GeometryConstructors.MultiPolygon")
def multi_polygon(
    coordinates: list[Any], crs: Any = None, geodesic: Any = None, maxError: Any = None, evenOdd: bool = True
) -> Geometry:
    """Several polygons."""
    try:
        shape = shapely.geometry.MultiPolygon([shapely.geometry.Polygon(p[0], p[1:]) for p in coordinates])
    except (ValueError, IndexError, TypeError):
        raise EEError(f"GeometryConstructors.MultiPolygon: invalid coordinates {str(coordinates)[:200]}") from None
    return _make(shape, crs, geodesic)


@algorithm("GeometryConstructors.Rectangle")
def rectangle(coordinates: list[Any], crs: Any = None, geodesic: Any = None, evenOdd: bool = True) -> Geometry:
    """An axis-aligned rectangle from ``[x0, y0, x1, y1]`` or ``[[x0, y0], [x1, y1]]``."""
    flat = [c for pair in coordinates for c in pair] if isinstance(coordinates[0], list) else list(coordinates)
    if len(flat) != 4:
        raise EEError(f"GeometryConstructors.Rectangle: expected 4 coordinates, got {coordinates!r}")
    x0, y0, x1, y1 = map(float, flat)
    return _make(shapely.geometry.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), crs, False)


@algorithm("GeometryConstructors.BBox")
def bbox(west: float, south: float, east: float, north: float) -> Geometry:
    """A longitude/latitude box."""
    return Geometry(shapely.geometry.box(west, south, east, north), WGS84, False)


def _in(geometry: Geometry, proj: Any) -> tuple[BaseGeometry, str]:
    crs = crs_of(proj) if proj is not None else geometry.crs
    return geometry.to_crs(crs), crs


@algorithm("Geometry.bounds")
def bounds(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    """The bounding box (in EPSG:4326 unless ``proj``)."""
    geom = as_geometry(geometry, "Geometry.bounds")
    crs = crs_of(proj)
    shape = geom.to_crs(crs)
    if shape.is_empty:
        return Geometry(shapely.geometry.Polygon(), crs)
    return Geometry(shapely.geometry.box(*shape.bounds), crs, False)


@algorithm("Geometry.area")
def area(geometry: Any, maxError: Any = None, proj: Any = None) -> float:
    """Area in square metres (geodesic on WGS84 for EPSG:4326 geometries, planar in a projected ``proj``)."""
    geom = as_geometry(geometry, "Geometry.area")
    if proj is not None and crs_of(proj) != WGS84:
        return float(geom.to_crs(crs_of(proj)).area)
    if geom.crs != WGS84 and not geom.geodesic:
        return float(geom.shape.area)
    return float(abs(_GEOD.geometry_area_perimeter(geom.to_wgs84())[0]))


@algorithm("Geometry.perimeter")
def perimeter(geometry: Any, maxError: Any = None, proj: Any = None) -> float:
    """Perimeter in metres."""
    geom = as_geometry(geometry, "Geometry.perimeter")
    if geom.crs != WGS84:
        return float(geom.shape.length)
    return float(abs(_GEOD.geometry_area_perimeter(geom.to_wgs84())[1]))


def _local_projection(shape: BaseGeometry) -> pyproj.Transformer:
    centroid = shape.centroid
    local = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={centroid.y} +lon_0={centroid.x} +datum=WGS84 +units=m")
    return pyproj.Transformer.from_crs(WGS84, local, always_xy=True)


@algorithm("Geometry.buffer")
def buffer(geometry: Any, distance: float, maxError: Any = None, proj: Any = None) -> Geometry:
    """Buffer by ``distance`` metres (in a local azimuthal equidistant projection for EPSG:4326 geometries)."""
    geom = as_geometry(geometry, "Geometry.buffer")
    if geom.crs != WGS84:
        return Geometry(geom.shape.buffer(float(distance)), geom.crs, geom.geodesic)
    shape = geom.to_wgs84()
    forward = _local_projection(shape)
    local = shapely.transform(shape, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))
    buffered = local.buffer(float(distance))
    back = shapely.transform(
        buffered, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1], direction="INVERSE"))
    )
    return Geometry(back, WGS84, geom.geodesic)


@algorithm("Geometry.centroid")
def centroid(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    """The centroid."""
    geom = as_geometry(geometry, "Geometry.centroid")
    shape, crs = _in(geom, proj)
    return Geometry(shape.centroid, crs)


def _pair(left: Any, right: Any, where: str) -> tuple[BaseGeometry, BaseGeometry]:
    return as_geometry(left, where).to_wgs84(), as_geometry(right, where).to_wgs84()


@algorithm("Geometry.intersection")
def intersection(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    """Intersection (EPSG:4326)."""
    a, b = _pair(left, right, "Geometry.intersection")
    return Geometry(a.intersection(b), WGS84)


@algorithm("Geometry.union")
def union(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    """Union (EPSG:4326)."""
    a, b = _pair(left, right, "Geometry.union")
    return Geometry(a.union(b), WGS84)


@algorithm("Geometry.intersects")
def intersects(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> bool:
    """True if the geometries intersect."""
    a, b = _pair(left, right, "Geometry.intersects")
    return bool(a.intersects(b))


@algorithm("Geometry.containedIn")
def contained_in(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> bool:
    """True if ``left`` is inside ``right``."""
    a, b = _pair(left, right, "Geometry.containedIn")
    return bool(b.covers(a))


@algorithm("Geometry.contains")
def contains(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> bool:
    """True if ``left`` contains ``right``."""
    a, b = _pair(left, right, "Geometry.contains")
    return bool(a.covers(b))


@algorithm("Geometry.transform")
def transform(geometry: Any, proj: Any = None, maxError: Any = None, geodesic: Any = None) -> Geometry:
    """The geometry in another CRS (EPSG:4326 by default)."""
    geom = as_geometry(geometry, "Geometry.transform")
    crs = crs_of(proj)
    return Geometry(geom.to_crs(crs), crs, _geodesic(geodesic, crs))


@algorithm("Geometry.coordinates")
def coordinates(geometry: Any) -> list[Any]:
    """The GeoJSON coordinates."""
    return as_geometry(geometry, "Geometry.coordinates").geojson().get("coordinates", [])


@algorithm("Geometry.type")
def geometry_type(geometry: Any) -> str:
    """The GeoJSON type."""
    return as_geometry(geometry, "Geometry.type").shape.geom_type


@algorithm("Geometry.projection")
def geometry_projection(geometry: Any) -> Projection:
    """The geometry's projection."""
    return Projection(as_geometry(geometry, "Geometry.projection").crs)


@algorithm("Feature")
def feature(geometry: Any = None, metadata: dict[str, Any] | None = None, geometryKey: Any = None) -> EEFeature:
    """``ee.Feature(geometry, properties)``."""
    if isinstance(geometry, EEFeature):
        return EEFeature(geometry.geometry, {**geometry.properties, **(metadata or {})}, geometry.feature_id)
    geom = as_geometry(geometry, "Feature") if geometry is not None else None
    return EEFeature(geom, dict(metadata or {}))


@algorithm("Feature.select")
def feature_select(
    input: Any,  # noqa: A002
    propertySelectors: Any,
    newProperties: Any = None,
    retainGeometry: Any = True,
) -> EEFeature:
    """Keep (and optionally rename) the properties matching names or RE2-style full-match regexes.

    Assumed strictness (the service's documentation does not say): a selector that matches no property is refused,
    as ``Image.select`` refuses a band pattern that matches nothing; a stricter emulator fails where the service
    might not, never the other way round.
    """
    if not isinstance(input, EEFeature):
        raise EEError(f"Feature.select, argument 'input': Invalid type. Expected type: Element. Actual: {input!r}")
    chosen: list[str] = []
    for selector in propertySelectors or []:
        if not isinstance(selector, str):
            raise EEError(f"Feature.select: invalid property selector {selector!r}")
        try:
            pattern = re.compile(selector)
        except re.error as error:
            raise EEError(f"Feature.select: invalid property selector {selector!r}: {error}") from None
        matches = [name for name in input.properties if name == selector or pattern.fullmatch(name)]
        if not matches:
            raise EEError(
                f"Feature.select: Pattern '{selector}' did not match any properties. "
                f"Available properties: {list(input.properties)}"
            )
        chosen += [name for name in matches if name not in chosen]
    names = chosen if newProperties is None else list(newProperties)
    if len(names) != len(chosen):
        raise EEError(
            f"Feature.select: Number of new names ({len(names)}) does not match number of selected properties "
            f"({len(chosen)})."
        )
    properties = {new: input.properties[old] for old, new in zip(chosen, names, strict=True)}
    return EEFeature(input.geometry if retainGeometry else None, properties, input.feature_id)


@algorithm("Feature.geometry", "Element.geometry", "Image.geometry")
def element_geometry_algorithm(
    feature: Any, maxError: Any = None, proj: Any = None, geodesics: Any = None
) -> Geometry | None:
    """The geometry of a feature, or the footprint of an image."""
    geom = element_geometry(feature)
    if geom is None:
        return None
    if proj is not None:
        crs = crs_of(proj)
        return Geometry(geom.to_crs(crs), crs)
    return geom


@algorithm("Feature.id")
def feature_id(element: Any) -> str | None:
    """``system:index`` of a feature."""
    if isinstance(element, EEFeature):
        return element.properties.get("system:index", element.feature_id)
    return None


@algorithm("ErrorMargin")
def error_margin(value: Any = None, unit: str = "meters") -> dict[str, Any]:
    """``ee.ErrorMargin`` (accepted; the emulator computes exactly)."""
    return {"type": "ErrorMargin", "unit": unit, "value": value}

"""Server-side values of emulated Earth Engine expressions, and their ``getInfo`` JSON form.

Numbers, strings, booleans, lists, dictionaries and null are plain Python values. Everything else is one of the
classes here: :class:`EEImage` (a lazy list of bands), :class:`EECollection` (images or features), :class:`EEFeature`,
:class:`Geometry`, :class:`Date`, :class:`DateRange`, :class:`Filter`, :class:`Reducer`, :class:`Projection` and
:class:`Closure` (a ``functionDefinitionValue``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rasterio.warp
import shapely.geometry
from affine import Affine
from shapely.geometry.base import BaseGeometry

from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.pixeltypes import PixelType
from ee_emulator.raster import Node

WGS84 = "EPSG:4326"
IDENTITY_TRANSFORM = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class Band:
    """One band of an emulated image.

    Attributes:
        name: Band name.
        ptype: Earth Engine pixel type.
        node: Lazy pixel recipe.
        native: The band's native grid (None: Earth Engine's default projection, EPSG:4326 at 1 degree).
    """

    name: str
    ptype: PixelType
    node: Node
    native: PixelGrid | None = None

    def renamed(self, name: str) -> Band:
        """The same band under another name."""
        return Band(name, self.ptype, self.node, self.native)


@dataclass
class EEImage:
    """An emulated ``ee.Image``: bands (lazy), properties, and the id/version of a stored asset."""

    bands: list[Band]
    properties: dict[str, Any] = field(default_factory=dict)
    image_id: str | None = None
    version: int | None = None
    default_grid: PixelGrid | None = None  # set by clipToBoundsAndScale: the grid exports and thumbnails use

    def band_names(self) -> list[str]:
        """Names of the bands, in order."""
        return [band.name for band in self.bands]

    def with_bands(self, bands: list[Band], *, keep_metadata: bool = True) -> EEImage:
        """A new image with other bands and (optionally) this image's properties and id."""
        if keep_metadata:
            return EEImage(bands, dict(self.properties), self.image_id, self.version)
        return EEImage(bands)

    def geometry(self) -> Geometry:
        """The image footprint (``system:footprint`` as a polygon), or the whole world if unbounded."""
        footprint = self.properties.get("system:footprint")
        if isinstance(footprint, Geometry):
            shape = footprint.shape
            if shape.geom_type == "LinearRing":
                shape = shapely.geometry.Polygon(shape)
            return Geometry(shape, footprint.crs, footprint.geodesic)
        return Geometry(shapely.geometry.box(-180, -90, 180, 90), WGS84, geodesic=False)


@dataclass
class EEFeature:
    """An emulated ``ee.Feature``."""

    geometry: Geometry | None
    properties: dict[str, Any] = field(default_factory=dict)
    feature_id: str | None = None


@dataclass
class EECollection:
    """An emulated ``ee.ImageCollection`` or ``ee.FeatureCollection``.

    Attributes:
        kind: ``"ImageCollection"`` or ``"FeatureCollection"``.
        elements: The members (``EEImage`` or ``EEFeature``), in collection order.
        properties: Collection-level properties.
        collection_id: Asset id of a loaded collection.
        version: Asset version of a loaded collection.
    """

    kind: str
    elements: list[Any]
    properties: dict[str, Any] = field(default_factory=dict)
    collection_id: str | None = None
    version: int | None = None

    def derive(self, elements: list[Any]) -> EECollection:
        """The same collection (kind, properties, id) with other members."""
        return EECollection(self.kind, elements, dict(self.properties), self.collection_id, self.version)


@dataclass
class Geometry:
    """An emulated ``ee.Geometry``: a shapely geometry in ``crs`` (EPSG:4326 unless given)."""

    shape: BaseGeometry
    crs: str = WGS84
    geodesic: bool = False

    def to_wgs84(self) -> BaseGeometry:
        """The geometry in EPSG:4326 (longitude, latitude)."""
        if self.crs in (WGS84, "EPSG:4326"):
            return self.shape
        mapping = rasterio.warp.transform_geom(self.crs, WGS84, shapely.geometry.mapping(self.shape), precision=-1)
        return shapely.geometry.shape(mapping)

    def to_crs(self, crs: str) -> BaseGeometry:
        """The geometry in another CRS."""
        if crs == self.crs:
            return self.shape
        mapping = rasterio.warp.transform_geom(self.crs, crs, shapely.geometry.mapping(self.shape), precision=-1)
        return shapely.geometry.shape(mapping)

    def geojson(self) -> dict[str, Any]:
        """GeoJSON of the geometry in its own CRS."""
        mapping = shapely.geometry.mapping(self.shape)
        return _plain(mapping)


@dataclass(frozen=True)
class Date:
    """An emulated ``ee.Date``: milliseconds since 1970-01-01T00:00:00Z."""

    millis: float

    def datetime(self, tz: dt.tzinfo | None = None) -> dt.datetime:
        """The instant as an aware datetime (UTC unless ``tz``)."""
        value = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=self.millis)
        return value.astimezone(tz) if tz is not None else value


@dataclass(frozen=True)
class DateRange:
    """An emulated ``ee.DateRange``: ``[start, end)`` in ms since the epoch."""

    start: float
    end: float

    def contains(self, millis: float) -> bool:
        """True if ``start <= millis < end``."""
        return self.start <= millis < self.end


@dataclass
class Filter:
    """An emulated ``ee.Filter``: a predicate over collection members."""

    predicate: Callable[[Any], bool]
    description: str
    pair: Callable[[Any, Any], bool] | None = None

    def __call__(self, element: Any) -> bool:
        """True if the element matches."""
        return bool(self.predicate(element))

    def matches(self, primary: Any, secondary: Any) -> bool:
        """True if a (primary, secondary) pair matches, as a join condition (left operands from the primary)."""
        if self.pair is None:
            raise EEError(f"Filter {self.description} cannot be used as a join condition")
        return bool(self.pair(primary, secondary))


@dataclass
class Reducer:
    """An emulated ``ee.Reducer``.

    Attributes:
        name: Short name (``"mean"``, ``"toList"``, ``"minMax"``...).
        outputs: Output names (``["mean"]``, ``["min", "max"]``...).
        function: Reduces a 1-D array of values to one value per output.
        repeat: For ``Reducer.repeat(count)``: how many inputs are reduced independently (0 = not repeated).
    """

    name: str
    outputs: list[str]
    function: Callable[[list[Any]], list[Any]]
    repeat: int = 0


@dataclass
class Projection:
    """An emulated ``ee.Projection``: a CRS and an affine transform (CRS units per pixel)."""

    crs: str
    transform: tuple[float, float, float, float, float, float] = IDENTITY_TRANSFORM

    @property
    def affine(self) -> Affine:
        """The transform as an :class:`affine.Affine`."""
        return Affine(*self.transform)


@dataclass
class Closure:
    """A ``functionDefinitionValue`` bound to the scope it was defined in; call it with positional arguments."""

    argument_names: list[str]
    call: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        """Evaluate the function body with these arguments."""
        return self.call(*args)


def element_properties(element: Any) -> dict[str, Any]:
    """Properties of an image, feature or collection."""
    if isinstance(element, EEImage | EEFeature | EECollection):
        return element.properties
    raise EEError(f"Element.get: expected an Element, got {type_name(element)}")


def get_property(element: Any, name: str) -> Any:
    """A property of an element (``system:id``/``system:version`` included), or None if absent."""
    if isinstance(element, EEImage):
        if name == "system:id":
            return element.image_id
        if name == "system:version":
            return element.version
    if isinstance(element, EECollection):
        if name == "system:id":
            return element.collection_id
        if name == "system:version":
            return element.version
    if isinstance(element, EEFeature) and name == "system:index" and "system:index" not in element.properties:
        return element.feature_id
    if isinstance(element, dict):
        return element.get(name)
    return element_properties(element).get(name)


def element_geometry(element: Any) -> Geometry | None:
    """The geometry of an element (an image's footprint, a feature's geometry), or the value if a Geometry."""
    if isinstance(element, Geometry):
        return element
    if isinstance(element, EEImage):
        return element.geometry()
    if isinstance(element, EEFeature):
        return element.geometry
    if isinstance(element, EECollection):
        shapes = [element_geometry(member) for member in element.elements]
        shapes = [shape.to_wgs84() for shape in shapes if shape is not None]
        if not shapes:
            return Geometry(shapely.geometry.GeometryCollection(), WGS84)
        return Geometry(shapely.unary_union(shapes), WGS84)
    return None


def type_name(value: Any) -> str:
    """Earth Engine's name for the type of a value (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float | np.number):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list | tuple):
        return "List"
    if isinstance(value, dict):
        return "Dictionary"
    if isinstance(value, EEImage):
        return "Image"
    if isinstance(value, EECollection):
        return value.kind
    if isinstance(value, EEFeature):
        return "Feature"
    if isinstance(value, Geometry):
        return "Geometry"
    if isinstance(value, Date):
        return "Date"
    if isinstance(value, DateRange):
        return "DateRange"
    if isinstance(value, Filter):
        return "Filter"
    if isinstance(value, Reducer):
        return "Reducer"
    if isinstance(value, Projection):
        return "Projection"
    if isinstance(value, Closure):
        return "Function"
    return type(value).__name__


def to_info(value: Any) -> Any:
    """Convert a value to what ``getInfo`` returns for it (JSON-ready)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return to_info(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        if not math.isfinite(value):
            return None
        return value
    if isinstance(value, Mapping):
        return {str(key): to_info(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_info(item) for item in value]
    if isinstance(value, EEImage):
        return image_info(value)
    if isinstance(value, EECollection):
        return collection_info(value)
    if isinstance(value, EEFeature):
        return feature_info(value)
    if isinstance(value, Geometry):
        return value.geojson()
    if isinstance(value, Date):
        return {"type": "Date", "value": to_info(value.millis)}
    if isinstance(value, DateRange):
        return {"type": "DateRange", "dates": [to_info(value.start), to_info(value.end)]}
    if isinstance(value, Projection):
        return {"type": "Projection", "crs": value.crs, "transform": list(value.transform)}
    if isinstance(value, np.ndarray):
        return to_info(value.tolist())
    raise EEError(f"Cannot compute the value of a {type_name(value)} (the emulator cannot serialise it)")


def band_info(band: Band) -> dict[str, Any]:
    """The ``bands[i]`` dict of an image's ``getInfo``."""
    info: dict[str, Any] = {"id": band.name, "data_type": band.ptype.to_info()}
    if band.native is None:
        info["crs"] = WGS84
        info["crs_transform"] = list(IDENTITY_TRANSFORM)
    else:
        if band.native.width and band.native.height:
            info["dimensions"] = [band.native.width, band.native.height]
        info["crs"] = band.native.crs
        info["crs_transform"] = [float(v) for v in band.native.transform[:6]]
    return info


def image_info(image: EEImage) -> dict[str, Any]:
    """``getInfo`` of an image: ``type``, ``bands``, ``id``/``version`` for assets, ``properties``."""
    info: dict[str, Any] = {"type": "Image", "bands": [band_info(band) for band in image.bands]}
    if image.image_id is not None:
        info["id"] = image.image_id
    if image.version is not None:
        info["version"] = image.version
    if image.properties:
        info["properties"] = {key: to_info(value) for key, value in image.properties.items()}
    return info


def feature_info(feature: EEFeature) -> dict[str, Any]:
    """``getInfo`` of a feature (GeoJSON Feature)."""
    info: dict[str, Any] = {
        "type": "Feature",
        "geometry": feature.geometry.geojson() if feature.geometry is not None else None,
    }
    if feature.feature_id is not None:
        info["id"] = feature.feature_id
    info["properties"] = {key: to_info(value) for key, value in feature.properties.items()}
    return info


def collection_info(collection: EECollection) -> dict[str, Any]:
    """``getInfo`` of a collection (``features`` holds the members' info)."""
    info: dict[str, Any] = {"type": collection.kind}
    if collection.kind == "ImageCollection":
        info["bands"] = []
    else:
        info["columns"] = {}
    if collection.collection_id is not None:
        info["id"] = collection.collection_id
    if collection.version is not None:
        info["version"] = collection.version
    if collection.properties:
        info["properties"] = {key: to_info(value) for key, value in collection.properties.items()}
    info["features"] = [to_info(member) for member in collection.elements]
    return info


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def as_list(value: Any) -> list[Any]:
    """A list argument (a single value becomes a one-element list)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def require(value: Any, kind: type | tuple[type, ...], where: str, argument: str) -> Any:
    """Check an argument's type, raising Earth Engine's style of message."""
    if value is None:
        raise EEError(f"{where}: Parameter '{argument}' is required.")
    if not isinstance(value, kind):
        kinds = (kind,) if isinstance(kind, type) else kind
        expected = "/".join(_EE_NAMES.get(k, k.__name__) for k in kinds)
        raise EEError(
            f"{where}, argument '{argument}': Invalid type. Expected: {expected}. Actual: {type_name(value)}."
        )
    return value


_EE_NAMES: dict[type, str] = {
    EEImage: "Image",
    EECollection: "Collection",
    EEFeature: "Feature",
    Geometry: "Geometry",
    Date: "Date",
    DateRange: "DateRange",
    Filter: "Filter",
    Reducer: "Reducer",
    Projection: "Projection",
    Closure: "Function",
    str: "String",
    list: "List",
    dict: "Dictionary",
    int: "Integer",
    float: "Float",
}


def number_list(values: Sequence[Any], where: str) -> list[float]:
    """Coerce a list of numbers."""
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise EEError(f"{where}: expected a list of numbers, got {values!r}") from None

"""The emulator's catalog: a directory holding ``catalog.json`` and the GeoTIFFs it names.

Layout (see the project's interface contract, section 4)::

    CATALOG/
      catalog.json
      s1/<index>.tif ...

``catalog.json``::

    {"collections": {"COPERNICUS/S1_GRD": {"properties": {...},
                                           "images": [{"id": "COPERNICUS/S1_GRD/<index>", "path": "s1/x.tif",
                                                       "bands": ["VV", "VH"], "properties": {...},
                                                       "footprint": <optional GeoJSON, EPSG:4326>}]}},
     "images": {"JRC/GSW1_4/GlobalSurfaceWater": {<same image record>}},
     "tables": {"FAO/GAUL/2015/level1": {"id": "FAO/GAUL/2015/level1", "path": "tables/gaul1.geojson"}}}

An image's ``system:index`` is its id without the collection prefix; its footprint is the GeoTIFF's bounds (unless the
record gives one). Bands on other grids (Sentinel-2's 20 m and 60 m bands beside its 10 m ones) live in further
GeoTIFFs named per band: ``"band_paths": {"B5": "s2/x_20m.tif", ...}``; ``bands`` then lists every band in image
order, and the bands not in ``band_paths`` are those of ``path``, in order
(:meth:`CatalogBuilder.add_multiresolution_image` writes such records). :class:`CatalogBuilder` /
:func:`write_catalog` write catalogs from numpy arrays with rasterio; :meth:`Catalog.load` reads and validates one,
failing with one-line :class:`~ee_emulator.errors.DataError` messages.

Tables (``ee.FeatureCollection(table_id)``, Earth Engine's ``Collection.loadTable``: FAO GAUL's administrative
units, for instance) are GeoJSON FeatureCollections in EPSG:4326, each feature's ``properties`` its Earth Engine
properties (:meth:`CatalogBuilder.add_table`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
import shapely.geometry
from affine import Affine
from pydantic import BaseModel, ConfigDict, ValidationError

from ee_emulator._io import atomic_path, write_json_atomic
from ee_emulator.errors import DataError, InputError
from ee_emulator.grid import GridLike, PixelGrid

CATALOG_FILE = "catalog.json"

__all__ = [
    "CATALOG_FILE",
    "Catalog",
    "CatalogBuilder",
    "CatalogEntry",
    "BandSource",
    "CatalogImage",
    "CatalogTable",
    "write_catalog",
]


class _ImageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    path: str
    bands: list[str]
    properties: dict[str, Any] = {}
    footprint: dict[str, Any] | None = None
    band_paths: dict[str, str] = {}


class _CollectionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[_ImageRecord] = []
    properties: dict[str, Any] = {}


class _TableRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    path: str


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collections: dict[str, _CollectionRecord] = {}
    images: dict[str, _ImageRecord] = {}
    tables: dict[str, _TableRecord] = {}


@dataclass(frozen=True)
class CatalogTable:
    """One table (a FeatureCollection asset) the emulator can serve.

    Attributes:
        table_id: Full Earth Engine id (``"FAO/GAUL/2015/level1"``).
        features: Its features as GeoJSON (EPSG:4326 geometry, Earth Engine properties, ``id``), in table order.
        version: Asset version number (microseconds since the epoch of the catalog load).
    """

    table_id: str
    features: tuple[dict[str, Any], ...]
    version: int


def _table_from_record(root: Path, record: _TableRecord, version: int, catalog_path: Path) -> CatalogTable:
    """Read and check a table's GeoJSON: a FeatureCollection whose every feature has a geometry."""
    where = f"{catalog_path}: tables[{record.id!r}]"
    if Path(record.path).is_absolute() or ".." in Path(record.path).parts:
        raise DataError(f"{where}: path {record.path!r} must be relative to the catalog directory")
    path = root / record.path
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{where}: cannot read GeoJSON {path} ({error})") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise DataError(f"{where}: {path} is not a GeoJSON FeatureCollection")
    features = []
    for position, feature in enumerate(document.get("features", [])):
        if not isinstance(feature, dict) or not feature.get("geometry"):
            raise DataError(f"{where}: feature {position} of {path} has no geometry")
        try:
            shapely.geometry.shape(feature["geometry"])
        except (ValueError, TypeError, AttributeError) as error:
            raise DataError(f"{where}: feature {position} of {path} has an invalid geometry ({error})") from None
        features.append({"geometry": feature["geometry"], "properties": dict(feature.get("properties") or {}),
                         "id": str(feature.get("id", f"{position:020d}"))})  # fmt: skip
    return CatalogTable(record.id, tuple(features), version)


@dataclass(frozen=True)
class CatalogImage:
    """One image the emulator can serve: a GeoTIFF plus Earth Engine metadata.

    Attributes:
        image_id: Full Earth Engine id (``"COPERNICUS/S1_GRD/<index>"`` or ``"projects/p/assets/x"``).
        path: Absolute path of the GeoTIFF.
        bands: Band names, one per GeoTIFF band, in order.
        dtypes: numpy dtype name of each band as stored (``"float32"``, ``"uint16"``...).
        nodata: The GeoTIFF's nodata value per band (None: only NaN, if float, is no data).
        grid: The GeoTIFF's native pixel grid (CRS, affine transform, width, height).
        footprint: GeoJSON geometry in EPSG:4326 (from the record or the GeoTIFF bounds).
        properties: Earth Engine properties (``system:time_start`` in ms since the epoch, UTC).
        index: ``system:index`` (the id without its collection prefix).
        version: Asset version number (microseconds since the epoch of the catalog load).
        band_sources: Per band, where its pixels are when bands sit on different grids (None: every band is in
            ``path``, in order, on ``grid``); see :meth:`sources`.
    """

    image_id: str
    path: Path
    bands: tuple[str, ...]
    dtypes: tuple[str, ...]
    nodata: tuple[float | None, ...]
    grid: PixelGrid
    footprint: dict[str, Any]
    properties: dict[str, Any]
    index: str
    version: int
    band_sources: tuple[BandSource, ...] | None = None

    def sources(self) -> tuple[BandSource, ...]:
        """Per band (in :attr:`bands` order): the GeoTIFF, 1-based band index in it, and that file's grid."""
        if self.band_sources is not None:
            return self.band_sources
        return tuple(BandSource(self.path, number + 1, self.grid) for number in range(len(self.bands)))

    def size_bytes(self) -> int:
        """Bytes stored for the image: every GeoTIFF its bands are in (0 for a file that is gone)."""
        total = 0
        for path in {self.path, *(source.path for source in self.sources())}:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total


@dataclass(frozen=True)
class BandSource:
    """Where one band of a :class:`CatalogImage` is stored.

    Attributes:
        path: Absolute path of the GeoTIFF.
        band_index: 1-based band index in that file.
        grid: That file's pixel grid (the band's native resolution).
    """

    path: Path
    band_index: int
    grid: PixelGrid


@dataclass
class Catalog:
    """Image collections and standalone images, plus assets added while the emulator runs.

    Attributes:
        root: The catalog directory (None for an empty in-memory catalog).
        collections: Collection id -> images in catalog order.
        collection_properties: Collection id -> collection-level properties.
        images: Standalone image id -> image.
        tables: Table id -> table (``ee.FeatureCollection(table_id)``).
    """

    root: Path | None = None
    collections: dict[str, list[CatalogImage]] = field(default_factory=dict)
    collection_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, CatalogImage] = field(default_factory=dict)
    tables: dict[str, CatalogTable] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, root: str | Path) -> Catalog:
        """Read and validate ``root/catalog.json`` and every GeoTIFF it names.

        Raises:
            InputError: If the directory or ``catalog.json`` is missing or not JSON.
            DataError: If a record is malformed, names a missing/unreadable GeoTIFF, or its band count differs.
        """
        root = Path(root)
        catalog_path = root / CATALOG_FILE
        if not root.is_dir():
            raise InputError(f"emulator catalog {root}: is not a directory")
        if not catalog_path.is_file():
            raise InputError(f"emulator catalog {root}: has no {CATALOG_FILE}")
        try:
            raw = json.loads(catalog_path.read_text())
        except json.JSONDecodeError as error:
            raise InputError(f"{catalog_path}: is not valid JSON ({error.msg} at line {error.lineno})") from None
        try:
            parsed = _CatalogFile.model_validate(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise DataError(f"{catalog_path}: invalid record at {where}: {first['msg']}") from None
        catalog = cls(root=root.resolve())
        version = int(catalog_path.stat().st_mtime * 1e6)
        seen: set[str] = set()
        for collection_id, collection in parsed.collections.items():
            images = []
            for record in collection.images:
                image = _image_from_record(root, record, collection_id, version, catalog_path)
                if image.image_id in seen:
                    raise DataError(f"{catalog_path}: image id {image.image_id!r} appears twice")
                seen.add(image.image_id)
                images.append(image)
            catalog.collections[collection_id] = images
            catalog.collection_properties[collection_id] = dict(collection.properties)
        for image_id, record in parsed.images.items():
            if record.id != image_id:
                raise DataError(f"{catalog_path}: images[{image_id!r}] has id {record.id!r}; they must be equal")
            if image_id in seen:
                raise DataError(f"{catalog_path}: image id {image_id!r} appears twice")
            seen.add(image_id)
            catalog.images[image_id] = _image_from_record(root, record, None, version, catalog_path)
        for table_id, table in parsed.tables.items():
            if table.id != table_id:
                raise DataError(f"{catalog_path}: tables[{table_id!r}] has id {table.id!r}; they must be equal")
            if table_id in seen:
                raise DataError(f"{catalog_path}: asset id {table_id!r} appears twice")
            catalog.tables[table_id] = _table_from_record(root, table, version, catalog_path)
        return catalog

    def refresh(self) -> list[str]:
        """Re-read ``root/catalog.json`` and serve the images it now lists that this catalog lacks.

        A catalog grows while the emulator runs, as Earth Engine's does when new acquisitions land (rewrite the
        catalog with :class:`CatalogBuilder`, then call this). Images already served and assets created at run time
        are kept as they are; nothing is removed.

        Returns:
            The ids of the images added, in catalog order.

        Raises:
            InputError: For an in-memory catalog (no root), or the errors of :meth:`load`.
        """
        if self.root is None:
            raise InputError("emulator catalog: an in-memory catalog has no catalog.json to refresh from")
        fresh = Catalog.load(self.root)
        added: list[str] = []
        with self._lock:
            for collection_id, images in fresh.collections.items():
                members = self.collections.setdefault(collection_id, [])
                self.collection_properties.setdefault(collection_id, fresh.collection_properties[collection_id])
                known = {image.image_id for image in members}
                for image in images:
                    if image.image_id not in known:
                        members.append(image)
                        added.append(image.image_id)
            for image_id, image in fresh.images.items():
                if image_id not in self.images:
                    self.images[image_id] = image
                    added.append(image_id)
            for table_id, table in fresh.tables.items():
                if table_id not in self.tables:
                    self.tables[table_id] = table
                    added.append(table_id)
        return added

    def find_image(self, image_id: str) -> CatalogImage | None:
        """Return the standalone or collection image with this id, or None."""
        with self._lock:
            if image_id in self.images:
                return self.images[image_id]
            for images in self.collections.values():
                for image in images:
                    if image.image_id == image_id:
                        return image
        return None

    def find_table(self, table_id: str) -> CatalogTable | None:
        """Return the table with this id, or None."""
        with self._lock:
            return self.tables.get(table_id)

    def find_collection(self, collection_id: str) -> list[CatalogImage] | None:
        """Return the images of a collection (a copy of the list), or None if there is no such collection."""
        with self._lock:
            images = self.collections.get(collection_id)
            return list(images) if images is not None else None

    def add_asset(self, image: CatalogImage, *, overwrite: bool = False) -> None:
        """Register an image created at run time (ingestion, COG-backed asset, export).

        If the id looks like ``<collection>/<index>`` and the collection exists, it is appended there as well.

        Raises:
            DataError: If an image with this id already exists and ``overwrite`` is False.
        """
        with self._lock:
            if image.image_id in self.images and not overwrite:
                raise DataError(f"asset {image.image_id!r} already exists")
            self.images[image.image_id] = image
            parent = image.image_id.rsplit("/", 1)[0]
            if parent in self.collections:
                members = [other for other in self.collections[parent] if other.image_id != image.image_id]
                self.collections[parent] = [*members, image]

    def add_collection(self, collection_id: str, properties: Mapping[str, Any] | None = None) -> None:
        """Create an empty image collection (an ``IMAGE_COLLECTION`` asset)."""
        with self._lock:
            self.collections.setdefault(collection_id, [])
            self.collection_properties.setdefault(collection_id, dict(properties or {}))

    def remove_asset(self, image_id: str) -> bool:
        """Forget a run-time image or an empty collection; return True if something was removed."""
        with self._lock:
            removed = self.images.pop(image_id, None) is not None
            parent = image_id.rsplit("/", 1)[0]
            if parent in self.collections:
                before = len(self.collections[parent])
                self.collections[parent] = [i for i in self.collections[parent] if i.image_id != image_id]
                removed = removed or before != len(self.collections[parent])
            if image_id in self.collections and not self.collections[image_id]:
                del self.collections[image_id]
                removed = True
            return removed

    def children(self, parent: str) -> list[tuple[str, str]]:
        """Return ``(id, type)`` of the assets directly under ``parent``.

        Types are ``"IMAGE"``, ``"IMAGE_COLLECTION"`` or ``"FOLDER"`` (a path prefix of deeper assets).
        """
        prefix = parent.rstrip("/") + "/"
        found: dict[str, str] = {}
        with self._lock:
            if parent in self.collections:
                return [(image.image_id, "IMAGE") for image in self.collections[parent]]
            for asset_id, kind in [*((c, "IMAGE_COLLECTION") for c in self.collections),
                                   *((i, "IMAGE") for i in self.images)]:  # fmt: skip
                if not asset_id.startswith(prefix):
                    continue
                rest = asset_id[len(prefix) :]
                if "/" in rest:
                    found.setdefault(prefix + rest.split("/", 1)[0], "FOLDER")
                else:
                    found[asset_id] = kind
        return sorted(found.items())


def image_from_geotiff(
    path: str | Path,
    image_id: str,
    *,
    bands: Sequence[str] | None = None,
    properties: Mapping[str, Any] | None = None,
    footprint: Mapping[str, Any] | None = None,
    index: str | None = None,
    version: int | None = None,
    nodata: Sequence[float | None] | None = None,
    where: str | None = None,
) -> CatalogImage:
    """Describe a GeoTIFF as a :class:`CatalogImage` (reads its header only).

    Args:
        path: The GeoTIFF.
        image_id: Full Earth Engine id.
        bands: Band names; defaults to the GeoTIFF's band descriptions, or ``b1``, ``b2``...
        properties: Earth Engine properties; datetimes are converted to ms since the epoch.
        footprint: GeoJSON footprint in EPSG:4326; defaults to the GeoTIFF's bounds.
        index: ``system:index``; defaults to the last path component of ``image_id``.
        version: Asset version; defaults to the file's modification time in microseconds.
        nodata: Per-band no-data values overriding the GeoTIFF's.
        where: Prefix for error messages (defaults to the path).

    Raises:
        DataError: If the file is unreadable, has no CRS/transform, or the band count differs from ``bands``.
    """
    path = Path(path)
    where = where or str(path)
    if not path.is_file():
        raise DataError(f"{where}: GeoTIFF {path} does not exist")
    try:
        with rasterio.open(path) as dataset:
            if dataset.crs is None:
                raise DataError(f"{where}: GeoTIFF {path} has no CRS")
            if dataset.transform == Affine.identity():
                raise DataError(f"{where}: GeoTIFF {path} has no geotransform")
            count = dataset.count
            names = list(bands) if bands is not None else _band_names(dataset.descriptions, count)
            if len(names) != count:
                raise DataError(f"{where}: record names {len(names)} bands {names} but {path} has {count} band(s)")
            grid = PixelGrid(
                crs=dataset.crs.to_string(),
                transform=dataset.transform,
                width=dataset.width,
                height=dataset.height,
            )
            dtypes = tuple(dataset.dtypes)
            file_nodata = tuple(dataset.nodatavals)
            if footprint is None:
                footprint = _bounds_footprint(dataset)
    except rasterio.errors.RasterioIOError as error:
        raise DataError(f"{where}: cannot read GeoTIFF {path}: {error}") from None
    if nodata is not None:
        if len(nodata) != count:
            raise DataError(f"{where}: {len(nodata)} nodata values for {count} bands")
        file_nodata = tuple(nodata)
    if len(set(names)) != len(names):
        raise DataError(f"{where}: duplicate band names {names}")
    props = normalise_properties(properties or {})
    return CatalogImage(
        image_id=image_id,
        path=path.resolve(),
        bands=tuple(names),
        dtypes=dtypes,
        nodata=tuple(None if value is None else float(value) for value in file_nodata),
        grid=grid,
        footprint=dict(footprint),
        properties=props,
        index=index if index is not None else image_id.rsplit("/", 1)[-1],
        version=version if version is not None else int(path.stat().st_mtime * 1e6),
    )


def normalise_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Return JSON-ready properties: datetimes -> ms since the epoch (UTC), numpy scalars -> Python numbers."""
    out: dict[str, Any] = {}
    for key, value in properties.items():
        out[str(key)] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(round(value.timestamp() * 1000))
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp() * 1000)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _band_names(descriptions: Sequence[str | None], count: int) -> list[str]:
    if all(descriptions) and len(descriptions) == count:
        return [str(name) for name in descriptions]
    return [f"b{i + 1}" for i in range(count)]


def _bounds_footprint(dataset: Any) -> dict[str, Any]:
    """The GeoTIFF's bounds as a (densified) EPSG:4326 polygon."""
    left, bottom, right, top = dataset.bounds
    ring = shapely.geometry.box(left, bottom, right, top)
    return rasterio.warp.transform_geom(dataset.crs, "EPSG:4326", shapely.geometry.mapping(ring), precision=-1)


def _image_from_record(
    root: Path, record: _ImageRecord, collection_id: str | None, version: int, catalog_path: Path
) -> CatalogImage:
    where = f"{catalog_path}: image {record.id!r}"
    if collection_id is not None:
        if not record.id.startswith(collection_id + "/") or len(record.id) == len(collection_id) + 1:
            raise DataError(f"{where}: id must be '{collection_id}/<index>'")
        index = record.id[len(collection_id) + 1 :]
        if "/" in index:
            raise DataError(f"{where}: system:index {index!r} must not contain '/'")
    else:
        index = record.id.rsplit("/", 1)[-1]
    if Path(record.path).is_absolute() or ".." in Path(record.path).parts:
        raise DataError(f"{where}: path {record.path!r} must be relative to the catalog directory")
    if "system:time_start" in record.properties and not isinstance(record.properties["system:time_start"], int | float):
        raise DataError(f"{where}: system:time_start must be milliseconds since 1970-01-01 UTC (a number)")
    if not record.band_paths:
        return image_from_geotiff(
            root / record.path,
            record.id,
            bands=record.bands,
            properties=record.properties,
            footprint=record.footprint,
            index=index,
            version=version,
            where=where,
        )
    return _multifile_image(root, record, index, version, where)


def _multifile_image(root: Path, record: _ImageRecord, index: str, version: int, where: str) -> CatalogImage:
    """An image whose bands sit in several GeoTIFFs (``band_paths``), each on its own grid."""
    unknown = sorted(set(record.band_paths) - set(record.bands))
    if unknown:
        raise DataError(f"{where}: band_paths names bands {unknown} that are not in bands {record.bands}")
    files: dict[str, list[str]] = {record.path: []}
    for band in record.bands:
        files.setdefault(record.band_paths.get(band, record.path), []).append(band)
    parts: dict[str, CatalogImage] = {}
    for relative, names in files.items():
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise DataError(f"{where}: path {relative!r} must be relative to the catalog directory")
        parts[relative] = image_from_geotiff(
            root / relative, record.id, bands=names, properties=record.properties, footprint=record.footprint,
            index=index, version=version, where=where,
        )  # fmt: skip
    primary = parts[record.path]
    dtypes, nodata, sources = [], [], []
    for band in record.bands:
        part = parts[record.band_paths.get(band, record.path)]
        position = part.bands.index(band)
        dtypes.append(part.dtypes[position])
        nodata.append(part.nodata[position])
        sources.append(BandSource(part.path, position + 1, part.grid))
    return CatalogImage(
        image_id=primary.image_id,
        path=primary.path,
        bands=tuple(record.bands),
        dtypes=tuple(dtypes),
        nodata=tuple(nodata),
        grid=primary.grid,
        footprint=primary.footprint,
        properties=primary.properties,
        index=primary.index,
        version=primary.version,
        band_sources=tuple(sources),
    )


@dataclass
class CatalogEntry:
    """One image to write into a catalog (see :func:`write_catalog`).

    Attributes:
        collection: Collection id (``"COPERNICUS/S1_GRD"``), or None for a standalone image.
        image_id: Full id, or just the ``system:index`` when ``collection`` is given.
        array: ``(bands, H, W)`` pixel values in Earth Engine units (or ``(H, W)`` for one band).
        georef: Pixel grid of ``array`` (CRS + affine transform): any grid-shaped object or :class:`PixelGrid`.
        bands: Band names, one per array band.
        properties: Earth Engine properties; ``system:time_start`` may be a datetime (UTC) or ms.
        nodata: No-data value written to the GeoTIFF (NaN for float arrays by default).
        dtype: Storage dtype (defaults to the array's).
    """

    collection: str | None
    image_id: str
    array: np.ndarray
    georef: GridLike
    bands: Sequence[str]
    properties: Mapping[str, Any] = field(default_factory=dict)
    nodata: float | None = None
    dtype: str | None = None


class CatalogBuilder:
    """Write an emulator catalog: GeoTIFFs (rasterio, tiled, deflate) plus ``catalog.json``.

    Example::

        with CatalogBuilder(tmp_path / "catalog") as builder:
            builder.add_image("COPERNICUS/S1_GRD", "S1A_20200101", s1_db, georef, ["VV", "VH"],
                              {"system:time_start": datetime(2020, 1, 1), "instrumentMode": "IW"})
        # catalog.json is written on exit (or call builder.write()).
    """

    def __init__(self, root: str | Path, *, overwrite: bool = True) -> None:
        """Start a catalog in ``root`` (created if missing).

        Args:
            root: Catalog directory.
            overwrite: If False and ``root/catalog.json`` exists, raise instead of replacing it.
        """
        self.root = Path(root)
        if not overwrite and (self.root / CATALOG_FILE).exists():
            raise InputError(f"{self.root / CATALOG_FILE}: already exists")
        self.root.mkdir(parents=True, exist_ok=True)
        self._collections: dict[str, dict[str, Any]] = {}
        self._images: dict[str, dict[str, Any]] = {}
        self._tables: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> CatalogBuilder:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.write()

    def add_collection(self, collection: str, properties: Mapping[str, Any] | None = None) -> None:
        """Declare a collection (possibly empty) and its collection-level properties."""
        entry = self._collections.setdefault(collection, {"properties": {}, "images": []})
        entry["properties"].update(normalise_properties(properties or {}))

    def add_image(
        self,
        collection: str | None,
        image_id: str,
        array: np.ndarray,
        georef: GridLike,
        bands: Sequence[str],
        properties: Mapping[str, Any] | None = None,
        *,
        nodata: float | None = None,
        dtype: str | np.dtype | None = None,
        footprint: Mapping[str, Any] | None = None,
    ) -> str:
        """Write one image's GeoTIFF and record it; return its full Earth Engine id.

        Args:
            collection: Collection id, or None for a standalone image (``ee.Image(id)``).
            image_id: Full id (``"COPERNICUS/S1_GRD/x"``) or just the ``system:index`` (``"x"``).
            array: ``(bands, H, W)`` (or ``(H, W)``) pixel values in Earth Engine units.
            georef: Pixel grid of the array (CRS and affine transform; metres or degrees).
            bands: Band names, one per array band.
            properties: Earth Engine properties; datetimes become ms since the epoch (UTC).
            nodata: GeoTIFF no-data value; float arrays default to NaN.
            dtype: Storage dtype; defaults to the array's.
            footprint: Optional GeoJSON footprint (EPSG:4326) overriding the GeoTIFF bounds.

        Raises:
            InputError: If shapes, band names or ids are inconsistent.
        """
        values, georef = _checked_array(image_id, array, georef, bands)
        full_id, index = self._full_id(collection, image_id)
        relative = Path(_slug(collection or "images")) / f"{_slug(index)}.tif"
        if collection is None:
            relative = Path("images") / f"{_slug(full_id)}.tif"
        self._write_geotiff(full_id, relative, values, georef, bands, nodata, dtype)
        record: dict[str, Any] = {
            "id": full_id,
            "path": relative.as_posix(),
            "bands": list(bands),
            "properties": normalise_properties(properties or {}),
        }
        self._record(collection, record, footprint)
        return full_id

    def add_multiresolution_image(
        self,
        collection: str | None,
        image_id: str,
        parts: Sequence[tuple[np.ndarray, GridLike, Sequence[str]]],
        properties: Mapping[str, Any] | None = None,
        *,
        band_order: Sequence[str] | None = None,
        nodata: float | None = None,
        dtype: str | np.dtype | None = None,
        footprint: Mapping[str, Any] | None = None,
    ) -> str:
        """Write an image whose bands sit on different grids (one GeoTIFF per grid); return its full id.

        Sentinel-2 L1C, for example: B2, B3, B4, B8 at 10 m; B5, B6, B7, B8A, B11, B12 at 20 m; B1, B9, B10 at 60 m.
        Each band keeps its native grid: requests resample it (nearest neighbour unless the expression calls
        ``Image.resample``), as Earth Engine does.

        Args:
            collection: Collection id, or None for a standalone image.
            image_id: Full id or just the ``system:index``.
            parts: ``(array (bands, H, W), grid, band names)`` per grid; the first is the image's primary file.
            properties: Earth Engine properties.
            band_order: The image's band order (default: the parts' bands in turn).
            nodata: GeoTIFF no-data value of every part.
            dtype: Storage dtype of every part.
            footprint: Optional GeoJSON footprint (EPSG:4326) overriding the primary file's bounds.

        Raises:
            InputError: If shapes or band names are inconsistent.
        """
        if not parts:
            raise InputError(f"image {image_id}: no parts")
        full_id, index = self._full_id(collection, image_id)
        names = [name for _, _, part_bands in parts for name in part_bands]
        order = list(band_order) if band_order is not None else names
        if sorted(order) != sorted(names) or len(set(names)) != len(names):
            raise InputError(f"image {full_id}: band_order {order} must list each band of the parts {names} once")
        folder = Path(_slug(collection or "images"))
        stem = _slug(index) if collection is not None else _slug(full_id)
        band_paths: dict[str, str] = {}
        primary = ""
        for number, (array, georef, part_bands) in enumerate(parts):
            values, grid = _checked_array(full_id, array, georef, part_bands)
            relative = folder / (f"{stem}.tif" if number == 0 else f"{stem}_{number}.tif")
            self._write_geotiff(full_id, relative, values, grid, part_bands, nodata, dtype)
            if number == 0:
                primary = relative.as_posix()
            else:
                band_paths.update({name: relative.as_posix() for name in part_bands})
        record: dict[str, Any] = {
            "id": full_id,
            "path": primary,
            "bands": order,
            "properties": normalise_properties(properties or {}),
            "band_paths": band_paths,
        }
        self._record(collection, record, footprint)
        return full_id

    def add_table(self, table_id: str, features: Sequence[Mapping[str, Any]]) -> str:
        """Write a table (``ee.FeatureCollection(table_id)``) as GeoJSON and record it; return its id.

        Args:
            table_id: Full Earth Engine id (``"FAO/GAUL/2015/level1"``).
            features: GeoJSON features (EPSG:4326 geometry; ``properties`` become the features' Earth Engine
                properties).

        Raises:
            InputError: A feature without a geometry.
        """
        for position, feature in enumerate(features):
            if not feature.get("geometry"):
                raise InputError(f"table {table_id}: feature {position} has no geometry")
        relative = Path("tables") / f"{_slug(table_id)}.geojson"
        document = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": str(feature.get("id", f"{position:020d}")), "geometry": feature["geometry"],
             "properties": normalise_properties(feature.get("properties") or {})}
            for position, feature in enumerate(features)
        ]}  # fmt: skip
        write_json_atomic(self.root / relative, document)
        self._tables[table_id] = {"id": table_id, "path": relative.as_posix()}
        return table_id

    @staticmethod
    def _full_id(collection: str | None, image_id: str) -> tuple[str, str]:
        if collection is not None:
            full_id = image_id if image_id.startswith(collection + "/") else f"{collection}/{image_id}"
            index = full_id[len(collection) + 1 :]
        else:
            full_id = image_id
            index = image_id.rsplit("/", 1)[-1]
        if not index or "/" in index:
            raise InputError(f"image {full_id}: system:index {index!r} must be non-empty and contain no '/'")
        return full_id, index

    def _write_geotiff(
        self,
        full_id: str,
        relative: Path,
        values: np.ndarray,
        georef: PixelGrid,
        bands: Sequence[str],
        nodata: float | None,
        dtype: str | np.dtype | None,
    ) -> None:
        storage = np.dtype(dtype) if dtype is not None else values.dtype
        if storage == np.float16 or storage.kind not in "iuf" or storage == np.int64 or storage == np.uint64:
            raise InputError(f"image {full_id}: unsupported GeoTIFF dtype {storage} (use (u)int8/16/32, float32/64)")
        if nodata is None and storage.kind == "f":
            nodata = float("nan")
        path = self.root / relative
        profile = {
            "driver": "GTiff",
            "width": georef.width,
            "height": georef.height,
            "count": values.shape[0],
            "dtype": storage.name,
            "crs": georef.crs,
            "transform": georef.transform,
            "nodata": nodata,
            "compress": "deflate",
        }
        if georef.width >= 16 and georef.height >= 16:
            block = 16 * max(1, min(georef.width, georef.height, 256) // 16)
            profile.update(tiled=True, blockxsize=block, blockysize=block)
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dataset:
            dataset.write(values.astype(storage, copy=False))
            dataset.descriptions = tuple(bands)

    def _record(self, collection: str | None, record: dict[str, Any], footprint: Mapping[str, Any] | None) -> None:
        if footprint is not None:
            record["footprint"] = dict(footprint)
        if collection is None:
            self._images[record["id"]] = record
        else:
            self.add_collection(collection)
            images = self._collections[collection]["images"]
            images[:] = [other for other in images if other["id"] != record["id"]]
            images.append(record)

    def write(self) -> Path:
        """Write ``catalog.json`` atomically and return its path."""
        payload: dict[str, Any] = {"collections": self._collections, "images": self._images}
        if self._tables:
            payload["tables"] = self._tables
        return write_json_atomic(self.root / CATALOG_FILE, payload)


def write_catalog(root: str | Path, entries: Iterable[CatalogEntry]) -> Catalog:
    """Write a whole catalog from :class:`CatalogEntry` records and return it loaded (validated)."""
    builder = CatalogBuilder(root)
    for entry in entries:
        builder.add_image(
            entry.collection,
            entry.image_id,
            entry.array,
            entry.georef,
            entry.bands,
            entry.properties,
            nodata=entry.nodata,
            dtype=entry.dtype,
        )
    builder.write()
    return Catalog.load(root)


def _checked_array(
    image_id: str, array: np.ndarray, georef: GridLike, bands: Sequence[str]
) -> tuple[np.ndarray, PixelGrid]:
    """``(bands, H, W)`` values and their grid, checked against each other and the band names."""
    grid = PixelGrid.of(georef)
    values = np.asarray(array)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise InputError(f"image {image_id}: array must be (bands, H, W), got shape {values.shape}")
    if values.shape[0] != len(bands):
        raise InputError(f"image {image_id}: {values.shape[0]} array bands but {len(bands)} names {list(bands)}")
    if (values.shape[1], values.shape[2]) != (grid.height, grid.width):
        raise InputError(
            f"image {image_id}: array is {values.shape[1]}x{values.shape[2]} px, georef is "
            f"{grid.height}x{grid.width} px"
        )
    return values, grid


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"

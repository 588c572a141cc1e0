"""Flooded and excluded area on the ground, and exposure, per zone: the local route (from the COG, offline).

Areas are true ground areas on the WGS 84 ellipsoid, as Earth Engine's ``ee.Image.pixelArea()`` gives them, not a
pixel count times the nominal pixel size: on a projected grid each pixel's nominal area is divided by the
projection's areal scale factor at that pixel (PROJ's ``get_factors``; UTM is off by up to 0.1 %), on a geographic
grid each row's cells are measured on the ellipsoid (``pyproj.Geod``). The map is read one strip of rows at a time,
so memory stays bounded whatever its size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS

from gee_flood.errors import InputError
from gee_flood.product.layers import (
    EXCLUDED_NODATA,
    EXCLUSION,
    FLOOD,
    REFERENCE_WATER,
    WATER,
    WORLDCOVER_BUILT_UP,
    WORLDCOVER_CROPLAND,
)

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

#: Rows read at once.
STRIP_ROWS = 512
#: GDAL's block cache while the map is read (MB). GDAL's default, 5 % of RAM, lets a whole-map pass fill it with
#: blocks read once (1.2 GB on a 24 GB machine): the statistics would then cost more memory than predict itself.
GDAL_CACHE_MB = 64
#: Spacing (pixels) of the grid on which PROJ's areal scale is evaluated, then interpolated: the scale varies by
#: about 1e-6 over 32 pixels of 10 m, far below the 1 % the statistics promise.
SCALE_STEP = 32


def pixel_area_m2(crs: CRS, transform: Affine, row_start: int, row_stop: int, width: int) -> np.ndarray:
    """True ground area (m², WGS 84 ellipsoid) of every pixel of rows ``[row_start, row_stop)`` of a north-up grid.

    Args:
        crs: The grid's CRS.
        transform: The grid's affine transform (no rotation).
        row_start: First row.
        row_stop: One past the last row.
        width: Columns.

    Returns:
        ``(rows, width)`` float64 m².
    """
    from pyproj import Geod, Proj, Transformer

    rows = row_stop - row_start
    if crs.is_geographic:
        geod = Geod(ellps="WGS84")
        lon0, dlon = transform.c, transform.a
        areas = np.empty(rows)
        for index in range(rows):
            top = transform.f + transform.e * (row_start + index)
            bottom = top + transform.e
            area, _ = geod.polygon_area_perimeter([lon0, lon0 + dlon, lon0 + dlon, lon0], [top, top, bottom, bottom])
            areas[index] = abs(area)
        return np.broadcast_to(areas[:, None], (rows, width)).copy()
    unit = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    nominal = abs(transform.a * transform.e - transform.b * transform.d) * unit * unit
    cols = np.unique(np.r_[np.arange(0, width, SCALE_STEP), width - 1]).astype(np.float64)
    lines = np.unique(np.r_[np.arange(row_start, row_stop, SCALE_STEP), row_stop - 1]).astype(np.float64)
    grid_cols, grid_rows = np.meshgrid(cols + 0.5, lines + 0.5)
    xs = transform.a * grid_cols + transform.b * grid_rows + transform.c
    ys = transform.d * grid_cols + transform.e * grid_rows + transform.f
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    scale = np.asarray(Proj(crs.to_wkt()).get_factors(lon, lat).areal_scale, np.float64).reshape(grid_cols.shape)
    # bilinear interpolation of the coarse scale grid onto every pixel (rows first, then columns)
    along_rows = np.stack([np.interp(np.arange(row_start, row_stop), lines, scale[:, j]) for j in range(len(cols))])
    full = np.stack([np.interp(np.arange(width), cols, along_rows[:, i]) for i in range(rows)])
    return nominal / full


@dataclass
class FloodAreas:
    """Areas of one zone (km² on the ground) and its exposure.

    Attributes:
        flooded_km2: ``flood`` = 1.
        excluded_km2: Valid pixels with any exclusion bit (shadow/layover, slope, HAND, urban, border noise).
        water_km2: ``water`` = 1 (observed water, reference water included).
        reference_water_km2: ``reference_water`` = 1.
        nodata_km2: Pixels with no data.
        mapped_km2: Pixels with data.
        people_exposed: Population living in flooded pixels (with a population raster), else NaN.
        cropland_flooded_km2: Flooded ESA WorldCover cropland (with a land-cover raster), else NaN.
        built_up_flooded_km2: Flooded ESA WorldCover built-up (with a land-cover raster; 0 while urban is
            excluded), else NaN.
    """

    flooded_km2: float = 0.0
    excluded_km2: float = 0.0
    water_km2: float = 0.0
    reference_water_km2: float = 0.0
    nodata_km2: float = 0.0
    mapped_km2: float = 0.0
    people_exposed: float = math.nan
    cropland_flooded_km2: float = math.nan
    built_up_flooded_km2: float = math.nan

    def as_dict(self) -> dict[str, float]:
        """The fields as a dict (rounded for output elsewhere)."""
        return asdict(self)


@dataclass
class _Strip:
    row_start: int
    layers: dict[str, np.ndarray]


class FloodMap:
    """A flood product COG read one strip at a time, by layer name (band descriptions).

    Args:
        path: A COG written by ``gee-flood predict`` (bands named per :data:`gee_flood.product.LAYERS`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: flood map not found")
        try:
            with rasterio.open(self.path) as src:
                self.crs, self.transform = src.crs, src.transform
                self.width, self.height = src.width, src.height
                self.bands = {name: index for index, name in enumerate(src.descriptions, start=1) if name}
        except rasterio.errors.RasterioIOError as error:
            raise InputError(f"{self.path}: not a readable GeoTIFF ({str(error).splitlines()[0]})") from None
        missing = [name for name in (FLOOD, WATER, EXCLUSION) if name not in self.bands]
        if self.crs is None or missing:
            raise InputError(
                f"{self.path}: not a gee-flood flood product (bands {sorted(self.bands)}; expected "
                f"{FLOOD}, {WATER}, {EXCLUSION} and a CRS)"
            )

    def strips(self, window: rasterio.windows.Window | None = None) -> Iterator[_Strip]:
        """The map's layers in strips of :data:`STRIP_ROWS` rows (within ``window``, whole width otherwise)."""
        window = window or rasterio.windows.Window(0, 0, self.width, self.height)
        col_off, row_off = int(window.col_off), int(window.row_off)
        width, height = int(window.width), int(window.height)
        names = [name for name in (FLOOD, WATER, EXCLUSION, REFERENCE_WATER) if name in self.bands]
        with rasterio.open(self.path) as src:
            for start in range(row_off, row_off + height, STRIP_ROWS):
                stop = min(start + STRIP_ROWS, row_off + height)
                part = rasterio.windows.Window(col_off, start, width, stop - start)
                data = src.read([self.bands[name] for name in names], window=part)
                yield _Strip(start, dict(zip(names, data, strict=True)))


def _accumulate(
    totals: FloodAreas,
    layers: dict[str, np.ndarray],
    area: np.ndarray,
    inside: np.ndarray,
    population: np.ndarray | None,
    worldcover: np.ndarray | None,
) -> None:
    km2 = area / 1e6
    exclusion = layers[EXCLUSION]
    nodata = inside & ((exclusion & EXCLUDED_NODATA) != 0)
    valid = inside & ~nodata
    flooded = valid & (layers[FLOOD] == 1)
    totals.flooded_km2 += float(km2[flooded].sum())
    totals.excluded_km2 += float(km2[valid & (exclusion != 0)].sum())
    totals.water_km2 += float(km2[valid & (layers[WATER] == 1)].sum())
    if REFERENCE_WATER in layers:
        totals.reference_water_km2 += float(km2[inside & (layers[REFERENCE_WATER] == 1)].sum())
    totals.nodata_km2 += float(km2[nodata].sum())
    totals.mapped_km2 += float(km2[valid].sum())
    if population is not None:
        totals.people_exposed = np.nan_to_num(totals.people_exposed) + float(np.nansum(population[flooded]))
    if worldcover is not None:
        totals.cropland_flooded_km2 = np.nan_to_num(totals.cropland_flooded_km2) + float(
            km2[flooded & (worldcover == WORLDCOVER_CROPLAND)].sum()
        )
        totals.built_up_flooded_km2 = np.nan_to_num(totals.built_up_flooded_km2) + float(
            km2[flooded & (worldcover == WORLDCOVER_BUILT_UP)].sum()
        )


class _OnGrid:
    """An auxiliary raster (population, land cover) resampled onto the map's grid, read by window."""

    def __init__(self, path: Path, flood_map: FloodMap, *, density: bool) -> None:
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        if not Path(path).is_file():
            raise InputError(f"{path}: raster not found")
        self.dataset = rasterio.open(path)
        self.density = density
        if density:  # people per source cell -> people per m² (the source cell's nominal ground area)
            source = self.dataset
            cell = abs(source.transform.a * source.transform.e)
            if source.crs.is_geographic:
                lat = source.transform.f + source.transform.e * source.height / 2
                cell *= 111_320.0**2 * math.cos(math.radians(lat))
            self.cell_m2 = cell
        self.vrt = WarpedVRT(
            self.dataset,
            crs=flood_map.crs,
            transform=flood_map.transform,
            width=flood_map.width,
            height=flood_map.height,
            resampling=Resampling.nearest,
        )

    def read(self, window: rasterio.windows.Window, area: np.ndarray) -> np.ndarray:
        values = self.vrt.read(1, window=window, masked=True).astype(np.float64).filled(np.nan)
        return values * area / self.cell_m2 if self.density else values

    def close(self) -> None:
        self.vrt.close()
        self.dataset.close()


def flood_areas(
    flood_map: str | os.PathLike[str],
    *,
    population: str | os.PathLike[str] | None = None,
    worldcover: str | os.PathLike[str] | None = None,
) -> FloodAreas:
    """Flooded, excluded (and water, no data) km² of a whole flood product COG, and its exposure.

    Args:
        flood_map: A COG of ``gee-flood predict`` (or :func:`gee_flood.write_cog`).
        population: A population count raster (people per cell, e.g. GHSL GHS-POP), any CRS.
        worldcover: An ESA WorldCover class raster, any CRS.

    Returns:
        The areas on the ground (km², WGS 84 ellipsoid).
    """
    frame = zone_statistics(flood_map, None, population=population, worldcover=worldcover)
    row = frame.iloc[0]
    return FloodAreas(**{name: float(row[name]) for name in FloodAreas.__dataclass_fields__})


def read_zones(zones: Any, id_field: str | None = None) -> Any:
    """Zones as a GeoDataFrame in EPSG:4326 with a unique ``zone`` column.

    Args:
        zones: A GeoJSON / GeoParquet path or a GeoDataFrame.
        id_field: The column naming each zone (default: ``zone``, ``name``, ``ADM1_NAME``, else the row number).

    Raises:
        InputError: No geometry, a duplicated zone id, an unreadable file.
    """
    import geopandas  # type: ignore[import-untyped]

    where = str(zones) if isinstance(zones, str | os.PathLike) else "zones"
    if isinstance(zones, str | os.PathLike):
        path = Path(zones)
        if not path.is_file():
            raise InputError(f"{path}: zones file not found")
        try:
            frame = geopandas.read_parquet(path) if path.suffix.lower() == ".parquet" else geopandas.read_file(path)
        except Exception as error:  # noqa: BLE001 - any reader failure is a bad file, said in one line
            raise InputError(f"{path}: not a readable GeoJSON/GeoParquet zones file ({error})") from None
    else:
        frame = zones
    if not isinstance(frame, geopandas.GeoDataFrame) or frame.geometry is None or len(frame) == 0:
        raise InputError(f"{where}: expected polygons (a GeoJSON or GeoParquet with a geometry), found none")
    if frame.geometry.isna().any() or frame.geometry.is_empty.any():
        empty = int((frame.geometry.isna() | frame.geometry.is_empty).sum())
        raise InputError(f"{where}: {empty} zone(s) have no geometry; every zone needs a polygon")
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    column = id_field or next((c for c in ("zone", "name", "ADM1_NAME", "ADM2_NAME") if c in frame.columns), None)
    if column is not None and column not in frame.columns:
        raise InputError(f"{where}: no column {column!r} to name the zones (has {list(frame.columns)})")
    ids = frame[column].astype(str) if column else frame.index.astype(str)
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise InputError(f"{where}: zone ids must be unique; duplicated: {', '.join(duplicated[:5])}")
    frame = frame.assign(zone=list(ids)).to_crs("EPSG:4326")
    return frame


def zone_statistics(
    flood_map: str | os.PathLike[str],
    zones: Any = None,
    *,
    id_field: str | None = None,
    population: str | os.PathLike[str] | None = None,
    worldcover: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Flooded and excluded km² and exposure per zone of a flood product COG (the local route).

    Args:
        flood_map: The COG.
        zones: GeoJSON/GeoParquet path or GeoDataFrame of polygons (EPSG:4326 unless it says otherwise), or
            ``None``: one zone, ``map``, the whole map.
        id_field: Column naming the zones (see :func:`read_zones`).
        population: Population count raster (people per cell, any CRS).
        worldcover: ESA WorldCover class raster (any CRS).

    Returns:
        One row per zone (``zone`` then the :class:`FloodAreas` fields).

    Raises:
        InputError: Bad zones (see :func:`read_zones`), or no zone overlaps the map.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _zone_statistics(flood_map, zones, id_field, population, worldcover)


def _zone_statistics(
    flood_map: str | os.PathLike[str],
    zones: Any,
    id_field: str | None,
    population: str | os.PathLike[str] | None,
    worldcover: str | os.PathLike[str] | None,
) -> pd.DataFrame:
    import pandas as pd
    import rasterio.features
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping, shape

    product = FloodMap(flood_map)
    full = rasterio.windows.Window(0, 0, product.width, product.height)
    if zones is None:
        entries: list[tuple[str, dict[str, Any] | None]] = [("map", None)]
    else:
        frame = read_zones(zones, id_field)
        entries = [(zone, mapping(geometry)) for zone, geometry in zip(frame["zone"], frame.geometry, strict=True)]
    extras = {
        "population": _OnGrid(Path(population), product, density=True) if population else None,
        "worldcover": _OnGrid(Path(worldcover), product, density=False) if worldcover else None,
    }
    records = []
    map_box = box(*rasterio.transform.array_bounds(product.height, product.width, product.transform))
    overlapping = 0
    try:
        for zone, geometry in entries:
            totals = FloodAreas()
            if extras["population"] is not None:
                totals.people_exposed = 0.0
            if extras["worldcover"] is not None:
                totals.cropland_flooded_km2 = totals.built_up_flooded_km2 = 0.0
            window, native = full, None
            if geometry is not None:
                native = transform_geom("EPSG:4326", product.crs, geometry)
                bounds = shape(native).intersection(map_box).bounds
                if shape(native).intersects(map_box) and bounds:
                    window = (
                        rasterio.windows.from_bounds(*bounds, transform=product.transform)
                        .round_offsets(op="floor")
                        .round_lengths(op="ceil")
                        .intersection(full)
                    )
                else:
                    window = None
            if window is not None:
                overlapping += 1
                for strip in product.strips(window):
                    rows = next(iter(strip.layers.values())).shape
                    part = rasterio.windows.Window(int(window.col_off), strip.row_start, rows[1], rows[0])
                    area = pixel_area_m2(product.crs, product.transform, strip.row_start, strip.row_start + rows[0],
                                         int(window.col_off) + rows[1])[:, int(window.col_off):]  # fmt: skip
                    inside = np.ones(rows, bool)
                    if native is not None:
                        inside = ~rasterio.features.geometry_mask(
                            [native], out_shape=rows, transform=rasterio.windows.transform(part, product.transform)
                        )
                    people = extras["population"].read(part, area) if extras["population"] is not None else None
                    cover = extras["worldcover"].read(part, area) if extras["worldcover"] is not None else None
                    _accumulate(totals, strip.layers, area, inside, people, cover)
            records.append({"zone": zone, **totals.as_dict()})
    finally:
        for extra in extras.values():
            if extra is not None:
                extra.close()
    if overlapping == 0:
        raise InputError(f"{zones}: no zone overlaps the flood map {product.path.name}")
    return pd.DataFrame.from_records(records)


def check_statistics_output(out: Path, *, inputs: dict[str, Path | None]) -> None:
    """Refuse statistics in an unknown format, written over one of their inputs or where they cannot be written.

    Raises:
        InputError: Naming the option and the path (:func:`gee_flood._io.check_outputs`).
    """
    from gee_flood._io import check_outputs

    if out.suffix.lower() not in (".csv", *SHAPED_SUFFIXES):
        raise InputError(f"--out {out}: expected a .csv, .geojson or .parquet path for the statistics")
    check_outputs({"--out": out}, inputs)


#: Statistics outputs that carry the zones' polygons: GeoJSON and GeoParquet.
SHAPED_SUFFIXES = (".geojson", ".json", ".parquet")


def write_statistics(
    frame: pd.DataFrame, out: str | os.PathLike[str], zones: Any = None, *, id_field: str | None = None
) -> Path:
    """Write zone statistics atomically: CSV, or the zones with their statistics as GeoJSON or GeoParquet.

    Args:
        frame: The statistics (a ``zone`` column).
        out: The file.
        zones: The zones the statistics are of (:func:`read_zones`), for GeoJSON and GeoParquet.
        id_field: The column naming the zones, as given to the statistics.

    Raises:
        InputError: Another extension, or GeoJSON/GeoParquet without zones.
    """
    from gee_flood._io import atomic_path

    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with atomic_path(path, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6f")
        return path
    if suffix in SHAPED_SUFFIXES:
        if zones is None:
            raise InputError(f"{path}: GeoJSON/GeoParquet statistics need zones (give --zones), or write .csv")
        shapes = read_zones(zones, id_field)[["zone", "geometry"]]
        joined = shapes.merge(frame, on="zone")
        with atomic_path(path, suffix=suffix) as tmp:
            if suffix == ".parquet":
                joined.to_parquet(tmp)
            else:
                joined.to_file(tmp, driver="GeoJSON")
        return path
    raise InputError(f"{path}: expected a .csv, .geojson or .parquet path for the statistics")

"""Flooded and excluded km² per zone in Earth Engine, on the pushed asset: the server-side route of the statistics.

``reduceRegions`` of ``ee.Image.pixelArea()`` masked by the asset's layers sums each zone's true ground area where
Earth Engine keeps the pixels, so a country-sized map costs no download. The reduction runs on the asset's own
grid (its ``flood`` band's projection), the grid the local route (:func:`gee_flood.product.zone_statistics`) reads
from the COG, so both count the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gee_flood.errors import DataError, InputError
from gee_flood.product.layers import EXCLUSION, FLOOD, REFERENCE_WATER, WATER

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from gee_flood.earthengine.session import EESettings

#: Output column -> how its pixels are chosen (documented in docs/flood-product.md).
AREA_COLUMNS = ("flooded_km2", "excluded_km2", "water_km2", "reference_water_km2", "nodata_km2", "mapped_km2")


@dataclass(frozen=True)
class AdminLevel:
    """One administrative level of FAO GAUL 2015 in Earth Engine (a table of polygons).

    Attributes:
        level: 1 (provinces, regions...) or 2 (districts, counties...).
        table: Its Earth Engine id.
        name: The property naming a unit (the ``zone`` column).
        code: The property holding its GAUL code (unique; kept as a column).
        parents: The properties naming the units it lies in (kept as columns).
    """

    level: int
    table: str
    name: str
    code: str
    parents: tuple[str, ...]


#: FAO GAUL 2015's administrative levels, with Earth Engine's ids and property names.
GAUL_LEVELS: dict[int, AdminLevel] = {
    1: AdminLevel(1, "FAO/GAUL/2015/level1", "ADM1_NAME", "ADM1_CODE", ("ADM0_NAME",)),
    2: AdminLevel(2, "FAO/GAUL/2015/level2", "ADM2_NAME", "ADM2_CODE", ("ADM0_NAME", "ADM1_NAME")),
}


def admin_level(level: int) -> AdminLevel:
    """The FAO GAUL level ``level`` (1 or 2).

    Raises:
        InputError: Another level.
    """
    if level not in GAUL_LEVELS:
        raise InputError(f"--admin-level {level}: expected 1 or 2 (FAO GAUL 2015 level1 or level2)")
    return GAUL_LEVELS[level]


def _unit_ids(names: list[str], codes: list[Any]) -> list[str]:
    """Each unit's ``zone``: its name, or ``name (code)`` where two units in the result share a name."""
    repeated = {name for name in names if names.count(name) > 1}
    return [f"{name} ({code})" if name in repeated else name for name, code in zip(names, codes, strict=True)]


def _area_image(ee: Any, asset: str, population: str | None = None, worldcover: str | None = None) -> Any:
    """The asset's areas as bands (m²): pixel area masked by each layer rule of :mod:`gee_flood.product.stats`.

    With ``population`` (an image of people per cell, e.g. ``JRC/GHSL/P2023A/GHS_POP/2020``), ``people_exposed``:
    each cell's people spread over its true area (``pixelArea`` on the population's own grid), summed over the
    flooded pixels. With ``worldcover`` (``ESA/WorldCover/v200/2021``), the flooded cropland (40) and built-up (50)
    areas.
    """
    image = ee.Image(asset)
    area = ee.Image.pixelArea()
    exclusion = image.select(EXCLUSION)
    nodata = exclusion.mod(2).eq(1)  # bit 1: no data (the band has no missing value of its own)
    valid = nodata.Not()
    layers = {
        "flooded_km2": image.select(FLOOD).eq(1).And(valid),
        "excluded_km2": exclusion.gt(0).And(valid),
        "water_km2": image.select(WATER).eq(1).And(valid),
        "reference_water_km2": image.select(REFERENCE_WATER).eq(1),
        "nodata_km2": nodata,
        "mapped_km2": valid,
    }
    bands = [area.updateMask(rule).rename(name) for name, rule in layers.items()]
    flooded = layers["flooded_km2"]
    if population is not None:
        people = ee.Image(population).select(["population_count"])
        density = people.divide(ee.Image.pixelArea().reproject(people.projection()))  # people per m²
        bands.append(density.multiply(area).updateMask(flooded).rename("people_exposed"))
    if worldcover is not None:
        cover = ee.Image(worldcover).select(["Map"])
        bands.append(area.updateMask(flooded.And(cover.eq(40))).rename("cropland_flooded_km2"))
        bands.append(area.updateMask(flooded.And(cover.eq(50))).rename("built_up_flooded_km2"))
    stacked = bands[0]
    for band in bands[1:]:
        stacked = stacked.addBands(band)
    return stacked


def ee_zone_statistics(
    asset: str,
    zones: Any = None,
    *,
    id_field: str | None = None,
    admin: int | None = None,
    population: str | None = None,
    worldcover: str | None = None,
    settings: EESettings | None = None,
) -> pd.DataFrame:
    """Flooded, excluded, water, reference-water, no-data and mapped km² per zone, computed by Earth Engine.

    Args:
        asset: The flood map asset (``gee-flood map --mask --asset`` or :func:`gee_flood.export_asset`).
        zones: GeoJSON / GeoParquet path or GeoDataFrame (see :func:`gee_flood.product.stats.read_zones`), or
            ``None``: one zone, ``map``, the asset's footprint (or the administrative units of ``admin``).
        id_field: The column naming each zone.
        admin: Instead of ``zones``: the FAO GAUL 2015 level (1 or 2) whose units overlapping the asset are the
            zones, read and filtered in Earth Engine (:data:`GAUL_LEVELS`).
        population: Earth Engine image of people per cell (band ``population_count``; GHS-POP).
        worldcover: Earth Engine ESA WorldCover image (band ``Map``).
        settings: Earth Engine project and endpoint (the emulator's URL in tests); default: the current session.

    Returns:
        One row per zone: ``zone``, :data:`AREA_COLUMNS` (km²) and, when asked, ``people_exposed``,
        ``cropland_flooded_km2`` and ``built_up_flooded_km2``. With ``admin``, ``zone`` is the unit's name
        (``name (code)`` where two share one), followed by the GAUL names of the units above it and its code
        (``ADM0_NAME``, ``ADM1_NAME``, ``ADM1_CODE``...), in the table's order.

    Raises:
        InputError: Bad zones, both ``zones`` and ``admin``, another level, or no administrative unit overlaps the
            asset.
        DataError: The asset is not a gee-flood flood product (missing bands).
        RemoteError: Earth Engine refused the request (a missing asset or GAUL table is said in one line).
    """
    import json

    import pandas as pd

    from gee_flood.earthengine.session import initialize, with_retries
    from gee_flood.product.stats import read_zones
    from gee_flood.service_requests import RetryPolicy

    level = None
    if admin is not None:
        level = admin_level(admin)
        if zones is not None:
            raise InputError(f"--admin-level {admin} and --zones {zones}: give one of them (the zones of a run)")
        if id_field is not None:
            raise InputError(f"--id-field {id_field}: names a column of --zones; GAUL units are named by {level.name}")
    if settings is not None:
        initialize(settings)
    import ee

    policy = settings.retry if settings is not None else RetryPolicy()

    def info(value: Any, what: str) -> Any:
        return with_retries(value.getInfo, policy=policy, what=what)

    bands = info(ee.Image(asset).bandNames(), f"the bands of {asset}")
    missing = [name for name in (FLOOD, WATER, EXCLUSION, REFERENCE_WATER) if name not in bands]
    if missing:
        raise DataError(f"{asset}: not a gee-flood flood product (bands {bands}; missing {', '.join(missing)})")
    projection = info(ee.Image(asset).select(FLOOD).projection(), f"the grid of {asset}")
    if level is not None:
        collection = ee.FeatureCollection(level.table).filterBounds(ee.Image(asset).geometry())
    elif zones is None:
        collection = ee.FeatureCollection([ee.Feature(ee.Image(asset).geometry(), {"zone": "map"})])
    else:
        frame = read_zones(zones, id_field)
        collection = ee.FeatureCollection([
            ee.Feature(ee.Geometry(json.loads(json.dumps(geometry.__geo_interface__))), {"zone": str(zone)})
            for zone, geometry in zip(frame["zone"], frame.geometry, strict=True)
        ])  # fmt: skip
    # every property, no polygon: the GAUL units' outlines are megabytes, not statistics
    reduced = (
        _area_image(ee, asset, population, worldcover)
        .reduceRegions(
            collection=collection,
            reducer=ee.Reducer.sum(),
            crs=projection["crs"],
            crsTransform=projection["transform"],
        )
        .select([".*"], None, False)
    )
    what = f"the zone statistics of {asset}" + (f" per {level.table} unit" if level is not None else "")
    features = info(reduced, what)["features"]
    if level is not None and not features:
        raise InputError(f"--admin-level {level.level}: no unit of {level.table} overlaps {asset}")
    rows = []
    for feature in features:
        properties = feature["properties"]
        row: dict[str, Any] = {"zone": properties.get("zone")}
        if level is not None:
            row.update({name: properties.get(name) for name in (*level.parents, level.code)})
        row.update({name: (properties.get(name) or 0.0) / 1e6 for name in AREA_COLUMNS})
        if population is not None:
            row["people_exposed"] = properties.get("people_exposed") or 0.0
        if worldcover is not None:
            for name in ("cropland_flooded_km2", "built_up_flooded_km2"):
                row[name] = (properties.get(name) or 0.0) / 1e6
        rows.append(row)
    if level is not None:
        names = [str(feature["properties"].get(level.name)) for feature in features]
        for row, zone in zip(rows, _unit_ids(names, [row[level.code] for row in rows]), strict=True):
            row["zone"] = zone
    return pd.DataFrame.from_records(rows)


def ee_admin_zones(over: str | dict[str, Any], admin: int, *, settings: EESettings | None = None) -> Any:
    """The FAO GAUL units of level ``admin`` overlapping an asset or a region, as zones a file can hold.

    What :func:`ee_zone_statistics` reduces over with ``admin``, fetched (with the units' polygons) for a GeoJSON
    output or for the local route (:func:`gee_flood.product.zone_statistics` takes the GeoDataFrame as zones).

    Args:
        over: A flood map asset id (its footprint), or a GeoJSON geometry (EPSG:4326).
        admin: The FAO GAUL 2015 level, 1 or 2.
        settings: Earth Engine project and endpoint; default: the current session.

    Returns:
        A GeoDataFrame (EPSG:4326): ``zone`` (as :func:`ee_zone_statistics` names the units), the GAUL names and
        code, and the units' polygons, in the table's order.

    Raises:
        InputError: Another level, or no unit overlaps.
        RemoteError: Earth Engine refused the request (a missing asset or GAUL table is said in one line).
    """
    import geopandas  # type: ignore[import-untyped]

    from gee_flood.earthengine.session import initialize, with_retries
    from gee_flood.service_requests import RetryPolicy

    level = admin_level(admin)
    if settings is not None:
        initialize(settings)
    import ee

    policy = settings.retry if settings is not None else RetryPolicy()
    region = ee.Image(over).geometry() if isinstance(over, str) else ee.Geometry(over)
    where = over if isinstance(over, str) else "the region"
    units = ee.FeatureCollection(level.table).filterBounds(region)
    features = with_retries(units.getInfo, policy=policy, what=f"the {level.table} units over {where}")["features"]
    if not features:
        raise InputError(f"--admin-level {level.level}: no unit of {level.table} overlaps {where}")
    frame = geopandas.GeoDataFrame.from_features(features, crs="EPSG:4326")
    names = [str(name) for name in frame[level.name]]
    frame.insert(0, "zone", _unit_ids(names, list(frame[level.code])))
    return frame[["zone", *level.parents, level.name, level.code, "geometry"]]

"""Flooded and excluded km² per zone in Earth Engine, on the pushed asset: the server-side route of the statistics.

``reduceRegions`` of ``ee.Image.pixelArea()`` masked by the asset's layers sums each zone's true ground area where
Earth Engine keeps the pixels, so a country-sized map costs no download. The reduction runs on the asset's own
grid (its ``flood`` band's projection), the grid the local route (:func:`gee_flood.product.zone_statistics`) reads
from the COG, so both count the same pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gee_flood.errors import DataError
from gee_flood.product.layers import EXCLUSION, FLOOD, REFERENCE_WATER, WATER

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from gee_flood.earthengine.session import EESettings

#: Output column -> how its pixels are chosen (documented in docs/flood-product.md).
AREA_COLUMNS = ("flooded_km2", "excluded_km2", "water_km2", "reference_water_km2", "nodata_km2", "mapped_km2")


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
    population: str | None = None,
    worldcover: str | None = None,
    settings: EESettings | None = None,
) -> pd.DataFrame:
    """Flooded, excluded, water, reference-water, no-data and mapped km² per zone, computed by Earth Engine.

    Args:
        asset: The flood map asset (``gee-flood map --mask --asset`` or :func:`gee_flood.export_asset`).
        zones: GeoJSON / GeoParquet path or GeoDataFrame (see :func:`gee_flood.product.stats.read_zones`), or
            ``None``: one zone, ``map``, the asset's footprint.
        id_field: The column naming each zone.
        population: Earth Engine image of people per cell (band ``population_count``; GHS-POP).
        worldcover: Earth Engine ESA WorldCover image (band ``Map``).
        settings: Earth Engine project and endpoint (the emulator's URL in tests); default: the current session.

    Returns:
        One row per zone: ``zone``, :data:`AREA_COLUMNS` (km²) and, when asked, ``people_exposed``,
        ``cropland_flooded_km2`` and ``built_up_flooded_km2``.

    Raises:
        InputError: Bad zones.
        DataError: The asset is not a gee-flood flood product (missing bands).
        RemoteError: Earth Engine refused the request (a missing asset is said in one line).
    """
    import json

    import pandas as pd

    from gee_flood.earthengine.session import initialize, with_retries
    from gee_flood.product.stats import read_zones
    from gee_flood.service_requests import RetryPolicy

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
    if zones is None:
        features = [ee.Feature(ee.Image(asset).geometry(), {"zone": "map"})]
    else:
        frame = read_zones(zones, id_field)
        features = [
            ee.Feature(ee.Geometry(json.loads(json.dumps(geometry.__geo_interface__))), {"zone": str(zone)})
            for zone, geometry in zip(frame["zone"], frame.geometry, strict=True)
        ]
    reduced = _area_image(ee, asset, population, worldcover).reduceRegions(
        collection=ee.FeatureCollection(features),
        reducer=ee.Reducer.sum(),
        crs=projection["crs"],
        crsTransform=projection["transform"],
    )
    result = info(reduced, f"the zone statistics of {asset}")
    rows = []
    for feature in result["features"]:
        properties = feature["properties"]
        row = {"zone": properties["zone"], **{name: (properties.get(name) or 0.0) / 1e6 for name in AREA_COLUMNS}}
        if population is not None:
            row["people_exposed"] = properties.get("people_exposed") or 0.0
        if worldcover is not None:
            for name in ("cropland_flooded_km2", "built_up_flooded_km2"):
                row[name] = (properties.get(name) or 0.0) / 1e6
        rows.append(row)
    return pd.DataFrame.from_records(rows)

"""Flooded and excluded km² and exposure per zone of a flood map, as a pandas DataFrame (``gee-flood stats``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]


def flood_statistics(
    flood: Any,
    zones: Any = None,
    *,
    id_field: str | None = None,
    population: str | os.PathLike[str] | None = None,
    worldcover: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Flooded, excluded, water and no-data km² on the ground, people and cropland exposed, per zone.

    The local route: the map is read strip by strip and every pixel counts its true area on the WGS 84 ellipsoid
    (:func:`gee_flood.product.zone_statistics`), as Earth Engine's ``ee.Image.pixelArea()`` measures it.

    Args:
        flood: A :func:`gee_flood.predict` result (written to a temporary COG first, cleaned as predict cleans) or
            a flood map COG path.
        zones: A GeoJSON / GeoParquet path or a GeoDataFrame of polygons (EPSG:4326 unless it says otherwise);
            ``None``: the whole map as one zone, ``map``.
        id_field: The column naming each zone (default ``zone``, ``name``, ``ADM1_NAME``, else the row number).
        population: A population count raster (people per cell; e.g. GHSL GHS-POP), any CRS.
        worldcover: An ESA WorldCover class raster (cropland 40, built-up 50), any CRS.

    Returns:
        One row per zone: ``zone``, ``flooded_km2``, ``excluded_km2``, ``water_km2``, ``reference_water_km2``,
        ``nodata_km2``, ``mapped_km2``, ``people_exposed``, ``cropland_flooded_km2``, ``built_up_flooded_km2``.

    Raises:
        InputError: Zones without geometry, duplicated zone ids, no zone over the map, unreadable files.

    Example:
        >>> table = gee_flood.flood_statistics("flood.tif", "zones.geojson", population="pop.tif")  # doctest: +SKIP
        >>> table.sort_values("flooded_km2", ascending=False).head()  # doctest: +SKIP
    """
    from gee_flood.api.outputs import _as_cog
    from gee_flood.product.stats import zone_statistics

    with _as_cog(flood) as cog:
        return zone_statistics(cog, zones, id_field=id_field, population=population, worldcover=worldcover)

"""Turn a :class:`~gee_flood.data.synthetic.SyntheticScene` into an Earth Engine emulator catalog.

Each acquisition becomes an image of its Earth Engine collection, with the properties Earth Engine would give it:

- S1 → ``COPERNICUS/S1_GRD`` (``VV``, ``VH`` dB, ``angle`` degrees; float32);
- S2 → ``COPERNICUS/S2_HARMONIZED`` (13 bands, DN = reflectance × 10000; uint16), each band at L1C's native
  resolution (:data:`S2_NATIVE_RESOLUTION_M`: 20 m and 60 m bands are the scene's 10 m values averaged over each
  coarse pixel, as a coarser detector integrates them), plus its cloud masks under the same ``system:index``:
  ``COPERNICUS/S2_CLOUD_PROBABILITY`` (band ``probability``, 0-100) and
  ``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED`` (bands ``cs`` and ``cs_cdf``, 1 = clear, 0 = cloud);
- the scene's permanent water → ``JRC/GSW1_4/GlobalSurfaceWater`` (bands ``occurrence``, percent, and
  ``seasonality``, months; uint8);
- the flood product's auxiliary datasets, under their Earth Engine ids and band names, from the scene's own terrain
  and land cover (so the demo knows their truth): ``USGS/SRTMGL1_003`` (``elevation``, m), ``MERIT/Hydro/v1_0_1``
  (``elv``, ``hnd``, m), ``ESA/WorldCover/v200`` (image ``2021``, band ``Map``: the scene's classes as WorldCover's)
  and ``JRC/GHSL/P2023A/GHS_POP`` (image ``2020``, band ``population_count``, people per 100 m cell);
- administrative units as FAO GAUL 2015 tables, with GAUL's property names (``ADM0_NAME``, ``ADM1_NAME``,
  ``ADM1_CODE``, ``ADM2_NAME``, ``ADM2_CODE``...): ``FAO/GAUL/2015/level1``, two provinces, the west and east halves
  of the scene, and ``FAO/GAUL/2015/level2``, each province's north and south halves (:func:`gaul_units`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from affine import Affine

from ee_emulator.catalog import Catalog, CatalogBuilder
from gee_flood.data.synthetic import SyntheticScene
from gee_flood.geo import PixelGrid

S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
S2_PROBABILITY_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
CLOUD_SCORE_PLUS_COLLECTION = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
JRC_IMAGE = "JRC/GSW1_4/GlobalSurfaceWater"
DEM_IMAGE = "USGS/SRTMGL1_003"
HAND_IMAGE = "MERIT/Hydro/v1_0_1"
WORLDCOVER_COLLECTION = "ESA/WorldCover/v200"
POPULATION_COLLECTION = "JRC/GHSL/P2023A/GHS_POP"
#: FAO GAUL 2015's administrative levels in Earth Engine (tables).
GAUL_TABLES = {1: "FAO/GAUL/2015/level1", 2: "FAO/GAUL/2015/level2"}
#: The demo's synthetic country and provinces (GAUL names and codes).
GAUL_COUNTRY = ("Synthetic Republic", 999)
GAUL_PROVINCES = (("West Province", 99901), ("East Province", 99902))
#: Synthetic land cover (:class:`~gee_flood.data.synthetic.LandCover` order) -> ESA WorldCover class: permanent
#: water 80, cropland 40, tree cover 10, built-up 50, bare 60.
WORLDCOVER_OF_LAND_COVER = np.array([80, 40, 10, 50, 60], np.uint8)
#: People per 10 m pixel of each land cover: a town of about 5,000 per km², farms of 200 per km².
PEOPLE_PER_PIXEL = np.array([0.0, 0.02, 0.0, 0.5, 0.0])
#: GHS-POP's cell (m).
POPULATION_CELL_M = 100.0

#: Native pixel size (m) of each Sentinel-2 L1C band: B2, B3, B4, B8 at 10 m; B5-B7, B8A, B11, B12 at 20 m;
#: B1, B9, B10 at 60 m.
S2_NATIVE_RESOLUTION_M: dict[str, float] = {
    "B1": 60, "B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20, "B8": 10, "B8A": 20,
    "B9": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip


def s2_native_parts(
    dn: np.ndarray, bands: tuple[str, ...] | list[str], grid: PixelGrid
) -> list[tuple[np.ndarray, PixelGrid, list[str]]]:
    """Split S2 bands given on a fine grid into one array per native resolution (finest first).

    Coarser bands are block means over each native pixel (edge pixels repeated where the scene is not a whole
    number of coarse pixels); the coarse grid shares the fine grid's corner.

    Args:
        dn: ``(bands, H, W)`` values on ``grid``.
        bands: Band names of ``dn``.
        grid: The fine grid (north up, square pixels).

    Returns:
        ``(array, grid, band names)`` per resolution (the parts of
        :meth:`~ee_emulator.catalog.CatalogBuilder.add_multiresolution_image`).
    """
    pixel = abs(grid.transform.a)
    groups: dict[int, list[str]] = {}
    for band in bands:
        factor = max(1, round(S2_NATIVE_RESOLUTION_M.get(band, pixel) / pixel))
        groups.setdefault(factor, []).append(band)
    parts = []
    for factor in sorted(groups):
        names = groups[factor]
        values = np.stack([dn[list(bands).index(name)] for name in names]).astype(np.float64)
        height, width = math.ceil(grid.height / factor), math.ceil(grid.width / factor)
        pad = ((0, 0), (0, height * factor - grid.height), (0, width * factor - grid.width))
        values = np.pad(values, pad, mode="edge").reshape(len(names), height, factor, width, factor).mean(axis=(2, 4))
        coarse = PixelGrid(grid.crs, grid.transform * Affine.scale(factor), width, height)
        parts.append((np.round(values).astype(dn.dtype), coarse, names))
    return parts


def write_scene_catalog(scene: SyntheticScene, root: str | Path) -> Catalog:
    """Write every acquisition of ``scene`` (and its permanent water) as an emulator catalog in ``root``.

    Args:
        scene: The synthetic scene.
        root: Catalog directory (created; an existing catalog there is replaced).

    Returns:
        The loaded (validated) catalog.
    """
    root = Path(root)
    with CatalogBuilder(root) as builder:
        for acquisition in scene.acquisitions:
            properties = dict(acquisition.properties)
            if acquisition.sensor == "S1":
                builder.add_image(
                    S1_COLLECTION, acquisition.image_id, acquisition.data, scene.georef, acquisition.bands, properties
                )
                continue
            dn = np.clip(np.round(acquisition.data), 0, 65535).astype(np.uint16)
            builder.add_multiresolution_image(
                S2_COLLECTION,
                acquisition.image_id,
                s2_native_parts(dn, acquisition.bands, scene.georef),
                properties,
                band_order=acquisition.bands,
                nodata=0,
            )
            probability = acquisition.cloud_probability
            assert probability is not None  # every synthetic S2 acquisition has one
            mask_properties = {"system:time_start": properties["system:time_start"]}
            builder.add_image(
                S2_PROBABILITY_COLLECTION,
                acquisition.image_id,
                np.clip(np.round(probability), 0, 100).astype(np.uint8),
                scene.georef,
                ["probability"],
                mask_properties,
            )
            clear_score = (1.0 - probability / 100.0).astype(np.float32)
            builder.add_image(
                CLOUD_SCORE_PLUS_COLLECTION,
                acquisition.image_id,
                np.stack([clear_score, clear_score]),
                scene.georef,
                ["cs", "cs_cdf"],
                mask_properties,
            )
        occurrence = np.where(scene.permanent_water, 100, 0).astype(np.uint8)
        seasonality = np.where(scene.permanent_water, 12, 0).astype(np.uint8)
        builder.add_image(None, JRC_IMAGE, np.stack([occurrence, seasonality]), scene.georef,
                          ["occurrence", "seasonality"], {}, nodata=255)  # fmt: skip
        add_auxiliary_datasets(builder, scene)
    return Catalog.load(root)


def population_grid(scene: SyntheticScene) -> tuple[np.ndarray, PixelGrid]:
    """The scene's people per 100 m cell (GHS-POP's grid: the scene's corner, 100 m cells) and that grid."""
    factor = max(1, round(POPULATION_CELL_M / abs(scene.georef.transform.a)))
    people = PEOPLE_PER_PIXEL[scene.land_cover]
    height, width = math.ceil(people.shape[0] / factor), math.ceil(people.shape[1] / factor)
    padded = np.zeros((height * factor, width * factor))
    padded[: people.shape[0], : people.shape[1]] = people
    cells = padded.reshape(height, factor, width, factor).sum(axis=(1, 3)).astype(np.float32)
    grid = PixelGrid(scene.georef.crs, scene.georef.transform * Affine.scale(factor), width, height)
    return cells, grid


def gaul_units(scene: SyntheticScene) -> dict[int, list[dict]]:
    """The scene's synthetic FAO GAUL units as GeoJSON features (EPSG:4326) by level, with GAUL's properties.

    Level 1: the west and east halves of the scene (split at its middle column); level 2: each province's north and
    south halves (split at its middle row). Their polygons are the pixel boxes' corners in longitude/latitude.
    """
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(scene.georef.crs, "EPSG:4326", always_xy=True)
    width, height = scene.georef.width, scene.georef.height

    def box(col0: int, row0: int, col1: int, row1: int) -> dict:
        corners = [(col0, row0), (col1, row0), (col1, row1), (col0, row1), (col0, row0)]
        ring = [list(to_lonlat.transform(*(scene.georef.transform * corner))) for corner in corners]
        return {"type": "Polygon", "coordinates": [ring]}

    country = {"ADM0_NAME": GAUL_COUNTRY[0], "ADM0_CODE": GAUL_COUNTRY[1], "DISP_AREA": "NO", "STATUS": "Member State"}
    halves = ((0, width // 2), (width // 2, width))
    units: dict[int, list[dict]] = {1: [], 2: []}
    for (name, code), (col0, col1) in zip(GAUL_PROVINCES, halves, strict=True):
        province = {**country, "ADM1_NAME": name, "ADM1_CODE": code, "EXP1_YEAR": 3000, "STR1_YEAR": 1000}
        units[1].append({"geometry": box(col0, 0, col1, height), "properties": province})
        for number, (part, row0, row1) in enumerate((("North", 0, height // 2), ("South", height // 2, height)), 1):
            district = {**province, "ADM2_NAME": f"{part} {name.split()[0]} District", "ADM2_CODE": code * 10 + number,
                        "EXP2_YEAR": 3000, "STR2_YEAR": 1000}  # fmt: skip
            units[2].append({"geometry": box(col0, row0, col1, row1), "properties": district})
    return units


def add_auxiliary_datasets(builder: CatalogBuilder, scene: SyntheticScene) -> None:
    """The flood product's auxiliary datasets of ``scene`` under their Earth Engine ids (see the module doc)."""
    builder.add_image(None, DEM_IMAGE, scene.dem_m.astype(np.float32), scene.georef, ["elevation"], {})
    terrain = np.stack([scene.dem_m, scene.hand_m]).astype(np.float32)
    builder.add_image(None, HAND_IMAGE, terrain, scene.georef, ["elv", "hnd"], {})
    cover = WORLDCOVER_OF_LAND_COVER[scene.land_cover]
    start = {"system:time_start": scene.event_date.replace(year=2021, month=1, day=1)}
    builder.add_image(WORLDCOVER_COLLECTION, "2021", cover, scene.georef, ["Map"], start)
    people, grid = population_grid(scene)
    builder.add_image(POPULATION_COLLECTION, "2020", people, grid, ["population_count"],
                      {"system:time_start": scene.event_date.replace(year=2020, month=1, day=1)})  # fmt: skip
    for level, features in gaul_units(scene).items():
        builder.add_table(GAUL_TABLES[level], features)

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
  and ``JRC/GHSL/P2023A/GHS_POP`` (image ``2020``, band ``population_count``, people per 100 m cell).
  FAO GAUL is a table, which the emulator does not serve: the demo's zones are a GeoJSON file.
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

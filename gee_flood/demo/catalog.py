"""Turn a :class:`~gee_flood.data.synthetic.SyntheticScene` into an Earth Engine emulator catalog.

Each acquisition becomes an image of its Earth Engine collection, with the properties Earth Engine would give it:

- S1 → ``COPERNICUS/S1_GRD`` (``VV``, ``VH`` dB, ``angle`` degrees; float32);
- S2 → ``COPERNICUS/S2_HARMONIZED`` (13 bands, DN = reflectance × 10000; uint16), plus its cloud masks under the
  same ``system:index``: ``COPERNICUS/S2_CLOUD_PROBABILITY`` (band ``probability``, 0-100) and
  ``GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED`` (bands ``cs`` and ``cs_cdf``, 1 = clear, 0 = cloud);
- the scene's permanent water → ``JRC/GSW1_4/GlobalSurfaceWater`` (band ``occurrence``, percent; uint8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ee_emulator.catalog import Catalog, CatalogBuilder
from gee_flood.data.synthetic import SyntheticScene

S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
S2_PROBABILITY_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
CLOUD_SCORE_PLUS_COLLECTION = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
JRC_IMAGE = "JRC/GSW1_4/GlobalSurfaceWater"


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
            builder.add_image(
                S2_COLLECTION, acquisition.image_id, dn, scene.georef, acquisition.bands, properties, nodata=0
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
        builder.add_image(None, JRC_IMAGE, occurrence, scene.georef, ["occurrence"], {}, nodata=255)
    return Catalog.load(root)

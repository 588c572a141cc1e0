"""A Sentinel-1 catalog that grows: acquisitions over the synthetic AOI land between two ``watch --once`` runs.

The grid and AOI are :mod:`tests.earthengine.synthetic_catalog`'s (UTM 32N, 10 m, 256 x 256 px source, a 1.9 km
AOI). Each acquisition is a DESCENDING relative orbit 66 scene (index ``S1A_IW_GRDH_1SDV_<stamp>``) whose dark
(water) ellipse grows with ``flood`` (0-1): the event's time series; an ASCENDING relative orbit 15 pass can be
added on the same day (two acquisitions on one UTC day). ``PARTIAL`` covers only the AOI's western half (a watch
skips it: no full cover).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from affine import Affine

from ee_emulator import CatalogBuilder
from gee_flood.geo import PixelGrid
from tests.earthengine.synthetic_catalog import (
    CRS,
    PX,
    SOURCE_GEOREF,
    SOURCE_SIZE,
    SOURCE_X0,
    SOURCE_Y0,
    aoi_geojson,
)

S1 = "COPERNICUS/S1_GRD"
#: Acquisition days (March 2019) and flood level: three, then a fourth added between runs.
FIRST_THREE = [(5, 0.4), (8, 1.0), (11, 0.7)]
FOURTH = (14, 0.2)
#: A half-cover acquisition (day 9): found, skipped.
PARTIAL_DAY = 9
HALF_GEOREF = PixelGrid(CRS, Affine(PX, 0, SOURCE_X0, 0, -PX, SOURCE_Y0), SOURCE_SIZE // 2, SOURCE_SIZE)


#: The evening ascending pass of :meth:`GrowingCatalog.add` ``(..., ascending=True)``: relative orbit 15.
ASCENDING_ORBIT = 15


def when(day: int, *, ascending: bool = False) -> dt.datetime:
    if ascending:
        return dt.datetime(2019, 3, day, 17, 41, 3, tzinfo=dt.UTC)
    return dt.datetime(2019, 3, day, 5, 30, 12, tzinfo=dt.UTC)


def s1_scene(flood: float, seed: int, width: int = SOURCE_SIZE) -> np.ndarray:
    """VV, VH, angle (dB) with a water ellipse scaled by ``flood``; speckle from ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SOURCE_SIZE, 0:width]
    water = (xx - 128) ** 2 / (90 * flood + 1) ** 2 + (yy - 128) ** 2 / (70 * flood + 1) ** 2 < 1
    vv = np.where(water, -22.0, -8.0) + rng.normal(0, 0.5, water.shape)
    return np.stack([vv, vv - 7.0, np.full(water.shape, 38.0)]).astype(np.float32)


class GrowingCatalog:
    """The catalog directory plus the builder that rewrites it as acquisitions are added."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.builder = CatalogBuilder(self.root)
        self.aoi = aoi_geojson(self.root.parent / "aoi.geojson")

    def add(self, day: int, flood: float, *, georef: PixelGrid = SOURCE_GEOREF, ascending: bool = False) -> str:
        """Add one acquisition (written at once; the morning descending pass, or the evening ascending one of
        orbit :data:`ASCENDING_ORBIT` on the same day); return its image id."""
        sensed = when(day, ascending=ascending)
        stamp = sensed.strftime("%Y%m%dT%H%M%S")
        index = f"S1A_IW_GRDH_1SDV_{stamp}_{'HALF' if georef is not SOURCE_GEOREF else 'FULL'}"
        properties = {
            "system:time_start": sensed,
            "instrumentMode": "IW",
            "transmitterReceiverPolarisation": ["VV", "VH"],
            "orbitProperties_pass": "ASCENDING" if ascending else "DESCENDING",
            "relativeOrbitNumber_start": ASCENDING_ORBIT if ascending else 66,
        }
        data = s1_scene(flood, seed=day + 100 * ascending, width=georef.width)
        image_id = self.builder.add_image(S1, index, data, georef, ["VV", "VH", "angle"], properties)
        self.builder.write()
        return image_id

    def add_auxiliary(self) -> None:
        """The flood product's auxiliary datasets under their Earth Engine ids (``--ee-auxiliary``), source grid."""
        rows, cols = np.mgrid[0:SOURCE_SIZE, 0:SOURCE_SIZE]
        seasonality = np.where(cols < REFERENCE_COLS, 12, 0)
        gsw = np.stack([seasonality * 8, seasonality]).astype(np.uint8)
        self.builder.add_image(None, "JRC/GSW1_4/GlobalSurfaceWater", gsw, SOURCE_GEOREF, ["occurrence", "seasonality"],
                               {}, nodata=255)  # fmt: skip
        flat = np.full((SOURCE_SIZE, SOURCE_SIZE), 20.0, np.float32)
        self.builder.add_image(None, "USGS/SRTMGL1_003", flat, SOURCE_GEOREF, ["elevation"], {})
        hand = np.where(cols >= HIGH_COLS, 40.0, 1.0).astype(np.float32)
        self.builder.add_image(None, "MERIT/Hydro/v1_0_1", np.stack([flat, hand]), SOURCE_GEOREF, ["elv", "hnd"], {})
        cover = np.where(rows < URBAN_ROWS, 50, 40).astype(np.uint8)
        self.builder.add_image("ESA/WorldCover/v200", "2021", cover, SOURCE_GEOREF, ["Map"],
                               {"system:time_start": dt.datetime(2021, 1, 1, tzinfo=dt.UTC)})  # fmt: skip
        self.builder.write()


#: The auxiliary datasets of :meth:`GrowingCatalog.add_auxiliary`, in source pixels: normal water (JRC seasonality
#: 12) west of column ``REFERENCE_COLS``, town (WorldCover 50) north of row ``URBAN_ROWS``, high ground (MERIT HAND
#: 40 m) from column ``HIGH_COLS``; flat (SRTM 20 m) everywhere.
REFERENCE_COLS, URBAN_ROWS, HIGH_COLS = 110, 60, 190


def build(root: Path, days=FIRST_THREE) -> GrowingCatalog:
    catalog = GrowingCatalog(root)
    for day, flood in days:
        catalog.add(day, flood)
    return catalog

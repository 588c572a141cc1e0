"""A tiny synthetic Earth Engine catalog for the fetch tests (built with the emulator's CatalogBuilder).

Geometry: UTM zone 32N, 10 m pixels. The AOI is a 1.9 km square whose chip lattice (64 px = 640 m chips) is
3 x 3 chips. Every source raster covers the AOI with a 320 m margin from the same corner: 256 x 256 px on the same
10 m grid as the lattice (so a chip's pixels are exactly source pixels), except Sentinel-2's coarser bands, served
at L1C's native resolution (:data:`S2_NATIVE_M`: 20 m, 128 x 128 px; 60 m, 43 x 43 px). ``SyntheticCatalog.s2``
holds what a 10 m read must return: Earth Engine resamples with nearest neighbour unless the expression calls
``resample`` (gee-flood does not), so each 10 m pixel takes the value of the coarse pixel containing its centre.

Scenes (``--dates 2019-03-01/2019-03-20``, ``--max-days 2``, ``--orbit-pass DESCENDING``, scene prefilter 80 %):

=====================  ==========  ===========================================================================
image                  day         role
=====================  ==========  ===========================================================================
S1 ``s1_good``         03-05 DESC  the S1 every chip should use
S1 ``s1_ascending``    03-06 ASC   decoy: wrong pass (same day as S2 ``s2_clear``: would win without the filter)
S1 ``s1_hh``           03-06 DESC  decoy: HH/HV polarisation
S1 ``s1_elsewhere``    03-06 DESC  decoy: no overlap (100 km away)
S2 ``s2_patchy``       03-05       same day as ``s1_good``: ranked first; cloudy (cs=0.1) over the top chip row,
                                   clear elsewhere except a 10 x 10 px cloud in chip (1, 1)
S2 ``s2_clear``        03-06       fallback for the top row; a 12 x 12 px cloud in chip (0, 2)
S2 ``s2_overcast``     03-05       decoy: CLOUDY_PIXEL_PERCENTAGE 95 (scene prefilter)
S2 ``s2_far``          03-10       decoy: 5 days from every S1
=====================  ==========  ===========================================================================
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import Transformer

from gee_flood.data.chip import S2_BANDS
from gee_flood.demo.catalog import S2_NATIVE_RESOLUTION_M
from gee_flood.geo import PixelGrid

CRS = "EPSG:32632"
PX = 10.0
CHIP = 64
STEP = CHIP * PX
LATTICE_X0 = 782 * STEP  # 500,480 m
LATTICE_Y0 = 7813 * STEP  # 5,000,320 m
SOURCE_SIZE = 256
SOURCE_X0 = LATTICE_X0 - 32 * PX
SOURCE_Y0 = LATTICE_Y0 + 32 * PX
SOURCE_GEOREF = PixelGrid(CRS, Affine(PX, 0, SOURCE_X0, 0, -PX, SOURCE_Y0), SOURCE_SIZE, SOURCE_SIZE)
ELSEWHERE_GEOREF = PixelGrid(CRS, Affine(PX, 0, SOURCE_X0 + 100_000, 0, -PX, SOURCE_Y0), SOURCE_SIZE, SOURCE_SIZE)
S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
CS_COLLECTION = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
PROB_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
JRC = "JRC/GSW1_4/GlobalSurfaceWater"


#: Native pixel size (m) of each Sentinel-2 L1C band (the demo catalog's table).
S2_NATIVE_M = S2_NATIVE_RESOLUTION_M


def native_grid(pixel_m: float) -> PixelGrid:
    """The source grid at ``pixel_m`` metres: same corner as :data:`SOURCE_GEOREF`, covering at least as much."""
    size = int(np.ceil(SOURCE_SIZE * PX / pixel_m))
    transform = Affine(pixel_m, 0, SOURCE_X0, 0, -pixel_m, SOURCE_Y0)
    return PixelGrid(CRS, transform, size, size)


def nearest_on_source_grid(native: np.ndarray, pixel_m: float) -> np.ndarray:
    """``native`` (on :func:`native_grid`) at 10 m: each 10 m pixel takes the coarse pixel containing its centre."""
    index = ((np.arange(SOURCE_SIZE) + 0.5) * PX // pixel_m).astype(int)
    return native[np.ix_(index, index)]


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2019, 3, day, hour, 30, tzinfo=dt.UTC)


@dataclass
class SyntheticCatalog:
    root: Path
    s1: dict[str, np.ndarray] = field(default_factory=dict)  # index -> (3, H, W) float32 dB (VV, VH, angle)
    s2: dict[str, np.ndarray] = field(default_factory=dict)  # index -> (13, H, W) uint16, as read at 10 m
    s2_native: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # index -> band -> native pixels
    cloudy: dict[str, np.ndarray] = field(default_factory=dict)  # index -> (H, W) bool
    occurrence: np.ndarray | None = None

    def source_window(self, row: int, col: int) -> tuple[slice, slice]:
        """Source pixel window of lattice chip (row, col)."""
        top, left = 32 + row * CHIP, 32 + col * CHIP
        return slice(top, top + CHIP), slice(left, left + CHIP)


def aoi_geojson(path: Path, *, inset_m: float = 10.0) -> Path:
    """Write the AOI (the 3 x 3 chip lattice, inset by ``inset_m``) as a GeoJSON Polygon in EPSG:4326."""
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y0 = LATTICE_X0 + inset_m, LATTICE_Y0 - inset_m
    x1, y1 = LATTICE_X0 + 3 * STEP - inset_m, LATTICE_Y0 - 3 * STEP + inset_m
    ring = []
    for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]:
        lon, lat = to_lonlat.transform(x, y)
        ring.append([lon, lat])
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return path


def _s1(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SOURCE_SIZE, 0:SOURCE_SIZE]
    water = (xx - 128) ** 2 / 60**2 + (yy - 140) ** 2 / 40**2 < 1
    vv = np.where(water, -21.0, -9.0) + rng.normal(0, 1.0, water.shape)
    vh = vv - 7.0 + rng.normal(0, 0.5, water.shape)
    angle = np.full(water.shape, 38.0)
    return np.stack([vv, vh, angle]).astype(np.float32)


def _s2(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per band, DN at its native resolution; water (B3 high, B8 low: NDWI > 0) on the 10 m bands."""
    yy, xx = np.mgrid[0:SOURCE_SIZE, 0:SOURCE_SIZE]
    water = (xx - 128) ** 2 / 60**2 + (yy - 140) ** 2 / 40**2 < 1
    bands = {}
    for band in S2_BANDS:
        size = native_grid(S2_NATIVE_M[band]).width
        bands[band] = rng.integers(300, 4000, size=(size, size)).astype(np.uint16)
    bands["B3"][water] = 1200
    bands["B8"][water] = 300
    return bands


def _s2_parts(native: dict[str, np.ndarray]) -> list[tuple[np.ndarray, PixelGrid, list[str]]]:
    """The image's GeoTIFFs: one per native resolution (10 m first)."""
    parts = []
    for pixel_m in sorted(set(S2_NATIVE_M.values())):
        names = [band for band in S2_BANDS if S2_NATIVE_M[band] == pixel_m]
        parts.append((np.stack([native[band] for band in names]), native_grid(pixel_m), names))
    return parts


def build_catalog(root: Path, *, seed: int = 0, probability: bool = True) -> SyntheticCatalog:
    """Write the catalog described in the module docstring and return what it holds."""
    from ee_emulator import CatalogBuilder

    rng = np.random.default_rng(seed)
    catalog = SyntheticCatalog(Path(root))
    s1_props = {"instrumentMode": "IW", "transmitterReceiverPolarisation": ["VV", "VH"]}
    s1_scenes = [
        ("s1_good", at(5, 5), "DESCENDING", 66, ["VV", "VH"], SOURCE_GEOREF),
        ("s1_ascending", at(6, 17), "ASCENDING", 117, ["VV", "VH"], SOURCE_GEOREF),
        ("s1_hh", at(6, 5), "DESCENDING", 66, ["HH", "HV"], SOURCE_GEOREF),
        ("s1_elsewhere", at(6, 5), "DESCENDING", 66, ["VV", "VH"], ELSEWHERE_GEOREF),
    ]
    s2_scenes = [
        ("s2_patchy", at(5), 30.0),
        ("s2_clear", at(6), 5.0),
        ("s2_overcast", at(5, 11), 95.0),
        ("s2_far", at(10), 0.0),
    ]

    # the window of chip (row, col) in source pixels
    def window(row: int, col: int) -> tuple[slice, slice]:
        return catalog.source_window(row, col)

    cloudy = {name: np.zeros((SOURCE_SIZE, SOURCE_SIZE), bool) for name, *_ in s2_scenes}
    cloudy["s2_patchy"][: 32 + CHIP, :] = True  # the whole top chip row (and the margin above)
    r, c = window(1, 1)
    cloudy["s2_patchy"][r.start + 20 : r.start + 30, c.start + 20 : c.start + 30] = True
    r, c = window(0, 2)
    cloudy["s2_clear"][r.start + 5 : r.start + 17, c.start + 40 : c.start + 52] = True
    cloudy["s2_overcast"][:] = True

    with CatalogBuilder(root) as builder:
        for name, time, orbit_pass, orbit, pols, georef in s1_scenes:
            data = _s1(rng)
            catalog.s1[name] = data
            properties = {
                **s1_props,
                "system:time_start": time,
                "orbitProperties_pass": orbit_pass,
                "relativeOrbitNumber_start": orbit,
                "transmitterReceiverPolarisation": pols,
            }
            band_names = [*pols, "angle"]
            builder.add_image(S1_COLLECTION, name, data, georef, band_names, properties)
        for name, time, cloud_pct in s2_scenes:
            native = _s2(rng)
            catalog.s2_native[name] = native
            catalog.s2[name] = np.stack([nearest_on_source_grid(native[b], S2_NATIVE_M[b]) for b in S2_BANDS])
            catalog.cloudy[name] = cloudy[name]
            properties = {
                "system:time_start": time,
                "CLOUDY_PIXEL_PERCENTAGE": cloud_pct,
                "SENSING_ORBIT_NUMBER": 22 if name != "s2_far" else 65,
                "MGRS_TILE": "32TMR",
            }
            builder.add_multiresolution_image(S2_COLLECTION, name, _s2_parts(native), properties, band_order=S2_BANDS)
            cs = np.where(cloudy[name], 0.1, 0.9).astype(np.float32)
            builder.add_image(
                CS_COLLECTION, name, np.stack([cs, cs]), SOURCE_GEOREF, ["cs", "cs_cdf"], {"system:time_start": time}
            )
            if probability:
                prob = np.where(cloudy[name], 90, 5).astype(np.uint8)
                builder.add_image(
                    PROB_COLLECTION, name, prob[None], SOURCE_GEOREF, ["probability"], {"system:time_start": time}
                )
        occurrence = rng.integers(0, 101, size=(SOURCE_SIZE, SOURCE_SIZE)).astype(np.uint8)
        catalog.occurrence = occurrence
        builder.add_image(None, JRC, occurrence[None], SOURCE_GEOREF, ["occurrence"], {})
    return catalog

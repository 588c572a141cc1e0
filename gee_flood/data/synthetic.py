"""Synthetic, georeferenced Sentinel-1 / Sentinel-2 flood scenes with known truth.

A scene is built from terrain up, so that the flood, the radar and the optical image agree with each other the
way real ones do:

1. **Grid.** A UTM grid (zone from the centre longitude, e.g. ``EPSG:32633``) of ``pixel_size_m`` (10 m) pixels.
2. **Rivers.** A meandering main channel crosses the scene (two superposed meander wavelengths plus a smooth random
   walk); tributaries join it at acute angles. Each channel carries a bed elevation that falls downstream
   (0.5 m/km on the main channel, steeper on tributaries) and a width. The channels are permanent water, with a few
   oxbow lakes in the floodplain.
3. **Terrain.** Every pixel takes the bed elevation and width of its nearest channel (an exact Euclidean distance
   transform), and the *height above nearest drainage* (HAND) is a valley profile of the distance to the bank: a
   natural levee, a gently rising floodplain whose width varies along the river, then valley walls with fractal
   (spectral, 1/f^beta) hills; fractal micro-relief everywhere. ``dem_m = bed + HAND``.
4. **Flood.** On the event date, land whose HAND is below ``flood_level_m`` *and* that is connected to a channel
   floods (a bathtub fill with connectivity, so isolated hollows behind high ground stay dry). The flood therefore
   follows the terrain: wide on flat floodplains, narrow in valleys, absent on hillsides.
5. **Land cover.** Water, cropland (parcels with a per-parcel green fraction), forest (hillsides, riparian strips,
   woodlots), urban (towns on ground just above the flood level) and bare soil (ploughed parcels).
6. **Sentinel-2 L1C.** Each pixel's surface reflectance is a linear mixture of endmember spectra over the 13 bands
   B1..B12 (clear and turbid water: dark in NIR/SWIR; vegetation: red edge and high NIR plateau; urban: flat and
   bright; soil: rising to SWIR). A simple atmosphere turns it into top-of-atmosphere reflectance,
   ``toa = path + transmittance * surface`` (path radiance strongest in the blue/coastal bands; transmittance low in
   the water-vapour band B9 and near zero in the cirrus band B10). Clouds are smooth random fields, bright in
   every band (darker in SWIR, visible in B10), blended with soft edges, with displaced cloud shadows; the
   ``cloud_probability`` layer (0-100, like ``COPERNICUS/S2_CLOUD_PROBABILITY``) is 50 at the cloud edge, so thin
   fringes below 50 are partly missed, as in real cloud masks. Values are stored as DN = reflectance * 10000.
7. **Sentinel-1 GRD IW.** Each pixel has a mean sigma0 per state in dB at 37 degrees incidence, from typical S1
   statistics: calm open water VV -21.5 / VH -27.5 dB, wind-roughened water VV -13 dB, cropland -10.5 / -17,
   forest -8 / -14.5, bare soil -12.5 / -19.5, urban -3 / -10 dB, flooded forest and flooded buildings brighter
   still (double bounce). Crop parcels vary with biomass, urban areas with strong point targets; an
   incidence-angle slope (the ``angle`` band grows across the swath, eastwards when ascending) and the local slope
   of the DEM towards the sensor modulate land backscatter; soil wetted by the event is 1-1.5 dB brighter.
   Multiplicative speckle ``Gamma(L, 1/L)`` with ``L = 4.4`` (the ENL of S1 GRD IW) is applied in linear power,
   then the image is converted to dB, exactly as ``COPERNICUS/S1_GRD`` serves it. Radar ignores clouds.
8. **Acquisitions.** A plan of S1 (ascending/descending passes at their local times) and S2 (about 10:30 local)
   acquisitions before and after the event, with Earth Engine-like ids and properties. Flood water appears only in
   acquisitions at or after ``event_date``.

Everything is drawn from ``numpy.random.Generator`` streams keyed by ``(seed, component)``, so a scene is
reproducible for a seed and changing, say, one acquisition's cloud cover leaves the terrain and the other
acquisitions unchanged.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Literal

import numpy as np
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyproj import Transformer
from scipy import fft, ndimage

from gee_flood.data.base import ChipListDataset
from gee_flood.data.chip import (
    LABEL_LAND,
    LABEL_WATER,
    S1,
    S1_BANDS,
    S1_PRE,
    S2,
    S2_BANDS,
    S2_PRE,
    Chip,
    ModalitySpec,
)
from gee_flood.errors import DataError, InputError
from gee_flood.geo import PixelGrid

#: Equivalent number of looks of Sentinel-1 GRD IW high-resolution products.
S1_GRD_IW_ENL = 4.4
S1_COLLECTION = "COPERNICUS/S1_GRD"
S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
S1_DATA_BANDS: tuple[str, ...] = (*S1_BANDS, "angle")


class LandCover(IntEnum):
    """Land cover classes of a synthetic scene (before the event)."""

    WATER = 0
    CROPLAND = 1
    FOREST = 2
    URBAN = 3
    BARE_SOIL = 4


# --------------------------------------------------------------------------------------------------------------
# Optical model: surface endmember spectra (reflectance 0-1), bands B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10 B11 B12.
# Typical values from spectral libraries (USGS/ECOSTRESS) resampled to the S2 bands; B9 and B10 are surface
# values, the atmosphere below absorbs most of them.
# --------------------------------------------------------------------------------------------------------------
_ENDMEMBERS = ("clear_water", "turbid_water", "green_vegetation", "forest", "urban", "soil")
_CLEAR, _TURBID, _GREEN, _FOREST, _URBAN, _SOIL = range(len(_ENDMEMBERS))
_SURFACE_SPECTRA = np.array(
    [
        # B1    B2     B3     B4     B5     B6     B7     B8     B8A    B9     B10    B11    B12
        [0.045, 0.040, 0.045, 0.025, 0.015, 0.010, 0.008, 0.007, 0.006, 0.005, 0.003, 0.004, 0.003],
        [0.060, 0.065, 0.090, 0.080, 0.060, 0.035, 0.030, 0.028, 0.022, 0.015, 0.006, 0.010, 0.006],
        [0.030, 0.035, 0.075, 0.040, 0.120, 0.320, 0.400, 0.420, 0.440, 0.430, 0.300, 0.240, 0.120],
        [0.020, 0.025, 0.050, 0.025, 0.085, 0.230, 0.290, 0.310, 0.320, 0.310, 0.200, 0.150, 0.070],
        [0.090, 0.100, 0.110, 0.120, 0.130, 0.150, 0.160, 0.170, 0.175, 0.175, 0.190, 0.210, 0.180],
        [0.080, 0.100, 0.130, 0.170, 0.200, 0.220, 0.240, 0.250, 0.260, 0.260, 0.300, 0.330, 0.270],
    ],
    dtype=np.float32,
)
# Atmosphere: path reflectance (Rayleigh + aerosol, strongest at short wavelengths) and two-way transmittance
# (water vapour absorbs B9, the 1375 nm cirrus band B10 sees almost nothing of the ground).
_PATH_REFLECTANCE = np.array(
    [0.110, 0.080, 0.050, 0.032, 0.026, 0.022, 0.019, 0.016, 0.015, 0.008, 0.001, 0.004, 0.002], dtype=np.float32
)
_TRANSMITTANCE = np.array(
    [0.70, 0.76, 0.83, 0.87, 0.89, 0.90, 0.91, 0.91, 0.92, 0.40, 0.03, 0.93, 0.90], dtype=np.float32
)
# Top-of-atmosphere reflectance of a thick water cloud: bright and flat, lower in SWIR (droplet absorption),
# seen by the cirrus band.
_CLOUD_TOA = np.array([0.56, 0.55, 0.54, 0.53, 0.53, 0.52, 0.52, 0.52, 0.51, 0.33, 0.15, 0.35, 0.22], dtype=np.float32)


# --------------------------------------------------------------------------------------------------------------
# Radar model: mean sigma0 per state in dB (VV, VH) at 37 degrees incidence, and dB per degree of incidence.
# --------------------------------------------------------------------------------------------------------------
class _RadarState(IntEnum):
    CALM_WATER = 0
    ROUGH_WATER = 1
    CROPLAND = 2
    FOREST = 3
    URBAN = 4
    BARE_SOIL = 5
    FLOODED_FOREST = 6
    FLOODED_URBAN = 7


_SIGMA0_DB = np.array(
    [
        [-21.5, -27.5],  # calm open water (specular)
        [-13.0, -23.0],  # wind-roughened water
        [-10.5, -17.0],  # cropland
        [-8.0, -14.5],  # forest (volume scattering)
        [-3.0, -10.0],  # urban (double bounce, point targets)
        [-12.5, -19.5],  # bare soil
        [-4.0, -13.0],  # flooded forest (trunk-water double bounce)
        [0.0, -8.5],  # flooded buildings
    ],
    dtype=np.float32,
)
_INCIDENCE_SLOPE_DB_PER_DEG = np.array([-0.45, -0.3, -0.2, -0.1, -0.1, -0.25, -0.1, -0.1], dtype=np.float32)
_REFERENCE_INCIDENCE_DEG = 37.0

_LAND_TO_RADAR = np.array(
    [_RadarState.CALM_WATER, _RadarState.CROPLAND, _RadarState.FOREST, _RadarState.URBAN, _RadarState.BARE_SOIL],
    dtype=np.uint8,
)


class AcquisitionPlan(BaseModel):
    """One planned acquisition of a synthetic scene.

    Attributes:
        sensor: ``"S1"`` or ``"S2"``.
        day_offset: Whole days from the day of ``event_date`` (negative = before). The time of day is the
            sensor's local overpass time (S1 ascending ~18:00, descending ~06:00, S2 ~10:30 local solar time).
        orbit_pass: S1 only: ``"ASCENDING"`` or ``"DESCENDING"``.
        cloud_cover: S2 only: fraction of the scene under cloud (0-1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: Literal["S1", "S2"]
    day_offset: int = Field(ge=-60, le=60)
    orbit_pass: Literal["ASCENDING", "DESCENDING"] | None = None
    cloud_cover: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_sensor_fields(self) -> AcquisitionPlan:
        if self.sensor == "S1" and self.orbit_pass is None:
            raise ValueError("an S1 acquisition needs orbit_pass ('ASCENDING' or 'DESCENDING')")
        if self.sensor == "S2" and self.orbit_pass is not None:
            raise ValueError("orbit_pass applies to S1 acquisitions only")
        if self.sensor == "S1" and self.cloud_cover:
            raise ValueError("cloud_cover applies to S2 acquisitions only (radar sees through clouds)")
        return self


def _default_plan() -> list[AcquisitionPlan]:
    return [
        AcquisitionPlan(sensor="S1", day_offset=-12, orbit_pass="ASCENDING"),
        AcquisitionPlan(sensor="S1", day_offset=-11, orbit_pass="DESCENDING"),
        AcquisitionPlan(sensor="S2", day_offset=-10, cloud_cover=0.1),
        AcquisitionPlan(sensor="S1", day_offset=0, orbit_pass="ASCENDING"),
        AcquisitionPlan(sensor="S1", day_offset=1, orbit_pass="DESCENDING"),
        AcquisitionPlan(sensor="S2", day_offset=1, cloud_cover=0.3),
    ]


class SceneConfig(BaseModel):
    """Parameters of a synthetic flood scene. Every field has a sensible default; ``seed`` picks the scene.

    Attributes:
        seed: Random seed; the same config always gives the same scene.
        height: Rows (pixels).
        width: Columns (pixels).
        pixel_size_m: Pixel size in metres (Sentinel-1/2 native: 10 m).
        center_lon: Longitude of the scene centre (degrees, WGS84); picks the UTM zone.
        center_lat: Latitude of the scene centre (degrees, WGS84).
        event_name: Event name used in chip ids (``{event_name}_{index}``); letters and digits only.
        event_date: Start of the flood (UTC). Acquisitions at or after it see the flood.
        base_elevation_m: Bed elevation of the main channel where it leaves the scene (m above sea level).
        river_width_m: Width of the main channel in metres.
        tributaries: Number of tributaries joining the main channel.
        lakes: Number of oxbow lakes in the floodplain.
        towns: Number of towns.
        floodplain_width_m: Typical floodplain width on each side of the main channel (m).
        flood_level_m: Land with height above nearest drainage below this (and connected to a river) floods.
        wind_roughening: Fraction of the water area roughened by wind in each S1 acquisition (0-1).
        flooded_vegetation: If True, flooded forest and buildings scatter by double bounce (bright in SAR); if
            False they look like open water.
        looks: Equivalent number of looks of the speckle (S1 GRD IW: 4.4).
        acquisitions: The S1/S2 acquisition plan.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    height: int = Field(default=512, ge=64, le=8192)
    width: int = Field(default=512, ge=64, le=8192)
    pixel_size_m: float = Field(default=10.0, gt=0, le=100)
    center_lon: float = Field(default=15.3, ge=-180, le=180)
    center_lat: float = Field(default=45.6, ge=-80, le=84)
    event_name: str = "Synthetic"
    event_date: datetime = datetime(2023, 5, 17, tzinfo=UTC)
    base_elevation_m: float = 120.0
    river_width_m: float = Field(default=80.0, ge=10, le=1000)
    tributaries: int = Field(default=3, ge=0, le=12)
    lakes: int = Field(default=2, ge=0, le=20)
    towns: int = Field(default=2, ge=0, le=10)
    floodplain_width_m: float = Field(default=900.0, ge=50)
    flood_level_m: float = Field(default=2.0, ge=0)
    wind_roughening: float = Field(default=0.1, ge=0, le=1)
    flooded_vegetation: bool = True
    looks: float = Field(default=S1_GRD_IW_ENL, gt=0)
    acquisitions: list[AcquisitionPlan] = Field(default_factory=_default_plan)

    @field_validator("event_name")
    @classmethod
    def _event_name_is_alphanumeric(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise ValueError(f"event_name {value!r} must be letters and digits only (it is the chip id prefix)")
        return value

    @field_validator("event_date")
    @classmethod
    def _event_date_is_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Acquisition:
    """One synthetic image, as Earth Engine would serve it.

    Attributes:
        sensor: ``"S1"`` or ``"S2"``.
        image_id: The image's ``system:index`` (e.g. ``"S1A_IW_GRDH_1SDV_20230517T170512_..."`` or
            ``"20230518T094031_20230518T094031_T33TWL"``).
        time: Acquisition time (UTC).
        bands: Band names of ``data``.
        data: float32 ``(bands, H, W)`` in Earth Engine units: S1 ``VV``, ``VH`` in dB and ``angle`` in degrees;
            S2 the 13 L1C bands as DN = top-of-atmosphere reflectance * 10000.
        cloud_probability: S2 only: float32 ``(H, W)`` cloud probability 0-100; ``None`` for S1.
        properties: Earth Engine metadata properties (``system:time_start`` in ms, ``orbitProperties_pass``,
            ``CLOUDY_PIXEL_PERCENTAGE``...).
        collection: Earth Engine collection id (``COPERNICUS/S1_GRD`` or ``COPERNICUS/S2_HARMONIZED``).
        post_event: True if acquired at or after the event date (the flood is visible).
    """

    sensor: Literal["S1", "S2"]
    image_id: str
    time: datetime
    bands: tuple[str, ...]
    data: np.ndarray
    cloud_probability: np.ndarray | None
    properties: dict[str, object]
    collection: str = ""
    post_event: bool = False

    def band(self, name: str) -> np.ndarray:
        """Return one band ``(H, W)`` by name."""
        if name not in self.bands:
            raise DataError(f"acquisition {self.image_id}: has no band {name!r}; has {list(self.bands)}")
        return self.data[self.bands.index(name)]


@dataclass
class SyntheticScene:
    """A synthetic flood scene: terrain, truth and the acquisitions that see it.

    Attributes:
        config: The configuration that generated it.
        georef: UTM grid of the scene (``pixel_size_m`` pixels, north up).
        dem_m: float32 ``(H, W)`` terrain elevation in metres (water surface over channels).
        hand_m: float32 ``(H, W)`` height above nearest drainage in metres (0 or below on channels).
        land_cover: uint8 ``(H, W)`` :class:`LandCover` before the event.
        permanent_water: bool ``(H, W)`` rivers and lakes (water before the event).
        flood_water: bool ``(H, W)`` all water on the event date (permanent water plus the flood, including
            flooded forest and buildings).
        event_date: Start of the flood (UTC).
        acquisitions: S1 and S2 acquisitions, in time order.
    """

    config: SceneConfig
    georef: PixelGrid
    dem_m: np.ndarray
    hand_m: np.ndarray
    land_cover: np.ndarray
    permanent_water: np.ndarray
    flood_water: np.ndarray
    event_date: datetime
    acquisitions: list[Acquisition] = field(default_factory=list)

    @property
    def flooded(self) -> np.ndarray:
        """Return the bool ``(H, W)`` flood extent: water on the event date that was not water before."""
        return self.flood_water & ~self.permanent_water

    def select(self, sensor: Literal["S1", "S2"], *, post_event: bool | None = None) -> list[Acquisition]:
        """Return the acquisitions of ``sensor`` (optionally only post- or pre-event), in time order."""
        return [
            a for a in self.acquisitions if a.sensor == sensor and (post_event is None or a.post_event == post_event)
        ]

    def acquisition(self, image_id: str) -> Acquisition:
        """Return the acquisition with ``system:index`` ``image_id``."""
        for acquisition in self.acquisitions:
            if acquisition.image_id == image_id:
                return acquisition
        raise InputError(f"scene has no acquisition {image_id!r}; it has {[a.image_id for a in self.acquisitions]}")

    def to_chips(
        self,
        chip_size: int = 256,
        *,
        s1_image_id: str | None = None,
        s2_image_id: str | None = None,
        include_pre: bool = False,
        cloud_threshold: float = 50.0,
    ) -> list[Chip]:
        """Cut the scene into labelled chips of one post-event S1/S2 pair.

        Chips tile the scene without overlap from the top-left corner; a remainder narrower than ``chip_size``
        at the right or bottom edge is dropped.

        Args:
            chip_size: Chip side in pixels.
            s1_image_id: The S1 acquisition to use (default: the first post-event S1).
            s2_image_id: The S2 acquisition to use (default: the post-event S2 closest in time to the S1).
            include_pre: Also add ``s1_pre`` / ``s2_pre`` from the last pre-event S1 and S2.
            cloud_threshold: ``extras["s2_cloud"]`` is ``cloud_probability > cloud_threshold``.

        Returns:
            Chips with modalities ``s1`` (VV, VH dB) and ``s2`` (13 bands, reflectance 0-1), label 1 where
            :attr:`flood_water` (all water on the event date), 0 elsewhere, ``extras["s2_cloud"]`` (bool) and
            ``extras["permanent_water"]`` (bool), and each chip's own georeference. Chip ids are
            ``{event_name}_{index:06d}`` in row-major order.
        """
        height, width = self.dem_m.shape
        if chip_size < 1 or chip_size > min(height, width):
            raise InputError(f"chip_size {chip_size} must be between 1 and the scene size {height}x{width} px")
        s1 = self.acquisition(s1_image_id) if s1_image_id else _first(self.select("S1", post_event=True), "S1")
        if s2_image_id:
            s2 = self.acquisition(s2_image_id)
        else:
            post_s2 = self.select("S2", post_event=True)
            if not post_s2:
                raise DataError("scene has no post-event S2 acquisition to pair with")
            s2 = min(post_s2, key=lambda a: abs((a.time - s1.time).total_seconds()))
        if s1.sensor != "S1" or s2.sensor != "S2":
            raise InputError(f"expected an S1 and an S2 acquisition, got {s1.sensor} {s1.image_id} and {s2.sensor}")
        modalities: dict[str, tuple[ModalitySpec, np.ndarray]] = {
            "s1": (S1, s1.data[: len(S1_BANDS)]),
            "s2": (S2, s2.data / np.float32(10000)),
        }
        if include_pre:
            pre_s1 = self.select("S1", post_event=False)
            pre_s2 = self.select("S2", post_event=False)
            modalities["s1_pre"] = (S1_PRE, _last(pre_s1, "S1").data[: len(S1_BANDS)])
            modalities["s2_pre"] = (S2_PRE, _last(pre_s2, "S2").data / np.float32(10000))
        assert s2.cloud_probability is not None
        cloud = s2.cloud_probability > cloud_threshold
        label = np.where(self.flood_water, LABEL_WATER, LABEL_LAND).astype(np.int8)
        chips: list[Chip] = []
        index = 0
        for row in range(0, height - chip_size + 1, chip_size):
            for col in range(0, width - chip_size + 1, chip_size):
                window = (slice(row, row + chip_size), slice(col, col + chip_size))
                chips.append(
                    Chip(
                        chip_id=f"{self.config.event_name}_{index:06d}",
                        event=self.config.event_name,
                        modalities={
                            name: np.ascontiguousarray(arr[:, *window]) for name, (_, arr) in modalities.items()
                        },
                        specs={name: spec for name, (spec, _) in modalities.items()},
                        label=label[window].copy(),
                        georef=PixelGrid(
                            self.georef.crs,
                            self.georef.transform @ Affine.translation(col, row),
                            chip_size,
                            chip_size,
                        ),
                        extras={
                            "s2_cloud": cloud[window].copy(),
                            "permanent_water": self.permanent_water[window].copy(),
                        },
                    )
                )
                index += 1
        return chips


def _first(acquisitions: list[Acquisition], sensor: str) -> Acquisition:
    if not acquisitions:
        raise DataError(f"scene has no post-event {sensor} acquisition")
    return acquisitions[0]


def _last(acquisitions: list[Acquisition], sensor: str) -> Acquisition:
    if not acquisitions:
        raise DataError(f"scene has no pre-event {sensor} acquisition")
    return acquisitions[-1]


# --------------------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------------------
_STREAM_GRID = 1
_STREAM_TERRAIN = 2
_STREAM_LAND = 3
_STREAM_S1 = 100
_STREAM_S2 = 200


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def generate_scene(config: SceneConfig | None = None) -> SyntheticScene:
    """Generate a synthetic flood scene (deterministic for ``config.seed``).

    Args:
        config: Scene parameters; defaults to ``SceneConfig()`` (512x512 px of 10 m, 4 S1 + 2 S2 acquisitions).

    Returns:
        The scene with its terrain, truth and acquisitions (see the module docstring for the physics).
    """
    config = config or SceneConfig()
    georef = utm_georeference(config.center_lon, config.center_lat, config.height, config.width, config.pixel_size_m)
    terrain = _make_terrain(config, _rng(config.seed, _STREAM_TERRAIN))
    land_cover = _make_land_cover(config, terrain, _rng(config.seed, _STREAM_LAND))
    scene = SyntheticScene(
        config=config,
        georef=georef,
        dem_m=terrain.dem_m,
        hand_m=terrain.hand_m,
        land_cover=land_cover.classes,
        permanent_water=terrain.permanent_water,
        flood_water=terrain.permanent_water | terrain.flooded,
        event_date=config.event_date,
    )
    day0 = config.event_date.replace(hour=0, minute=0, second=0, microsecond=0)
    tile = mgrs_tile(config.center_lon, config.center_lat)
    for number, plan in enumerate(config.acquisitions):
        if plan.sensor == "S1":
            acquisition = _make_s1(config, plan, number, day0, terrain, land_cover)
        else:
            acquisition = _make_s2(config, plan, number, day0, terrain, land_cover, tile)
        scene.acquisitions.append(acquisition)
    scene.acquisitions.sort(key=lambda a: a.time)
    return scene


def utm_georeference(lon: float, lat: float, height: int, width: int, pixel_size_m: float = 10.0) -> PixelGrid:
    """Return a north-up UTM grid of ``height`` x ``width`` pixels centred on ``(lon, lat)``.

    The zone is the standard 6-degree UTM zone of ``lon`` (EPSG:326xx north of the equator, 327xx south); the
    top-left corner is snapped to a multiple of the pixel size, as Sentinel-2 tiles are.
    """
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    epsg = (32600 if lat >= 0 else 32700) + zone
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    easting, northing = to_utm.transform(lon, lat)
    left = math.floor((easting - width * pixel_size_m / 2) / pixel_size_m) * pixel_size_m
    top = math.ceil((northing + height * pixel_size_m / 2) / pixel_size_m) * pixel_size_m
    return PixelGrid(f"EPSG:{epsg}", Affine(pixel_size_m, 0.0, left, 0.0, -pixel_size_m, top), width, height)


def mgrs_tile(lon: float, lat: float) -> str:
    """Return the 5-character MGRS tile (Sentinel-2 granule, e.g. ``"33TWL"``) containing ``(lon, lat)``."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    band = "CDEFGHJKLMNPQRSTUVWXX"[min(max(int((lat + 80.0) // 8.0), 0), 20)]
    epsg = (32600 if lat >= 0 else 32700) + zone
    easting, northing = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    column_letters = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")[zone % 3]
    column = column_letters[int(easting // 100000) - 1]
    row_letters = "ABCDEFGHJKLMNPQRSTUV"
    row = row_letters[(int(northing // 100000) + (5 if zone % 2 == 0 else 0)) % 20]
    return f"{zone:02d}{band}{column}{row}"


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Return a zero-mean, unit-variance float32 field with a 1/f^beta power spectrum (spectral synthesis).

    ``beta`` around 2 gives rough micro-relief, 3-4 smooth hills and cloud fields. The field is periodic.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    spectrum = fft.rfft2(white)
    spectrum *= _spectral_filter(shape, beta)
    result = fft.irfft2(spectrum, s=shape)
    std = float(result.std())
    if std > 0:
        result *= np.float32(1.0 / std)
    return result


@functools.lru_cache(maxsize=32)
def _spectral_filter(shape: tuple[int, int], beta: float) -> np.ndarray:
    """Amplitude filter k^(-beta/2) on the rfft2 grid of ``shape``, zero at k = 0 (cached: scenes reuse it)."""
    height, width = shape
    ky = np.fft.fftfreq(height).astype(np.float32)[:, None]
    kx = np.fft.rfftfreq(width).astype(np.float32)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k[0, 0] = 1.0
    amplitude = k ** np.float32(-beta / 2)
    amplitude[0, 0] = 0.0
    amplitude.setflags(write=False)
    return amplitude


def apply_speckle(sigma0_linear: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply linear-power backscatter by fully developed speckle, ``Gamma(shape=looks, scale=1/looks)``.

    The speckle has mean 1 and coefficient of variation ``1/sqrt(looks)``.
    """
    speckle = rng.standard_gamma(looks, size=sigma0_linear.shape, dtype=np.float32) / np.float32(looks)
    return (sigma0_linear * speckle).astype(np.float32)


@dataclass
class _Terrain:
    dem_m: np.ndarray
    hand_m: np.ndarray
    bank_distance_m: np.ndarray
    channel: np.ndarray
    permanent_water: np.ndarray
    flooded: np.ndarray
    floodplain_width_m: np.ndarray
    slope_angle_east: np.ndarray  # arctan(dz/dx), radians: terrain slope angle along the east axis
    hills: np.ndarray  # 0 on the floodplain, 1 on the hills


@dataclass
class _Channel:
    x: np.ndarray  # pixel columns (float)
    y: np.ndarray  # pixel rows (float)
    bed_m: np.ndarray
    halfwidth_px: float


def _meander(rng: np.random.Generator, s: np.ndarray, wavelength: float, amplitude: float) -> np.ndarray:
    """Lateral offset of a meandering channel along arc coordinate ``s`` (pixels)."""
    phase = rng.uniform(0, 2 * np.pi, size=3)
    modulation = 0.6 + 0.4 * np.sin(2 * np.pi * s / (wavelength * rng.uniform(4, 7)) + phase[2])
    offset = amplitude * modulation * np.sin(2 * np.pi * s / wavelength + phase[0])
    offset += 0.35 * amplitude * np.sin(2 * np.pi * s / (wavelength * 0.45) + phase[1])
    walk = np.cumsum(rng.standard_normal(s.size))
    walk = ndimage.gaussian_filter1d(walk - walk.mean(), sigma=max(wavelength, 8.0) * 4)
    span = float(np.ptp(walk)) or 1.0
    return offset + walk / span * amplitude * 1.5


def _channel_network(config: SceneConfig, rng: np.random.Generator) -> list[_Channel]:
    height, width = config.height, config.width
    px = config.pixel_size_m
    size = float(max(height, width))
    main_half = max(config.river_width_m / 2 / px, 0.75)
    flow = rng.uniform(0, 2 * np.pi)
    along = np.array([np.cos(flow), np.sin(flow)])
    across = np.array([-along[1], along[0]])
    centre = np.array([width / 2, height / 2]) + across * rng.uniform(-0.15, 0.15) * min(height, width)
    step = 0.25
    s = np.arange(-0.9 * size, 0.9 * size, step)
    wavelength = 11 * 2 * main_half
    lateral = _meander(rng, s, wavelength, 0.3 * wavelength)
    lateral += 0.06 * size * np.sin(2 * np.pi * s / (size * rng.uniform(0.8, 1.4)) + rng.uniform(0, 2 * np.pi))
    x = centre[0] + along[0] * s + across[0] * lateral
    y = centre[1] + along[1] * s + across[1] * lateral
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))]) * px
    main_bed = config.base_elevation_m + 0.0005 * (arc[-1] - arc)
    channels = [_Channel(x, y, main_bed, main_half)]
    inside = np.flatnonzero((x >= 0) & (x < width) & (y >= 0) & (y < height))
    for _ in range(config.tributaries):
        if inside.size < 10:
            break
        at = int(inside[int(rng.uniform(0.1, 0.9) * inside.size)])
        tangent = np.array(
            [x[min(at + 4, x.size - 1)] - x[max(at - 4, 0)], y[min(at + 4, y.size - 1)] - y[max(at - 4, 0)]]
        )
        tangent /= np.linalg.norm(tangent) or 1.0
        angle = rng.uniform(np.radians(35), np.radians(75)) * rng.choice([-1, 1])
        up = -tangent  # tributaries come from upstream, at an acute angle to the main flow
        direction = np.array(
            [up[0] * np.cos(angle) - up[1] * np.sin(angle), up[0] * np.sin(angle) + up[1] * np.cos(angle)]
        )
        normal = np.array([-direction[1], direction[0]])
        half = main_half * rng.uniform(0.2, 0.4)
        t = np.arange(0, 1.2 * size, step)
        trib_wavelength = 11 * 2 * max(half, 1.0)
        offset = _meander(rng, t, trib_wavelength, 0.3 * trib_wavelength)
        offset += 0.05 * size * np.sin(2 * np.pi * t / (size * rng.uniform(0.5, 0.9)) + rng.uniform(0, 2 * np.pi))
        offset -= offset[0]
        offset *= np.clip(t / (4 * trib_wavelength), 0, 1)  # joins the main channel tangentially
        tx = x[at] + direction[0] * t + normal[0] * offset
        ty = y[at] + direction[1] * t + normal[1] * offset
        tarc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(tx), np.diff(ty)))]) * px
        channels.insert(0, _Channel(tx, ty, main_bed[at] + rng.uniform(0.001, 0.002) * tarc, half))
    return channels


def _smoothstep(values: np.ndarray) -> np.ndarray:
    clipped = np.clip(values, 0.0, 1.0)
    return clipped * clipped * (3 - 2 * clipped)


def _smooth_coarse(values: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-smooth a 2-D field with a large ``sigma_px``, computed at 1/8 resolution and resampled back.

    A 50-pixel Gaussian at full resolution would dominate the generator's run time; the fields smoothed here vary
    over hundreds of metres, so the coarse grid loses nothing.
    """
    height, width = values.shape
    coarse = ndimage.zoom(values.astype(np.float32), 1 / 8, order=1, grid_mode=True, mode="nearest")
    coarse = ndimage.gaussian_filter(coarse, sigma=max(sigma_px / 8, 0.5), mode="nearest")
    zoom = (height / coarse.shape[0], width / coarse.shape[1])
    return ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")[:height, :width].astype(np.float32)


def _make_terrain(config: SceneConfig, rng: np.random.Generator) -> _Terrain:
    height, width = config.height, config.width
    shape = (height, width)
    px = config.pixel_size_m
    channels = _channel_network(config, rng)
    seeds = np.zeros(shape, dtype=bool)
    bed = np.zeros(shape, dtype=np.float32)
    halfwidth = np.zeros(shape, dtype=np.float32)
    for channel in channels:  # tributaries first, the main channel last so it wins at confluences
        cols = np.rint(channel.x).astype(np.int64)
        rows = np.rint(channel.y).astype(np.int64)
        keep = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        seeds[rows[keep], cols[keep]] = True
        bed[rows[keep], cols[keep]] = channel.bed_m[keep]
        halfwidth[rows[keep], cols[keep]] = channel.halfwidth_px
    if not seeds.any():  # pragma: no cover - the main channel always crosses the scene centre region
        raise DataError("synthetic river missed the scene; try another seed")
    # Exact Euclidean distance to, and index of, the nearest channel centre-line pixel (scipy).
    distance_px, (near_row, near_col) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    near_bed = bed[near_row, near_col]
    near_half = halfwidth[near_row, near_col]
    channel_mask = distance_px <= near_half
    bank_m = (np.maximum(distance_px - near_half, 0.0) * px).astype(np.float32)

    main_half = max(config.river_width_m / 2 / px, 0.75)
    # Smoothed, so that the floodplain width does not jump where two channels' zones meet.
    width_factor = _smooth_coarse(np.sqrt(np.clip(near_half / main_half, 0.3, 1.0)), config.floodplain_width_m / px)
    floodplain_m = config.floodplain_width_m * (1 + 0.3 * fractal_noise(rng, shape, 3.5)) * width_factor
    floodplain_m = np.maximum(floodplain_m, 3 * px).astype(np.float32)
    levee = 0.7 * np.exp(-bank_m / 80.0)
    plain = 3.0 * np.minimum(bank_m / floodplain_m, 1.0) ** 1.3
    beyond = (bank_m - floodplain_m) / 150.0
    wall = 0.05 * 150.0 * np.logaddexp(0.0, beyond)  # soft-plus: valley wall rising at 5 %
    hills = _smoothstep((bank_m - floodplain_m) / floodplain_m)
    hill_relief = 18.0 * hills * (0.5 + 0.5 * np.tanh(fractal_noise(rng, shape, 3.2)))
    micro_relief = 0.3 * fractal_noise(rng, shape, 2.2) + 0.6 * fractal_noise(rng, shape, 3.0)
    hand = levee + plain + wall + hill_relief + micro_relief
    hand = np.maximum(hand, 0.05).astype(np.float32)
    hand[channel_mask] = 0.0

    permanent = channel_mask.copy()
    lake_candidates = np.flatnonzero(
        (~channel_mask & (bank_m > 6 * px) & (bank_m < 0.6 * floodplain_m) & (hand < config.flood_level_m)).ravel()
    )
    rows_grid, cols_grid = np.ogrid[:height, :width]
    for _ in range(config.lakes):
        if lake_candidates.size == 0:
            break
        centre = int(rng.choice(lake_candidates))
        row0, col0 = divmod(centre, width)
        major, minor = rng.uniform(6, 18) * 10 / px, rng.uniform(2.5, 6) * 10 / px
        theta = rng.uniform(0, np.pi)
        du, dv = cols_grid - col0, rows_grid - row0
        u = (du * np.cos(theta) + dv * np.sin(theta)) / major
        v = (-du * np.sin(theta) + dv * np.cos(theta)) / minor
        lake = (u * u + v * v) <= 1.0
        permanent |= lake
        hand[lake] = 0.0

    # The DEM sits on a smoothed bed surface: nearest-channel bed elevations jump where two channels' zones meet
    # (tributaries run higher than the main channel), which would draw false cliffs.
    bed_surface = np.where(channel_mask, near_bed, _smooth_coarse(near_bed, config.floodplain_width_m / px / 2))
    dem = (bed_surface + hand).astype(np.float32)
    # Bathtub fill with connectivity: low land connected to a channel floods.
    low = (hand <= config.flood_level_m) | permanent
    components, _ = ndimage.label(low)
    connected_ids = np.unique(components[channel_mask])
    connected = np.isin(components, connected_ids[connected_ids > 0])
    flooded = connected & ~permanent
    slope_angle_east = np.arctan(np.gradient(dem, px, axis=1)).astype(np.float32)
    return _Terrain(
        dem_m=dem,
        hand_m=hand,
        bank_distance_m=bank_m,
        channel=channel_mask,
        permanent_water=permanent,
        flooded=flooded,
        floodplain_width_m=floodplain_m,
        slope_angle_east=slope_angle_east,
        hills=hills.astype(np.float32),
    )


@dataclass
class _LandCover:
    classes: np.ndarray  # uint8 LandCover
    greenness: np.ndarray  # float32 0-1 green vegetation fraction of cropland parcels
    brightness: np.ndarray  # float32 per-pixel multiplicative texture of surface reflectance
    sar_texture_db: np.ndarray  # float32 (2, H, W) per-pixel mean backscatter offset (VV, VH) in dB
    turbidity: np.ndarray  # float32 0-1 turbid fraction of water
    endmember_weights: np.ndarray  # float32 (endmember, H, W) linear mixing fractions before the event


def _make_land_cover(config: SceneConfig, terrain: _Terrain, rng: np.random.Generator) -> _LandCover:
    height, width = config.height, config.width
    shape = (height, width)
    px = config.pixel_size_m
    rows, cols = np.mgrid[:height, :width].astype(np.float32)
    # Parcels: a rotated grid of fields, each row of fields offset, sizes 150-400 m.
    angle = rng.uniform(0, np.pi / 2)
    u = (cols * np.cos(angle) + rows * np.sin(angle)) * px
    v = (-cols * np.sin(angle) + rows * np.cos(angle)) * px
    row_size, col_size = rng.uniform(150, 250), rng.uniform(250, 400)
    parcel_row = np.floor(v / row_size).astype(np.int64)
    row_shift = rng.uniform(0, col_size, size=4096)
    parcel_col = np.floor((u + row_shift[parcel_row % 4096]) / col_size).astype(np.int64)
    parcel = (parcel_row % 1024) * 1024 + (parcel_col % 1024)
    table = 1024 * 1024
    parcel_green = rng.uniform(0.15, 0.95, size=table).astype(np.float32)
    parcel_kind = rng.random(size=table)
    parcel_vv = rng.standard_normal(size=table, dtype=np.float32)
    parcel_vh = np.float32(0.7) * rng.standard_normal(size=table, dtype=np.float32)
    classes = np.full(shape, LandCover.CROPLAND, dtype=np.uint8)
    kind = parcel_kind[parcel]
    classes[kind < 0.18] = LandCover.BARE_SOIL
    classes[kind > 0.94] = LandCover.FOREST  # woodlots
    greenness = parcel_green[parcel]
    # Hillsides are forested, with clearings.
    forest_hand = 8.0 + 4.0 * fractal_noise(rng, shape, 3.0)
    clearing = fractal_noise(rng, shape, 2.8) > 0.6
    classes[(terrain.hand_m > forest_hand) & ~clearing] = LandCover.FOREST
    # Riparian forest strips along the banks.
    riparian = (terrain.bank_distance_m < (30.0 + 20.0 * fractal_noise(rng, shape, 2.5))) & (
        fractal_noise(rng, shape, 3.0) > 0.2
    )
    classes[riparian] = LandCover.FOREST
    # Towns on ground just above the flood level, near the river.
    suitable = np.flatnonzero(
        (
            (terrain.hand_m > config.flood_level_m + 0.3)
            & (terrain.hand_m < config.flood_level_m + 5.0)
            & (terrain.bank_distance_m < 2.5 * config.floodplain_width_m)
        ).ravel()
    )
    town_noise = fractal_noise(rng, shape, 2.5)
    for _ in range(config.towns):
        if suitable.size == 0:
            break
        row0, col0 = divmod(int(rng.choice(suitable)), width)
        radius = rng.uniform(250, 600) / px
        distance = np.hypot(rows - row0, cols - col0) / radius
        classes[distance + 0.25 * town_noise < 1.0] = LandCover.URBAN
    classes[terrain.permanent_water] = LandCover.WATER

    brightness = (1.0 + 0.05 * fractal_noise(rng, shape, 1.8)).astype(np.float32)
    sar_texture = np.zeros((2, height, width), dtype=np.float32)
    crop = classes == LandCover.CROPLAND
    sar_texture[0][crop] = parcel_vv[parcel][crop] + 1.5 * (greenness[crop] - 0.55)
    sar_texture[1][crop] = parcel_vh[parcel][crop] + 3.0 * (greenness[crop] - 0.55)
    forest = classes == LandCover.FOREST
    canopy = 0.8 * fractal_noise(rng, shape, 2.0)
    sar_texture[0][forest] = canopy[forest]
    sar_texture[1][forest] = canopy[forest]
    urban = classes == LandCover.URBAN
    point_targets = np.float32(2.5) * rng.standard_normal(size=shape, dtype=np.float32)
    sar_texture[0][urban] = point_targets[urban]
    sar_texture[1][urban] = 0.6 * point_targets[urban]
    bare = classes == LandCover.BARE_SOIL
    roughness = parcel_vv[parcel]
    sar_texture[0][bare] = 1.2 * roughness[bare]
    sar_texture[1][bare] = 1.2 * roughness[bare]
    turbidity = np.clip(0.5 + 0.3 * fractal_noise(rng, shape, 3.5), 0.0, 1.0).astype(np.float32)
    greenness = greenness.astype(np.float32)
    weights = np.zeros((len(_ENDMEMBERS), height, width), dtype=np.float32)
    water = classes == LandCover.WATER
    weights[_CLEAR] = water * (1.0 - turbidity)
    weights[_TURBID] = water * turbidity
    weights[_GREEN] = crop * greenness + 0.15 * urban
    weights[_SOIL] = crop * (1.0 - greenness) + 0.10 * urban + bare
    weights[_FOREST] = forest
    weights[_URBAN] = 0.75 * urban
    return _LandCover(classes, greenness, brightness, sar_texture, turbidity, weights)


def _acquisition_time(day0: datetime, day_offset: int, local_hour: float, lon: float) -> datetime:
    """UTC time of an overpass at ``local_hour`` local solar time, ``day_offset`` days after ``day0``."""
    utc_hour = local_hour - lon / 15.0
    return day0 + timedelta(days=day_offset, hours=utc_hour)


def _s1_image_id(time: datetime, absolute_orbit: int, rng: np.random.Generator) -> str:
    start = time.strftime("%Y%m%dT%H%M%S")
    stop = (time + timedelta(seconds=25)).strftime("%Y%m%dT%H%M%S")
    datatake = int(rng.integers(0, 0xFFFFFF))
    crc = int(rng.integers(0, 0xFFFF))
    return f"S1A_IW_GRDH_1SDV_{start}_{stop}_{absolute_orbit:06d}_{datatake:06X}_{crc:04X}"


def _s1_absolute_orbit(time: datetime) -> int:
    # Sentinel-1A: 175 orbits per 12-day repeat cycle, orbit 1 started on 2014-04-03.
    elapsed = (time - datetime(2014, 4, 3, tzinfo=UTC)).total_seconds()
    return int(elapsed / (12 * 86400 / 175)) + 1


def _post_event_states(config: SceneConfig, terrain: _Terrain, land: _LandCover) -> np.ndarray:
    states = _LAND_TO_RADAR[land.classes]
    flooded = terrain.flooded
    if config.flooded_vegetation:
        flooded_forest = flooded & (land.classes == LandCover.FOREST)
        flooded_urban = flooded & (land.classes == LandCover.URBAN)
        states[flooded] = _RadarState.CALM_WATER
        states[flooded_forest] = _RadarState.FLOODED_FOREST
        states[flooded_urban] = _RadarState.FLOODED_URBAN
    else:
        states[flooded] = _RadarState.CALM_WATER
    return states


def _make_s1(
    config: SceneConfig,
    plan: AcquisitionPlan,
    number: int,
    day0: datetime,
    terrain: _Terrain,
    land: _LandCover,
) -> Acquisition:
    rng = _rng(config.seed, _STREAM_S1, number)
    height, width = config.height, config.width
    ascending = plan.orbit_pass == "ASCENDING"
    time = _acquisition_time(day0, plan.day_offset, 18.0 if ascending else 6.0, config.center_lon)
    post = time >= config.event_date
    states = _post_event_states(config, terrain, land) if post else _LAND_TO_RADAR[land.classes]
    water = states == _RadarState.CALM_WATER
    if config.wind_roughening > 0:
        wind = fractal_noise(rng, (height, width), 3.3)
        water_wind = wind[water]
        if water_wind.size:
            threshold = np.quantile(water_wind, 1.0 - config.wind_roughening)
            states[water & (wind > threshold)] = _RadarState.ROUGH_WATER
    # Incidence angle across the IW swath (29-46 deg over ~250 km): grows in the look direction (east when
    # ascending, west when descending).
    centre_angle = rng.uniform(31.0, 44.0)
    east_km = (np.arange(width, dtype=np.float32) - width / 2) * np.float32(config.pixel_size_m / 1000.0)
    look_sign = np.float32(1.0 if ascending else -1.0)
    angle_row = np.float32(centre_angle) + look_sign * np.float32(0.068) * east_km  # degrees, per column
    land_pixels = states >= _RadarState.CROPLAND  # everything but open water scatters off land/vegetation
    incidence_db = _INCIDENCE_SLOPE_DB_PER_DEG[states] * (angle_row - np.float32(_REFERENCE_INCIDENCE_DEG))
    mean_db = np.empty((2, height, width), dtype=np.float32)
    for band in range(2):
        np.add(_SIGMA0_DB[states, band], incidence_db, out=mean_db[band])
        mean_db[band] += land.sar_texture_db[band] * land_pixels
    if post:  # rain-wetted soil near the flood is brighter
        wet = land_pixels & (terrain.hand_m < config.flood_level_m + 2.0)
        mean_db[0] += np.float32(1.5) * wet
        mean_db[1] += np.float32(1.0) * wet
    # Terrain: slopes facing the sensor (west of the scene when ascending) are brighter (local incidence angle).
    theta_row = np.radians(angle_row)
    local = np.clip(theta_row - look_sign * terrain.slope_angle_east, np.float32(0.09), np.float32(1.48))
    gain = np.sin(theta_row) / np.sin(local)
    gain = np.where(land_pixels, gain, np.float32(1.0))
    sigma0 = np.exp(mean_db * np.float32(math.log(10.0) / 10.0))  # dB -> linear power
    sigma0 *= gain
    sigma0 = apply_speckle(sigma0, config.looks, rng)
    np.maximum(sigma0, np.float32(1e-6), out=sigma0)
    data = np.empty((3, height, width), dtype=np.float32)
    np.log10(sigma0, out=data[:2])
    data[:2] *= np.float32(10.0)
    data[2] = angle_row
    absolute_orbit = _s1_absolute_orbit(time)
    image_id = _s1_image_id(time, absolute_orbit, rng)
    properties: dict[str, object] = {
        "system:index": image_id,
        "system:time_start": int(time.timestamp() * 1000),
        "instrumentMode": "IW",
        "instrumentSwath": "IW",
        "productType": "GRD",
        "resolution": "H",
        "resolution_meters": 10,
        "platform_number": "A",
        "transmitterReceiverPolarisation": ["VV", "VH"],
        "orbitProperties_pass": plan.orbit_pass,
        "relativeOrbitNumber_start": (absolute_orbit - 73) % 175 + 1,
        "orbitNumber_start": absolute_orbit,
        "synthetic": True,
    }
    return Acquisition("S1", image_id, time, S1_DATA_BANDS, data, None, properties, S1_COLLECTION, post)


def _solar_angles(time: datetime, lat: float) -> tuple[float, float]:
    """Return a rough (zenith, azimuth) in degrees of the sun at a ~10:30 local overpass."""
    day_of_year = time.timetuple().tm_yday
    declination = 23.44 * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    zenith = min(abs(lat - declination) + 8.0, 80.0)
    azimuth = 150.0 if lat >= declination else 30.0
    return zenith, azimuth


def _make_s2(
    config: SceneConfig,
    plan: AcquisitionPlan,
    number: int,
    day0: datetime,
    terrain: _Terrain,
    land: _LandCover,
    tile: str,
) -> Acquisition:
    rng = _rng(config.seed, _STREAM_S2, number)
    height, width = config.height, config.width
    shape = (height, width)
    time = _acquisition_time(day0, plan.day_offset, 10.5, config.center_lon)
    post = time >= config.event_date
    height_width = height * width
    multiplier = land.brightness.copy()  # per-pixel brightness texture x wet soil x cloud shadow
    weights = land.endmember_weights
    if post:
        weights = weights.copy()
        flooded = terrain.flooded
        canopy = flooded & (land.classes == LandCover.FOREST)
        roofs = flooded & (land.classes == LandCover.URBAN)
        open_flood = flooded & ~canopy & ~roofs if config.flooded_vegetation else flooded
        muddy = np.clip(land.turbidity[open_flood] + 0.3, 0.0, 1.0)
        weights[:, open_flood] = 0.0
        weights[_TURBID, open_flood] = muddy
        weights[_CLEAR, open_flood] = 1.0 - muddy
        if config.flooded_vegetation:
            weights[:, canopy] *= 0.7  # water shows through gaps in the canopy
            weights[_TURBID, canopy] += 0.3
            weights[:, roofs] *= 0.4  # streets under water between buildings
            weights[_TURBID, roofs] += 0.6
        multiplier[~flooded & (terrain.hand_m < config.flood_level_m + 2.0)] *= 0.88  # wet soil is darker
    # Linear mixing: (bands, endmembers) @ (endmembers, pixels); atmospheric transmittance folded in.
    transmitted = (_TRANSMITTANCE[:, None] * _SURFACE_SPECTRA.T) @ weights.reshape(len(_ENDMEMBERS), height_width)
    # Clouds and their shadows (the shadow is the cloud opacity displaced away from the sun).
    zenith, azimuth = _solar_angles(time, config.center_lat)
    cloud_opacity, probability = _cloud_fields(rng, shape, plan.cloud_cover)
    if plan.cloud_cover > 0:
        cloud_height_m = rng.uniform(800.0, 2500.0)
        shadow_length_px = cloud_height_m * math.tan(math.radians(zenith)) / config.pixel_size_m
        shadow_direction = math.radians(azimuth + 180.0)
        shift_rows = int(round(-shadow_length_px * math.cos(shadow_direction)))
        shift_cols = int(round(shadow_length_px * math.sin(shadow_direction)))
        shadow = ndimage.shift(cloud_opacity, (shift_rows, shift_cols), order=0, mode="constant", cval=0.0)
        multiplier *= 1.0 - 0.7 * shadow * (1.0 - cloud_opacity)
    aerosol = np.float32(rng.uniform(0.8, 1.3))
    toa = transmitted.reshape(len(S2_BANDS), height, width)
    toa *= multiplier
    toa += _PATH_REFLECTANCE[:, None, None] * aerosol
    if plan.cloud_cover > 0:
        cloud_texture = 0.85 + 0.15 * np.tanh(fractal_noise(rng, shape, 2.5))
        toa *= 1.0 - cloud_opacity
        toa += (cloud_opacity * cloud_texture)[None] * _CLOUD_TOA[:, None, None]
    toa *= np.float32(10000.0)
    dn = np.clip(np.rint(toa, out=toa), 1.0, 65535.0, out=toa)
    start = time.strftime("%Y%m%dT%H%M%S")
    image_id = f"{start}_{start}_T{tile}"
    cloudy_percent = round(float(np.mean(probability > 50.0)) * 100.0, 4)
    properties: dict[str, object] = {
        "system:index": image_id,
        "system:time_start": int(time.timestamp() * 1000),
        "CLOUDY_PIXEL_PERCENTAGE": cloudy_percent,
        "CLOUD_COVERAGE_ASSESSMENT": cloudy_percent,
        "MGRS_TILE": tile,
        "SPACECRAFT_NAME": "Sentinel-2A",
        "PRODUCT_ID": f"S2A_MSIL1C_{start}_N0509_R000_T{tile}_{start}",
        "PROCESSING_BASELINE": "05.09",
        "MEAN_SOLAR_ZENITH_ANGLE": round(zenith, 4),
        "MEAN_SOLAR_AZIMUTH_ANGLE": round(azimuth, 4),
        "synthetic": True,
    }
    return Acquisition("S2", image_id, time, S2_BANDS, dn, probability, properties, S2_COLLECTION, post)


def _cloud_fields(rng: np.random.Generator, shape: tuple[int, int], cover: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (opacity 0-1, cloud probability 0-100) of smooth random clouds covering about ``cover``."""
    if cover <= 0.0:
        haze = np.float32(2.0) + rng.standard_normal(size=shape, dtype=np.float32)
        return np.zeros(shape, np.float32), np.clip(haze, 0.0, 100.0, out=haze)
    field = 0.85 * fractal_noise(rng, shape, 3.6) + 0.15 * fractal_noise(rng, shape, 2.2)
    threshold = float(np.quantile(field, 1.0 - cover))
    softness = 0.15 * float(field.std())
    opacity = np.clip((field - threshold + softness) / (3.0 * softness), 0.0, 1.0).astype(np.float32)
    probability = 100.0 / (1.0 + np.exp(-(field - threshold) / (0.5 * softness)))
    probability = probability.astype(np.float32) + np.float32(2.0) * rng.standard_normal(size=shape, dtype=np.float32)
    return opacity, np.clip(probability, 0.0, 100.0, out=probability)


# --------------------------------------------------------------------------------------------------------------
# As a dataset
# --------------------------------------------------------------------------------------------------------------
SYNTHETIC_SPLITS: dict[str, int] = {"train": 0, "valid": 10_000, "test": 20_000}


class SyntheticDataset(ChipListDataset):
    """Chips cut from freshly generated synthetic scenes, as a :class:`ChipDataset`.

    Splits use disjoint scene seeds (``train`` from ``seed``, ``valid`` from ``seed + 10000``, ``test`` from
    ``seed + 20000``), so no scene is shared between splits.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        scenes: Number of scenes to generate.
        size: Scene side in pixels.
        chip_size: Chip side in pixels.
        seed: Base seed.
        modalities: Modalities to keep (default ``s1`` and ``s2``; ``s1_pre``/``s2_pre`` are available too).
        with_labels: If False, chips carry no label.
    """

    name = "synthetic"

    def __init__(
        self,
        split: str = "train",
        *,
        scenes: int = 2,
        size: int = 256,
        chip_size: int = 128,
        seed: int = 0,
        modalities: Sequence[str] | None = None,
        with_labels: bool = True,
    ) -> None:
        if split not in SYNTHETIC_SPLITS:
            raise InputError(f"unknown synthetic split {split!r}; expected one of {list(SYNTHETIC_SPLITS)}")
        specs = {spec.name: spec for spec in (S1, S2, S1_PRE, S2_PRE)}
        names = list(modalities) if modalities is not None else ["s1", "s2"]
        unknown = [name for name in names if name not in specs]
        if unknown:
            raise InputError(f"synthetic scenes have no modality {unknown}; they have {list(specs)}")
        include_pre = any(name.endswith("_pre") for name in names)
        chips: list[Chip] = []
        for index in range(scenes):
            scene_seed = seed + SYNTHETIC_SPLITS[split] + index
            config = SceneConfig(seed=scene_seed, height=size, width=size, event_name=f"Synthetic{scene_seed}")
            for chip in generate_scene(config).to_chips(chip_size, include_pre=include_pre):
                chip.modalities = {name: chip.modalities[name] for name in names}
                chip.specs = {name: chip.specs[name] for name in names}
                if not with_labels:
                    chip.label = None
                chips.append(chip)
        super().__init__(chips, name=self.name)

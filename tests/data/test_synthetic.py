import math

import numpy as np
import pydantic
import pytest
from pyproj import Transformer
from scipy import ndimage

from gee_flood.data.chip import S2_BANDS
from gee_flood.data.synthetic import (
    S1_GRD_IW_ENL,
    AcquisitionPlan,
    LandCover,
    SceneConfig,
    apply_speckle,
    generate_scene,
    mgrs_tile,
)
from gee_flood.data.weak_labels import water_index
from gee_flood.errors import InputError

SIZE = 320


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig(seed=7, height=SIZE, width=SIZE))


@pytest.fixture(scope="module")
def calm_scene():
    # No wind on water: open water is then a homogeneous target for speckle statistics.
    return generate_scene(SceneConfig(seed=11, height=SIZE, width=SIZE, wind_roughening=0.0))


def test_deterministic_for_a_seed(scene):
    again = generate_scene(SceneConfig(seed=7, height=SIZE, width=SIZE))
    np.testing.assert_array_equal(scene.dem_m, again.dem_m)
    np.testing.assert_array_equal(scene.flood_water, again.flood_water)
    assert [a.image_id for a in scene.acquisitions] == [a.image_id for a in again.acquisitions]
    for first, second in zip(scene.acquisitions, again.acquisitions, strict=True):
        np.testing.assert_array_equal(first.data, second.data)
        if first.cloud_probability is not None:
            np.testing.assert_array_equal(first.cloud_probability, second.cloud_probability)
    other = generate_scene(SceneConfig(seed=8, height=SIZE, width=SIZE))
    assert not np.array_equal(scene.flood_water, other.flood_water)


def test_water_is_about_10_db_darker_than_land_in_vv(scene):
    for s1 in scene.select("S1"):
        water = scene.flood_water if s1.post_event else scene.permanent_water
        vv, vh = s1.band("VV"), s1.band("VH")
        calm = water & ~scene.flooded  # permanent water: open water in every acquisition
        assert vv[calm].mean() < -18.0
        assert vh[calm].mean() < -24.0
        contrast = vv[~water].mean() - vv[water].mean()
        assert 7.0 < contrast < 15.0, contrast
        assert -13.0 < vv[~water].mean() < -6.0
        assert -19.5 < vh[~water].mean() < -12.0


def test_speckle_function_has_the_gamma_statistics():
    rng = np.random.default_rng(0)
    sigma0 = np.full((400, 400), 0.01, dtype=np.float32)
    speckled = apply_speckle(sigma0, S1_GRD_IW_ENL, rng)
    assert speckled.dtype == np.float32
    assert speckled.mean() == pytest.approx(0.01, rel=0.01)
    assert speckled.std() / speckled.mean() == pytest.approx(1 / math.sqrt(S1_GRD_IW_ENL), rel=0.02)


def test_scene_speckle_over_open_water_matches_enl(calm_scene):
    s1 = calm_scene.select("S1", post_event=False)[0]
    water = ndimage.binary_erosion(calm_scene.permanent_water, iterations=1)
    assert water.sum() > 500
    for band in ("VV", "VH"):
        linear = 10 ** (s1.band(band)[water] / 10)
        cv = linear.std() / linear.mean()
        assert cv == pytest.approx(1 / math.sqrt(S1_GRD_IW_ENL), rel=0.1), (band, cv)


def test_clouds_in_s2_only():
    clear = SceneConfig(seed=3, height=256, width=256)
    plan = [p if p.sensor == "S1" else p.model_copy(update={"cloud_cover": 0.6}) for p in clear.acquisitions]
    cloudy = clear.model_copy(update={"acquisitions": plan})
    clear_scene, cloudy_scene = generate_scene(clear), generate_scene(cloudy)
    for a, b in zip(clear_scene.acquisitions, cloudy_scene.acquisitions, strict=True):
        if a.sensor == "S1":  # radar does not see clouds: identical
            assert a.cloud_probability is None
            np.testing.assert_array_equal(a.data, b.data)
            continue
        cloud = b.cloud_probability > 50
        assert 0.5 < cloud.mean() < 0.7
        assert b.properties["CLOUDY_PIXEL_PERCENTAGE"] == pytest.approx(100 * cloud.mean(), abs=0.01)
        blue = b.band("B2") / 10000
        assert blue[cloud].mean() > 0.35 > 0.15 > blue[~cloud].mean()
        assert (a.cloud_probability > 50).mean() < 0.35  # the clear plan is much clearer
    s2 = cloudy_scene.select("S2", post_event=True)[0]
    chips = cloudy_scene.to_chips(128)
    cloud_fraction = np.mean([chip.extras["s2_cloud"].mean() for chip in chips])
    assert cloud_fraction == pytest.approx((s2.cloud_probability > 50).mean(), abs=1e-6)


def test_flood_only_after_the_event_and_at_low_height(scene):
    flooded = scene.flooded
    assert 0.05 < flooded.mean() < 0.6
    # Concentrated at low height above drainage, and connected to the rivers.
    assert scene.hand_m[flooded].max() <= scene.config.flood_level_m
    dry = ~scene.flood_water
    assert scene.hand_m[flooded].mean() + 3.0 < scene.hand_m[dry].mean()
    components, _ = ndimage.label(scene.flood_water)
    assert set(np.unique(components[flooded])) <= set(np.unique(components[scene.permanent_water]))
    open_flood = flooded & np.isin(scene.land_cover, [LandCover.CROPLAND, LandCover.BARE_SOIL])
    for s1 in scene.select("S1"):
        vv = s1.band("VV")[open_flood].mean()
        assert (vv < -17.0) if s1.post_event else (vv > -14.0), (s1.image_id, vv)
    for s2 in scene.select("S2"):
        clear = s2.cloud_probability < 20
        ndwi = water_index(s2.data / 10000, S2_BANDS, "ndwi")
        median = np.median(ndwi[open_flood & clear])
        assert (median > 0.2) if s2.post_event else (median < -0.2), (s2.image_id, median)
    assert all(a.time >= scene.event_date for a in scene.acquisitions if a.post_event)
    assert all(a.time < scene.event_date for a in scene.acquisitions if not a.post_event)


def test_s2_spectra_are_plausible(scene):
    s2 = scene.select("S2", post_event=False)[0]
    clear = s2.cloud_probability < 20
    reflectance = s2.data / 10000
    assert s2.data.shape == (13, SIZE, SIZE) and s2.bands == S2_BANDS
    assert np.all(s2.data == np.round(s2.data)) and reflectance.max() < 1.0 and reflectance.min() > 0
    water = scene.permanent_water & clear
    forest = (scene.land_cover == LandCover.FOREST) & clear

    def band(name, mask):
        return float(reflectance[S2_BANDS.index(name)][mask].mean())

    assert band("B8", water) < 0.05 and band("B11", water) < 0.03 and band("B3", water) > band("B8", water)
    assert band("B8", forest) > 3 * band("B4", forest) and band("B7", forest) > band("B5", forest)
    assert band("B10", forest) < 0.02  # the cirrus band sees no ground


def test_georeference_is_utm_10m():
    scene = generate_scene(SceneConfig(seed=1, height=128, width=192, center_lon=15.3, center_lat=45.6))
    georef = scene.georef
    assert georef.crs == "EPSG:32633" and (georef.width, georef.height) == (192, 128)
    assert georef.transform.a == 10.0 and georef.transform.e == -10.0
    x, y = georef.transform @ (96, 64)
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(x, y)
    assert lon == pytest.approx(15.3, abs=2e-4) and lat == pytest.approx(45.6, abs=2e-4)
    assert mgrs_tile(15.3, 45.6) == "33TWL"
    assert scene.select("S2")[0].properties["MGRS_TILE"] == "33TWL"
    south = generate_scene(SceneConfig(seed=1, height=64, width=64, center_lon=-64.5, center_lat=-15.0))
    assert south.georef.crs == "EPSG:32720"


def test_acquisition_metadata(scene):
    times = [a.time for a in scene.acquisitions]
    assert times == sorted(times)
    assert len({a.image_id for a in scene.acquisitions}) == len(scene.acquisitions)
    s1s = scene.select("S1")
    assert {a.properties["orbitProperties_pass"] for a in s1s} == {"ASCENDING", "DESCENDING"}
    for s1 in s1s:
        assert s1.bands == ("VV", "VH", "angle") and s1.data.dtype == np.float32
        assert s1.properties["instrumentMode"] == "IW"
        assert s1.properties["transmitterReceiverPolarisation"] == ["VV", "VH"]
        assert 1 <= s1.properties["relativeOrbitNumber_start"] <= 175
        assert s1.properties["system:time_start"] == int(s1.time.timestamp() * 1000)
        assert 29 < s1.band("angle").min() and s1.band("angle").max() < 46.5
    for s2 in scene.select("S2"):
        assert 0 <= s2.properties["CLOUDY_PIXEL_PERCENTAGE"] <= 100
        assert s2.cloud_probability.min() >= 0 and s2.cloud_probability.max() <= 100
    post_s1, post_s2 = scene.select("S1", post_event=True), scene.select("S2", post_event=True)
    assert post_s1 and post_s2
    assert min(abs((s2.time - s1.time).total_seconds()) for s1 in post_s1 for s2 in post_s2) <= 2 * 86400


def test_to_chips(scene):
    chips = scene.to_chips(128, include_pre=True)
    assert len(chips) == (SIZE // 128) ** 2
    chip = chips[3]
    assert chip.chip_id == "Synthetic_000003" and chip.event == "Synthetic"
    assert chip.modality("s1").shape == (2, 128, 128) and chip.modality("s2").shape == (13, 128, 128)
    assert chip.modality("s1_pre").shape == (2, 128, 128) and chip.modality("s2_pre").shape == (13, 128, 128)
    assert chip.modality("s1").dtype == np.float32 and chip.modality("s2").dtype == np.float32
    assert 0 < np.nanmax(chip.modality("s2")) < 1.5
    row, col = divmod(3, SIZE // 128)
    window = (slice(row * 128, row * 128 + 128), slice(col * 128, col * 128 + 128))
    np.testing.assert_array_equal(chip.label, scene.flood_water[window].astype(np.int8))
    s1 = scene.select("S1", post_event=True)[0]
    np.testing.assert_array_equal(chip.band("s1", "VV"), s1.band("VV")[window])
    assert chip.extras["s2_cloud"].dtype == bool and chip.extras["s2_cloud"].shape == (128, 128)
    assert chip.georef.crs == scene.georef.crs
    assert chip.georef.transform.c == scene.georef.transform.c + col * 128 * 10
    assert chip.georef.transform.f == scene.georef.transform.f - row * 128 * 10
    assert chip.valid.all()
    with pytest.raises(InputError, match="chip_size 1000"):
        scene.to_chips(1000)
    with pytest.raises(InputError, match="no acquisition 'nope'"):
        scene.to_chips(64, s1_image_id="nope")


def test_config_validation():
    with pytest.raises(pydantic.ValidationError, match="letters and digits"):
        SceneConfig(event_name="my_event")
    with pytest.raises(pydantic.ValidationError, match="orbit_pass"):
        AcquisitionPlan(sensor="S1", day_offset=1)
    with pytest.raises(pydantic.ValidationError, match="cloud_cover applies to S2"):
        AcquisitionPlan(sensor="S1", day_offset=1, orbit_pass="ASCENDING", cloud_cover=0.5)
    with pytest.raises(pydantic.ValidationError):
        SceneConfig(height=10)


def test_synthetic_dataset_through_factory():
    from gee_flood.data import open_dataset

    train = open_dataset("synthetic", None, "train", scenes=1, size=128, chip_size=64, modalities=["s1"])
    test = open_dataset("synthetic", None, "test", scenes=1, size=128, chip_size=64)
    assert len(train) == 4 and set(train.modalities) == {"s1"}
    assert set(test[0].modalities) == {"s1", "s2"}
    assert not set(train.chip_ids()) & set(test.chip_ids())
    assert train[0].label is not None and train[0].label.dtype == np.int8

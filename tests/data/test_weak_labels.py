import numpy as np
import pytest

from gee_flood.data.chip import S2_BANDS
from gee_flood.data.weak_labels import s1_otsu_label, s2_index_label, tiled_otsu_threshold, water_index
from gee_flood.errors import DataError


def bimodal_scene(water_fraction=0.3, size=128, seed=0):
    rng = np.random.default_rng(seed)
    water = np.zeros((size, size), bool)
    water[:, : int(size * water_fraction)] = True
    vv_db = np.where(water, -22.0, -9.0) + rng.normal(0, 1.5, (size, size))
    return vv_db.astype(np.float32), water


def test_global_otsu_recovers_water():
    vv_db, water = bimodal_scene()
    label, threshold = s1_otsu_label(vv_db)
    assert -20 < threshold < -11
    assert (label == water).mean() > 0.99


def test_tiled_otsu_handles_rare_water():
    vv_db, water = bimodal_scene(water_fraction=0.04, size=256)
    threshold = tiled_otsu_threshold(vv_db, tile=32)
    label, _ = s1_otsu_label(vv_db, method="tiled", tile=32)
    assert -20 < threshold < -11
    assert ((label == 1) & water).sum() / water.sum() > 0.95


def test_invalid_pixels_are_nodata():
    vv_db, _ = bimodal_scene()
    vv_db[0, 0] = np.nan
    valid = np.ones_like(vv_db, bool)
    valid[1, 1] = False
    label, _ = s1_otsu_label(vv_db, valid)
    assert label[0, 0] == -1 and label[1, 1] == -1


def test_constant_input_is_clear_error():
    with pytest.raises(DataError, match="only one distinct value"):
        s1_otsu_label(np.full((8, 8), -10.0))


def test_ndwi_mndwi_and_clouds():
    s2 = np.full((13, 4, 4), 0.2, np.float32)
    b3, b8, b11 = S2_BANDS.index("B3"), S2_BANDS.index("B8"), S2_BANDS.index("B11")
    s2[b3, :2] = 0.08
    s2[b8, :2] = 0.02
    s2[b11, :2] = 0.01
    cloud = np.zeros((4, 4), bool)
    cloud[0, 0] = True
    label = s2_index_label(s2, S2_BANDS, index="ndwi", cloud=cloud)
    assert label[0, 0] == -1 and label[1, 0] == 1 and label[3, 3] == 0
    assert water_index(s2, S2_BANDS, "mndwi")[1, 0] > 0.7
    with pytest.raises(DataError, match="unknown water index"):
        water_index(s2, S2_BANDS, "ndvi")


def test_tiled_without_bimodal_tile_can_refuse():
    rng = np.random.default_rng(1)
    land_only = (-9.0 + rng.normal(0, 1.5, (128, 128))).astype(np.float32)
    label, _ = s1_otsu_label(land_only, method="tiled")  # global fallback splits land in two
    assert 0.2 < (label == 1).mean() < 0.8
    with pytest.raises(DataError, match="no bimodal tile"):
        s1_otsu_label(land_only, method="tiled", fallback="none")


def test_s1_weak_label_uses_fixed_threshold_on_unimodal_chips():
    from gee_flood.data.weak_labels import s1_weak_label

    rng = np.random.default_rng(2)
    land_only = (-9.0 + rng.normal(0, 1.5, (128, 128))).astype(np.float32)
    assert (s1_weak_label(land_only) == 0).mean() > 0.99
    vv_db, water = bimodal_scene(water_fraction=0.3)
    assert (s1_weak_label(vv_db) == water).mean() > 0.99

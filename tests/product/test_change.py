"""UN-SPIDER's change-detection reference: the focal mean, the ratio test, the evaluate method."""

from __future__ import annotations

import numpy as np
import pytest

from gee_flood.data.chip import OMBRIA_S1, OMBRIA_S1_PRE, Chip
from gee_flood.errors import InputError
from gee_flood.evaluation.evaluate import ChangePredictor, select_predictor
from gee_flood.product.change import change_flood, circular_footprint, focal_mean


def test_circular_footprint_and_focal_mean():
    disc = circular_footprint(5.0)  # 50 m at 10 m pixels
    assert disc.shape == (11, 11) and disc.sum() == 81  # pixels with centres within 5 px
    values = np.zeros((30, 30))
    values[15, 15] = 81.0
    mean = focal_mean(values, 5.0)
    assert mean[15, 15] == pytest.approx(1.0) and mean[15, 21] == 0.0
    with_gap = np.ones((5, 5))
    with_gap[2, 2] = np.nan
    assert np.isnan(focal_mean(with_gap, 1.0)[2, 2]) and focal_mean(with_gap, 1.0)[2, 1] == pytest.approx(1.0)


def test_darkening_by_more_than_the_ratio_is_flood_in_db_and_in_brightness():
    before = np.full((40, 40), -15.0)
    after = before.copy()
    after[:, :20] = -22.0  # 1.47 x darker in dB: flood
    after[:, 20:30] = -17.0  # 1.13: not
    flood = change_flood(before, after, pixel_m=10.0)
    assert (flood[:, :14] == 1).all() and (flood[:, 25:] == 0).all()
    bright_before, bright_after = np.full((40, 40), 120.0), np.full((40, 40), 120.0)
    bright_after[:, :20] = 60.0  # half as bright: flood
    assert (change_flood(bright_before, bright_after, brightness=True)[:, :14] == 1).all()
    after[0, 0] = np.nan
    assert np.isnan(change_flood(before, after)[0, 0])


def test_the_evaluate_method_on_a_bi_temporal_chip():
    before = np.full((1, 64, 64), 120.0, np.float32)
    after = before.copy()
    after[:, 10:40, 10:40] = 40.0  # a darkened square
    after[:, 60:62, 60:62] = 40.0  # a 4-pixel speck: below the minimum mapping unit
    chip = Chip("c", "e", {"s1_uint8_pre": before, "s1_uint8": after},
                {"s1_uint8_pre": OMBRIA_S1_PRE, "s1_uint8": OMBRIA_S1})  # fmt: skip
    predictor = select_predictor("ombria", method="change")
    assert isinstance(predictor, ChangePredictor) and predictor.required_modalities == ["s1_uint8_pre", "s1_uint8"]
    mask = predictor.predict(chip)
    assert mask[15:35, 15:35].all() and not mask[60:62, 60:62].any() and not mask[:5].any()
    with pytest.raises(InputError, match="pre-event"):
        select_predictor("sen1floods11", method="change")


def test_predict_method_change_streams_the_whole_array_result(tmp_path):
    import rasterio
    from scipy import ndimage
    from typer.testing import CliRunner

    from gee_flood.cli import app
    from tests.inference.conftest import write_s1

    rng = np.random.default_rng(3)
    before = np.stack([np.full((700, 90), -9.0), np.full((700, 90), -15.0)]) + rng.normal(0, 1.5, (2, 700, 90))
    after = before.copy()
    after[1, 100:600, 20:60] -= 8.0  # VH darkens across block boundaries (rows 512)
    after[1, 650:652, 5:7] -= 8.0  # a speck, removed by the focal mean or the minimum mapping unit
    pre = write_s1(tmp_path / "pre.tif", before.astype(np.float32))
    post = write_s1(tmp_path / "post.tif", after.astype(np.float32))
    out = tmp_path / "change.tif"
    result = CliRunner().invoke(app, ["predict", "--method", "change", "--pre", str(pre), "--input", str(post),
                                      "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = change_flood(before[1], after[1], pixel_m=10.0) == 1  # the whole scene at once
    labels, _ = ndimage.label(expected, np.ones((3, 3), bool))
    expected &= np.bincount(labels.ravel())[labels] >= 8
    with rasterio.open(out) as src:
        flood = src.read(3)
        assert src.tags()["checkpoint_role"] == "change-unspider" and src.tags()["pre_source"] == "pre.tif"
    np.testing.assert_array_equal(flood == 1, expected)
    assert expected[150:550, 30:50].all() and not expected[:50].any()
    refused = CliRunner().invoke(app, ["predict", "--method", "change", "--input", str(post), "--out",
                                       str(tmp_path / "x.tif")])  # fmt: skip
    assert refused.exit_code != 0 and "--pre" in refused.output and not (tmp_path / "x.tif").exists()

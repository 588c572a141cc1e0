"""With several models, predict's ``likelihood`` is the mean of their calibrated probabilities (CLI and API alike).

The scene is one tile (no blending), so each member's probability is its network's output on the whole scene,
computed here straight from the checkpoint (torch, the card's normalisation), independently of the streaming code.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.models import Preprocessing, build_model, load_model, save_checkpoint
from gee_flood.product import LAYERS, NODATA
from tests.inference.conftest import synthetic_s1, tiny_card, write_s1

SIZE = 64
THRESHOLDS = (0.4, 0.6)


def member(path, seed: int, threshold: float):
    card = tiny_card()
    card = card.model_copy(update={"labels": card.labels.model_copy(update={"threshold": threshold})})
    torch.manual_seed(seed)
    return save_checkpoint(build_model(card).eval(), card, path)


def probability_of(checkpoint, s1_db: np.ndarray) -> np.ndarray:
    """The member's water probability of the whole scene: one forward pass of its network."""
    loaded = load_model(checkpoint)
    inputs = Preprocessing.from_card(loaded.card).arrays_inputs({"s1": s1_db})
    with torch.inference_mode():
        logits = loaded.model.eval()(torch.from_numpy(inputs)[None])
    return torch.sigmoid(logits[0, 0]).numpy().astype(np.float64)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    members = zip((1, 2), THRESHOLDS, strict=True)
    checkpoints = [member(root / f"m{seed}.ckpt", seed, threshold) for seed, threshold in members]
    s1 = synthetic_s1(SIZE, SIZE, seed=3)
    s1[:, :6, :10] = np.nan  # no data
    scene = write_s1(root / "s1.tif", s1)
    out = root / "ensemble.tif"
    result = CliRunner().invoke(app, ["predict", "--checkpoint", str(checkpoints[0]), "--checkpoint",
                                      str(checkpoints[1]), "--input", str(scene), "--out", str(out), "--tile",
                                      str(SIZE), "--overlap", "0", "--runtime", "torch", "--min-mapping-unit", "0",
                                      "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    mean = np.mean([probability_of(path, s1) for path in checkpoints], axis=0)
    mean[~np.isfinite(s1).all(axis=0)] = np.nan
    return checkpoints, scene, out, mean


def test_likelihood_is_the_mean_probability_and_water_uses_the_mean_threshold(ensemble):
    _, _, out, mean = ensemble
    with rasterio.open(out) as src:
        layers = dict(zip(src.descriptions, src.read(), strict=True))
        tags = src.tags()
    assert tuple(layers) == LAYERS
    valid = np.isfinite(mean)
    expected = np.rint(mean * 100)
    got = layers["likelihood"].astype(np.float64)
    assert (got[~valid] == NODATA).all()
    assert np.abs(got[valid] - expected[valid]).max() <= 1  # a float32 rounding may tip a half percent
    assert (got[valid] == expected[valid]).mean() > 0.99
    threshold = float(np.mean(THRESHOLDS))
    assert float(tags["threshold"]) == pytest.approx(threshold)
    clear = valid & (np.abs(mean - threshold) > 1e-4)
    assert clear.sum() > 0.9 * valid.sum()
    np.testing.assert_array_equal(layers["water"][clear], (mean[clear] >= threshold).astype(np.uint8))
    water = (mean[valid] >= threshold).mean()
    assert 0.0 < water < 1.0  # the test can tell a wrong threshold: both classes are present
    assert tags["checkpoint"] == "m1.ckpt, m2.ckpt"


def test_the_api_gives_the_same_likelihood_as_the_cli(ensemble):
    import gee_flood

    checkpoints, scene, out, _ = ensemble
    models = [gee_flood.open_model(path) for path in checkpoints]
    flood = gee_flood.predict(models, scene, tile=SIZE, overlap=0, runtime="torch")
    assert flood.attrs["threshold"] == pytest.approx(np.mean(THRESHOLDS))
    with rasterio.open(out) as src:
        stored = src.read(1).astype(np.float64)
    likelihood = flood.likelihood.values
    np.testing.assert_array_equal(np.where(np.isnan(likelihood), NODATA, likelihood), stored)
    single = gee_flood.predict(models[0], scene, tile=SIZE, overlap=0, runtime="torch")
    assert not np.array_equal(single.likelihood.values, likelihood, equal_nan=True)  # the members differ


def test_a_repeated_member_is_refused_in_one_line(ensemble, tmp_path):
    checkpoints, scene, _, _ = ensemble
    out = tmp_path / "x.tif"
    result = CliRunner().invoke(app, ["predict", "--checkpoint", str(checkpoints[0]), "--checkpoint",
                                      str(checkpoints[0]), "--input", str(scene), "--out", str(out)])  # fmt: skip
    assert result.exit_code != 0 and "a checkpoint is repeated" in result.output
    assert not out.exists()


def test_an_ensemble_prediction_pickles_small_and_predicts_the_same_on_a_worker(ensemble):
    """What each Dask task of ``predict --scheduler`` receives: the models as their paths, the mean again there."""
    import pickle

    from gee_flood.inference.model import open_model
    from gee_flood.inference.predict import plan_prediction
    from gee_flood.inference.source import GeoTiffSceneSource

    checkpoints, scene, _, mean = ensemble
    first, second = (open_model(path) for path in checkpoints)
    prediction = plan_prediction(first, GeoTiffSceneSource(scene), tile=SIZE, overlap=0, runtime="torch",
                                 ensemble=[second])  # fmt: skip
    shipped = pickle.dumps(prediction)
    assert len(shipped) < 100_000  # no weights inside
    probability = pickle.loads(shipped).probability_rows(0, SIZE)
    valid = np.isfinite(mean)
    np.testing.assert_allclose(probability[valid], mean[valid], atol=1e-5)

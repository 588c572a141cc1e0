import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.data import DatasetConfig, compute_dataset_stats, load_dataset_config, read_stats, write_stats
from gee_flood.data.dataset_config import DATASET_CONFIG_DIR
from gee_flood.errors import InputError
from tests.fixtures.datasets import write_sen1floods11_fixture

PUBLISHED_MEAN = np.array([0.6851, 0.5235])
PUBLISHED_STD = np.array([0.0820, 0.1102])


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return write_sen1floods11_fixture(tmp_path_factory.mktemp("st") / "s11", size=24)


def test_sen1floods11_config_reproduces_the_published_recipe():
    config = load_dataset_config("sen1floods11")
    assert isinstance(config, DatasetConfig) and config.name == "sen1floods11"
    assert {"train", "valid", "test", "bolivia"} <= set(config.splits)
    s1 = config.normalization.modalities["s1"]
    assert s1.bands == ["VV", "VH"]
    np.testing.assert_allclose(s1.mean, 51 * PUBLISHED_MEAN - 50, atol=1e-9)
    np.testing.assert_allclose(s1.std, 51 * PUBLISHED_STD, atol=1e-9)
    db = np.random.default_rng(0).uniform(-70, 20, (2, 40, 40)).astype(np.float32)
    db[0, 0, 0] = np.nan
    published = ((np.clip(db, -50, 1) + 50) / 51 - PUBLISHED_MEAN[:, None, None]) / PUBLISHED_STD[:, None, None]
    ours = config.normalization.normalize("s1", db)
    np.testing.assert_allclose(ours[np.isfinite(db)], published[np.isfinite(db)], atol=1e-4)
    assert ours[0, 0, 0] == 0.0  # no data -> 0


def test_ombria_config_commits_no_numbers():
    config = load_dataset_config("ombria")
    assert config.normalization is None and config.splits == ["train", "test"]


def test_bad_config_files(tmp_path):
    with pytest.raises(InputError, match="dataset config not found .*known configs: ombria, sen1floods11"):
        load_dataset_config("sen2floods")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsplits: [a]\nmodalities: [s1]\ncolour: blue\n")
    with pytest.raises(InputError, match="bad.yaml: not a valid dataset config \\(colour: Extra inputs"):
        load_dataset_config(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="bad.yaml: unreadable YAML"):
        load_dataset_config(bad)


def test_compute_stats_matches_the_training_pixels(fixture, tmp_path):
    stats = compute_dataset_stats("sen1floods11", fixture.root, "train", ["s1", "s2"], progress=False)
    train = [fixture.chips[i] for i in fixture.splits["train"]]
    s1 = np.stack([np.clip(c.s1_db, -50, 1) for c in train])
    s2 = np.stack([np.where(c.s2_dn == 0, np.nan, c.s2_dn / 1e4) for c in train])
    np.testing.assert_allclose(stats.modalities["s1"].mean, np.nanmean(s1, axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(stats.modalities["s1"].std, np.nanstd(s1, axis=(0, 2, 3)), rtol=1e-4)
    np.testing.assert_allclose(stats.modalities["s2"].mean, np.nanmean(s2, axis=(0, 2, 3)), rtol=1e-5)
    assert stats.modalities["s1"].clip_min == [-50.0, -50.0] and stats.modalities["s2"].clip_min is None
    assert stats.dataset == "sen1floods11"
    path = write_stats(stats, tmp_path / "out" / "stats.yaml")
    assert read_stats(path) == stats
    assert read_stats(DATASET_CONFIG_DIR / "sen1floods11.yaml").modalities["s1"].bands == ["VV", "VH"]
    with pytest.raises(InputError, match="ombria.yaml: has no normalisation statistics"):
        read_stats(DATASET_CONFIG_DIR / "ombria.yaml")
    one = compute_dataset_stats("sen1floods11", fixture.root, "train", ["s1"], max_chips=1, progress=False)
    assert one.modalities["s1"].mean != stats.modalities["s1"].mean


def test_cli_stats(fixture, tmp_path):
    runner = CliRunner()
    out = tmp_path / "stats.yaml"
    args = ["data", "stats", "--dataset", "sen1floods11", "--root", str(fixture.root), "--out", str(out)]
    result = runner.invoke(app, args + ["--split", "train", "--modalities", "s1,s2"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load(out.read_text())
    assert set(saved["modalities"]) == {"s1", "s2"} and "s1: VV" in result.output
    bad_out = tmp_path / "bad.yaml"
    result = runner.invoke(app, args[:-1] + [str(bad_out), "--split", "val", "--quiet"])
    assert result.exit_code == 2 and not bad_out.exists()
    assert result.output.strip().splitlines()[-1].startswith("error: unknown Sen1Floods11 hand split 'val'")
    result = runner.invoke(app, args[:-1] + [str(bad_out), "--modalities", "s3", "--quiet"])
    assert result.exit_code == 2 and "no modality 's3'" in result.output and not bad_out.exists()

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.data.base import ChipDataset
from gee_flood.data.ombria import OmbriaDataset
from gee_flood.data.synthetic import SceneConfig, generate_scene
from gee_flood.errors import DataError, InputError
from gee_flood.evaluation.evaluate import (
    OtsuPredictor,
    Predictor,
    build_report,
    evaluate_dataset,
    run_evaluation,
    select_predictor,
)
from gee_flood.evaluation.metrics import confusion
from tests.fixtures.datasets import write_sen1floods11_fixture

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ombria"
SCORE_KEYS = {"total_iou", "mean_iou", "f1", "omission", "commission", "chips", "pixels"}
runner = CliRunner()


class ListDataset(ChipDataset):
    def __init__(self, chips, name="synthetic"):
        self.chips = chips
        self.name = name
        self.modalities = dict(chips[0].specs)

    def __len__(self):
        return len(self.chips)

    def chip_ids(self):
        return [c.chip_id for c in self.chips]

    def __getitem__(self, index):
        return self.chips[index]


@pytest.fixture(scope="module")
def synthetic_chips():
    scene = generate_scene(SceneConfig(seed=5, height=256, width=256))
    return scene.to_chips(128)


def write_ombria(root: Path, split="test", ids=("0001", "0002", "0003")):
    """Tiny OMBRIA tree: a dark disc of flood water (SAR 20-60) on bright land (120-200)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    for number, sid in enumerate(ids):
        water = (yy - 128) ** 2 + (xx - 100 - 20 * number) ** 2 < 60**2
        sar = np.where(water, rng.integers(20, 60, (256, 256)), rng.integers(120, 200, (256, 256))).astype(np.uint8)
        optical = rng.integers(1, 255, (256, 256, 3), dtype=np.uint8)
        mask = np.where(water, 255, 0).astype(np.uint8)
        for time, s1, s2 in (
            ("BEFORE", np.full_like(sar, 150), optical),
            ("AFTER", sar, optical),
            ("MASK", mask, mask),
        ):
            for sensor, prefix, image in (("OmbriaS1", "S1", s1), ("OmbriaS2", "S2", s2)):
                folder = root / sensor / split / time
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{prefix}_{time.lower()}_{sid}.png")
    return root


def test_otsu_predictor_finds_synthetic_water(synthetic_chips):
    predictor = OtsuPredictor("global", "s1/VV")
    assert isinstance(predictor, Predictor)
    assert predictor.required_modalities == ["s1"] and predictor.name == "otsu-global"
    accumulator = evaluate_dataset(ListDataset(synthetic_chips), predictor, progress=False)
    scores = accumulator.overall()
    assert scores.chips == 4 and scores.pixels == 4 * 128 * 128
    assert scores.total_iou > 0.6 and scores.omission < 0.3 and scores.commission < 0.05
    chip = synthetic_chips[1]
    expected = confusion(predictor.predict(chip), chip.label, chip.valid)
    assert accumulator.per_chip[chip.chip_id] == expected
    tiled = evaluate_dataset(ListDataset(synthetic_chips), OtsuPredictor("tiled", "s1/VV"), progress=False)
    assert tiled.overall().total_iou > 0.6


def test_otsu_predictor_ignores_invalid_pixels_and_blank_chips(synthetic_chips):
    chip = copy.deepcopy(synthetic_chips[0])
    chip.valid[:, :64] = False
    mask = OtsuPredictor("global", "s1/VV").predict(chip)
    assert mask.dtype == bool and not mask[:, :64].any()
    chip.valid[:] = False
    assert not OtsuPredictor("tiled", "s1/VV").predict(chip).any()


def test_bad_predictor_options():
    with pytest.raises(InputError, match="unknown Otsu method 'local'"):
        OtsuPredictor("local")
    with pytest.raises(InputError, match="must be 'modality/band'"):
        OtsuPredictor("global", "VV")
    with pytest.raises(InputError, match="unknown modality 'radar'"):
        OtsuPredictor("global", "radar/VV")
    with pytest.raises(InputError, match="has bands"):
        OtsuPredictor("global", "s1/HH")
    with pytest.raises(InputError, match="unknown method 'unet'"):
        select_predictor("ombria", method="unet")
    with pytest.raises(InputError, match="say what to evaluate"):
        select_predictor("ombria")
    assert select_predictor("ombria", method="otsu").required_modalities == ["s1_uint8"]
    assert select_predictor("sen1floods11", method="otsu", otsu="tiled").name == "otsu-tiled"


def test_evaluate_dataset_needs_labels_and_modalities(synthetic_chips):
    with pytest.raises(DataError, match="needs modalities"):
        evaluate_dataset(ListDataset(synthetic_chips), OtsuPredictor("global", "s1_uint8/sar_uint8"), progress=False)
    unlabelled = copy.deepcopy(synthetic_chips)
    unlabelled[2].label = None
    with pytest.raises(DataError, match="has no labels"):
        evaluate_dataset(ListDataset(unlabelled), OtsuPredictor("global", "s1/VV"), progress=False)


def test_report_has_top_level_scores_and_no_nan(synthetic_chips):
    accumulator = evaluate_dataset(ListDataset(synthetic_chips[:1]), OtsuPredictor(), progress=False)
    chip = synthetic_chips[0]
    accumulator.add("dry", "Other", np.zeros(chip.shape, bool), np.zeros(chip.shape, np.int8))  # IoU undefined
    report = build_report(accumulator, dataset="synthetic", split="test", method="otsu-global")
    assert SCORE_KEYS <= set(report) and {"dataset", "split", "method", "per_event", "per_chip"} <= set(report)
    assert report["per_chip"]["dry"]["iou"] is None
    assert set(report["per_event"]) == {"Synthetic", "Other"}
    json.dumps(report, allow_nan=False)


def test_cli_evaluates_ombria_fixture(tmp_path):
    root = write_ombria(tmp_path / "ombria")
    out = tmp_path / "reports" / "ombria.json"
    result = runner.invoke(
        app, ["evaluate", "--dataset", "ombria", "--root", str(root), "--method", "otsu", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "total IoU" in result.output and "overall" in result.output
    report = json.loads(out.read_text())
    assert report["dataset"] == "ombria" and report["split"] == "test" and report["method"] == "otsu-global"
    assert report["chips"] == 3 and report["total_iou"] > 0.95  # the dark disc is the flood
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_cli_evaluates_sen1floods11_fixture(tmp_path):
    fixture = write_sen1floods11_fixture(
        tmp_path / "s11", hand_splits={"test": ("Spain_7370579", "Ghana_103272", "India_1018327")}
    )
    out = tmp_path / "s11.json"
    args = ["evaluate", "--dataset", "sen1floods11", "--root", str(fixture.root), "--split", "test"]
    result = runner.invoke(app, [*args, "--method", "otsu", "--otsu", "tiled", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["method"] == "otsu-tiled" and report["chips"] == 3
    assert set(report["per_event"]) == {"Spain", "Ghana", "India"}
    assert report["total_iou"] > 0.5
    for event in ("Spain", "Ghana", "India"):
        assert event in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dataset", "ombria", "--root", "{root}", "--split", "valid"], "unknown OMBRIA split 'valid'"),
        (["--dataset", "ombria", "--root", "{root}/missing"], "dataset folder not found"),
        (["--dataset", "ombria"], "needs a root folder"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, options, message):
    root = write_ombria(tmp_path / "ombria", ids=("0001",))
    options = [o.format(root=root) for o in options]
    if "--method" not in options:
        options += ["--method", "otsu"]
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["evaluate", *options, "--out", str(out), "--quiet"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        (["--dataset", "nope"], "--dataset"),
        (["--dataset", "ombria", "--method", "unet"], "--method"),
        (["--dataset", "ombria", "--method", "otsu", "--otsu", "local"], "--otsu"),
    ],
)
def test_cli_refuses_unknown_choices(tmp_path, options, flag):
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["evaluate", "--root", str(tmp_path), *options, "--out", str(out), "--quiet"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and f"Invalid value for '{flag}'" in errors[0], result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="real OMBRIA data not present at ../shared/data/ombria")
def test_cli_on_real_ombria_test_split(tmp_path):
    out = tmp_path / "ombria_otsu.json"
    result = runner.invoke(
        app,
        ["evaluate", "--dataset", "ombria", "--root", str(SHARED), "--split", "test", "--method", "otsu"]
        + ["--out", str(out), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert SCORE_KEYS | {"dataset", "split", "method", "per_event", "per_chip"} <= set(report)
    assert report["chips"] == 70 and report["pixels"] == 70 * 256 * 256
    # Global Otsu on OMBRIA's 8-bit SAR measured 0.468 total IoU (docs/benchmarks.md); a sane band around it.
    assert 0.35 < report["total_iou"] < 0.6
    assert 0.0 < report["commission"] < 0.4 and 0.0 < report["omission"] < 0.5


def test_run_evaluation_reads_only_the_needed_modality(tmp_path):
    root = write_ombria(tmp_path / "ombria", ids=("0001",))
    (root / "OmbriaS2" / "test" / "AFTER" / "S2_after_0001.png").write_bytes(b"garbage")
    report = run_evaluation("ombria", root, "test", OtsuPredictor("global", "s1_uint8/sar_uint8"), progress=False)
    assert report["chips"] == 1
    assert OmbriaDataset(root, "test", modalities=["s1_uint8"])[0].label.any()

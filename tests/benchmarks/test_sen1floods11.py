"""Protocol B end to end on tiny Sen1Floods11 and corpus fixtures (the real run needs the data and a GPU)."""

import json
from pathlib import Path

from benchmarks.sen1floods11 import Sen1Floods11Options, merge_sen1floods11, run_sen1floods11
from gee_flood.models import read_card
from tests.fixtures.datasets import write_corpus_fixture, write_sen1floods11_fixture
from tests.fixtures.training import SMALL_ARCH

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_protocol_b_runs_on_fixtures(tmp_path):
    data = tmp_path / "sen1floods11"
    splits = {
        "train": ("Ghana_1", "Ghana_2", "India_3"),
        "valid": ("USA_4",),
        "test": ("Spain_5",),
        "bolivia": ("Bolivia_6",),
    }
    write_sen1floods11_fixture(data, hand_splits=splits, weak_ids=("Ghana_7", "Nigeria_8", "Bolivia_9"))
    corpus = tmp_path / "corpus"
    write_corpus_fixture(corpus, chip_ids=("Ghana_10", "Ghana_11"))
    options = Sen1Floods11Options(
        data_root=data,
        corpus_root=corpus,
        configs_dir=CONFIGS,
        work_dir=tmp_path / "runs",
        results_dir=tmp_path / "results",
        overrides={
            "model.architecture": SMALL_ARCH,
            "data.crop_size": 16,
            "optim.batch_size": 2,
            "optim.max_steps": 2,
            "optim.warmup_steps": 0,
            "trainer.val_every_steps": 2,
            "trainer.num_workers": 0,
            "trainer.threads": 1,
        },
        progress=False,
    )
    path = run_sen1floods11(options, 0, log=lambda line: None)
    rows = json.loads(path.read_text())["rows"]
    assert {(r["name"], r["split"]) for r in rows} == {
        (name, split)
        for name in ("otsu", "weak-s1otsu", "weak-s2index", "supervised", "teacher", "student")
        for split in ("test", "bolivia")
    }
    student = read_card(tmp_path / "runs" / "seed0" / "student" / "model.ckpt")
    assert student.sar_only and student.training.unlabelled_chips == 2
    weak = read_card(tmp_path / "runs" / "seed0" / "weak-s1otsu" / "model.ckpt")
    assert weak.training.label_source == "weak:s1otsu"
    assert weak.training.labelled_chips == 2  # the weak part's train split leaves Bolivia out
    _, md = merge_sen1floods11(tmp_path / "results")
    assert "published: FCN-ResNet50" in md.read_text()

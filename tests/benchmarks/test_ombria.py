import json
from pathlib import Path

import pytest

from benchmarks.ombria import BenchmarkOptions, kept_invocations, merge_results, run_seed
from gee_flood.errors import InputError
from tests.fixtures.datasets import write_ombria_fixture
from tests.fixtures.training import TINY_OMBRIA

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _seed_file(results: Path, seed: int, student: float, weak: float, steps: int = 1000) -> None:
    rows = []
    for name, iou in (("otsu", 0.4), ("weak", weak), ("supervised-subset", 0.5), ("student", student)):
        row = {"name": name, "setting": "single-date", "labelled_fraction": 0.1, "seed": seed, "total_iou": iou}
        if name != "otsu":
            row["steps"] = steps
        row.update({"f1": 0.6, "omission": 0.2, "commission": 0.1, "mean_iou": iou - 0.05})
        rows.append(row)
    payload = {"seed": seed, "wall_seconds": 60.0, "cpu_seconds": 100.0, "threads": 2, "machine": "x", "torch": "t"}
    (results / "seeds").mkdir(parents=True, exist_ok=True)
    (results / "seeds" / f"seed{seed}.json").write_text(json.dumps({**payload, "rows": rows}))


def test_merge_reports_mean_std_and_paired_gaps(tmp_path):
    _seed_file(tmp_path, 0, student=0.60, weak=0.50)
    _seed_file(tmp_path, 1, student=0.62, weak=0.54)
    json_path, md_path = merge_results(tmp_path)
    merged = json.loads(json_path.read_text())
    student = next(r for r in merged["rows"] if r["name"] == "student")
    assert student["total_iou_mean"] == pytest.approx(0.61)
    assert student["total_iou_std"] == pytest.approx(0.0141421, rel=1e-4)  # sample std (ddof=1)
    assert [r["name"] for r in merged["rows"]] == ["otsu", "weak", "supervised-subset", "student"]
    weak_gap = next(c for c in merged["comparisons"] if c["student_minus"] == "weak")
    assert weak_gap["gap_points_mean"] == pytest.approx(9.0)
    assert weak_gap["meets_target"] and weak_gap["gap_exceeds_spread"]
    text = md_path.read_text()
    assert "| single-date | student |" in text and "61.0 ± 1.4" in text
    assert "| 0, 1 | 61.0 ± 1.4 |" in text  # the seeds of each row, then mean ± std
    assert merged["steps"] == 1000 and "same optimizer steps (1000)" in text
    with pytest.raises(InputError, match="no seed"):
        merge_results(tmp_path / "empty")


def test_merge_refuses_seeds_of_different_schedules(tmp_path):
    _seed_file(tmp_path, 0, student=0.60, weak=0.50, steps=400)
    _seed_file(tmp_path, 1, student=0.62, weak=0.54, steps=1000)
    with pytest.raises(InputError, match=r"mix training schedules \(400 steps in seed0.json, 1000 steps in seed1.json"):
        merge_results(tmp_path)
    assert not (tmp_path / "ombria.md").exists()


def test_a_row_of_one_seed_shows_no_spread(tmp_path):
    _seed_file(tmp_path, 3, student=0.60, weak=0.50)
    _, md_path = merge_results(tmp_path)
    line = next(line for line in md_path.read_text().splitlines() if line.startswith("| single-date | student |"))
    assert "| 3 | 60.0 |" in line and "±" not in line


def test_rerunning_one_setting_keeps_only_the_time_of_the_rows_that_stay():
    row = {"labelled_fraction": 0.1, "seed": 0}
    earlier = {
        "rows": [
            {**row, "name": "otsu", "setting": "single-date"},
            {**row, "name": "student", "setting": "single-date", "wall_seconds": 10.0, "cpu_seconds": 15.0},
            {**row, "name": "otsu", "setting": "bi-temporal"},
            {**row, "name": "teacher", "setting": "bi-temporal", "wall_seconds": 20.0, "cpu_seconds": 30.0},
            {**row, "name": "student", "setting": "bi-temporal", "wall_seconds": 25.0, "cpu_seconds": 40.0},
        ],
        "invocations": [
            {"settings": ["single-date", "bi-temporal"], "wall_seconds": 100.0, "cpu_seconds": 150.0, "threads": 2}
        ],
    }
    (kept,) = kept_invocations(earlier, ["bi-temporal"])
    assert kept["settings"] == ["single-date"] and kept["replaced_settings"] == ["bi-temporal"]
    assert kept["wall_seconds"] == pytest.approx(55.0) and kept["cpu_seconds"] == pytest.approx(80.0)
    assert earlier["invocations"][0]["wall_seconds"] == 100.0  # the earlier file's record is not changed in place
    assert kept_invocations(earlier, ["single-date", "bi-temporal"]) == []
    assert kept_invocations(earlier, ["other"]) == earlier["invocations"]


def test_one_seed_of_the_benchmark_runs_end_to_end(tmp_path):
    data = write_ombria_fixture(tmp_path / "ombria", train=12, test=2)
    options = BenchmarkOptions(
        data_root=data,
        configs_dir=CONFIGS,
        work_dir=tmp_path / "runs",
        results_dir=tmp_path / "results",
        settings=("single-date",),
        threads=1,
        labelled_fraction=0.5,
        overrides=TINY_OMBRIA,
    )
    path = run_seed(options, 0, log=lambda line: None)
    rows = json.loads(path.read_text())["rows"]
    assert [r["name"] for r in rows] == ["otsu", "teacher", "student", "weak", "supervised-subset", "supervised-all"]
    assert all(0.0 <= r["total_iou"] <= 1.0 for r in rows)
    trained = [r for r in rows if r["name"] != "otsu"]
    assert {r["steps"] for r in trained} == {2}  # every trained row: the same optimizer steps
    student = next(r for r in rows if r["name"] == "student")
    assert student["unlabelled_chips"] == 6 and student["labelled_chips"] == 4
    assert student["teacher_inputs"] == [["s1_uint8", "s2_falsecolor_uint8"]]
    assert next(r for r in rows if r["name"] == "weak")["labelled_chips"] == 10
    options.settings = ("bi-temporal",)  # a later invocation adds a setting to the same seed file
    options.student_teachers = ("bi-temporal",)
    run_seed(options, 0, log=lambda line: None)
    both = json.loads(path.read_text())
    assert [(r["setting"], r["name"]) for r in both["rows"]][: len(rows)] == [("single-date", r["name"]) for r in rows]
    assert [r["name"] for r in both["rows"] if r["setting"] == "bi-temporal"] == [
        "otsu",
        "teacher",
        "student",
        "supervised-subset",
        "supervised-all",
    ]
    assert [one["settings"] for one in both["invocations"]] == [["single-date"], ["bi-temporal"]]
    _, md_path = merge_results(tmp_path / "results")
    assert "## bi-temporal" in md_path.read_text() and "seed 0, bi-temporal:" in md_path.read_text()

import json
from pathlib import Path

import pytest

from benchmarks.ombria import (
    INPUTS,
    ROW_ORDER,
    TRAINED_ROWS,
    BenchmarkOptions,
    kept_invocations,
    merge_results,
    recipe_overrides,
    reused_rows,
    row_config,
    run_seed,
    scene_groups,
)
from benchmarks.ombria_thresholds import markdown, score_runs
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
    payload["labelled_fraction"] = 0.1
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


def test_scene_groups_cover_train_once_and_repeat_under_their_seed(tmp_path):
    data = write_ombria_fixture(tmp_path / "ombria", train=10, test=1)
    groups = scene_groups(data, 3, seed=0)
    assert len(groups) == 3 and all(groups)
    assert sorted(sample for group in groups for sample in group) == [f"{i:04d}" for i in range(1, 11)]
    assert scene_groups(data, 3, seed=0) == groups
    with pytest.raises(InputError, match="--groups 11: expected 2 to 10"):
        scene_groups(data, 11)


def test_recipes_override_the_rows_they_name(tmp_path):
    assert recipe_overrides("default", "student", "single-date") == {}
    robust = recipe_overrides("robust", "weak", "single-date")
    assert robust == {"augment.enabled": True, "threshold.method": "prior"}
    assert recipe_overrides("robust-pool", "student", "single-date")["data.pre_event_pool"] is True
    assert "data.pre_event_pool" not in recipe_overrides("robust-pool", "student", "bi-temporal")
    assert "data.pre_event_pool" not in recipe_overrides("robust-pool", "supervised-subset", "single-date")
    with pytest.raises(InputError, match="--recipe 'nope': unknown"):
        recipe_overrides("nope", "student", "single-date")
    options = BenchmarkOptions(
        data_root=tmp_path, configs_dir=CONFIGS, work_dir=tmp_path / "runs", results_dir=tmp_path, recipe="robust-pool"
    )
    config = row_config(options, "student", "single-date", 0, fold=(1, ["0001", "0002"]))
    assert config.augment.enabled and config.threshold.method == "prior" and config.data.pre_event_pool
    assert config.data.options == {"ids": ["0001", "0002"]} and config.trainer.output_dir.name == "group1"
    default = row_config(BenchmarkOptions(tmp_path, CONFIGS, tmp_path, tmp_path), "student", "single-date", 0)
    assert not default.augment.enabled and default.threshold.method == "validation" and not default.data.pre_event_pool


def _with_groups(results: Path, seed: int, student: list[float], subset: list[float], recipe="robust") -> None:
    path = results / "seeds" / f"seed{seed}.json"
    run = json.loads(path.read_text())
    rows = []
    for name, values in (("student", student), ("supervised-subset", subset)):
        rows += [{"name": name, "group": g, "total_iou": v, "seed": seed} for g, v in enumerate(values)]
    run.update(recipe=recipe, logo={"groups": 2, "groups_seed": 0, "group_sizes": [5, 7], "rows": rows})
    path.write_text(json.dumps(run))


def test_merge_reports_leave_one_group_out_beside_the_test_table(tmp_path):
    _seed_file(tmp_path, 0, student=0.60, weak=0.50)
    _seed_file(tmp_path, 1, student=0.62, weak=0.54)
    _with_groups(tmp_path, 0, student=[0.50, 0.40], subset=[0.45, 0.30])
    _with_groups(tmp_path, 1, student=[0.52, 0.44], subset=[0.47, 0.36])
    json_path, md_path = merge_results(tmp_path)
    logo = json.loads(json_path.read_text())["logo"]
    student = next(row for row in logo["rows"] if row["name"] == "student")
    assert student["folds"] == 4 and student["total_iou_mean"] == pytest.approx(0.465)
    assert student["per_group"] == {"0": pytest.approx(0.51), "1": pytest.approx(0.42)}
    (gap,) = logo["gaps"]
    assert gap["student_minus"] == "supervised-subset" and gap["gap_points_mean"] == pytest.approx(7.0)
    assert gap["gap_points_min"] == pytest.approx(5.0) and gap["gap_points_max"] == pytest.approx(10.0)
    text = md_path.read_text()
    assert "## Leave-one-group-out (OMBRIA train in 2 scene groups; single-date)" in text
    assert "| student | 4 | 46.5 ± 5.5 | 40.0 | 52.0 | 51.0, 42.0 |" in text
    assert "recipe `robust`" in text and "`augment.enabled=True`" in text
    _with_groups(tmp_path, 1, student=[0.5, 0.4], subset=[0.4, 0.3], recipe="default")
    with pytest.raises(InputError, match="different recipes"):
        merge_results(tmp_path)


@pytest.mark.slow
def test_the_robust_recipe_with_leave_one_group_out_runs_end_to_end(tmp_path):
    data = write_ombria_fixture(tmp_path / "ombria", train=16, test=1)
    options = BenchmarkOptions(
        data_root=data,
        configs_dir=CONFIGS,
        work_dir=tmp_path / "runs",
        results_dir=tmp_path / "results",
        threads=1,
        labelled_fraction=0.5,
        overrides=TINY_OMBRIA,
        recipe="robust-pool",
        groups=2,
    )
    path = run_seed(options, 0, log=lambda line: None)
    run = json.loads(path.read_text())
    assert run["recipe"] == "robust-pool" and run["invocations"][0]["groups"] == 2
    student = next(r for r in run["rows"] if r["name"] == "student")
    assert student["threshold_method"] == "prior" and student["unlabelled_chips"] == 8 + 14  # pool + BEFORE images
    logo = run["logo"]
    assert sum(logo["group_sizes"]) == 16 and {r["group"] for r in logo["rows"]} == {0, 1}
    assert len(logo["rows"]) == 2 * 6 and all(0.0 <= r["total_iou"] <= 1.0 for r in logo["rows"])
    assert all(r["group_chips"] == logo["group_sizes"][r["group"]] for r in logo["rows"])
    _, md_path = merge_results(tmp_path / "results")
    assert "Leave-one-group-out" in md_path.read_text()
    # the threshold ablation scores the same checkpoints at both thresholds (the folds' runs are not read)
    records = score_runs(tmp_path / "runs", data)
    assert sorted(r["name"] for r in records) == sorted(TRAINED_ROWS["single-date"])
    by_name = {r["name"]: r for r in records}
    assert by_name["student"]["prior (as trained) total_iou"] == student["total_iou"]
    assert all(0.0 <= r["validation chips total_iou"] <= 1.0 for r in records)
    table = markdown(records)
    assert table.count("\n| ") == 1 + len(records) and "| student | " in table


@pytest.mark.slow  # trains four tiny runs of every row (30 s); the refusals below stay in the default suite
def test_a_student_recipe_reuses_the_unchanged_baselines_and_retrains_its_teacher_identically(tmp_path):
    data = write_ombria_fixture(tmp_path / "ombria", train=16, test=2)
    common = dict(data_root=data, configs_dir=CONFIGS, threads=1, labelled_fraction=0.5, overrides=TINY_OMBRIA)
    default = BenchmarkOptions(**common, work_dir=tmp_path / "runs-default", results_dir=tmp_path / "default")
    default_rows = {r["name"]: r for r in json.loads(run_seed(default, 0, log=lambda line: None).read_text())["rows"]}

    def student_only(recipe: str) -> dict[str, dict]:
        options = BenchmarkOptions(
            **common,
            work_dir=tmp_path / f"runs-{recipe}",
            results_dir=tmp_path / recipe,
            recipe=recipe,
            rows=("student",),
            baselines_from=tmp_path / "default",
        )
        run = json.loads(run_seed(options, 0, log=lambda line: None).read_text())
        assert tuple(r["name"] for r in run["rows"]) == ROW_ORDER
        return {r["name"]: r for r in run["rows"]}

    pool = student_only("pool")
    for name in ("weak", "supervised-subset", "supervised-all"):
        assert pool[name]["reused_from"].endswith("seed0.json")
        assert pool[name]["total_iou"] == default_rows[name]["total_iou"]
    assert pool["student"]["unlabelled_chips"] == default_rows["student"]["unlabelled_chips"] + 14  # + BEFORE images
    # the student needs the single-date teacher, so it is trained again, not reused: same seed and config, same scores
    assert "reused_from" not in pool["teacher"] and pool["teacher"]["total_iou"] == default_rows["teacher"]["total_iou"]
    # the folds of the student (and the teacher it needs) added to the pool seed's file, its test rows untouched
    folds = BenchmarkOptions(**common, work_dir=tmp_path / "runs-pool", results_dir=tmp_path / "pool",
                             recipe="pool", rows=("student",), groups=2, groups_only=True)  # fmt: skip
    run = json.loads(run_seed(folds, 0, log=lambda line: None).read_text())
    assert {r["name"]: r for r in run["rows"]} == pool
    assert sorted({(r["name"], r["group"]) for r in run["logo"]["rows"]}) == [
        ("otsu", 0), ("otsu", 1), ("student", 0), ("student", 1), ("teacher", 0), ("teacher", 1)
    ]  # fmt: skip
    assert run["invocations"][-1]["groups_only"] and run["invocations"][-1]["rows"] == ["student"]
    _, md_path = merge_results(tmp_path / "pool")
    assert "Leave-one-group-out" in md_path.read_text() and "(student only)" in md_path.read_text()
    with pytest.raises(InputError, match="run the seed's test rows first"):
        run_seed(folds, 5, log=lambda line: None)
    bt = student_only("teacher-bt")
    assert bt["student"]["teacher_inputs"] == [INPUTS["bi-temporal"][1]]  # distilled from the bi-temporal teacher
    assert bt["teacher"]["reused_from"].endswith("seed0.json")  # no student of this run needs the single-date one
    _, md_path = merge_results(tmp_path / "teacher-bt")
    text = md_path.read_text()
    assert "Reused, not retrained" in text and "single-date teacher" in text
    assert "the single-date student distils from the bi-temporal teacher" in text


def test_reusing_a_row_the_recipe_changes_is_refused(tmp_path):
    for seed in (0,):
        _seed_file(tmp_path / "default", seed, student=0.6, weak=0.5)
    options = BenchmarkOptions(
        data_root=tmp_path,
        configs_dir=CONFIGS,
        work_dir=tmp_path / "runs",
        results_dir=tmp_path / "robust",
        recipe="robust",
        baselines_from=tmp_path / "default",
        labelled_fraction=0.1,
    )
    with pytest.raises(InputError, match="single-date weak is changed by this invocation"):
        reused_rows(options, 0, [])
    options.recipe, options.overrides = "pool", {"optim.lr": 0.1}
    with pytest.raises(InputError, match="--set"):
        reused_rows(options, 0, [])
    with pytest.raises(InputError, match="no seeds/seed3.json"):
        reused_rows(options, 3, [])

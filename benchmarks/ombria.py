"""Protocol A: the label-scarce OMBRIA benchmark (README, "Protocol A"), run per seed and merged into one table.

Rows (single-date setting; the bi-temporal setting adds the same rows with pre-event inputs):

1. ``otsu``: per-image Otsu threshold on S1 AFTER (no training).
2. ``weak``: SAR model trained on Otsu weak labels of all of train (masks never read).
3. ``supervised-subset``: SAR model trained on the labelled subset only (f of train).
4. ``supervised-all``: SAR model trained on all labels of train (reference ceiling).
5. ``teacher``: S1 + S2 model trained on the labelled subset (reference; not SAR-only).
6. ``student``: SAR model trained on the labelled subset + the teacher's soft labels on train (pool read without
   masks).

Every trained row uses the same architecture family, crop size, batch size and number of optimizer steps, and the
same 12 validation chips (held out of the labelled subset; used for checkpoint selection and the probability
threshold only). Results are on OMBRIA ``test``. Each seed writes ``seeds/seed<N>.json``; :func:`merge_results`
turns every seed file into ``ombria.json`` and ``ombria.md`` (mean ± sample std over seeds).

Examples (from the repository root)::

    python -m benchmarks.ombria --seed 0                 # one seed (OMBRIA at data/ombria), then merge
    python -m benchmarks.ombria --seed 0 --data $OMBRIA  # OMBRIA elsewhere
    python -m benchmarks.ombria --seed 1 --seed 2        # more seeds (or separate invocations)
    python -m benchmarks.ombria --seed 0 --settings bi-temporal   # add the bi-temporal rows to seed 0
    python -m benchmarks.ombria --merge-only             # rebuild docs/results/ombria.{md,json}

Each seed writes docs/results/seeds/seed<N>.json; the merge writes docs/results/ombria.md and ombria.json.
Run directories (checkpoints, curves) go to --work-dir and are never committed (they derive from OMBRIA).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from gee_flood._io import write_json_atomic, write_text_atomic
from gee_flood.data.base import ChipDataset
from gee_flood.data.ombria import OmbriaDataset
from gee_flood.errors import GeeFloodError, InputError
from gee_flood.evaluation.evaluate import OtsuPredictor, Predictor, evaluate_dataset
from gee_flood.models.predictor import CheckpointPredictor
from gee_flood.training.config import TrainConfig, load_config, parse_set_options
from gee_flood.training.run import train

#: The repository root (this file is ``benchmarks/ombria.py``): home of the default data, configs and results folders.
ROOT = Path(__file__).resolve().parents[1]

ROW_ORDER = ("otsu", "weak", "supervised-subset", "supervised-all", "teacher", "student")
SETTINGS = ("single-date", "bi-temporal")
METRICS = ("total_iou", "f1", "omission", "commission", "mean_iou")

#: Input modalities per setting: (SAR rows, teacher).
INPUTS: dict[str, tuple[list[str], list[str]]] = {
    "single-date": (["s1_uint8"], ["s1_uint8", "s2_falsecolor_uint8"]),
    "bi-temporal": (
        ["s1_uint8_pre", "s1_uint8"],
        ["s1_uint8_pre", "s2_falsecolor_uint8_pre", "s1_uint8", "s2_falsecolor_uint8"],
    ),
}

#: Trained rows per setting. The weak labels are Otsu on S1 AFTER in both settings, so a bi-temporal weak row would
#: only add pre-event input to the same labels; it is left out to keep a seed inside the CPU budget.
TRAINED_ROWS: dict[str, tuple[str, ...]] = {
    "single-date": ("teacher", "student", "weak", "supervised-subset", "supervised-all"),
    "bi-temporal": ("teacher", "student", "supervised-subset", "supervised-all"),
}

#: Config file of each trained row, under the configs folder.
CONFIG_FILES = {
    "weak": "ombria_baseline_weak.yaml",
    "supervised-subset": "ombria_baseline_supervised.yaml",
    "supervised-all": "ombria_baseline_supervised_all.yaml",
    "teacher": "ombria_teacher.yaml",
    "student": "ombria_student.yaml",
}


@dataclass
class BenchmarkOptions:
    """Settings of one benchmark invocation.

    Attributes:
        data_root: The OMBRIA folder.
        configs_dir: Folder of the row configs (``configs/``).
        work_dir: Where run directories go (checkpoints are never committed).
        results_dir: Where ``seeds/seed<N>.json``, ``ombria.json`` and ``ombria.md`` go.
        settings: Settings to run (``single-date``, ``bi-temporal``).
        max_steps: Optimizer steps of every trained row (None: the configs' value; all rows must agree).
        threads: torch CPU threads.
        labelled_fraction: Labelled share of train (f).
        student_teachers: Settings whose teachers the single-date student distils from: ``("single-date",)``
            follows the protocol's teacher inputs; adding ``bi-temporal`` averages in the teacher that also saw
            pre-event data (an ensemble teacher; it is trained anyway for the bi-temporal rows). The bi-temporal
            student distils from the bi-temporal teacher plus these.
        overrides: Dotted config overrides applied to every trained row.
        progress: Show progress bars.
    """

    data_root: Path
    configs_dir: Path
    work_dir: Path
    results_dir: Path
    settings: Sequence[str] = ("single-date",)
    max_steps: int | None = None
    threads: int = 2
    labelled_fraction: float = 0.1
    student_teachers: Sequence[str] = ("single-date",)
    overrides: dict[str, Any] | None = None
    progress: bool = False


def row_config(options: BenchmarkOptions, row: str, setting: str, seed: int) -> TrainConfig:
    """Return the config of a trained ``row`` in ``setting`` for ``seed`` (inputs, data root, steps, seed set)."""
    sar_inputs, teacher_inputs = INPUTS[setting]
    suffix = "" if setting == "single-date" else "-bt"
    overrides: dict[str, Any] = {
        "data.root": str(options.data_root),
        "data.inputs": teacher_inputs if row == "teacher" else sar_inputs,
        "trainer.seed": seed,
        "trainer.output_dir": str(options.work_dir / f"seed{seed}"),
        "trainer.run_name": f"{row}{suffix}",
        "trainer.threads": options.threads,
        "trainer.progress_bar": options.progress,
        **(options.overrides or {}),
    }
    if row in ("supervised-subset", "teacher", "student"):
        overrides["data.labelled_fraction"] = options.labelled_fraction
    if options.max_steps is not None:
        overrides["optim.max_steps"] = options.max_steps
    return load_config(options.configs_dir / CONFIG_FILES[row], overrides)


def evaluate_predictor(dataset: ChipDataset, predictor: Predictor, *, progress: bool = False) -> dict[str, float]:
    """Score ``predictor`` on every chip of ``dataset``: total and mean per-image IoU, F1, omission, commission."""
    scores = evaluate_dataset(dataset, predictor, progress=progress).overall().as_dict()
    return {key: float(scores[key]) for key in METRICS}


def otsu_row(test: ChipDataset, *, progress: bool = False) -> dict[str, float]:
    """Row 1: per-image global Otsu threshold of S1 AFTER on every test chip."""
    return evaluate_predictor(test, OtsuPredictor("global", "s1_uint8/sar_uint8"), progress=progress)


def run_seed(options: BenchmarkOptions, seed: int, *, log: Callable[[str], None] = print) -> Path:
    """Run every row of every setting for one seed and write ``seeds/seed<seed>.json``; return its path.

    Where the seed file exists, its rows of the settings not run now are kept, so a setting can be added by a
    later invocation (``--settings bi-temporal``); rows of the settings run now are replaced.
    """
    if not (options.data_root / "OmbriaS1").is_dir():
        raise InputError(f"{options.data_root}: OMBRIA not found (expected OmbriaS1/ and OmbriaS2/ inside)")
    torch.set_num_threads(options.threads)
    started = time.perf_counter()
    cpu_started = time.process_time()
    rows: list[dict[str, Any]] = []
    test = OmbriaDataset(options.data_root, "test")
    otsu = otsu_row(test, progress=options.progress)
    for setting in options.settings:
        rows.append(_row("otsu", setting, options.labelled_fraction, seed, otsu, {}))
    teachers: dict[str, Path] = {}
    unknown = [s for s in [*options.settings, *options.student_teachers] if s not in SETTINGS]
    if unknown:
        raise InputError(f"unknown setting(s) {unknown}; expected {list(SETTINGS)}")
    student_teachers = {
        "single-date": list(dict.fromkeys(options.student_teachers)),
        "bi-temporal": list(dict.fromkeys(["bi-temporal", *options.student_teachers])),
    }
    needed = {s for setting in options.settings for s in [setting, *student_teachers[setting]]}
    teacher_settings = [s for s in SETTINGS if s in needed]
    plan = [("teacher", s) for s in teacher_settings]
    plan += [(row, s) for s in SETTINGS if s in options.settings for row in TRAINED_ROWS[s] if row != "teacher"]
    for row, setting in plan:
        config = row_config(options, row, setting, seed)
        teacher = None
        if row == "student":
            teacher = [teachers[s] for s in student_teachers[setting]]
        row_started, row_cpu = time.perf_counter(), time.process_time()
        result = train(config, teacher=teacher)
        if row == "teacher":
            teachers[setting] = result.checkpoint
            if setting not in options.settings:
                continue
        predictor = CheckpointPredictor(result.checkpoint)
        scores = evaluate_predictor(test, predictor, progress=options.progress)
        info = {
            "steps": result.summary["steps"],
            "val_iou": result.best_val_iou,
            "threshold": result.card.labels.threshold,
            "wall_seconds": time.perf_counter() - row_started,
            "cpu_seconds": time.process_time() - row_cpu,
            "fit_seconds": result.summary["fit_seconds"],
            "inputs": result.card.modality_names,
            "architecture": result.card.architecture.model_dump(),
            "labelled_chips": result.summary["labelled_chips"],
            "unlabelled_chips": result.summary["unlabelled_chips"],
        }
        if teacher is not None:
            info["teacher_inputs"] = [CheckpointPredictor(t).required_modalities for t in teacher]
        rows.append(_row(row, setting, options.labelled_fraction, seed, scores, info))
        log(
            f"seed {seed} {setting:11s} {row:17s} test total IoU {scores['total_iou']:.4f} "
            f"(val {result.best_val_iou:.4f}, {info['wall_seconds']:.0f} s)"
        )
    invocation = {
        "settings": list(options.settings),
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "threads": options.threads,
    }
    path = options.results_dir / "seeds" / f"seed{seed}.json"
    invocations = [invocation]
    if path.is_file():  # a later invocation for other settings adds its rows to the seed's file
        earlier = json.loads(path.read_text())
        kept = [row for row in earlier["rows"] if row["setting"] not in options.settings]
        if kept:
            rows = sorted([*kept, *rows], key=lambda row: SETTINGS.index(row["setting"]))
            invocations = [*kept_invocations(earlier, options.settings), invocation]
    payload = {
        "seed": seed,
        "labelled_fraction": options.labelled_fraction,
        "student_teachers": list(options.student_teachers),
        "wall_seconds": sum(one["wall_seconds"] for one in invocations),
        "cpu_seconds": sum(one["cpu_seconds"] for one in invocations),
        "threads": options.threads,
        "invocations": invocations,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__,
        "rows": rows,
    }
    write_json_atomic(path, payload)
    return path


def _invocations(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The benchmark invocations behind one seed file (files of older versions hold one, implicitly)."""
    if "invocations" in run:
        return run["invocations"]
    settings = list(dict.fromkeys(row["setting"] for row in run["rows"]))
    return [{"settings": settings, **{key: run[key] for key in ("wall_seconds", "cpu_seconds", "threads")}}]


def kept_invocations(earlier: dict[str, Any], settings: Sequence[str]) -> list[dict[str, Any]]:
    """The invocations of an earlier seed file that still stand behind its rows once ``settings`` are re-run.

    An invocation that ran only settings re-run now is dropped. One that also ran other settings is kept for those,
    less the wall and CPU seconds of its rows being replaced, so that the seed's summed time does not count them
    twice (a teacher trained only to teach a student is no row: its time stays with the invocation that trained it).
    """
    replaced = [row for row in earlier["rows"] if row["setting"] in settings]
    kept = []
    for one in _invocations(earlier):
        left = [setting for setting in one["settings"] if setting not in settings]
        if not left:
            continue
        if len(left) < len(one["settings"]):
            gone = [row for row in replaced if row["setting"] in one["settings"]]
            one = {
                **one,
                "settings": left,
                "replaced_settings": [setting for setting in one["settings"] if setting in settings],
                "wall_seconds": one["wall_seconds"] - sum(row.get("wall_seconds", 0.0) for row in gone),
                "cpu_seconds": one["cpu_seconds"] - sum(row.get("cpu_seconds", 0.0) for row in gone),
            }
        kept.append(one)
    return kept


def _row(
    name: str, setting: str, fraction: float, seed: int, scores: dict[str, float], info: dict[str, Any]
) -> dict[str, Any]:
    return {"name": name, "setting": setting, "labelled_fraction": fraction, "seed": seed, **scores, **info}


def merge_results(results_dir: Path) -> tuple[Path, Path]:
    """Merge every ``seeds/seed*.json`` into ``ombria.json`` and ``ombria.md`` (mean ± sample std over seeds)."""
    seed_files = sorted((results_dir / "seeds").glob("seed*.json"))
    if not seed_files:
        raise InputError(f"{results_dir / 'seeds'}: no seed*.json results to merge")
    runs = [json.loads(path.read_text()) for path in seed_files]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    steps_seen: dict[int, Path] = {}
    for path, run in zip(seed_files, runs, strict=True):
        for row in run["rows"]:
            grouped.setdefault((row["setting"], row["name"]), []).append(row)
            if "steps" in row:
                steps_seen.setdefault(int(row["steps"]), path)
    if len(steps_seen) > 1:  # a mean over seeds of different schedules would be no row at all
        found = ", ".join(f"{steps} steps in {path.name}" for steps, path in sorted(steps_seen.items()))
        raise InputError(
            f"{results_dir / 'seeds'}: seed files mix training schedules ({found}); "
            "expected every trained row of every seed at the same steps (move the old seed files away)"
        )
    merged: list[dict[str, Any]] = []
    for setting in SETTINGS:
        for name in ROW_ORDER:
            rows = grouped.get((setting, name))
            if not rows:
                continue
            entry: dict[str, Any] = {
                "name": name,
                "setting": setting,
                "labelled_fraction": rows[0]["labelled_fraction"],
                "seeds": [row["seed"] for row in rows],
            }
            for metric in METRICS:
                values = np.array([row[metric] for row in rows], dtype=float)
                entry[f"{metric}_mean"] = float(values.mean())
                entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            for extra in ("steps", "val_iou", "threshold", "wall_seconds", "cpu_seconds"):
                if extra in rows[0]:
                    entry[f"{extra}_mean"] = float(np.mean([row[extra] for row in rows]))
            if "inputs" in rows[0]:
                entry["inputs"] = rows[0]["inputs"]
            if rows[0].get("teacher_inputs"):
                entry["teacher_inputs"] = rows[0]["teacher_inputs"]
            merged.append(entry)
    comparisons = _comparisons(grouped)
    payload = {
        "protocol": "A (OMBRIA, label-scarce)",
        "test_split": "test (70 samples)",
        "seeds": [run["seed"] for run in runs],
        "seed_wall_seconds": {str(run["seed"]): run["wall_seconds"] for run in runs},
        "seed_cpu_seconds": {str(run["seed"]): run["cpu_seconds"] for run in runs},
        "student_teachers": runs[0].get("student_teachers"),
        "steps": next(iter(steps_seen), None),
        "rows": merged,
        "comparisons": comparisons,
    }
    json_path = write_json_atomic(results_dir / "ombria.json", payload)
    md_path = write_text_atomic(results_dir / "ombria.md", _markdown(payload, runs))
    return json_path, md_path


def _comparisons(grouped: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Student minus each SAR baseline, paired by seed (mean and sample std of the per-seed difference)."""
    targets = {"weak": 6.5, "supervised-subset": 5.0, "supervised-all": 0.0}
    out = []
    for setting in SETTINGS:
        student = {row["seed"]: row["total_iou"] for row in grouped.get((setting, "student"), [])}
        for baseline, target in targets.items():
            other = {row["seed"]: row["total_iou"] for row in grouped.get((setting, baseline), [])}
            seeds = sorted(set(student) & set(other))
            if not seeds:
                continue
            gaps = 100 * np.array([student[s] - other[s] for s in seeds])
            std = float(gaps.std(ddof=1)) if len(gaps) > 1 else None  # one seed: no spread (JSON null)
            out.append(
                {
                    "setting": setting,
                    "student_minus": baseline,
                    "gap_points_mean": float(gaps.mean()),
                    "gap_points_std": std,
                    "per_seed": {str(s): float(g) for s, g in zip(seeds, gaps, strict=True)},
                    "target_points": target,
                    "meets_target": bool(gaps.mean() >= target),
                    "gap_exceeds_spread": bool(std is not None and abs(gaps.mean()) > std),
                }
            )
    return out


def _markdown(payload: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    seeds = ", ".join(str(s) for s in payload["seeds"])
    lines = [
        "# OMBRIA benchmark (Protocol A)",
        "",
        "Measured by `python -m benchmarks.ombria` (see README, section Training). Flooded-class scores on",
        f"OMBRIA `test` (70 samples), in %: mean ± sample standard deviation over the seeds of each row ({seeds}).",
        "Labelled subset: f = 10 % of `train` by a seeded permutation; 12 of its chips are held out for validation",
        "(checkpoint selection and probability threshold) in every trained row; the unlabelled pool is read without",
        "masks. Every trained row: same optimizer steps"
        + (f" ({payload['steps']})" if payload.get("steps") else "")
        + ", batch, crop; SAR rows share one architecture.",
        "",
    ]
    header = (
        "| setting | row | inputs | seeds | total IoU | F1 | omission | commission | mean per-image IoU | val IoU |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    for setting in SETTINGS:
        rows = [row for row in payload["rows"] if row["setting"] == setting]
        if not rows:
            continue
        lines += [f"## {setting}", "", header]
        for row in rows:
            inputs = " + ".join(row.get("inputs", ["s1_uint8 (AFTER)"]))
            if row.get("teacher_inputs"):
                teachers = " and ".join(" + ".join(one) for one in row["teacher_inputs"])
                inputs += f" (teacher{'s, averaged' if len(row['teacher_inputs']) > 1 else ''}: {teachers})"
            several = len(row["seeds"]) > 1  # a single seed has no spread to show
            cells = [
                f"{100 * row[f'{m}_mean']:.1f}" + (f" ± {100 * row[f'{m}_std']:.1f}" if several else "")
                for m in METRICS
            ]
            val = f"{100 * row['val_iou_mean']:.1f}" if "val_iou_mean" in row else "–"
            seeds = ", ".join(str(seed) for seed in row["seeds"])
            lines.append(f"| {setting} | {row['name']} | {inputs} | {seeds} | " + " | ".join(cells) + f" | {val} |")
        lines.append("")
    lines += [
        "## Student against the SAR baselines (total IoU points, paired by seed)",
        "",
        "| setting | student minus | gap (mean ± std) | per seed | target | meets target | gap > spread |",
        "|---|---|---|---|---|---|---|",
    ]
    for comparison in payload["comparisons"]:
        per_seed = ", ".join(f"{g:+.1f}" for g in comparison["per_seed"].values())
        lines.append(
            f"| {comparison['setting']} | {comparison['student_minus']} | {comparison['gap_points_mean']:+.1f}"
            + ("" if comparison["gap_points_std"] is None else f" ± {comparison['gap_points_std']:.1f}")
            + f" | {per_seed} | ≥ {comparison['target_points']:+.1f} | "
            f"{'yes' if comparison['meets_target'] else 'no'} | {'yes' if comparison['gap_exceeds_spread'] else 'no'} |"
        )
    lines += ["", "## Compute", ""]
    for run in runs:
        for one in _invocations(run):
            threads = f"{one['threads']} torch thread{'' if one['threads'] == 1 else 's'}"
            lines.append(
                f"- seed {run['seed']}, {' + '.join(one['settings'])}: {one['wall_seconds'] / 60:.1f} min wall, "
                f"{one['cpu_seconds'] / 60:.1f} min CPU ({threads}, {run['machine']}, torch {run['torch']})"
            )
    lines.append("")
    return "\n".join(lines)


def main(
    seed: Annotated[list[int] | None, typer.Option(help="Seed(s) to run (each writes its own result file).")] = None,
    data: Annotated[
        Path, typer.Option(help="OMBRIA folder (put or link the dataset at data/ombria, or pass it).")
    ] = ROOT / "data" / "ombria",
    configs: Annotated[Path, typer.Option(help="Folder of the ombria_*.yaml row configs.")] = ROOT / "configs",
    work_dir: Annotated[Path, typer.Option(help="Run directories (not committed).")] = ROOT
    / "runs"
    / "benchmark_ombria",
    results: Annotated[Path, typer.Option(help="Where seeds/*.json and ombria.{md,json} go.")] = ROOT
    / "docs"
    / "results",
    steps: Annotated[
        int | None, typer.Option(help="Optimizer steps of every trained row (default: the configs').")
    ] = None,
    settings: Annotated[
        str, typer.Option(help="Comma-separated settings to run (bi-temporal: extra rows, ~40 min a seed, estimated).")
    ] = "single-date",
    student_teacher: Annotated[
        str,
        typer.Option(
            help="Teacher(s) of the single-date student, comma-separated settings (several: probabilities averaged)."
        ),
    ] = "single-date",
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    fraction: Annotated[float, typer.Option(help="Labelled fraction f of train.")] = 0.1,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Config override for every trained row, key.path=value.")
    ] = None,
    merge_only: Annotated[bool, typer.Option(help="Only merge existing seed files.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = False,
) -> None:
    """Run Protocol A on OMBRIA and write the merged table."""
    try:
        options = BenchmarkOptions(
            data_root=data.resolve(),
            configs_dir=configs,
            work_dir=work_dir,
            results_dir=results,
            settings=tuple(s.strip() for s in settings.split(",") if s.strip()),
            max_steps=steps,
            threads=threads,
            labelled_fraction=fraction,
            student_teachers=tuple(t.strip() for t in student_teacher.split(",") if t.strip()),
            overrides=parse_set_options(set_ or []),
            progress=progress,
        )
        if not merge_only:
            for one in seed or [0]:
                path = run_seed(options, one, log=lambda line: print(line, flush=True))
                print(f"wrote {path}", flush=True)
        json_path, md_path = merge_results(results)
        print(f"wrote {json_path} and {md_path}")
    except GeeFloodError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


if __name__ == "__main__":
    typer.run(main)

"""Protocol B: Sen1Floods11, the paper's setting (needs the downloaded dataset, a fetched corpus and a GPU).

Rows, all scored on the hand-labelled ``test`` and ``bolivia`` splits (all water):

- ``otsu``: per-chip Otsu threshold of S1 VV (no training);
- ``weak-s1otsu`` / ``weak-s2index``: S1 models trained on the weak part's ``S1OtsuLabelWeak`` /
  ``S2IndexLabelWeak`` labels;
- ``supervised``: S1 model trained on the hand labels of ``flood_train_data.csv``;
- ``teacher``: S1 + S2 on the hand labels (reference; not SAR-only);
- ``student``: S1 model trained on the hand labels + the teacher on the fetched corpus.

The published reference figures (the dataset authors' FCN-ResNet50 on S1 hand labels; the paper's student gain)
are written beside the measured rows. Each seed writes ``sen1floods11_seeds/seed<N>.json``;
:func:`merge_sen1floods11` writes ``sen1floods11.json`` and ``sen1floods11.md``.

From the repository root::

    gee-flood data download --dataset sen1floods11 --out data/sen1floods11 --part all
    gee-flood fetch --chips ... --out data/corpus          # S2 for the weakly labelled chip locations
    python -m benchmarks.sen1floods11 --data data/sen1floods11 --corpus data/corpus --seed 0

Writes docs/results/sen1floods11_seeds/seed<N>.json and the merged docs/results/sen1floods11.{md,json}, with the
published reference figures beside the measured rows.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from benchmarks.ombria import METRICS, ROOT, evaluate_predictor
from gee_flood._io import write_json_atomic, write_text_atomic
from gee_flood.data.factory import open_dataset
from gee_flood.errors import GeeFloodError, InputError
from gee_flood.evaluation.evaluate import OtsuPredictor, Predictor
from gee_flood.models.predictor import CheckpointPredictor
from gee_flood.training.config import load_config, parse_set_options
from gee_flood.training.run import train

ROWS = ("otsu", "weak-s1otsu", "weak-s2index", "supervised", "teacher", "student")
SPLITS = ("test", "bolivia")
CONFIG_FILES = {
    "weak-s1otsu": "sen1floods11_baseline_weak_s1otsu.yaml",
    "weak-s2index": "sen1floods11_baseline_weak_s2index.yaml",
    "supervised": "sen1floods11_baseline_supervised.yaml",
    "teacher": "sen1floods11_teacher.yaml",
    "student": "sen1floods11_student.yaml",
}

#: Published figures (Bonafilia et al. 2020): the dataset authors' FCN-ResNet50 trained on S1 hand labels.
PUBLISHED = {
    "test": {"name": "FCN-ResNet50, S1, hand labels (Bonafilia et al. 2020)", "mean_iou": 0.408, "total_iou": 0.662,
             "omission": 0.158, "commission": 0.041},
    "bolivia": {"name": "FCN-ResNet50, S1, hand labels (Bonafilia et al. 2020)", "mean_iou": 0.316,
                "total_iou": 0.475, "omission": 0.248, "commission": 0.078},
}  # fmt: skip
#: The paper's reported gain of the SAR-only student over the weak-S1-label baseline on test (IoU points).
PUBLISHED_STUDENT_GAIN = 6.53


@dataclass
class Sen1Floods11Options:
    """Settings of a Protocol B run.

    Attributes:
        data_root: Downloaded Sen1Floods11 (holding ``v1.1/``; hand and weak parts).
        corpus_root: The fetched paired corpus (``gee-flood fetch --chips``) for the student.
        configs_dir: Folder of ``sen1floods11_*.yaml``.
        work_dir: Run directories.
        results_dir: Where results go.
        rows: Rows to run.
        overrides: Dotted overrides for every trained row (e.g. ``{"optim.max_steps": 2000}``).
        progress: Progress bars.
    """

    data_root: Path
    corpus_root: Path
    configs_dir: Path
    work_dir: Path
    results_dir: Path
    rows: Sequence[str] = ROWS
    overrides: dict[str, Any] | None = None
    progress: bool = True


def run_sen1floods11(options: Sen1Floods11Options, seed: int, *, log: Callable[[str], None] = print) -> Path:
    """Train and score every row for ``seed``; write ``sen1floods11_seeds/seed<seed>.json`` and return its path."""
    unknown = [row for row in options.rows if row not in ROWS]
    if unknown:
        raise InputError(f"unknown Protocol B row(s) {unknown}; expected {list(ROWS)}")
    if "student" in options.rows and "teacher" not in options.rows:
        raise InputError("the student row needs the teacher row")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    teacher: Path | None = None
    for row in [r for r in ROWS if r in options.rows]:
        row_started = time.perf_counter()
        predictor: Predictor
        info: dict[str, Any] = {}
        if row == "otsu":
            predictor = OtsuPredictor("global", "s1/VV")
        else:
            overrides: dict[str, Any] = {
                "data.root": str(options.data_root),
                "trainer.seed": seed,
                "trainer.output_dir": str(options.work_dir / f"seed{seed}"),
                "trainer.run_name": row,
                "trainer.progress_bar": options.progress,
                **(options.overrides or {}),
            }
            config = load_config(options.configs_dir / CONFIG_FILES[row], overrides)
            if row == "student":
                assert config.data.unlabelled not in ("none", "pool")
                unlabelled = config.data.unlabelled.model_copy(update={"root": options.corpus_root})
                config = config.model_copy(update={"data": config.data.model_copy(update={"unlabelled": unlabelled})})
            if config.data.validation is not None:
                validation = config.data.validation.model_copy(update={"root": options.data_root})
                config = config.model_copy(update={"data": config.data.model_copy(update={"validation": validation})})
            result = train(config, teacher=teacher if row == "student" else None)
            if row == "teacher":
                teacher = result.checkpoint
            predictor = CheckpointPredictor(result.checkpoint)
            info = {
                "steps": result.summary["steps"],
                "val_iou": result.best_val_iou,
                "inputs": predictor.required_modalities,
            }
        for split in SPLITS:
            dataset = open_dataset(
                "sen1floods11", options.data_root, split, modalities=predictor.required_modalities, part="hand"
            )
            scores = evaluate_predictor(dataset, predictor, progress=options.progress)
            rows.append({"name": row, "split": split, "seed": seed, **scores, **info})
            log(f"seed {seed} {row:13s} {split:8s} total IoU {scores['total_iou']:.4f}")
        rows[-1]["wall_seconds"] = time.perf_counter() - row_started
    payload = {"seed": seed, "wall_seconds": time.perf_counter() - started, "rows": rows}
    path = options.results_dir / "sen1floods11_seeds" / f"seed{seed}.json"
    write_json_atomic(path, payload)
    return path


def merge_sen1floods11(results_dir: Path) -> tuple[Path, Path]:
    """Merge the per-seed files into ``sen1floods11.json`` and ``sen1floods11.md`` (mean ± sample std)."""
    files = sorted((results_dir / "sen1floods11_seeds").glob("seed*.json"))
    if not files:
        raise InputError(f"{results_dir / 'sen1floods11_seeds'}: no seed*.json results to merge")
    runs = [json.loads(path.read_text()) for path in files]
    merged = []
    for split in SPLITS:
        for name in ROWS:
            rows = [r for run in runs for r in run["rows"] if r["name"] == name and r["split"] == split]
            if not rows:
                continue
            entry: dict[str, Any] = {"name": name, "split": split, "seeds": [r["seed"] for r in rows]}
            for metric in METRICS:
                values = np.array([r[metric] for r in rows], float)
                entry[f"{metric}_mean"] = float(values.mean())
                entry[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            merged.append(entry)
    payload = {
        "protocol": "B (Sen1Floods11, the paper's setting)",
        "seeds": [run["seed"] for run in runs],
        "rows": merged,
        "published": PUBLISHED,
        "published_student_gain_points": PUBLISHED_STUDENT_GAIN,
    }
    json_path = write_json_atomic(results_dir / "sen1floods11.json", payload)
    lines = [
        "# Sen1Floods11 benchmark (Protocol B)",
        "",
        "Measured by `python -m benchmarks.sen1floods11`; all-water scores in %, mean ± sample std over seeds "
        + ", ".join(str(s) for s in payload["seeds"])
        + ".",
        "",
        "| split | row | total IoU | mean per-chip IoU | omission | commission | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in merged:
        cells = [
            f"{100 * entry[f'{m}_mean']:.1f} ± {100 * entry[f'{m}_std']:.1f}"
            for m in ("total_iou", "mean_iou", "omission", "commission", "f1")
        ]
        lines.append(f"| {entry['split']} | {entry['name']} | " + " | ".join(cells) + " |")
    for split, reference in PUBLISHED.items():
        lines.append(
            f"| {split} | published: {reference['name']} | {100 * reference['total_iou']:.1f} | "
            f"{100 * reference['mean_iou']:.1f} | {100 * reference['omission']:.1f} | "
            f"{100 * reference['commission']:.1f} | – |"
        )
    lines += [
        "",
        f"The paper reports its SAR-only student {PUBLISHED_STUDENT_GAIN} IoU points above the baseline trained on",
        "weak SAR labels (test split).",
        "",
    ]
    md_path = write_text_atomic(results_dir / "sen1floods11.md", "\n".join(lines))
    return json_path, md_path


def main(
    data: Annotated[Path, typer.Option(help="Downloaded Sen1Floods11 (holding v1.1/).")] = Path("data/sen1floods11"),
    corpus: Annotated[Path, typer.Option(help="Fetched paired S1/S2 corpus for the student.")] = Path("data/corpus"),
    seed: Annotated[list[int] | None, typer.Option(help="Seed(s) to run.")] = None,
    rows: Annotated[str, typer.Option(help="Comma-separated rows.")] = ",".join(ROWS),
    configs: Annotated[Path, typer.Option(help="Folder of sen1floods11_*.yaml.")] = ROOT / "configs",
    work_dir: Annotated[Path, typer.Option(help="Run directories.")] = ROOT / "runs" / "benchmark_sen1floods11",
    results: Annotated[Path, typer.Option(help="Results folder.")] = ROOT / "docs" / "results",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override for every trained row.")] = None,
    merge_only: Annotated[bool, typer.Option(help="Only merge existing seed files.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run Protocol B and write the merged table."""
    try:
        options = Sen1Floods11Options(
            data_root=data,
            corpus_root=corpus,
            configs_dir=configs,
            work_dir=work_dir,
            results_dir=results,
            rows=tuple(r.strip() for r in rows.split(",") if r.strip()),
            overrides=parse_set_options(set_ or []),
            progress=not quiet,
        )
        if not merge_only:
            for one in seed or [0]:
                print(f"wrote {run_sen1floods11(options, one, log=lambda line: print(line, flush=True))}", flush=True)
        json_path, md_path = merge_sen1floods11(results)
        print(f"wrote {json_path} and {md_path}")
    except GeeFloodError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


if __name__ == "__main__":
    typer.run(main)

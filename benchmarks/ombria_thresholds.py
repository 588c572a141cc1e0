r"""Protocol A ablation: which part of a recipe costs the skill, the training change or the threshold method?

A run trained with ``threshold.method: prior`` records both thresholds in its ``summary.json``: the prior one it
wrote into ``model.ckpt`` and the one tuned on the 12 validation chips (``validation_threshold``, the default
recipe's method). Scoring the same checkpoint at both on OMBRIA ``test`` separates the two changes of the ``robust``
recipe without training anything again: at the validation threshold the rows are "augmentation alone".

Example (from the repository root; the run directories of ``python -m benchmarks.ombria --recipe robust``)::

    python -m benchmarks.ombria_thresholds --runs runs/benchmark_ombria --data data/ombria \
        --out docs/results/robust/thresholds

Writes ``thresholds.json`` and ``thresholds.md`` (total IoU %, mean ± sample std over the seeds found).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import typer

from benchmarks.ombria import ROOT, ROW_ORDER, evaluate_predictor
from gee_flood._io import write_json_atomic, write_text_atomic
from gee_flood.data.ombria import OmbriaDataset
from gee_flood.errors import GeeFloodError, InputError
from gee_flood.models.predictor import CheckpointPredictor

#: The two thresholds scored per checkpoint: (column, summary.json key).
THRESHOLDS = (("prior (as trained)", "threshold"), ("validation chips", "validation_threshold"))


def score_runs(runs: Path, data_root: Path) -> list[dict[str, Any]]:
    """Score every ``seed<N>/<row>/model.ckpt`` under ``runs`` at both thresholds of its ``summary.json``.

    Args:
        runs: The ``--work-dir`` of an OMBRIA benchmark run whose rows used ``threshold.method: prior``.
        data_root: The OMBRIA folder.

    Returns:
        One record per (seed, row): the thresholds and the total IoU (0-1) at each.

    Raises:
        InputError: No run of a prior-threshold recipe under ``runs``.
    """
    test = OmbriaDataset(data_root, "test")
    records: list[dict[str, Any]] = []
    for summary_path in sorted(runs.glob("seed*/*/summary.json")):
        summary = json.loads(summary_path.read_text())
        if "validation_threshold" not in summary:
            continue
        seed = int(summary_path.parent.parent.name.removeprefix("seed"))
        record: dict[str, Any] = {"seed": seed, "name": summary_path.parent.name}
        for column, key in THRESHOLDS:
            predictor = CheckpointPredictor(summary_path.parent / "model.ckpt", threshold=summary[key])
            record[key] = float(summary[key])
            record[f"{column} total_iou"] = evaluate_predictor(test, predictor)["total_iou"]
        records.append(record)
        print(
            f"seed {seed} {record['name']:17s} "
            + ", ".join(f"{c}: {record[f'{c} total_iou']:.4f}" for c, _ in THRESHOLDS)
        )
    if not records:
        raise InputError(
            f"--runs {runs}: no seed*/<row>/summary.json with a validation_threshold (a prior recipe's run)"
        )
    return records


def markdown(records: list[dict[str, Any]]) -> str:
    """The table: per row, total IoU % at each threshold (mean ± sample std over seeds) and the mean thresholds."""
    seeds = sorted({record["seed"] for record in records})
    lines = [
        "# Protocol A: the robust recipe's threshold, ablated",
        "",
        "Written by `python -m benchmarks.ombria_thresholds`. The same checkpoints (trained with the recipe's SAR",
        "augmentation) scored on OMBRIA `test` at the prior threshold they were written with and at the threshold",
        "tuned on the 12 validation chips (the default recipe's method). Total IoU %, "
        f"seeds {', '.join(map(str, seeds))}.",
        "",
        "| row | " + " | ".join(f"at {c}" for c, _ in THRESHOLDS) + " | thresholds (mean) |",
        "|---|" + "---|" * (len(THRESHOLDS) + 1),
    ]
    for name in ROW_ORDER:
        rows = [record for record in records if record["name"] == name]
        if not rows:
            continue
        cells = []
        for column, _ in THRESHOLDS:
            values = 100 * np.array([row[f"{column} total_iou"] for row in rows])
            cells.append(f"{values.mean():.1f}" + (f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""))
        means = " / ".join(f"{np.mean([row[key] for row in rows]):.2f}" for _, key in THRESHOLDS)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {means} |")
    return "\n".join([*lines, ""])


def main(
    runs: Annotated[Path, typer.Option(help="Work dir of a prior-threshold OMBRIA benchmark run.")],
    data: Annotated[Path, typer.Option(help="OMBRIA folder.")] = ROOT / "data" / "ombria",
    out: Annotated[Path, typer.Option(help="Output stem (.json and .md are written).")] = ROOT
    / "docs"
    / "results"
    / "robust"
    / "thresholds",
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
) -> None:
    """Score a prior-threshold recipe's checkpoints at both thresholds and write the table."""
    torch.set_num_threads(threads)
    try:
        records = score_runs(runs, data.resolve())
    except GeeFloodError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    write_json_atomic(out.with_suffix(".json"), {"records": records})
    write_text_atomic(out.with_suffix(".md"), markdown(records))
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    typer.run(main)

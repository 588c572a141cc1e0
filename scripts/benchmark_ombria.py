"""Protocol A: the OMBRIA label-scarce benchmark (all six rows, single-date; bi-temporal extra rows), per seed + merge.

Examples (from the repository root)::

    python scripts/benchmark_ombria.py --seed 0                 # one seed (OMBRIA at data/ombria), then merge
    python scripts/benchmark_ombria.py --seed 0 --data $OMBRIA  # OMBRIA elsewhere
    python scripts/benchmark_ombria.py --seed 1 --seed 2        # more seeds (or separate invocations)
    python scripts/benchmark_ombria.py --seed 0 --settings bi-temporal   # add the bi-temporal rows to seed 0
    python scripts/benchmark_ombria.py --merge-only             # rebuild docs/results/ombria.{md,json}

Each seed writes docs/results/seeds/seed<N>.json; the merge writes docs/results/ombria.md and ombria.json.
Run directories (checkpoints, curves) go to --work-dir and are never committed (they derive from OMBRIA).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run this checkout's gee_flood, not an installed copy

from gee_flood.errors import GeeFloodError  # noqa: E402
from gee_flood.training.benchmark import BenchmarkOptions, merge_results, run_seed  # noqa: E402
from gee_flood.training.config import parse_set_options  # noqa: E402


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

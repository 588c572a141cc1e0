"""Protocol A: the OMBRIA label-scarce benchmark (all six rows, single-date and bi-temporal), per seed + merge.

Examples (from the repository root)::

    python scripts/benchmark_ombria.py --seed 0                 # one seed, then merge every seed file
    python scripts/benchmark_ombria.py --seed 1 --seed 2        # more seeds (or separate invocations)
    python scripts/benchmark_ombria.py --merge-only             # rebuild docs/results/ombria.{md,json}

Each seed writes docs/results/seeds/seed<N>.json; the merge writes docs/results/ombria.md and ombria.json.
Run directories (checkpoints, curves) go to --work-dir and are never committed (they derive from OMBRIA).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run this checkout's gee_flood, not an installed copy

from gee_flood.errors import GeeFloodError  # noqa: E402
from gee_flood.training.benchmark import BenchmarkOptions, merge_results, run_seed  # noqa: E402
from gee_flood.training.config import parse_set_options  # noqa: E402


def main(
    seed: list[int] = typer.Option([], help="Seed(s) to run (each writes its own result file)."),
    data: Path = typer.Option(ROOT / ".." / "shared" / "data" / "ombria", help="OMBRIA folder."),
    configs: Path = typer.Option(ROOT / "configs", help="Folder of the ombria_*.yaml row configs."),
    work_dir: Path = typer.Option(ROOT / "runs" / "benchmark_ombria", help="Run directories (not committed)."),
    results: Path = typer.Option(ROOT / "docs" / "results", help="Where seeds/*.json and ombria.{md,json} go."),
    steps: int | None = typer.Option(None, help="Optimizer steps of every trained row (default: the configs')."),
    settings: str = typer.Option("single-date,bi-temporal", help="Comma-separated settings to run."),
    student_teacher: str = typer.Option(
        "single-date", help="Whose teacher the single-date student distils from: single-date or bi-temporal."
    ),
    threads: int = typer.Option(2, help="torch CPU threads."),
    fraction: float = typer.Option(0.1, help="Labelled fraction f of train."),
    set_: list[str] = typer.Option([], "--set", help="Config override for every trained row, key.path=value."),
    merge_only: bool = typer.Option(False, help="Only merge existing seed files."),
    progress: bool = typer.Option(False, help="Show progress bars."),
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
            student_teacher=student_teacher,
            overrides=parse_set_options(set_),
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

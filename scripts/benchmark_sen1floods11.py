"""Protocol B: Sen1Floods11 (the paper's setting). Needs the dataset, a fetched paired corpus, and a GPU.

    gee-flood data download --dataset sen1floods11 --out data/sen1floods11 --part all
    gee-flood fetch --chips ... --out data/corpus          # S2 for the weakly labelled chip locations
    python scripts/benchmark_sen1floods11.py --data data/sen1floods11 --corpus data/corpus --seed 0

Writes docs/results/sen1floods11_seeds/seed<N>.json and the merged docs/results/sen1floods11.{md,json}, with the
published reference figures beside the measured rows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run this checkout's gee_flood, not an installed copy

from gee_flood.errors import GeeFloodError  # noqa: E402
from gee_flood.training.config import parse_set_options  # noqa: E402
from gee_flood.training.sen1floods11_benchmark import (  # noqa: E402
    ROWS,
    Sen1Floods11Options,
    merge_sen1floods11,
    run_sen1floods11,
)


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

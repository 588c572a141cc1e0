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
    python -m benchmarks.ombria --recipe robust --seed 0 --groups 4   # the robust recipe, with leave-one-group-out

``--recipe`` applies a named set of config overrides (:data:`RECIPES`) to the rows, and writes to
``docs/results/<recipe>/`` unless ``--results`` says otherwise; the merge refuses seed files of different recipes.
``--groups K`` also splits OMBRIA ``train`` into K groups of similar scenes (:func:`scene_groups`) and trains every
single-date row K more times, each time without one group, scored on that group (leave-one-group-out: an estimate of
skill on scenes unlike the training ones), reported beside the test table.

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


#: Named sets of config overrides: ``"*"`` for every trained row, a row name (``student``) for that row only;
#: ``single-date:`` / ``bi-temporal:`` prefixed keys only in that setting. ``default`` is the published table's recipe.
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # SAR augmentation on every row's training batches (the teacher's SAR channels too) and thresholds from a
    # water-fraction prior instead of the 12 validation chips (students: the teacher on the pool; other rows:
    # their training labels); same steps, last checkpoint, EMA as the default recipe.
    "robust": {"*": {"augment.enabled": True, "threshold.method": "prior"}},
    # robust, and the single-date student's pool grows by the BEFORE image of every training chip.
    "robust-pool": {
        "*": {"augment.enabled": True, "threshold.method": "prior"},
        "single-date:student": {"data.pre_event_pool": True},
    },
    # the default recipe, and the single-date student's pool grows by the BEFORE image of every training chip (the
    # baselines have no pool: their configs are the default recipe's).
    "pool": {"single-date:student": {"data.pre_event_pool": True}},
    # the default recipe, but the single-date student distils from the bi-temporal teacher (S1 + S2, before and
    # after; trained on the same labelled subset) instead of the single-date one: the student still reads S1 AFTER
    # only. Every row's config is the default recipe's (:data:`RECIPE_STUDENT_TEACHERS`).
    "teacher-bt": {},
}

#: Teachers of the single-date student per recipe (settings whose teachers are averaged), where a recipe changes
#: them; ``--student-teacher`` applies to the other recipes.
RECIPE_STUDENT_TEACHERS: dict[str, dict[str, tuple[str, ...]]] = {
    "teacher-bt": {"single-date": ("bi-temporal",), "bi-temporal": ("bi-temporal",)}
}


def student_teacher_settings(options: BenchmarkOptions) -> dict[str, list[str]]:
    """Per setting, the settings whose teachers its student distils from (probabilities averaged).

    The recipe's (:data:`RECIPE_STUDENT_TEACHERS`) where it names them; otherwise ``options.student_teachers`` for
    the single-date student, and the bi-temporal teacher plus those for the bi-temporal one.
    """
    if options.recipe in RECIPE_STUDENT_TEACHERS:
        return {setting: list(teachers) for setting, teachers in RECIPE_STUDENT_TEACHERS[options.recipe].items()}
    return {
        "single-date": list(dict.fromkeys(options.student_teachers)),
        "bi-temporal": list(dict.fromkeys(["bi-temporal", *options.student_teachers])),
    }


def recipe_overrides(recipe: str, row: str, setting: str) -> dict[str, Any]:
    """The config overrides of ``recipe`` for ``row`` in ``setting``.

    Raises:
        InputError: An unknown recipe.
    """
    if recipe not in RECIPES:
        raise InputError(f"--recipe {recipe!r}: unknown; expected one of {sorted(RECIPES)}")
    parts = RECIPES[recipe]
    return {**parts.get("*", {}), **parts.get(row, {}), **parts.get(f"{setting}:{row}", {})}


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
        overrides: Dotted config overrides applied to every trained row (after the recipe's).
        progress: Show progress bars.
        recipe: Name of the recipe (:data:`RECIPES`) applied to the rows.
        groups: Leave-one-group-out over this many scene groups of ``train`` (0: none).
        groups_seed: Seed of the scene clustering (the same groups for every training seed).
        rows: Trained rows to train (None: every row); the teachers they need are trained (and scored) anyway.
        baselines_from: A default-recipe results folder whose seed files give the rows not trained now (see
            :func:`reused_rows`).
        groups_only: Only the leave-one-group-out folds, added to the seed's existing file (:func:`add_groups`).
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
    recipe: str = "default"
    groups: int = 0
    groups_seed: int = 0
    rows: Sequence[str] | None = None
    baselines_from: Path | None = None
    groups_only: bool = False


def row_config(
    options: BenchmarkOptions, row: str, setting: str, seed: int, *, fold: tuple[int, list[str]] | None = None
) -> TrainConfig:
    """Return the config of a trained ``row`` in ``setting`` for ``seed`` (inputs, data root, steps, seed set).

    Args:
        options: The invocation's settings (recipe and overrides included).
        row: The row name.
        setting: ``single-date`` or ``bi-temporal``.
        seed: The training seed.
        fold: ``(group, training ids)`` of a leave-one-group-out fold: train on these OMBRIA train samples only
            (run directories under ``seed<N>/group<g>/``).
    """
    sar_inputs, teacher_inputs = INPUTS[setting]
    suffix = "" if setting == "single-date" else "-bt"
    output = options.work_dir / f"seed{seed}" / (f"group{fold[0]}" if fold is not None else "")
    overrides: dict[str, Any] = {
        "data.root": str(options.data_root),
        "data.inputs": teacher_inputs if row == "teacher" else sar_inputs,
        "trainer.seed": seed,
        "trainer.output_dir": str(output),
        "trainer.run_name": f"{row}{suffix}",
        "trainer.threads": options.threads,
        "trainer.progress_bar": options.progress,
        **recipe_overrides(options.recipe, row, setting),
        **(options.overrides or {}),
    }
    if fold is not None:
        overrides["data.options"] = {"ids": list(fold[1])}
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


def train_rows(
    options: BenchmarkOptions,
    seed: int,
    settings: Sequence[str],
    scored_on: ChipDataset,
    *,
    fold: tuple[int, list[str]] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train every row of ``settings`` for ``seed`` (teachers first) and score each on ``scored_on``.

    Args:
        options: The invocation's settings.
        seed: The training seed.
        settings: The settings whose rows are trained.
        scored_on: The chips every row is scored on (OMBRIA ``test``, or a held-out group of ``train``).
        fold: A leave-one-group-out fold (see :func:`row_config`).
        log: Progress lines.

    Returns:
        One row record per row and setting (Otsu first), with scores and training facts.
    """
    rows: list[dict[str, Any]] = []
    otsu = otsu_row(scored_on, progress=options.progress)
    for setting in settings:
        rows.append(_row("otsu", setting, options.labelled_fraction, seed, otsu, {}))
    teachers: dict[str, Path] = {}
    unknown = [s for s in [*settings, *options.student_teachers] if s not in SETTINGS]
    unknown += [row for row in options.rows or [] if row not in TRAINED_ROWS["single-date"]]
    if unknown:
        raise InputError(
            f"unknown setting(s) or row(s) {unknown}; expected settings {list(SETTINGS)}, "
            f"rows {list(TRAINED_ROWS['single-date'])}"
        )
    student_teachers = student_teacher_settings(options)
    trained = [
        (row, s)
        for s in SETTINGS
        if s in settings
        for row in TRAINED_ROWS[s]
        if row != "teacher" and (options.rows is None or row in options.rows)
    ]
    # a setting's teacher is trained where its row is asked for, or where a student trained now distils from it
    needed = {s for s in settings if options.rows is None or "teacher" in options.rows}
    needed |= {s for row, setting in trained if row == "student" for s in student_teachers[setting]}
    plan = [("teacher", s) for s in SETTINGS if s in needed] + trained
    where = f" group {fold[0]}" if fold is not None else ""
    for row, setting in plan:
        config = row_config(options, row, setting, seed, fold=fold)
        teacher = None
        if row == "student":
            teacher = [teachers[s] for s in student_teachers[setting]]
        row_started, row_cpu = time.perf_counter(), time.process_time()
        result = train(config, teacher=teacher)
        if row == "teacher":
            teachers[setting] = result.checkpoint
            if setting not in settings:
                continue
        predictor = CheckpointPredictor(result.checkpoint)
        scores = evaluate_predictor(scored_on, predictor, progress=options.progress)
        info = {
            "steps": result.summary["steps"],
            "val_iou": result.best_val_iou,
            "threshold": result.card.labels.threshold,
            "threshold_method": result.summary.get("threshold_method", "validation"),
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
            f"seed {seed}{where} {setting:11s} {row:17s} total IoU {scores['total_iou']:.4f} "
            f"(val {result.best_val_iou:.4f}, {info['wall_seconds']:.0f} s)"
        )
    return rows


def scene_descriptors(dataset: ChipDataset, *, modality: str = "s2_falsecolor_uint8", size: int = 32) -> np.ndarray:
    """A cheap scene descriptor per chip: colour histograms and band statistics of the down-sampled image.

    OMBRIA has no coordinates, so scenes are grouped by what they look like: each chip's image of ``modality`` is
    block-averaged to about ``size`` px, then described by an 8-bin histogram per band (values 0-255) and each
    band's mean and standard deviation (scaled to 0-1).

    Returns:
        ``(chips, features)`` float array.
    """
    rows = []
    for chip in dataset:
        image = np.nan_to_num(chip.modalities[modality].astype(np.float64), nan=0.0)
        step = max(1, image.shape[-1] // size)
        height, width = (image.shape[-2] // step) * step, (image.shape[-1] // step) * step
        small = image[:, :height, :width].reshape(image.shape[0], height // step, step, width // step, step)
        small = small.mean(axis=(2, 4))
        features = []
        for band in small:
            histogram, _ = np.histogram(band, bins=8, range=(0, 256))
            features += [*(histogram / band.size), band.mean() / 255, band.std() / 255]
        rows.append(features)
    return np.asarray(rows, dtype=np.float64)


def scene_groups(data_root: Path, count: int, *, seed: int = 0) -> list[list[str]]:
    """Split OMBRIA ``train`` into ``count`` groups of similar scenes: seeded k-means (k-means++ starts).

    The descriptor is :func:`scene_descriptors` of the S2 AFTER false-colour image (standardised per feature);
    scipy's ``kmeans2`` clusters it.

    Returns:
        The sample ids of each group (every group non-empty), groups ordered by their first id.

    Raises:
        InputError: ``count`` below 2 or above the number of samples, or a clustering that leaves a group empty.
    """
    from scipy.cluster.vq import kmeans2

    dataset = OmbriaDataset(data_root, "train", modalities=["s2_falsecolor_uint8"], with_labels=False)
    ids = dataset.chip_ids()
    if not 2 <= count <= len(ids):
        raise InputError(f"--groups {count}: expected 2 to {len(ids)} (the OMBRIA train samples)")
    features = scene_descriptors(dataset)
    spread = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    _, assignment = kmeans2(features, count, minit="++", seed=seed)
    groups = [sorted(ids[i] for i in np.flatnonzero(assignment == g)) for g in range(count)]
    if any(not group for group in groups):
        raise InputError(f"--groups {count}: k-means left a group empty; use fewer groups or another --groups-seed")
    return sorted(groups, key=lambda group: group[0])


def run_groups(options: BenchmarkOptions, seed: int, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Leave-one-group-out: for each scene group, train the single-date rows without it and score them on it.

    Returns:
        ``{"groups", "groups_seed", "group_sizes", "rows"}``; each row record carries its ``group`` (the clustering
        is seeded, so ``scene_groups`` gives the same groups again).
    """
    groups = scene_groups(options.data_root, options.groups, seed=options.groups_seed)
    everything = [sample for group in groups for sample in group]
    rows: list[dict[str, Any]] = []
    for index, group in enumerate(groups):
        held_out = set(group)
        training = sorted(sample for sample in everything if sample not in held_out)
        scored_on = OmbriaDataset(options.data_root, "train", ids=group)
        fold = train_rows(options, seed, ("single-date",), scored_on, fold=(index, training), log=log)
        rows += [{**row, "group": index, "group_chips": len(group)} for row in fold]
    return {
        "groups": options.groups,
        "groups_seed": options.groups_seed,
        "group_sizes": [len(group) for group in groups],
        "rows": rows,
    }


def run_seed(options: BenchmarkOptions, seed: int, *, log: Callable[[str], None] = print) -> Path:
    """Run every row of every setting for one seed and write ``seeds/seed<seed>.json``; return its path.

    Where the seed file exists, its rows of the settings not run now are kept, so a setting can be added by a
    later invocation (``--settings bi-temporal``); rows of the settings run now are replaced. With
    ``options.groups``, the leave-one-group-out folds run too and go under the file's ``logo`` key (an earlier
    file's ``logo`` is kept when this invocation runs none).
    """
    if not (options.data_root / "OmbriaS1").is_dir():
        raise InputError(f"{options.data_root}: OMBRIA not found (expected OmbriaS1/ and OmbriaS2/ inside)")
    recipe_overrides(options.recipe, "student", "single-date")  # an unknown recipe fails before any training
    torch.set_num_threads(options.threads)
    started = time.perf_counter()
    cpu_started = time.process_time()
    if options.groups_only:
        return add_groups(options, seed, log=log)
    test = OmbriaDataset(options.data_root, "test")
    rows = train_rows(options, seed, options.settings, test, log=log)
    logo = run_groups(options, seed, log=log) if options.groups else None
    if options.baselines_from is not None:
        rows = reused_rows(options, seed, rows)
    invocation: dict[str, Any] = {
        "settings": list(options.settings),
        **({"groups": options.groups} if options.groups else {}),
        **({"rows": list(options.rows)} if options.rows else {}),
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
    if logo is None and path.is_file():
        logo = json.loads(path.read_text()).get("logo")
    payload = {
        "seed": seed,
        "recipe": options.recipe,
        "labelled_fraction": options.labelled_fraction,
        "overrides": options.overrides or {},
        "student_teachers": student_teacher_settings(options)["single-date"],
        "wall_seconds": sum(one["wall_seconds"] for one in invocations),
        "cpu_seconds": sum(one["cpu_seconds"] for one in invocations),
        "threads": options.threads,
        "invocations": invocations,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__,
        "rows": rows,
        **({"logo": logo} if logo is not None else {}),
    }
    write_json_atomic(path, payload)
    return path


def reused_rows(options: BenchmarkOptions, seed: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` plus the rows of ``options.baselines_from``'s seed file that were not trained now.

    A row is reused only where retraining it would repeat the same run: the source is a default-recipe seed file of
    the same seed, labelled fraction, ``--set`` overrides and steps, and this recipe does not override that row.
    Each reused row carries ``reused_from`` (the source file), and the table says so.

    Raises:
        InputError: No seed file in the folder, or a row whose config this invocation changes.
    """
    assert options.baselines_from is not None
    source = options.baselines_from / "seeds" / f"seed{seed}.json"
    if not source.is_file():
        raise InputError(f"--baselines-from {options.baselines_from}: no seeds/seed{seed}.json there")
    earlier = json.loads(source.read_text())
    found = (earlier.get("recipe", "default"), earlier["labelled_fraction"], earlier.get("overrides", {}))
    wanted = ("default", options.labelled_fraction, options.overrides or {})
    if found != wanted:
        raise InputError(
            f"{source}: recipe {found[0]!r}, fraction {found[1]}, --set {found[2]}; expected recipe 'default', "
            f"fraction {wanted[1]}, --set {wanted[2]} (rows are reused only where nothing changed)"
        )
    have = {(row["setting"], row["name"]) for row in rows}
    steps = {int(row["steps"]) for row in rows if "steps" in row}
    out = list(rows)
    for row in earlier["rows"]:
        key = (row["setting"], row["name"])
        if row["setting"] not in options.settings or key in have or row["name"] not in TRAINED_ROWS[row["setting"]]:
            continue
        changed = recipe_overrides(options.recipe, row["name"], row["setting"])
        if changed or ("steps" in row and steps and int(row["steps"]) not in steps):
            raise InputError(
                f"--baselines-from: {row['setting']} {row['name']} is changed by this invocation "
                f"({changed or 'steps'}); train it (--rows) instead of reusing {source}"
            )
        out.append({**row, "reused_from": str(source.relative_to(ROOT) if source.is_relative_to(ROOT) else source)})
    return sorted(out, key=lambda row: (SETTINGS.index(row["setting"]), ROW_ORDER.index(row["name"])))


def add_groups(options: BenchmarkOptions, seed: int, *, log: Callable[[str], None] = print) -> Path:
    """Run only the leave-one-group-out folds (of ``options.rows``) and add them to the seed's existing file.

    The test rows stay as they are (a retrained row would not be bitwise the same run); the invocation is listed.

    Raises:
        InputError: No ``--groups``, no seed file yet, or a seed file of another recipe.
    """
    path = options.results_dir / "seeds" / f"seed{seed}.json"
    if not options.groups:
        raise InputError("--groups-only: give --groups K (the folds to run)")
    if not path.is_file():
        raise InputError(f"--groups-only: {path} not found; run the seed's test rows first")
    earlier = json.loads(path.read_text())
    if earlier.get("recipe", "default") != options.recipe:
        found = earlier.get("recipe", "default")
        raise InputError(f"--groups-only: {path} is recipe {found!r}, not {options.recipe!r}")
    started, cpu_started = time.perf_counter(), time.process_time()
    logo = run_groups(options, seed, log=log)
    invocation = {
        "settings": ["single-date"],
        "groups": options.groups,
        "groups_only": True,
        "rows": list(options.rows or TRAINED_ROWS["single-date"]),
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "threads": options.threads,
    }
    invocations = [*_invocations(earlier), invocation]
    payload = {
        **earlier,
        "invocations": invocations,
        "wall_seconds": sum(one["wall_seconds"] for one in invocations),
        "cpu_seconds": sum(one["cpu_seconds"] for one in invocations),
        "logo": logo,
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
    recipes = {run.get("recipe", "default") for run in runs}
    if len(recipes) > 1:
        raise InputError(
            f"{results_dir / 'seeds'}: seed files of different recipes ({', '.join(sorted(recipes))}); "
            "merge each recipe's results folder on its own"
        )
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
        "recipe": recipes.pop(),
        "test_split": "test (70 samples)",
        "seeds": [run["seed"] for run in runs],
        "seed_wall_seconds": {str(run["seed"]): run["wall_seconds"] for run in runs},
        "seed_cpu_seconds": {str(run["seed"]): run["cpu_seconds"] for run in runs},
        "student_teachers": runs[0].get("student_teachers"),
        "steps": next(iter(steps_seen), None),
        "rows": merged,
        "comparisons": comparisons,
        **({"logo": logo} if (logo := merge_groups(runs)) else {}),
    }
    json_path = write_json_atomic(results_dir / "ombria.json", payload)
    md_path = write_text_atomic(results_dir / "ombria.md", _markdown(payload, runs))
    return json_path, md_path


def merge_groups(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Leave-one-group-out results of the seed files: per row, total IoU over every (seed, group) fold.

    Returns:
        ``{"groups", "group_sizes", "seeds", "rows", "gaps"}`` (rows: mean, sample std, min and max over folds,
        and the mean per group over seeds; gaps: the student minus each SAR baseline, paired by seed and group), or
        None when no seed file has leave-one-group-out results.

    Raises:
        InputError: Seed files whose groups differ (count or clustering seed).
    """
    with_groups = [run for run in runs if run.get("logo")]
    if not with_groups:
        return None
    kinds = {(run["logo"]["groups"], run["logo"]["groups_seed"]) for run in with_groups}
    if len(kinds) > 1:
        raise InputError(f"seed files split train into different groups {sorted(kinds)}; run them with one --groups")
    first = with_groups[0]["logo"]
    folds: dict[str, dict[tuple[int, int], float]] = {}
    for run in with_groups:
        for row in run["logo"]["rows"]:
            folds.setdefault(row["name"], {})[(run["seed"], row["group"])] = float(row["total_iou"])
    rows = []
    for name in ROW_ORDER:
        if name not in folds:
            continue
        values = np.array(list(folds[name].values()))
        per_group = {
            str(g): float(np.mean([v for (_, group), v in folds[name].items() if group == g]))
            for g in sorted({group for _, group in folds[name]})
        }
        rows.append(
            {
                "name": name,
                "folds": len(values),
                "total_iou_mean": float(values.mean()),
                "total_iou_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "total_iou_min": float(values.min()),
                "total_iou_max": float(values.max()),
                "per_group": per_group,
            }
        )
    gaps = []
    for baseline in ("weak", "supervised-subset", "supervised-all"):
        keys = sorted(set(folds.get("student", {})) & set(folds.get(baseline, {})))
        if keys:
            diff = 100 * np.array([folds["student"][k] - folds[baseline][k] for k in keys])
            std = float(diff.std(ddof=1)) if len(diff) > 1 else None
            gaps.append({"student_minus": baseline, "gap_points_mean": float(diff.mean()), "gap_points_std": std,
                         "gap_points_min": float(diff.min()), "gap_points_max": float(diff.max())})  # fmt: skip
    return {
        "groups": first["groups"],
        "groups_seed": first["groups_seed"],
        "group_sizes": first["group_sizes"],
        "seeds": [run["seed"] for run in with_groups],
        "rows": rows,
        "gaps": gaps,
    }


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
        "# OMBRIA benchmark (Protocol A)"
        + ("" if payload["recipe"] == "default" else f", recipe `{payload['recipe']}`"),
        "",
        *_recipe_lines(payload["recipe"]),
        "Measured by `python -m benchmarks.ombria` (see README, section Training). Flooded-class scores on",
        f"OMBRIA `test` (70 samples), in %: mean ± sample standard deviation over the seeds of each row ({seeds}).",
        "Labelled subset: f = 10 % of `train` by a seeded permutation; 12 of its chips are held out for validation",
        "(checkpoint selection and probability threshold) in every trained row; the unlabelled pool is read without",
        "masks. Every trained row: same optimizer steps"
        + (f" ({payload['steps']})" if payload.get("steps") else "")
        + ", batch, crop; SAR rows share one architecture.",
        "",
    ]
    reused = sorted({f"{row['setting']} {row['name']}" for run in runs for row in run["rows"] if "reused_from" in row})
    if reused:
        lines += [
            "Reused, not retrained (`--baselines-from`; same seed, configs and steps as the default recipe's seed "
            f"files, which this recipe does not change): {', '.join(reused)}.",
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
    if payload.get("logo"):
        lines += _groups_markdown(payload["logo"])
    lines += ["", "## Compute", ""]
    for run in runs:
        for one in _invocations(run):
            threads = f"{one['threads']} torch thread{'' if one['threads'] == 1 else 's'}"
            what = " + ".join(one["settings"])
            if one.get("groups"):
                what += f", leave-one-group-out over {one['groups']} groups"
            if one.get("rows"):
                what += f" ({', '.join(one['rows'])} only)"
            lines.append(
                f"- seed {run['seed']}, {what}: {one['wall_seconds'] / 60:.1f} min wall, "
                f"{one['cpu_seconds'] / 60:.1f} min CPU ({threads}, {run['machine']}, torch {run['torch']})"
            )
    lines.append("")
    return "\n".join(lines)


def _recipe_lines(recipe: str) -> list[str]:
    """What a non-default recipe changes (``--recipe``), for the table's header."""
    if recipe == "default" or recipe not in RECIPES:
        return []
    parts = [
        f"{who}: " + ", ".join(f"`{k}={v}`" for k, v in overrides.items()) for who, overrides in RECIPES[recipe].items()
    ]
    lines = [f"Recipe `{recipe}` (`--recipe {recipe}`) overrides the row configs ({'; '.join(parts)})."]
    lines = lines if parts else []
    for setting, teachers in RECIPE_STUDENT_TEACHERS.get(recipe, {}).items():
        lines.append(
            f"Recipe `{recipe}`: the {setting} student distils from the {' + '.join(teachers)} teacher "
            "(row configs unchanged)."
        )
    return [*lines, ""]


def _groups_markdown(logo: dict[str, Any]) -> list[str]:
    sizes = ", ".join(str(size) for size in logo["group_sizes"])
    seeds = ", ".join(str(seed) for seed in logo["seeds"])
    lines = [
        "",
        f"## Leave-one-group-out (OMBRIA train in {logo['groups']} scene groups; single-date)",
        "",
        f"OMBRIA `train` split into {logo['groups']} groups of similar scenes (k-means on down-sampled S2 colour",
        f"histograms, clustering seed {logo['groups_seed']}; group sizes {sizes}). Each row is trained without one",
        "group (labelled subset, validation chips and pool drawn from the rest) and scored on it: total IoU in %",
        f"over every (seed, group) fold, seeds {seeds}; the spread is over folds.",
        "",
        "| row | folds | total IoU (mean ± std) | min | max | per group (mean over seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for row in logo["rows"]:
        per_group = ", ".join(f"{100 * v:.1f}" for v in row["per_group"].values())
        lines.append(
            f"| {row['name']} | {row['folds']} | {100 * row['total_iou_mean']:.1f} ± {100 * row['total_iou_std']:.1f}"
            f" | {100 * row['total_iou_min']:.1f} | {100 * row['total_iou_max']:.1f} | {per_group} |"
        )
    if logo["gaps"]:
        lines += ["", "| student minus | gap, IoU points (mean ± std over folds) | min | max |", "|---|---|---|---|"]
        for gap in logo["gaps"]:
            spread = "" if gap["gap_points_std"] is None else f" ± {gap['gap_points_std']:.1f}"
            lines.append(
                f"| {gap['student_minus']} | {gap['gap_points_mean']:+.1f}{spread} | {gap['gap_points_min']:+.1f} | "
                f"{gap['gap_points_max']:+.1f} |"
            )
    return lines


def main(
    seed: Annotated[list[int] | None, typer.Option(help="Seed(s) to run (each writes its own result file).")] = None,
    data: Annotated[
        Path, typer.Option(help="OMBRIA folder (put or link the dataset at data/ombria, or pass it).")
    ] = ROOT / "data" / "ombria",
    configs: Annotated[Path, typer.Option(help="Folder of the ombria_*.yaml row configs.")] = ROOT / "configs",
    work_dir: Annotated[Path, typer.Option(help="Run directories (not committed).")] = ROOT
    / "runs"
    / "benchmark_ombria",
    results: Annotated[
        Path | None,
        typer.Option(help="Where seeds/*.json and ombria.{md,json} go (default docs/results, or docs/results/RECIPE)."),
    ] = None,
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
    recipe: Annotated[
        str, typer.Option(help=f"Config overrides of every row by name: {', '.join(RECIPES)} (default: the configs).")
    ] = "default",
    groups: Annotated[
        int, typer.Option(help="Also leave-one-group-out over this many scene groups of train (K x the training).")
    ] = 0,
    groups_seed: Annotated[int, typer.Option(help="Seed of the scene clustering (same groups for every seed).")] = 0,
    rows: Annotated[
        str | None,
        typer.Option(help="Comma-separated trained rows to train (default: all); their teachers are trained anyway."),
    ] = None,
    baselines_from: Annotated[
        Path | None,
        typer.Option(help="Default-recipe results folder whose seed files give the rows not trained (unchanged)."),
    ] = None,
    groups_only: Annotated[
        bool, typer.Option(help="Only the leave-one-group-out folds (--groups), added to the seed's existing file.")
    ] = False,
) -> None:
    """Run Protocol A on OMBRIA and write the merged table."""
    if results is None:
        results = ROOT / "docs" / "results" / ("" if recipe == "default" else recipe)
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
            recipe=recipe,
            groups=groups,
            groups_seed=groups_seed,
            rows=None if rows is None else tuple(r.strip() for r in rows.split(",") if r.strip()),
            baselines_from=baselines_from,
            groups_only=groups_only,
        )
        recipe_overrides(recipe, "student", "single-date")  # an unknown recipe: one line, nothing run
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

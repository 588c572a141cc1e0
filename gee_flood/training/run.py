"""Run one training (teacher, student or baseline) from a :class:`TrainConfig`, into a run directory.

The run directory gets::

    RUN/config.yaml            # the resolved config, with the normalisation statistics computed at run time
    RUN/metrics.csv            # Lightning CSVLogger metrics (train losses, validation IoU, threshold)
    RUN/curve.png              # training curve (loss and validation IoU against optimizer steps)
    RUN/checkpoints/best.ckpt  # Lightning checkpoint with the best validation IoU (carries gee_flood_card)
    RUN/checkpoints/last.ckpt  # Lightning checkpoint at the end
    RUN/model.ckpt             # the best weights + card only (what predict/evaluate need)
    RUN/summary.json           # sizes, best validation IoU, tuned threshold, wall time, steps/s

The three checkpoints hold plain data only and are read back with ``torch.load(..., weights_only=True)``
(:func:`gee_flood.models.load_model`). A run always starts fresh: it never resumes Lightning from a checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, RandomSampler, WeightedRandomSampler

from gee_flood._io import atomic_path, write_json_atomic, write_text_atomic
from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import Chip
from gee_flood.data.normalization import NormalizationStats, compute_stats
from gee_flood.errors import InputError
from gee_flood.models.card import InputModality, LabelSemantics, ModelCard, TrainingSummary
from gee_flood.models.checkpoint import LoadedModel, load_model, save_checkpoint
from gee_flood.models.inputs import normalized_inputs, standardize_per_chip
from gee_flood.models.predictor import predict_logits
from gee_flood.training.config import TrainConfig
from gee_flood.training.data import (
    LazyPreparedChips,
    PreparedChip,
    Splits,
    TrainingSamples,
    ValidationSamples,
    build_splits,
    check_modalities,
    prepare_chip,
    sample_weights,
)
from gee_flood.training.module import FloodSegmentationModule

log = logging.getLogger(__name__)

#: A teacher: a checkpoint path or an already loaded model.
TeacherSource = str | Path | LoadedModel

#: Chips used to compute normalisation statistics (a deterministic spread over the training chips).
STATS_CHIPS = 256


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_dir: The run directory.
        checkpoint: ``model.ckpt`` (best weights + card).
        lightning_checkpoint: The Lightning checkpoint ``model.ckpt`` was taken from (best or last).
        card: The model card of ``checkpoint``.
        best_val_iou: Validation water IoU at the tuned threshold of the selected checkpoint.
        summary: The contents of ``summary.json``.
    """

    run_dir: Path
    checkpoint: Path
    lightning_checkpoint: Path
    card: ModelCard
    best_val_iou: float
    summary: dict[str, Any]


def train(
    config: TrainConfig,
    *,
    splits: Splits | None = None,
    teacher: TeacherSource | Sequence[TeacherSource] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train one model as ``config`` describes and write its run directory.

    Args:
        config: The run's config (``role``, data, model, optimiser, loss, distillation, trainer).
        splits: Use these chips instead of opening ``config.data`` (tests, in-memory scenes).
        teacher: The student's teacher checkpoint, or several (their water probabilities are averaged: an
            ensemble teacher); default ``config.teacher_checkpoint``.
        progress: Show progress bars (default ``config.trainer.progress_bar``).

    Returns:
        Paths and scores of the run.

    Raises:
        InputError: Bad config (missing teacher, unknown modality), or data without the needed modalities.
    """
    started = time.perf_counter()
    progress = config.trainer.progress_bar if progress is None else progress
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    teachers = _resolve_teachers(config, teacher)
    teacher_inputs = list(dict.fromkeys(name for t in teachers for name in t.card.modality_names))
    modalities = list(dict.fromkeys([*config.data.inputs, *teacher_inputs]))
    if splits is None:
        splits = build_splits(config, modalities)
    where = f"dataset {splits.labelled.name!r}"
    specs = check_modalities(splits.labelled, modalities, where=where)
    check_modalities(splits.validation, config.data.inputs, where=f"validation {where}")
    if splits.unlabelled is not None:
        check_modalities(splits.unlabelled, modalities, where=f"unlabelled {where}")
    for one in teachers:
        one.card.check_inputs(specs, where=f"{where} (teacher inputs)")

    stats = _normalization(config, splits, progress=progress)
    config = config.model_copy(update={"normalization": stats})
    run_dir = Path(config.trainer.output_dir) / config.name
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", config.to_yaml())

    card = _card(config, splits, specs, stats, teachers)
    distilling = config.role == "student" and bool(teachers)
    online = distilling and config.distill.mode == "online"
    if online and len(teachers) > 1:
        raise InputError("online distillation takes one teacher; use distill.mode: cached for a teacher ensemble")
    train_chips = _prepare_training_chips(config, splits, stats, teachers, online=online, progress=progress)
    validation_chips = [
        prepare_chip(chip, config.data.inputs, stats, labels="hand", per_chip=config.data.per_chip_standardize)
        for chip in _progress(splits.validation, "reading validation chips", progress)
    ]

    module = FloodSegmentationModule(
        card,
        config.optim,
        config.loss,
        config.distill if distilling else None,
        teacher=teachers[0].model if online else None,
        teacher_card=teachers[0].card if online else None,
        encoder_weights=config.model.encoder_weights,
        channels_last=config.trainer.channels_last,
    )
    train_loader, val_loader = _loaders(config, train_chips, validation_chips)
    checkpoint_dir = run_dir / "checkpoints"
    checkpointing = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor="val/iou_tuned",
        mode="max",
        save_last=False,  # last.ckpt is written after fit (Lightning only re-saves it with an improved one)
        enable_version_counter=False,
    )
    callbacks: list[L.Callback] = [checkpointing]
    if config.optim.ema_decay is not None:
        callbacks.append(EMAWeightAveraging(decay=config.optim.ema_decay))
    if config.trainer.early_stopping_patience:
        callbacks.append(
            EarlyStopping(monitor="val/iou_tuned", mode="max", patience=config.trainer.early_stopping_patience)
        )
    for stale in (checkpoint_dir / "best.ckpt", checkpoint_dir / "last.ckpt", run_dir / "metrics.csv"):
        stale.unlink(missing_ok=True)
    logger = CSVLogger(save_dir=run_dir, name="", version="")
    with _quiet_lightning():
        trainer = _trainer(config, callbacks, logger, run_dir, progress)
    fit_started = time.perf_counter()
    fit_cpu_started = time.process_time()
    with _quiet_lightning():
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
        if trainer.global_step % min(config.trainer.val_every_steps, config.optim.max_steps):
            _final_validation(trainer, module, val_loader, checkpointing, checkpoint_dir / "best.ckpt")
        last_path = checkpoint_dir / "last.ckpt"
        if config.trainer.save_last or config.trainer.select == "last":
            trainer.save_checkpoint(last_path)  # Lightning's save_last only follows improved checkpoints
    fit_seconds = time.perf_counter() - fit_started
    fit_cpu_seconds = time.process_time() - fit_cpu_started
    if not trainer.is_global_zero:
        return TrainResult(run_dir, run_dir / "model.ckpt", checkpoint_dir / "best.ckpt", card, float("nan"), {})

    best_path = Path(checkpointing.best_model_path or checkpoint_dir / "best.ckpt")
    chosen_path = last_path if config.trainer.select == "last" else best_path
    best = load_model(chosen_path)
    model_path = save_checkpoint(best.model, best.card, run_dir / "model.ckpt")
    if config.trainer.select == "last":
        final = [row for row in read_metrics(run_dir / "metrics.csv") if "val/iou_tuned" in row]
        best_val_iou = final[-1]["val/iou_tuned"] if final else float("nan")
    else:
        best_score = checkpointing.best_model_score
        best_val_iou = float(best_score) if best_score is not None else float("nan")
    wall = time.perf_counter() - started
    summary = {
        "name": config.name,
        "role": config.role,
        "kind": config.kind,
        "steps": int(trainer.global_step),
        "best_val_iou": best_val_iou,
        "selected": config.trainer.select,
        "threshold": best.card.labels.threshold,
        "wall_seconds": wall,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "steps_per_second": trainer.global_step / fit_seconds if fit_seconds else float("nan"),
        "train_chips": len(train_chips),
        **{k: v for k, v in splits.summary.items() if not k.endswith("_ids")},
    }
    write_json_atomic(run_dir / "summary.json", summary)
    plot_training_curve(run_dir / "metrics.csv", run_dir / "curve.png", title=config.name)
    return TrainResult(run_dir, model_path, chosen_path, best.card, best_val_iou, summary)


def _trainer(
    config: TrainConfig, callbacks: list[L.Callback], logger: CSVLogger, run_dir: Path, progress: bool
) -> L.Trainer:
    return L.Trainer(
        max_steps=config.optim.max_steps,
        max_epochs=-1,
        val_check_interval=min(config.trainer.val_every_steps, config.optim.max_steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(10, config.trainer.val_every_steps, config.optim.max_steps)),
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        strategy=_strategy(config),
        precision=_precision(config),  # type: ignore[arg-type]
        deterministic=config.trainer.deterministic,
        gradient_clip_val=config.optim.gradient_clip,
        callbacks=callbacks,
        logger=logger,
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )


def _resolve_teachers(
    config: TrainConfig, teacher: TeacherSource | Sequence[TeacherSource] | None
) -> list[LoadedModel]:
    if config.role != "student":
        return []
    source: Any = teacher if teacher is not None else config.teacher_checkpoint
    if source is None or (isinstance(source, Sequence) and not isinstance(source, str) and not source):
        raise InputError("a student needs a teacher checkpoint (--teacher CKPT or teacher_checkpoint in the config)")
    sources = list(source) if isinstance(source, Sequence) and not isinstance(source, str) else [source]
    loaded = [one if isinstance(one, LoadedModel) else load_model(one) for one in sources]
    for one in loaded:
        if one.card.role != "teacher":
            log.warning("the teacher checkpoint's role is %r, not 'teacher'", one.card.role)
    return loaded


def _progress(dataset: ChipDataset, description: str, enabled: bool) -> Iterator[Any]:
    from tqdm.auto import tqdm

    return iter(tqdm(dataset, total=len(dataset), desc=description, disable=not enabled, leave=False))


def _normalization(config: TrainConfig, splits: Splits, *, progress: bool) -> NormalizationStats:
    """Per-band mean/std of the model inputs over training chips (labelled and unlabelled; no labels read)."""
    chips: list[Any] = []
    sources = [splits.labelled] + ([splits.unlabelled] if splits.unlabelled is not None else [])
    total = sum(len(s) for s in sources)
    take = set(np.linspace(0, total - 1, min(total, STATS_CHIPS)).round().astype(int).tolist())
    flat = [(source, i) for source in sources for i in range(len(source))]
    picked = [flat[i] for i in sorted(take)]
    from tqdm.auto import tqdm

    for source, index in tqdm(picked, desc="normalisation statistics", disable=not progress, leave=False):
        chip = source[index]
        if config.data.per_chip_standardize:
            modalities = {
                name: standardize_per_chip(array) if name in config.data.per_chip_standardize else array
                for name, array in chip.modalities.items()
            }
            chip = Chip(chip.chip_id, chip.event, modalities, chip.specs, valid=chip.valid)
        chips.append(chip)
    return compute_stats(
        chips,
        config.data.inputs,
        dataset=splits.labelled.name,
        clip=dict(config.data.clip) if config.data.clip else None,
        max_pixels_per_chip=16384,
        seed=config.trainer.seed,
    )


def _card(
    config: TrainConfig, splits: Splits, specs: dict[str, Any], stats: NormalizationStats, teachers: list[LoadedModel]
) -> ModelCard:
    role = config.role
    label_source = {"hand": "hand", "otsu": "weak:otsu"}.get(config.data.labels, f"weak:{config.data.labels}")
    if role == "student":
        label_source = f"{label_source}+teacher"
    teacher_path = ", ".join(str(t.source) for t in teachers) if teachers else None
    target = "flood extent" if splits.labelled.name == "ombria" else "water"
    return ModelCard(
        role=role,
        inputs=[InputModality.from_spec(specs[name]) for name in config.data.inputs],
        normalization=stats,
        per_chip_standardized=[name for name in config.data.per_chip_standardize if name in config.data.inputs],
        architecture=config.model.architecture,
        labels=LabelSemantics(target=target),
        training=TrainingSummary(
            dataset=splits.labelled.name,
            split=config.data.split,
            labelled_chips=len(splits.labelled),
            unlabelled_chips=len(splits.unlabelled) if splits.unlabelled is not None else 0,
            labelled_fraction=config.data.labelled_fraction,
            label_source=label_source,
            seed=config.trainer.seed,
            steps=config.optim.max_steps,
            teacher_checkpoint=teacher_path,
            extra={"kind": config.kind, "validation_chips": len(splits.validation)},
        ),
    )


def _prepare_training_chips(
    config: TrainConfig,
    splits: Splits,
    stats: NormalizationStats,
    teachers: list[LoadedModel],
    *,
    online: bool,
    progress: bool,
) -> Sequence[PreparedChip]:
    """Prepare labelled and unlabelled chips; for cached teachers, add their (averaged) logits, in batches."""
    sources: list[tuple[ChipDataset, bool]] = [(splits.labelled, True)]
    if splits.unlabelled is not None and config.role == "student":
        sources.append((splits.unlabelled, False))
    teacher_inputs = list(dict.fromkeys(name for t in teachers for name in t.card.modality_names)) or None
    cached = bool(teachers) and not online
    center = config.distill.center_on_threshold

    def prepare(chip: Chip, labelled: bool) -> PreparedChip:
        return prepare_chip(
            chip,
            config.data.inputs,
            stats,
            labels=config.data.labels,
            otsu_method=config.data.otsu_method,
            use_label=labelled,
            teacher_inputs=teacher_inputs,
            teacher_stats=teachers[0].card.normalization if online else None,
            keep_teacher_inputs=online,
            per_chip=config.data.per_chip_standardize,
            teacher_per_chip=teachers[0].card.per_chip_standardized if online else (),
        )

    if not config.data.preload:
        if cached:
            raise InputError("data.preload: false reads chips on the fly; use distill.mode: online for the teacher")
        return LazyPreparedChips(sources, prepare)
    prepared: list[PreparedChip] = []
    for dataset, labelled in sources:
        pending: list[tuple[PreparedChip, list[np.ndarray]]] = []
        description = "labelled chips" if labelled else "unlabelled chips"
        for chip in _progress(dataset, description, progress):
            item = prepare(chip, labelled)
            if cached:
                inputs = [
                    normalized_inputs(
                        chip, t.card.modality_names, t.card.normalization, per_chip=t.card.per_chip_standardized
                    )
                    for t in teachers
                ]
                pending.append((item, inputs))
                if len(pending) == 8:
                    _add_teacher_logits(pending, teachers, config.distill.teacher_flips, center=center)
                    pending = []
            prepared.append(item)
        if pending:
            _add_teacher_logits(pending, teachers, config.distill.teacher_flips, center=center)
    return prepared


@torch.no_grad()
def _add_teacher_logits(
    pending: Sequence[tuple[PreparedChip, list[np.ndarray]]],
    teachers: Sequence[LoadedModel],
    flips: bool,
    *,
    center: bool = False,
) -> None:
    """Set each pending chip's teacher logits: the logit of the teachers' mean water probability.

    With ``center``, each teacher's logits are first shifted by ``-logit(threshold)`` (its tuned threshold), so a
    teacher that is right at probability 0.3 gives targets that cross 0.5 where it decides "water".
    """
    shapes = {inputs[0].shape[-2:] for _, inputs in pending}
    for shape in shapes:
        group = [p for p in pending if p[1][0].shape[-2:] == shape]
        probability = None
        for index, teacher in enumerate(teachers):
            batch = torch.from_numpy(np.stack([inputs[index] for _, inputs in group]))
            logits = predict_logits(teacher.model, teacher.card, batch, flips=flips)
            if center:
                threshold = min(max(teacher.card.labels.threshold, 1e-3), 1 - 1e-3)
                logits = logits - math.log(threshold / (1 - threshold))
            one = torch.sigmoid(logits)
            probability = one if probability is None else probability + one
        assert probability is not None
        logits = torch.logit((probability / len(teachers)).clamp(1e-6, 1 - 1e-6)).clamp(-20, 20)
        for (item, _), chip_logits in zip(group, logits.numpy(), strict=True):
            item.teacher_logits = chip_logits.astype(np.float16)


def _loaders(
    config: TrainConfig, train_chips: Sequence[PreparedChip], validation_chips: list[PreparedChip]
) -> tuple[DataLoader, DataLoader]:
    data = config.data
    samples = TrainingSamples(train_chips, crop_size=data.crop_size, flips=data.flips, rot90=data.rot90)
    draws = config.optim.max_steps * config.optim.batch_size
    flags = train_chips.has_label if isinstance(train_chips, LazyPreparedChips) else [c.has_label for c in train_chips]
    weights = sample_weights(flags, data.labelled_share)
    sampler: torch.utils.data.Sampler[int]
    if weights is None:
        sampler = RandomSampler(samples, replacement=True, num_samples=draws)
    else:
        sampler = WeightedRandomSampler(weights, num_samples=draws, replacement=True)
    workers = config.trainer.num_workers
    train_loader = DataLoader(
        samples,
        batch_size=config.optim.batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=True,
    )
    val_loader = DataLoader(ValidationSamples(validation_chips), batch_size=4, num_workers=0)
    return train_loader, val_loader


def _strategy(config: TrainConfig) -> str:
    devices = config.trainer.devices
    many = config.trainer.num_nodes > 1 or (isinstance(devices, int) and devices > 1)
    many = many or (isinstance(devices, list) and len(devices) > 1)
    return "ddp" if many else "auto"


def _precision(config: TrainConfig) -> str:
    if config.trainer.precision != "auto":
        return config.trainer.precision
    wants_gpu = config.trainer.accelerator in ("auto", "gpu", "cuda")
    if wants_gpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _final_validation(
    trainer: L.Trainer,
    module: FloodSegmentationModule,
    val_loader: DataLoader,
    checkpointing: ModelCheckpoint,
    best_path: Path,
) -> None:
    """Validate after the last step when it did not fall on a validation step; keep it if it is the best."""
    results = trainer.validate(module, dataloaders=val_loader, verbose=False)
    score = float(results[0]["val/iou_tuned"]) if results else float("nan")
    best = checkpointing.best_model_score
    if best is None or score > float(best):
        trainer.save_checkpoint(best_path)
        checkpointing.best_model_path = str(best_path)
        checkpointing.best_model_score = torch.tensor(score)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's advisory warnings (worker count, log interval) that say nothing about the run."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in ("does not have many workers", "log_every_n_steps", "LeafSpec", "exists and is not empty"):
                warnings.filterwarnings("ignore", message=f".*{message}.*")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Read a Lightning CSVLogger ``metrics.csv`` into rows of floats (empty cells dropped)."""
    rows: list[dict[str, float]] = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append({key: float(value) for key, value in row.items() if value not in ("", None)})
    return rows


def plot_training_curve(metrics_csv: str | Path, output: str | Path, *, title: str = "") -> Path:
    """Plot training loss and validation IoU against optimizer steps into a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_csv) if Path(metrics_csv).is_file() else []
    figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=110)
    for key, style in (("train/loss", "-"), ("train/supervised", ":"), ("train/distill", "--")):
        points = [(row["step"], row[key]) for row in rows if key in row]
        if points:
            steps, values = zip(*points, strict=True)
            loss_axis.plot(steps, values, style, lw=1, label=key)
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("loss")
    iou_axis = loss_axis.twinx()
    for key, colour in (("val/iou", "tab:green"), ("val/iou_tuned", "tab:red")):
        points = [(row["step"], row[key]) for row in rows if key in row]
        if points:
            steps, values = zip(*points, strict=True)
            iou_axis.plot(steps, values, "o-", color=colour, lw=1.5, label=key)
    iou_axis.set_ylabel("validation water IoU")
    iou_axis.set_ylim(0, 1)
    handles = loss_axis.get_legend_handles_labels()[0] + iou_axis.get_legend_handles_labels()[0]
    labels = loss_axis.get_legend_handles_labels()[1] + iou_axis.get_legend_handles_labels()[1]
    if handles:
        loss_axis.legend(handles, labels, loc="center right", fontsize=8)
    loss_axis.set_title(title)
    figure.tight_layout()
    final = Path(output)
    with atomic_path(final) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return final


def train_from_config(
    role: str,
    config_path: str | Path,
    *,
    kind: str | None = None,
    teacher: str | Path | Sequence[str | Path] | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Load a config file, check it is for ``role`` (and baseline ``kind``), apply overrides and train.

    Args:
        role: ``teacher``, ``student`` or ``baseline`` (the CLI sub-command).
        config_path: YAML config.
        kind: Baseline kind: ``supervised`` (hand labels) or ``weak`` (weak labels, e.g. Otsu).
        teacher: The student's teacher checkpoint(s) (overrides ``teacher_checkpoint`` in the config).
        overrides: Dotted overrides (``{"trainer.seed": 1, "optim.max_steps": 100}``).

    Raises:
        InputError: The config is for another role, or the baseline kind contradicts its label source.
    """
    from gee_flood.training.config import load_config

    config = load_config(config_path, overrides)
    if config.role != role:
        raise InputError(f"{config_path}: is a {config.role!r} config; 'gee-flood train {role}' needs role: {role}")
    if role == "baseline":
        if kind not in ("supervised", "weak"):
            raise InputError(f"--kind must be 'supervised' or 'weak', got {kind!r}")
        weak = config.data.labels != "hand"
        if (kind == "weak") != weak:
            raise InputError(
                f"{config_path}: data.labels is {config.data.labels!r}, which does not fit --kind {kind} "
                "(supervised uses labels: hand; weak uses labels: otsu or a dataset weak-label source)"
            )
        if not config.kind:
            config = config.model_copy(update={"kind": kind})
    if role == "student" and not teacher and not config.teacher_checkpoint:
        raise InputError("'gee-flood train student' needs --teacher CKPT (or teacher_checkpoint in the config)")
    return train(config, teacher=teacher or None)

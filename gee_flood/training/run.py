"""Run one training (teacher, student or baseline) from a :class:`TrainConfig`, into a run directory.

The run directory gets::

    RUN/config.yaml            # the resolved config, with the normalisation statistics computed at run time
    RUN/metrics.csv            # Lightning CSVLogger metrics (train losses, validation IoU, threshold)
    RUN/curve.png              # training curve (loss and validation IoU against optimizer steps)
    RUN/checkpoints/best.ckpt  # Lightning checkpoint with the best validation IoU (carries gee_flood_card)
    RUN/checkpoints/last.ckpt  # Lightning checkpoint at the end
    RUN/model.ckpt             # the best weights + card only (what predict/evaluate need)
    RUN/summary.json           # sizes, best validation IoU, tuned threshold, wall time, steps/s, processes

The three checkpoints hold plain data only and are read back with ``torch.load(..., weights_only=True)``
(:func:`gee_flood.models.load_model`). A run always starts fresh: it never resumes Lightning from a checkpoint.

With more than one device or node the run is DDP (gloo on CPUs, NCCL on CUDA): every process prepares the same data
and trains on its share of the draws; only global rank 0 writes files (``config.yaml``, metrics, checkpoints,
``model.ckpt``, summary, plot) and shows progress, and every process returns the same :class:`TrainResult`.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shutil
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
from lightning.pytorch.strategies import DDPStrategy

from gee_flood._io import atomic_path, check_writable, write_json_atomic, write_text_atomic
from gee_flood._progress import shown, step_progress, track
from gee_flood.data.normalization import NormalizationStats, compute_stats
from gee_flood.errors import GeeFloodWarning, InputError
from gee_flood.models.card import InputModality, LabelSemantics, ModelCard, TrainingSummary, checkpoint_reference
from gee_flood.models.checkpoint import LoadedModel, check_architecture, load_model, read_card, save_checkpoint
from gee_flood.training.augment import SarAugment
from gee_flood.training.config import TrainConfig
from gee_flood.training.data import Splits, build_splits, check_modalities
from gee_flood.training.datamodule import FloodDataModule
from gee_flood.training.module import FloodSegmentationModule
from gee_flood.training.request import TrainRequest

log = logging.getLogger(__name__)

#: A teacher: a checkpoint path or an already loaded model.
TeacherSource = str | Path | LoadedModel

#: Chips used to compute normalisation statistics (a deterministic spread over the training chips).
STATS_CHIPS = 256


@dataclass
class TrainResult:
    """What a training run produced (the same on every DDP process).

    Attributes:
        run_dir: The run directory.
        checkpoint: ``model.ckpt`` (best weights + card).
        lightning_checkpoint: The Lightning checkpoint ``model.ckpt`` was taken from (best or last).
        card: The model card of ``checkpoint``.
        best_val_iou: Validation water IoU at the tuned threshold of the selected checkpoint.
        summary: The contents of ``summary.json``.
        is_global_zero: Whether this process is global rank 0 (the one that wrote the files and reports).
    """

    run_dir: Path
    checkpoint: Path
    lightning_checkpoint: Path
    card: ModelCard
    best_val_iou: float
    summary: dict[str, Any]
    is_global_zero: bool = True


def train(
    config: TrainConfig,
    *,
    splits: Splits | None = None,
    teacher: TeacherSource | Sequence[TeacherSource] | None = None,
    progress: bool | None = None,
    overwrite: bool = True,
) -> TrainResult:
    """Train one model as ``config`` describes and write its run directory.

    Nothing is read or written before the config's architecture is known to segmentation-models-pytorch and the
    run directory may be written (:func:`check_run_directory`).

    Args:
        config: The run's config (``role``, data, model, optimiser, loss, distillation, trainer).
        splits: Use these chips instead of opening ``config.data`` (tests, in-memory scenes).
        teacher: The student's teacher checkpoint, or several (their water probabilities are averaged: an
            ensemble teacher); default ``config.teacher_checkpoint``.
        progress: Show progress bars (default ``config.trainer.progress_bar``; never on DDP ranks but 0).
        overwrite: Replace an existing, non-empty run directory (False: refuse it; ``gee-flood train`` passes
            ``--overwrite``, default False).

    Returns:
        Paths and scores of the run.

    Raises:
        InputError: Bad config (missing teacher, unknown modality, unknown architecture or encoder), data without
            the needed modalities, or a run directory that exists (without ``overwrite``) or cannot be written.
    """
    check_architecture(config.model.architecture)
    check_trainer_options(config)
    final_dir = check_run_directory(config, overwrite=overwrite)
    final_config = config
    if overwrite:  # write beside the previous run; it is replaced only when this one has finished
        config = _staged(config)
    try:
        with _run_lock(final_dir):
            result, trainer = _train_checked(config, splits=splits, teacher=teacher, progress=progress)
            if result.is_global_zero and overwrite:
                _swap_in(Path(config.trainer.output_dir) / config.name, final_dir, final_config)
    except BaseException:
        if overwrite and _launched_as_rank_zero():
            shutil.rmtree(Path(config.trainer.output_dir), ignore_errors=True)
        raise
    if overwrite:
        trainer.strategy.barrier("gee_flood.train: run swapped in")
        return _read_result(final_dir, _selected_checkpoint(config, final_dir), is_global_zero=result.is_global_zero)
    return result


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``.<run name>.train.lock`` beside the run directory (rank 0): a second identical run refuses at once.

    :mod:`filelock`'s ``flock`` is released by the kernel if the process dies. The lock file is removed on release,
    and the output folder too if this run created it and left it empty.

    Raises:
        InputError: Another process is training into the same run directory.
    """
    if not _launched_as_rank_zero():
        yield
        return
    from filelock import FileLock, Timeout

    folder = run_dir.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / f".{run_dir.name}.train.lock"
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(
            f"run directory {run_dir}: another gee-flood train is writing it; wait for it to finish, or choose "
            "another --out or config name"
        ) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


def _staged(config: TrainConfig) -> TrainConfig:
    """The config of a run written beside the one it replaces: ``<output_dir>/.<name>.overwrite/<name>``."""
    staging = Path(config.trainer.output_dir) / f".{config.name}.overwrite"
    if _launched_as_rank_zero() and staging.exists():
        shutil.rmtree(staging)  # left by a killed --overwrite run
    trainer = config.trainer.model_copy(update={"output_dir": staging, "run_name": config.name})
    return config.model_copy(update={"trainer": trainer})


def _swap_in(staged: Path, final: Path, final_config: TrainConfig) -> None:
    """Replace the previous run ``final`` by the finished run ``staged`` (two renames on one file system)."""
    import yaml

    recorded = TrainConfig.model_validate(yaml.safe_load((staged / "config.yaml").read_text()))
    config = recorded.model_copy(update={"trainer": final_config.trainer})  # its own folder, not the staging one
    write_text_atomic(staged / "config.yaml", config.to_yaml())
    replaced = final.with_name(f".{final.name}.{os.getpid()}-replaced")
    if final.exists():
        os.replace(final, replaced)
    os.replace(staged, final)
    shutil.rmtree(replaced, ignore_errors=True)
    shutil.rmtree(staged.parent, ignore_errors=True)


def _train_checked(
    config: TrainConfig,
    *,
    splits: Splits | None,
    teacher: TeacherSource | Sequence[TeacherSource] | None,
    progress: bool | None,
) -> tuple[TrainResult, L.Trainer]:
    """The body of :func:`train` once the options and run directory are checked: the result and the trainer."""
    started = time.perf_counter()
    progress = (config.trainer.progress_bar if progress is None else progress) and _launched_as_rank_zero()
    _seed(config)
    teachers = _resolve_teachers(config, teacher)
    online = _online_distillation(config, teachers)
    splits, specs = _checked_splits(config, splits, teachers)
    card = _card(config, splits, specs, _normalization(config, splits, progress=progress), teachers)
    config = config.model_copy(update={"normalization": card.normalization})
    run_dir = _start_run_directory(config)
    data = FloodDataModule(config, splits, card, teachers, online=online, progress=progress)
    data.setup("fit")
    module = _module(config, card, teachers, online=online)
    checkpointing = _best_checkpoint(run_dir)
    with _quiet_lightning():
        trainer = _trainer(config, _callbacks(config, checkpointing, progress=progress), run_dir, progress)
    with _quiet_lightning(), _Stopwatch() as fit_time:
        trainer.fit(module, datamodule=data)
        _validate_after_last_step(trainer, module, data, checkpointing, config)
        _save_last(trainer, config, run_dir)
    if trainer.is_global_zero:
        _write_outputs(config, run_dir, trainer, checkpointing, splits, data, fit_time, started)
    trainer.strategy.barrier("gee_flood.train: outputs written")
    return _read_result(run_dir, _selected_checkpoint(config, run_dir), is_global_zero=trainer.is_global_zero), trainer


def train_from_request(request: TrainRequest) -> TrainResult:
    """Load the request's config, check it is for its role (and baseline kind), apply its overrides and train.

    Args:
        request: What the ``gee-flood train`` command asked for.

    Raises:
        InputError: The config is for another role, or the baseline kind contradicts its label source.
    """
    from gee_flood.training.config import load_config

    config_path, role, kind = request.config_path, request.role, request.kind
    config = load_config(config_path, dict(request.overrides))
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
    if role == "student" and not request.teachers and not config.teacher_checkpoint:
        raise InputError("'gee-flood train student' needs --teacher CKPT (or teacher_checkpoint in the config)")
    return train(config, teacher=list(request.teachers) or None, overwrite=request.overwrite)


def _launched_as_rank_zero() -> bool:
    """Whether this process is global rank 0 (before the trainer knows: from the DDP launcher's environment)."""
    ranks = [os.environ.get(key) for key in ("RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_RANK")]
    return all(rank in (None, "", "0") for rank in ranks)


def _seed(config: TrainConfig) -> None:
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)


def _online_distillation(config: TrainConfig, teachers: list[LoadedModel]) -> bool:
    online = config.role == "student" and bool(teachers) and config.distill.mode == "online"
    if online and len(teachers) > 1:
        raise InputError("online distillation takes one teacher; use distill.mode: cached for a teacher ensemble")
    return online


def _checked_splits(
    config: TrainConfig, splits: Splits | None, teachers: list[LoadedModel]
) -> tuple[Splits, dict[str, Any]]:
    """Open the run's chips (unless given) and check they carry the model's and the teachers' modalities."""
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
    return splits, specs


def check_trainer_options(config: TrainConfig) -> None:
    """Refuse, before any data is read, accelerator, devices, nodes or precision that Lightning would not accept.

    Lightning is the judge (a Trainer is built from the options and dropped: it starts no process, writes nothing),
    so ``--accelerator tpu`` without a TPU, ``--devices -1`` on a CPU or ``trainer.precision=bogus`` is one line here
    rather than a traceback after the data preparation.

    Raises:
        InputError: Naming the options and Lightning's reason.
    """
    trainer = config.trainer
    try:
        with _quiet_lightning(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            L.Trainer(
                accelerator=trainer.accelerator,
                devices=trainer.devices,
                num_nodes=trainer.num_nodes,
                strategy=_strategy(config),
                precision=_precision(config),  # type: ignore[arg-type]
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
    except Exception as error:  # noqa: BLE001 - Lightning raises ValueError, MisconfigurationException, RuntimeError...
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise InputError(
            f"trainer options --accelerator {trainer.accelerator!r} --devices {trainer.devices!r} --num-nodes "
            f"{trainer.num_nodes} trainer.precision {trainer.precision!r}: Lightning refuses them ({reason})"
        ) from None


def check_run_directory(config: TrainConfig, *, overwrite: bool) -> Path:
    """Refuse, before anything is read or written, a run directory that exists (unless ``overwrite``) or cannot be.

    A run never resumes: a finished run's ``model.ckpt`` beside a ``config.yaml`` of another run would lie about
    it. Only rank 0 checks (the other DDP ranks start when rank 0 has created the directory).

    Returns:
        The run directory, ``trainer.output_dir``/``name``.

    Raises:
        InputError: Naming the folder and ``--out``/``--overwrite``.
    """
    run_dir = Path(config.trainer.output_dir) / config.name
    if not _launched_as_rank_zero():
        return run_dir
    check_writable(run_dir, option="--out (trainer.output_dir/name)", directory=True)
    if not overwrite and run_dir.is_dir() and any(run_dir.iterdir()):
        raise InputError(
            f"run directory {run_dir} exists and is not empty; pass --overwrite to replace it, or choose another "
            "--out or config name"
        )
    return run_dir


#: What a run writes into its directory (removed when a run replaces another, so none is left from the old one).
_RUN_OUTPUTS = ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv", "model.ckpt", "summary.json",
                "curve.png")  # fmt: skip


def _start_run_directory(config: TrainConfig) -> Path:
    """Create the run directory, write ``config.yaml`` and remove a previous run's outputs (rank 0)."""
    run_dir = Path(config.trainer.output_dir) / config.name
    if _launched_as_rank_zero():
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in _RUN_OUTPUTS:
            (run_dir / stale).unlink(missing_ok=True)
        write_text_atomic(run_dir / "config.yaml", config.to_yaml())
    return run_dir


def _module(
    config: TrainConfig, card: ModelCard, teachers: list[LoadedModel], *, online: bool
) -> FloodSegmentationModule:
    distilling = config.role == "student" and bool(teachers)
    return FloodSegmentationModule(
        card,
        config.optim,
        config.loss,
        config.distill if distilling else None,
        teacher=teachers[0].model if online else None,
        teacher_card=teachers[0].card if online else None,
        encoder_weights=config.model.encoder_weights,
        channels_last=config.trainer.channels_last,
        augment=SarAugment.for_card(config.augment, card),
    )


def _best_checkpoint(run_dir: Path) -> ModelCheckpoint:
    """``checkpoints/best.ckpt``: the highest validation IoU (last.ckpt is written after fit: :func:`_save_last`)."""
    return ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val/iou_tuned",
        mode="max",
        save_last=False,  # Lightning only re-saves last.ckpt with an improved one
        enable_version_counter=False,
    )


def _callbacks(config: TrainConfig, checkpointing: ModelCheckpoint, *, progress: bool = False) -> list[L.Callback]:
    callbacks: list[L.Callback] = [checkpointing]
    if shown(progress):  # gee-flood's one progress display, in steps (Lightning's own bar is off)
        callbacks.append(step_progress(config.optim.max_steps))
    if config.optim.ema_decay is not None:
        callbacks.append(EMAWeightAveraging(decay=config.optim.ema_decay))
    if config.trainer.early_stopping_patience:
        callbacks.append(
            EarlyStopping(monitor="val/iou_tuned", mode="max", patience=config.trainer.early_stopping_patience)
        )
    return callbacks


def _trainer(config: TrainConfig, callbacks: list[L.Callback], run_dir: Path, progress: bool) -> L.Trainer:
    return L.Trainer(
        max_steps=config.optim.max_steps,
        max_epochs=-1,
        val_check_interval=_validation_interval(config),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(10, config.trainer.val_every_steps, config.optim.max_steps)),
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        strategy=_strategy(config),
        use_distributed_sampler=False,  # FloodDataModule deals the draws and validation chips out to processes
        precision=_precision(config),  # type: ignore[arg-type]
        deterministic=config.trainer.deterministic,
        gradient_clip_val=config.optim.gradient_clip,
        callbacks=callbacks,
        logger=CSVLogger(save_dir=run_dir, name="", version=""),
        enable_progress_bar=False,  # gee_flood._progress.step_progress instead (see _callbacks)
        enable_model_summary=False,
        default_root_dir=run_dir,
    )


def _validation_interval(config: TrainConfig) -> int:
    return min(config.trainer.val_every_steps, config.optim.max_steps)


class _Stopwatch:
    """Wall and process CPU seconds of a ``with`` block (``seconds``, ``cpu_seconds``)."""

    seconds = float("nan")
    cpu_seconds = float("nan")

    def __enter__(self) -> _Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu


def _validate_after_last_step(
    trainer: L.Trainer,
    module: FloodSegmentationModule,
    data: FloodDataModule,
    checkpointing: ModelCheckpoint,
    config: TrainConfig,
) -> None:
    """Validate after the last step when it did not fall on a validation step; keep it if it is the best."""
    if not trainer.global_step % _validation_interval(config):
        return
    results = trainer.validate(module, datamodule=data, verbose=False)
    score = float(results[0]["val/iou_tuned"]) if results else float("nan")
    best = checkpointing.best_model_score
    if best is None or score > float(best):
        best_path = Path(checkpointing.dirpath or "") / "best.ckpt"
        trainer.save_checkpoint(best_path)  # every process calls it; rank 0 writes
        checkpointing.best_model_path = str(best_path)
        checkpointing.best_model_score = torch.tensor(score)


def _save_last(trainer: L.Trainer, config: TrainConfig, run_dir: Path) -> None:
    """Write ``checkpoints/last.ckpt`` when kept or selected (Lightning's save_last only follows improvements)."""
    if config.trainer.save_last or config.trainer.select == "last":
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")


def _selected_checkpoint(config: TrainConfig, run_dir: Path) -> Path:
    return run_dir / "checkpoints" / ("last.ckpt" if config.trainer.select == "last" else "best.ckpt")


def _write_outputs(
    config: TrainConfig,
    run_dir: Path,
    trainer: L.Trainer,
    checkpointing: ModelCheckpoint,
    splits: Splits,
    data: FloodDataModule,
    fit_time: _Stopwatch,
    started: float,
) -> None:
    """Rank 0: ``model.ckpt`` from the selected checkpoint, ``summary.json`` and ``curve.png``."""
    chosen = load_model(_selected_checkpoint(config, run_dir))
    threshold_info = _choose_threshold(config, chosen, data)
    save_checkpoint(chosen.model, chosen.card, run_dir / "model.ckpt")
    if config.trainer.select == "last":
        final = [row for row in read_metrics(run_dir / "metrics.csv") if "val/iou_tuned" in row]
        best_val_iou = final[-1]["val/iou_tuned"] if final else float("nan")
    else:
        best_score = checkpointing.best_model_score
        best_val_iou = float(best_score) if best_score is not None else float("nan")
    steps = int(trainer.global_step)
    summary = {
        "name": config.name,
        "role": config.role,
        "kind": config.kind,
        "steps": steps,
        "best_val_iou": best_val_iou,
        "selected": config.trainer.select,
        "threshold": chosen.card.labels.threshold,
        **threshold_info,
        "wall_seconds": time.perf_counter() - started,
        "fit_seconds": fit_time.seconds,
        "fit_cpu_seconds": fit_time.cpu_seconds,
        "steps_per_second": steps / fit_time.seconds if fit_time.seconds else float("nan"),
        "train_chips": len(data.train_chips or ()),
        **_processes(trainer),
        **{k: v for k, v in splits.summary.items() if not k.endswith("_ids")},
    }
    write_json_atomic(run_dir / "summary.json", summary)
    plot_training_curve(run_dir / "metrics.csv", run_dir / "curve.png", title=config.name)


def _choose_threshold(config: TrainConfig, chosen: LoadedModel, data: FloodDataModule) -> dict[str, Any]:
    """Set ``chosen``'s card threshold by ``config.threshold.method``; return what the summary records of it."""
    info: dict[str, Any] = {"threshold_method": config.threshold.method}
    if config.threshold.method == "prior":
        from gee_flood.training.threshold import prior_threshold

        prior = prior_threshold(config, chosen, data.train_chips or (), data.teachers)
        info["validation_threshold"] = chosen.card.labels.threshold
        if prior is not None:
            chosen.card.labels.threshold = prior.threshold
            info.update(prior_fraction=prior.prior_fraction, prior_source=prior.source, prior_chips=prior.chips)
    return info


def _processes(trainer: L.Trainer) -> dict[str, Any]:
    """How the run was spread: processes, strategy and (DDP) process-group backend."""
    backend = getattr(trainer.strategy, "process_group_backend", None)
    return {"processes": trainer.world_size, "strategy": type(trainer.strategy).__name__, "backend": backend}


def _read_result(run_dir: Path, lightning_checkpoint: Path, *, is_global_zero: bool) -> TrainResult:
    """The run's result as rank 0 wrote it (``summary.json`` and ``model.ckpt``)."""
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    checkpoint = run_dir / "model.ckpt"
    return TrainResult(
        run_dir=run_dir,
        checkpoint=checkpoint,
        lightning_checkpoint=lightning_checkpoint,
        card=read_card(checkpoint),
        best_val_iou=float(summary["best_val_iou"]),
        summary=summary,
        is_global_zero=is_global_zero,
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
            where = f"--teacher {one.source}" if one.source is not None else "the teacher"
            message = f"{where}: its card's role is {one.card.role!r}, not 'teacher'"
            warnings.warn(message, GeeFloodWarning, stacklevel=2)
    return loaded


def _normalization(config: TrainConfig, splits: Splits, *, progress: bool) -> NormalizationStats:
    """Per-band mean/std of the model inputs over training chips (labelled and unlabelled; no labels read)."""
    sources = [splits.labelled] + ([splits.unlabelled] if splits.unlabelled is not None else [])
    flat = [(source, i) for source in sources for i in range(len(source))]
    take = set(np.linspace(0, len(flat) - 1, min(len(flat), STATS_CHIPS)).round().astype(int).tolist())
    picked = [flat[i] for i in sorted(take)]
    chips = (
        source[index] for source, index in track(picked, len(picked), "normalisation statistics", enabled=progress)
    )
    return compute_stats(
        chips,
        config.data.inputs,
        dataset=splits.labelled.name,
        clip=dict(config.data.clip) if config.data.clip else None,
        max_pixels_per_chip=16384,
        seed=config.trainer.seed,
        per_chip_standardized=config.data.per_chip_standardize,
    )


def _card(
    config: TrainConfig, splits: Splits, specs: dict[str, Any], stats: NormalizationStats, teachers: list[LoadedModel]
) -> ModelCard:
    role = config.role
    label_source = {"hand": "hand", "otsu": "weak:otsu"}.get(config.data.labels, f"weak:{config.data.labels}")
    if role == "student":
        label_source = f"{label_source}+teacher"
    named = [checkpoint_reference(t.source) if t.source is not None else "in-memory model" for t in teachers]
    teacher_path = ", ".join(named) if named else None
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


def _strategy(config: TrainConfig) -> str | DDPStrategy:
    """DDP for more than one device or node (gloo between CPU processes, NCCL between GPUs), else Lightning's choice.

    ``devices: auto`` on a machine with several GPUs is DDP too. DDP looks for unused parameters: an encoder cut to
    ``encoder_depth < 5`` keeps stages that never see a gradient.
    """
    trainer = config.trainer
    devices = trainer.devices
    many = trainer.num_nodes > 1 or (isinstance(devices, int) and devices > 1)
    many = many or (isinstance(devices, list) and len(devices) > 1)
    wants_gpu = trainer.accelerator in ("auto", "gpu", "cuda")
    many = many or (devices == "auto" and wants_gpu and torch.cuda.device_count() > 1)
    if not many:
        return "auto"
    backend = "gloo" if trainer.accelerator == "cpu" else None  # None: NCCL on CUDA devices, gloo on CPUs
    return DDPStrategy(find_unused_parameters=True, process_group_backend=backend)


def _precision(config: TrainConfig) -> str:
    if config.trainer.precision != "auto":
        return config.trainer.precision
    wants_gpu = config.trainer.accelerator in ("auto", "gpu", "cuda")
    if wants_gpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


#: Lightning advice that says nothing about a run (``sync_dist``: the validation metric is synchronised already).
_ADVISORY_WARNINGS = (
    "does not have many workers",
    "log_every_n_steps",
    "LeafSpec",
    "exists and is not empty",
    "sync_dist=True",
    "overridden `on_after_batch_transfer`",  # the module's SAR augmentation hook is the one meant
)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's advisory warnings (worker count, log interval) that say nothing about the run."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in _ADVISORY_WARNINGS:
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

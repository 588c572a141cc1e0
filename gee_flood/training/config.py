"""Training configuration: pydantic models loaded from YAML, with CLI overrides for the common knobs.

A config file describes one run (teacher, student or baseline)::

    role: student
    data: {dataset: ombria, root: data/ombria, split: train, inputs: [s1_uint8], labelled_fraction: 0.1}
    model: {architecture: {name: Unet, encoder_name: tu-mobilenetv3_large_100, decoder_channels: [64, 32, 16, 16, 8]}}
    optim: {lr: 0.002, batch_size: 16, max_steps: 600}
    distill: {weight: 1.0, temperature: 2.0}
    trainer: {seed: 0, output_dir: runs}

Relative paths are relative to the working directory. The resolved config (with the normalisation statistics
computed from the training data at run time) is written into the run directory as ``config.yaml``.

The configs shipped with the package (``gee_flood.configs``, linked as the repository's top-level ``configs/``) are
listed by :func:`list_packaged_configs` and found by name with :func:`resolve_config`
(``resolve_config("ombria", role="teacher")`` is ``ombria_teacher.yaml``).
"""

from __future__ import annotations

import atexit
import os
from contextlib import ExitStack
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gee_flood.data.normalization import NormalizationStats
from gee_flood.errors import InputError
from gee_flood.models.card import ArchitectureSpec

#: Largest seed: numpy's and Lightning's ``seed_everything`` take an unsigned 32-bit seed.
MAX_SEED = 2**32 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    """Another dataset used as the unlabelled corpus (e.g. a fetched Sen1Floods11-layout corpus).

    Attributes:
        dataset: Dataset name for :func:`gee_flood.data.open_dataset`.
        root: Its folder.
        split: Split name.
        options: Reader-specific keyword arguments (e.g. ``{part: weak}``).
    """

    dataset: str
    root: Path | None = None
    split: str = "train"
    options: dict[str, Any] = Field(default_factory=dict)


class DataConfig(_Strict):
    """What the network sees and learns from.

    Attributes:
        dataset: Dataset name (``ombria``, ``sen1floods11``...).
        root: Dataset folder.
        split: Training split.
        options: Reader-specific keyword arguments passed to the dataset opener.
        inputs: Input modality names, in channel order (teacher: S1 + S2; student and baselines: S1 only).
        labels: ``hand``: the dataset's labels; ``otsu``: per-chip Otsu threshold of the first band of the first
            SAR input (weak labels computed here; masks are never read); any other value is passed to the dataset
            opener as its label source (e.g. Sen1Floods11's ``s1otsu`` or ``s2index``).
        otsu_method: ``global`` or ``tiled`` Otsu for ``labels: otsu``.
        labelled_fraction: Fraction of the split that is labelled (drawn by a seeded permutation of the chip ids);
            the rest is the unlabelled pool.
        subset_seed: Seed of that permutation (default: the run's seed).
        validation_split: A separate validation split (e.g. Sen1Floods11 ``valid``); if None, validation chips are
            held out of the labelled subset (the first ones of the permutation).
        validation: A validation set from another source (e.g. hand-labelled ``valid`` chips for a model trained
            on the weakly labelled part); read with hand labels. Overrides ``validation_split``.
        validation_count: Number of held-out validation chips (overrides ``validation_fraction``).
        validation_fraction: Share of the labelled subset held out for validation.
        unlabelled: ``none``; ``pool``: the rest of the split (read without labels); or another dataset.
        extra_unlabelled: More unlabelled datasets added after ``unlabelled`` (e.g. a ``gee-flood fetch`` corpus
            beside the pool); each must carry the run's (and the teacher's) input modalities.
        pre_event_pool: Also add the pre-event image of every training chip (labelled and pool; never a
            validation chip) as an unlabelled chip: each input ``m`` is read from its twin ``m_pre`` (OMBRIA's
            BEFORE images), and the teacher labels it like any pool chip (student only).
        labelled_share: Share of training draws taken from labelled chips when an unlabelled set is used
            (None: proportional to the number of chips).
        crop_size: Random square crops of this size (px) for training; None trains on whole chips.
        flips: Random horizontal/vertical flips.
        rot90: Random 90-degree rotations (square crops only).
        per_chip_standardize: Input modalities standardised over each chip (its own per-band mean/std) before the
            dataset normalisation; for images stretched per image (OMBRIA's 8-bit PNGs). Recorded in the card.
        clip: Per-modality ``[mins, maxs]`` (one value per band) applied before the statistics and at
            normalisation, e.g. ``{s1: [[-50, -50], [1, 1]]}`` for dB backscatter.
        preload: Read and normalise every chip once into memory (float16) before training; False reads chips on
            the fly in the DataLoader workers (large corpora; the teacher then runs online).
    """

    dataset: str = "ombria"
    root: Path | None = None
    split: str = "train"
    options: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str]
    labels: str = "hand"
    otsu_method: Literal["global", "tiled"] = "global"
    labelled_fraction: float = Field(1.0, gt=0.0, le=1.0)
    subset_seed: int | None = Field(None, ge=0, le=MAX_SEED)
    validation_split: str | None = None
    validation: SourceConfig | None = None
    validation_count: int | None = Field(None, ge=1)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    unlabelled: Literal["none", "pool"] | SourceConfig = "none"
    extra_unlabelled: list[SourceConfig] = Field(default_factory=list)
    pre_event_pool: bool = False
    labelled_share: float | None = Field(None, gt=0.0, le=1.0)
    crop_size: int | None = Field(128, ge=8)
    flips: bool = True
    rot90: bool = True
    per_chip_standardize: list[str] = Field(default_factory=list)
    clip: dict[str, tuple[list[float], list[float]]] | None = None
    preload: bool = True

    @field_validator("inputs")
    @classmethod
    def _inputs_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one input modality")
        if len(set(value)) != len(value):
            raise ValueError(f"input modalities repeat: {value}")
        return value


class ModelConfig(_Strict):
    """Network architecture (segmentation-models-pytorch).

    Attributes:
        architecture: smp architecture, encoder, depth and decoder widths.
        encoder_weights: Pretrained encoder weights (``imagenet`` needs internet on first use; None = random init).
            Only the first layer is adapted to the input channel count by smp.
    """

    architecture: ArchitectureSpec = Field(
        default_factory=lambda: ArchitectureSpec(
            name="Unet", encoder_name="tu-mobilenetv3_large_100", encoder_depth=5, decoder_channels=[64, 32, 16, 16, 8]
        )
    )
    encoder_weights: str | None = None


class OptimConfig(_Strict):
    """Optimiser and schedule (AdamW; steps are optimizer steps).

    Attributes:
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Training batch size (per device).
        max_steps: Optimizer steps of the run.
        warmup_steps: Linear warm-up steps.
        schedule: ``cosine`` (decay to ``min_lr_ratio * lr``) or ``constant`` after warm-up.
        min_lr_ratio: Final learning rate as a fraction of ``lr`` for ``cosine``.
        gradient_clip: Gradient norm clip (None = off).
        ema_decay: Keep an exponential moving average of the weights (and BatchNorm statistics) with this decay
            per step, validated and saved instead of the raw weights (None = off).
    """

    lr: float = Field(2e-3, gt=0, le=10, allow_inf_nan=False)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(16, ge=1)
    max_steps: int = Field(600, ge=1)
    warmup_steps: int = Field(20, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = Field(0.02, ge=0, le=1)
    gradient_clip: float | None = 5.0
    ema_decay: float | None = Field(None, gt=0, lt=1)


class LossConfig(_Strict):
    """Supervised loss on labelled pixels.

    Attributes:
        weight: Weight of the supervised term.
        pos_weight: Weight of water pixels in the cross-entropy.
        dice_weight: Weight of an added soft Dice loss.
        edge_weight: Extra weight of pixels near label boundaries (0 = off).
        edge_width: Boundary half-width (px).
    """

    weight: float = Field(1.0, ge=0)
    pos_weight: float = Field(1.0, gt=0)
    dice_weight: float = Field(0.0, ge=0)
    edge_weight: float = Field(0.0, ge=0)
    edge_width: int = Field(3, ge=0)


class DistillConfig(_Strict):
    """Cross-modal distillation (student only): follow the teacher's per-pixel water probability.

    Attributes:
        weight: Weight of the distillation term.
        temperature: Softening temperature of teacher and student logits.
        confidence_power: Pixels weigh ``|2p - 1| ** power`` (0 = uniform).
        min_confidence: Pixels with ``|2p - 1|`` below this carry no teacher signal.
        hard_threshold: If set, hard pseudo-labels ``p > threshold`` instead of soft targets.
        edge_weight: Extra weight near the teacher's water boundaries (0 = off).
        edge_width: Boundary half-width (px).
        on_labelled: Also distil on labelled chips (besides their hand labels).
        mode: ``cached``: teacher logits computed once per chip (with flip averaging) and augmented with the
            inputs; ``online``: the frozen teacher runs on every augmented batch.
        teacher_flips: Flip test-time augmentation when caching teacher logits.
        center_on_threshold: Shift each teacher's logits by ``-logit(threshold)`` (its threshold tuned on
            validation data, from its card) so its decision boundary sits at probability 0.5 in the targets.
    """

    weight: float = Field(1.0, ge=0)
    temperature: float = Field(1.0, gt=0)
    confidence_power: float = Field(0.0, ge=0)
    min_confidence: float = Field(0.0, ge=0, lt=1)
    hard_threshold: float | None = Field(None, gt=0, lt=1)
    edge_weight: float = Field(0.0, ge=0)
    edge_width: int = Field(3, ge=0)
    on_labelled: bool = True
    mode: Literal["cached", "online"] = "cached"
    teacher_flips: bool = True
    center_on_threshold: bool = True


class AugmentConfig(_Strict):
    """SAR-specific augmentation of the training batches (every role alike; off by default).

    Applied to the SAR channels of the network input of each training batch (a teacher's S2 channels are left as
    they are), after the crop, flips and rotations, on the batch's device; the distillation targets come from the
    teacher on clean inputs, so a student learns to give the clean-input answer from degraded SAR. Amplitudes are
    in dB and converted to normalised units per band: by the band's normalisation std where the SAR is in dB, by
    ``unit_db`` where it is not (OMBRIA's 8-bit, per-image stretched SAR). Randomness is torch's global generator,
    so ``trainer.seed`` fixes it. Each transform is applied to a sample with ``probability``.

    Attributes:
        enabled: Apply the augmentation.
        probability: Chance that each transform is applied to a sample (independently per transform).
        speckle_looks: Multiplicative gamma speckle with this equivalent number of looks (mean 1 in linear
            intensity; fewer looks is stronger); None = off.
        gain_db: Per sample and SAR acquisition, a calibration/intensity shift uniform in ``[-gain_db, gain_db]`` dB.
        band_gain_db: Added per band (VV and VH shift apart), uniform in ``[-band_gain_db, band_gain_db]`` dB.
        gradient_db: Incidence-angle-like linear ramp across the crop, edge to edge up to ``gradient_db`` dB, in a
            random direction (0 = off).
        min_resolution_scale: Resolution jitter: down-sample (area) by a scale uniform in ``[min, 1]`` and back up
            (bilinear) to the crop size (1 = off).
        unit_db: dB that one normalised unit stands for in SAR inputs that are not in dB.
    """

    enabled: bool = False
    probability: float = Field(0.5, ge=0, le=1)
    speckle_looks: float | None = Field(4.0, gt=0)
    gain_db: float = Field(1.5, ge=0)
    band_gain_db: float = Field(0.5, ge=0)
    gradient_db: float = Field(2.0, ge=0)
    min_resolution_scale: float = Field(0.5, gt=0, le=1)
    unit_db: float = Field(4.0, gt=0)


class ThresholdConfig(_Strict):
    """How ``model.ckpt``'s probability threshold is chosen.

    Attributes:
        method: ``validation``: the threshold of best IoU on the validation chips (tuned at every validation; few
            chips can overfit it); ``prior``: the threshold at which the model's predicted water fraction matches a
            prior measured without the validation chips: for a student, the teacher's water fraction on the
            unlabelled chips (where the teacher has a signal); for a teacher or baseline, the hand-labelled (or
            weakly labelled) water fraction of its training chips. The Lightning checkpoints keep the validation
            threshold; ``model.ckpt`` and ``summary.json`` get the chosen one.
        max_chips: At most this many chips (a deterministic spread) are scored for the prior.
        bounds: The prior threshold is clipped to ``[low, high]``.
    """

    method: Literal["validation", "prior"] = "validation"
    max_chips: int = Field(256, ge=1)
    bounds: tuple[float, float] = (0.05, 0.95)

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] < 1:
            raise ValueError(f"expected 0 < low <= high < 1, got {list(value)}")
        return value


class TrainerConfig(_Strict):
    """Lightning trainer settings.

    Attributes:
        seed: Global seed (weights, sampling, augmentation; and the labelled subset unless ``subset_seed``).
        output_dir: Parent folder of run directories.
        run_name: Run directory name (default ``<role>-<kind>-seed<seed>``).
        accelerator: ``auto`` (CUDA when present, else CPU), ``cpu``, ``gpu``...
        devices: Devices per node (``auto``, a count, or a list); more than one uses DDP.
        num_nodes: Nodes for multi-node DDP.
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU) or a Lightning precision string.
        channels_last: Train in the channels-last memory layout (faster on CPU and on CUDA tensor cores).
        val_every_steps: Validate every this many optimizer steps (and at the end).
        early_stopping_patience: Stop after this many validations without improvement (None = never).
        num_workers: DataLoader workers.
        threads: torch CPU threads (None = torch's default).
        progress_bar: Show Lightning's progress bar.
        deterministic: Deterministic algorithms (fixed seed gives identical weights).
        save_last: Also keep ``last.ckpt`` (the weights after the last step).
        select: Which checkpoint becomes ``model.ckpt``: ``best`` (highest validation IoU) or ``last``.
    """

    seed: int = Field(0, ge=0, le=MAX_SEED)
    output_dir: Path = Path("runs")
    run_name: str | None = None
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    num_nodes: int = Field(1, ge=1)
    precision: str = "auto"
    channels_last: bool = True
    val_every_steps: int = Field(100, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)
    threads: int | None = Field(None, ge=1, le=1024)
    progress_bar: bool = True
    deterministic: bool = True
    save_last: bool = True
    select: Literal["best", "last"] = "best"


class TrainConfig(_Strict):
    """One training run.

    Attributes:
        role: ``teacher`` (S1 + S2, hand labels), ``student`` (SAR only, hand labels + teacher) or ``baseline``.
        kind: Free label of the variant (``supervised``, ``weak``...), recorded in the card and run name.
        data, model, optim, loss, distill, trainer, augment, threshold: See their classes.
        teacher_checkpoint: The student's teacher, or several averaged (also settable with ``--teacher``).
        normalization: Filled at run time from the training data (do not set it by hand).
    """

    role: Literal["teacher", "student", "baseline"]
    kind: str = ""
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)
    teacher_checkpoint: Path | list[Path] | None = None
    normalization: NormalizationStats | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.role == "student" and self.data.unlabelled == "none" and not self.distill.on_labelled:
            raise ValueError("a student needs an unlabelled set (data.unlabelled) or distill.on_labelled: true")
        return self

    @property
    def name(self) -> str:
        """The run directory name."""
        if self.trainer.run_name:
            return self.trainer.run_name
        kind = f"-{self.kind}" if self.kind else ""
        return f"{self.role}{kind}-seed{self.trainer.seed}"

    def to_yaml(self) -> str:
        """Return the config as YAML (paths as strings)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


#: Package holding the shipped training configs (``<name>.yaml``) and dataset configs (``datasets/<name>.yaml``).
CONFIG_PACKAGE = "gee_flood.configs"

_CONFIG_SUFFIXES = (".yaml", ".yml")
_EXTRACTED = ExitStack()  # packaged files copied out of a zip import, removed at exit
atexit.register(_EXTRACTED.close)


def list_packaged_configs() -> list[str]:
    """Return the names of the training configs shipped with the package, sorted (``ombria_teacher``...).

    A name is the file name without ``.yaml``; :func:`resolve_config` accepts it (or its dataset prefix).
    """
    return sorted(name for name in _packaged_configs())


def resolve_config(name_or_path: str | os.PathLike[str], *, role: str, kind: str | None = None) -> Path:
    """Return the config file that ``--config NAME|PATH`` means for ``gee-flood train <role>``.

    A value that names an existing file, ends in ``.yaml``/``.yml`` or contains a path separator is a path.
    Anything else is the name of a packaged config (see :func:`list_packaged_configs`), tried in this order:

    - ``{name}_{role}`` (``ombria`` as teacher: ``ombria_teacher``); for ``role="baseline"``,
      ``{name}_baseline_{kind}`` (``ombria`` with kind ``weak``: ``ombria_baseline_weak``; a ``-`` in the kind
      also tried as ``_``), or ``{name}_baseline`` without a kind;
    - ``{name}`` exactly (``sen1floods11_baseline_weak_s1otsu``).

    Args:
        name_or_path: A config file path or a packaged config name.
        role: The training role (``teacher``, ``student`` or ``baseline``).
        kind: The baseline kind (``supervised``, ``weak``); ignored for other roles.

    Returns:
        The path of the config file (for a packaged config, the file inside the installed package), for
        :func:`load_config`.

    Raises:
        InputError: A path that is not a file, or an unknown name (the message lists the packaged names).
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_file():
        return path
    if path.suffix in _CONFIG_SUFFIXES or "/" in text or os.sep in text or not text.strip():
        raise InputError(
            f"{text}: config file not found (or give a packaged config name: {', '.join(list_packaged_configs())})"
        )
    packaged = _packaged_configs()
    candidates = _candidate_names(text, role, kind)
    for candidate in candidates:
        if candidate in packaged:
            return _as_path(packaged[candidate])
    raise InputError(
        f"{text}: no such config file or packaged config (tried {', '.join(candidates)}); "
        f"packaged configs: {', '.join(sorted(packaged)) or 'none'}"
    )


def _candidate_names(name: str, role: str, kind: str | None) -> list[str]:
    if role == "baseline":
        kinds = [kind, kind.replace("-", "_")] if kind else []
        first = [f"{name}_baseline_{one}" for one in kinds] or [f"{name}_baseline"]
    else:
        first = [f"{name}_{role}"]
    return list(dict.fromkeys([*first, name]))  # in order, without repeats


def _packaged_configs() -> dict[str, Traversable]:
    """Packaged training configs by name (``*.yaml``/``*.yml`` files directly in :data:`CONFIG_PACKAGE`)."""
    found: dict[str, Traversable] = {}
    for entry in resources.files(CONFIG_PACKAGE).iterdir():
        stem, dot, suffix = entry.name.rpartition(".")
        if dot and f".{suffix}" in _CONFIG_SUFFIXES and entry.is_file():
            found.setdefault(stem, entry)
    return found


def _as_path(resource: Traversable) -> Path:
    """A file-system path for a packaged file (itself when installed as files; else a copy kept until exit)."""
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(resources.as_file(resource))


def load_config(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a training config from YAML and apply dotted overrides (``{"trainer.seed": 1}``).

    Raises:
        InputError: If the file is missing, is not YAML, or does not validate (the message names the field).
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: config file not found")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise InputError(f"{file}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{file}: expected a mapping at the top level")
    return config_from_dict(raw, overrides, where=str(file))


def config_from_dict(
    raw: dict[str, Any], overrides: dict[str, Any] | None = None, *, where: str = "config"
) -> TrainConfig:
    """Validate a config dict after applying dotted ``overrides``; one-line :class:`InputError` on failure."""
    data = _apply_overrides(raw, overrides or {})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{where}: {location}: {first['msg']}") from None


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(raw))  # deep copy of plain data
    for dotted, value in overrides.items():  # a None value sets null (``--set data.labelled_share=null``)
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InputError(f"override {dotted!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def parse_set_options(options: list[str]) -> dict[str, Any]:
    """Parse ``--set key.path=value`` options (values parsed as YAML scalars/lists)."""
    result: dict[str, Any] = {}
    for option in options:
        if "=" not in option:
            raise InputError(f"--set {option!r}: expected key.path=value")
        key, text = option.split("=", 1)
        try:
            result[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InputError(f"--set {option!r}: value is not valid YAML") from None
    return result

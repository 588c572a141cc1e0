"""The model card: everything a checkpoint needs to describe itself so inference needs nothing else.

A checkpoint carries its :class:`ModelCard` (inputs by modality and band name, normalisation, architecture, label
semantics, training data summary, code version). :func:`gee_flood.models.checkpoint.load_model` rebuilds the
network from the card alone, and :meth:`ModelCard.check_inputs` refuses data that lacks a modality or orders
bands differently.
"""

from __future__ import annotations

import datetime as _dt
import math
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from gee_flood._version import __version__
from gee_flood.data.chip import ModalitySpec
from gee_flood.data.normalization import NormalizationStats
from gee_flood.errors import DataError

ModelRole = Literal["teacher", "student", "baseline"]


class InputModality(BaseModel):
    """One input modality of a model, in the order the network sees it.

    Attributes:
        name: Modality key (``"s1"``, ``"s2"``, ``"s1_pre"``, ``"s1_uint8"``...).
        bands: Band names in channel order.
        units: Units of the raw values before normalisation (``"dB"``, ``"reflectance"``, ``"uint8 DN"``).
    """

    name: str
    bands: list[str]
    units: str

    @classmethod
    def from_spec(cls, spec: ModalitySpec) -> InputModality:
        """Build from a :class:`ModalitySpec`."""
        return cls(name=spec.name, bands=list(spec.bands), units=spec.units)


# The pydantic mypy plugin's generated __init__(..., kwargs=..., **kwargs) clashes with the field named `kwargs`.
class ArchitectureSpec(BaseModel):  # type: ignore[no-redef]
    """A segmentation-models-pytorch architecture, rebuildable from this record alone.

    Attributes:
        name: smp architecture class name (``"Unet"``, ``"UnetPlusPlus"``, ``"FPN"``, ``"DeepLabV3Plus"``...).
        encoder_name: smp encoder name (``"resnet18"``, ``"mobilenet_v2"``...).
        encoder_depth: Number of encoder stages used.
        decoder_channels: Decoder widths (Unet-family only), or None for the architecture's default.
        kwargs: Further keyword arguments passed to the smp constructor.
    """

    name: str = "Unet"
    encoder_name: str = "resnet18"
    encoder_depth: int = 5
    decoder_channels: list[int] | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)


class LabelSemantics(BaseModel):
    """What the network's output means."""

    output: Literal["water_logit"] = "water_logit"
    classes: dict[int, str] = Field(default_factory=lambda: {1: "water", 0: "not water", -1: "no data (ignored)"})
    target: str = Field(
        "water", description="what was labelled water in training: 'water' (all water) or 'flood extent'"
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, allow_inf_nan=False, description="probability above which a pixel is mapped as water"
    )


class TrainingSummary(BaseModel):
    """Where the weights came from."""

    dataset: str = ""
    split: str = ""
    labelled_chips: int = 0
    unlabelled_chips: int = 0
    labelled_fraction: float | None = None
    label_source: str = Field("", description="'hand', 'weak:otsu', 'teacher', 'hand+teacher'...")
    seed: int | None = None
    steps: int | None = None
    teacher_checkpoint: str | None = Field(
        None,
        description="the teacher checkpoint(s) as 'file name (sha256 <hex>)', comma-separated; never a local path "
        "(cards travel with the weights)",
    )
    extra: dict[str, Any] = Field(default_factory=dict)


class ModelCard(BaseModel):
    """The self-description stored in every gee-flood checkpoint."""

    role: ModelRole
    inputs: list[InputModality]
    normalization: NormalizationStats
    per_chip_standardized: list[str] = Field(
        default_factory=list,
        description="input modalities standardised over each chip (its own band mean/std) before `normalization`",
    )
    architecture: ArchitectureSpec = Field(default_factory=ArchitectureSpec)
    labels: LabelSemantics = Field(default_factory=LabelSemantics)
    training: TrainingSummary = Field(default_factory=TrainingSummary)
    pixel_size_m: float | None = Field(10.0, description="ground sampling distance the model was trained at (m)")
    gee_flood_version: str = __version__
    git_commit: str | None = Field(default_factory=lambda: git_commit())
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    @model_validator(mode="after")
    def _statistics_fit_the_inputs(self) -> ModelCard:
        """Every input has statistics for each of its bands: finite means, finite standard deviations above 0.

        A card is data a user can edit; without this, a card with 3 means for 2 bands fails deep inside
        prediction, blamed on the scene.
        """
        for modality in self.inputs:
            stats = self.normalization.modalities.get(modality.name)
            if stats is None:
                raise ValueError(f"inputs: modality {modality.name!r} has no normalization statistics")
            bands = len(modality.bands)
            if not len(stats.mean) == len(stats.std) == bands:
                raise ValueError(
                    f"normalization.modalities.{modality.name}: {len(stats.mean)} means and {len(stats.std)} stds "
                    f"for {bands} bands {modality.bands}"
                )
            if not all(math.isfinite(value) for value in stats.mean):
                raise ValueError(f"normalization.modalities.{modality.name}.mean: {stats.mean} must be finite")
            if not all(math.isfinite(value) and value > 0 for value in stats.std):
                raise ValueError(f"normalization.modalities.{modality.name}.std: {stats.std} must be finite and > 0")
        return self

    @property
    def modality_names(self) -> list[str]:
        """Input modality names in channel order."""
        return [m.name for m in self.inputs]

    @property
    def in_channels(self) -> int:
        """Total number of input channels."""
        return sum(len(m.bands) for m in self.inputs)

    @property
    def sar_only(self) -> bool:
        """True if every input is a SAR modality (no optical input)."""
        return not any(
            m.units == "reflectance" or "falsecolor" in m.name or m.name.startswith("s2") for m in self.inputs
        )

    def check_inputs(self, available: Mapping[str, ModalitySpec], *, where: str = "input data") -> None:
        """Raise a one-line :class:`DataError` unless ``available`` provides every input with the same bands.

        Args:
            available: Modalities the data provides, by name.
            where: What to call the data in the message (a file path, a dataset name).
        """
        for wanted in self.inputs:
            spec = available.get(wanted.name)
            if spec is None:
                raise DataError(
                    f"{where}: the {self.role} checkpoint needs modality {wanted.name!r} "
                    f"({', '.join(wanted.bands)}), but the data has {sorted(available) or 'none'}"
                )
            if list(spec.bands) != wanted.bands:
                raise DataError(
                    f"{where}: modality {wanted.name!r} has bands {list(spec.bands)}, the checkpoint expects "
                    f"{wanted.bands} in that order"
                )
            if spec.units != wanted.units:
                raise DataError(
                    f"{where}: modality {wanted.name!r} is in {spec.units!r}, the checkpoint expects {wanted.units!r}"
                )


def checkpoint_reference(path: str | Path) -> str:
    """Name a checkpoint for a card without its local path: ``"<file name> (sha256 <hex digest>)"``.

    Cards leave the machine with the weights, so they carry what identifies the file (its name and content hash),
    never where it was on the machine that trained.
    """
    import hashlib

    checkpoint = Path(path)
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{checkpoint.name} (sha256 {digest.hexdigest()})"


def git_commit(path: str | Path | None = None) -> str | None:
    """Return the current git commit of the gee-flood source tree, or None outside a git checkout."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None

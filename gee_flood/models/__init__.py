"""Segmentation architectures (segmentation-models-pytorch) and self-describing checkpoints."""

from gee_flood.models.card import ArchitectureSpec, InputModality, LabelSemantics, ModelCard, TrainingSummary
from gee_flood.models.checkpoint import LoadedModel, build_model, load_model, read_card, save_checkpoint

__all__ = [
    "ArchitectureSpec",
    "InputModality",
    "LabelSemantics",
    "LoadedModel",
    "ModelCard",
    "TrainingSummary",
    "build_model",
    "load_model",
    "read_card",
    "save_checkpoint",
]

"""Segmentation architectures (segmentation-models-pytorch), self-describing checkpoints and checkpoint predictors."""

from gee_flood.models.card import ArchitectureSpec, InputModality, LabelSemantics, ModelCard, TrainingSummary
from gee_flood.models.checkpoint import LoadedModel, build_model, load_model, read_card, save_checkpoint
from gee_flood.models.predictor import CheckpointPredictor, predict_logits
from gee_flood.models.preprocessing import Preprocessing, optical_valid, standardize_per_chip

__all__ = [
    "ArchitectureSpec",
    "CheckpointPredictor",
    "InputModality",
    "LabelSemantics",
    "LoadedModel",
    "ModelCard",
    "Preprocessing",
    "TrainingSummary",
    "build_model",
    "load_model",
    "optical_valid",
    "predict_logits",
    "read_card",
    "save_checkpoint",
    "standardize_per_chip",
]

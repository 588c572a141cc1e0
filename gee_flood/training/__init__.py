"""Lightning training of teacher, student (cross-modal distillation) and baselines."""

from gee_flood.data.base import ChipListDataset
from gee_flood.training.config import (
    DataConfig,
    DistillConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    SourceConfig,
    TrainConfig,
    TrainerConfig,
    config_from_dict,
    load_config,
    parse_set_options,
)
from gee_flood.training.data import Splits, SubsetChipDataset, labelled_subset_ids
from gee_flood.training.datamodule import FloodDataModule
from gee_flood.training.losses import distillation_loss, edge_weights, supervised_loss
from gee_flood.training.module import FloodSegmentationModule
from gee_flood.training.request import TrainRequest
from gee_flood.training.run import TrainResult, plot_training_curve, read_metrics, train, train_from_request

__all__ = [
    "ChipListDataset",
    "DataConfig",
    "DistillConfig",
    "FloodDataModule",
    "FloodSegmentationModule",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "SourceConfig",
    "Splits",
    "SubsetChipDataset",
    "TrainConfig",
    "TrainRequest",
    "TrainResult",
    "TrainerConfig",
    "config_from_dict",
    "distillation_loss",
    "edge_weights",
    "labelled_subset_ids",
    "load_config",
    "parse_set_options",
    "plot_training_curve",
    "read_metrics",
    "supervised_loss",
    "train",
    "train_from_request",
]

"""Datasets, the chip record, normalisation, weak labels and synthetic scenes."""

from gee_flood.data.base import ChipDataset, ChipListDataset
from gee_flood.data.chip import (
    LABEL_LAND,
    LABEL_NODATA,
    LABEL_WATER,
    MODALITIES,
    Chip,
    ModalitySpec,
    stack_modalities,
)
from gee_flood.data.dataset_config import (
    DatasetConfig,
    compute_dataset_stats,
    load_dataset_config,
    read_stats,
    write_stats,
)
from gee_flood.data.download import download_sen1floods11
from gee_flood.data.factory import known_datasets, open_dataset, register_dataset
from gee_flood.data.normalization import BandStats, NormalizationStats, compute_stats
from gee_flood.data.sen1floods11 import Sen1Floods11Dataset
from gee_flood.data.synthetic import Acquisition, AcquisitionPlan, SceneConfig, SyntheticScene, generate_scene

__all__ = [
    "LABEL_LAND",
    "LABEL_NODATA",
    "LABEL_WATER",
    "MODALITIES",
    "Acquisition",
    "AcquisitionPlan",
    "BandStats",
    "Chip",
    "ChipDataset",
    "ChipListDataset",
    "DatasetConfig",
    "ModalitySpec",
    "NormalizationStats",
    "SceneConfig",
    "Sen1Floods11Dataset",
    "SyntheticScene",
    "compute_dataset_stats",
    "compute_stats",
    "download_sen1floods11",
    "generate_scene",
    "known_datasets",
    "load_dataset_config",
    "open_dataset",
    "read_stats",
    "register_dataset",
    "stack_modalities",
    "write_stats",
]

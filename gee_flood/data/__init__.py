"""Datasets, the chip record, normalisation, weak labels and synthetic scenes."""

from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import (
    LABEL_LAND,
    LABEL_NODATA,
    LABEL_WATER,
    MODALITIES,
    Chip,
    GeoReference,
    ModalitySpec,
    stack_modalities,
)
from gee_flood.data.normalization import BandStats, NormalizationStats, compute_stats
from gee_flood.data.synthetic import Acquisition, AcquisitionPlan, SceneConfig, SyntheticScene, generate_scene

__all__ = [
    "Acquisition",
    "AcquisitionPlan",
    "LABEL_LAND",
    "LABEL_NODATA",
    "LABEL_WATER",
    "MODALITIES",
    "BandStats",
    "Chip",
    "ChipDataset",
    "GeoReference",
    "ModalitySpec",
    "NormalizationStats",
    "SceneConfig",
    "SyntheticScene",
    "compute_stats",
    "generate_scene",
    "stack_modalities",
]

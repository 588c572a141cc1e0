"""Metrics (IoU, F1, omission, commission; per event) and evaluation runs."""

from gee_flood.evaluation.evaluate import (
    DEFAULT_OTSU_BANDS,
    OtsuPredictor,
    Predictor,
    build_report,
    evaluate_dataset,
    print_report,
    run_evaluation,
    select_predictor,
)
from gee_flood.evaluation.metrics import Confusion, MetricAccumulator, Scores, confusion

__all__ = [
    "DEFAULT_OTSU_BANDS",
    "Confusion",
    "MetricAccumulator",
    "OtsuPredictor",
    "Predictor",
    "Scores",
    "build_report",
    "confusion",
    "evaluate_dataset",
    "print_report",
    "run_evaluation",
    "select_predictor",
]

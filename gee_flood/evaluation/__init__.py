"""Metrics (IoU, F1, omission, commission; per event) and evaluation runs."""

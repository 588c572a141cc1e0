"""Water-class segmentation metrics over valid pixels, per chip, per event and overall.

Definitions (Sen1Floods11's, Bonafilia et al. 2020), counted on pixels whose label is not -1 and that are valid:

- total IoU = TP / (TP + FP + FN), pooled over all pixels of the set;
- mean IoU = mean over chips of each chip's IoU (chips with TP + FP + FN = 0 have no defined IoU and are skipped);
- F1 = 2 TP / (2 TP + FP + FN);
- omission = FN / (FN + TP); commission = FP / (FP + TN).

Counts are kept by hand (not torchmetrics) because per-chip IoU, per-event pooling and merging partial results
across processes all need the raw confusion counts, which are four integers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from gee_flood.data.chip import LABEL_NODATA
from gee_flood.errors import DataError


@dataclass
class Confusion:
    """Binary confusion counts for the water class (pixels)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def iou(self) -> float:
        """TP / (TP + FP + FN); NaN when undefined."""
        denominator = self.tp + self.fp + self.fn
        return self.tp / denominator if denominator else float("nan")

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); NaN when undefined."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else float("nan")

    @property
    def omission(self) -> float:
        """FN / (FN + TP): share of true water missed; NaN when there is no water."""
        denominator = self.fn + self.tp
        return self.fn / denominator if denominator else float("nan")

    @property
    def commission(self) -> float:
        """FP / (FP + TN): share of true land called water; NaN when there is no land."""
        denominator = self.fp + self.tn
        return self.fp / denominator if denominator else float("nan")

    @property
    def pixels(self) -> int:
        """Number of counted pixels."""
        return self.tp + self.fp + self.fn + self.tn


def confusion(prediction: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> Confusion:
    """Count TP/FP/FN/TN of the water class.

    Args:
        prediction: ``(H, W)`` predicted water mask (bool, or 0/1; other values count as not water).
        label: ``(H, W)`` labels: 1 water, 0 not water, -1 no data (ignored).
        valid: Optional ``(H, W)`` bool; False pixels are ignored.

    Returns:
        The confusion counts over counted pixels.
    """
    if prediction.shape != label.shape:
        raise DataError(f"prediction shape {prediction.shape} != label shape {label.shape}")
    counted = label != LABEL_NODATA
    if valid is not None:
        counted &= valid
    truth = (label == 1)[counted]
    predicted = (prediction == 1)[counted] if prediction.dtype != bool else prediction[counted]
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    tn = int(truth.size - tp - fp - fn)
    return Confusion(tp, fp, fn, tn)


@dataclass
class Scores:
    """Aggregated scores of a set of chips."""

    total_iou: float
    mean_iou: float
    f1: float
    omission: float
    commission: float
    chips: int
    pixels: int

    def as_dict(self) -> dict[str, float | int]:
        """Return the scores as a plain dict (JSON-ready)."""
        return {
            "total_iou": self.total_iou,
            "mean_iou": self.mean_iou,
            "f1": self.f1,
            "omission": self.omission,
            "commission": self.commission,
            "chips": self.chips,
            "pixels": self.pixels,
        }


@dataclass
class MetricAccumulator:
    """Accumulates per-chip confusions and reports overall and per-event scores.

    Example:
        >>> acc = MetricAccumulator()
        >>> acc.add("chip1", "Ghana", prediction, label, valid)
        >>> acc.overall().total_iou
    """

    per_chip: dict[str, Confusion] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)

    def add(
        self, chip_id: str, event: str, prediction: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None
    ) -> Confusion:
        """Count one chip and return its confusion."""
        counts = confusion(prediction, label, valid)
        self.add_counts(chip_id, event, counts)
        return counts

    def add_counts(self, chip_id: str, event: str, counts: Confusion) -> None:
        """Add precomputed counts for one chip (summed if the chip id was seen before)."""
        self.per_chip[chip_id] = self.per_chip.get(chip_id, Confusion()) + counts
        self.events[chip_id] = event

    def scores(self, chip_ids: Iterable[str] | None = None) -> Scores:
        """Return scores over ``chip_ids`` (all chips by default)."""
        ids = list(self.per_chip) if chip_ids is None else list(chip_ids)
        total = sum((self.per_chip[i] for i in ids), Confusion())
        per_chip_iou = [self.per_chip[i].iou for i in ids]
        defined = [v for v in per_chip_iou if not np.isnan(v)]
        return Scores(
            total_iou=total.iou,
            mean_iou=float(np.mean(defined)) if defined else float("nan"),
            f1=total.f1,
            omission=total.omission,
            commission=total.commission,
            chips=len(ids),
            pixels=total.pixels,
        )

    def overall(self) -> Scores:
        """Return scores over every chip."""
        return self.scores()

    def by_event(self) -> dict[str, Scores]:
        """Return scores per event, events sorted by name."""
        grouped: dict[str, list[str]] = {}
        for chip_id, event in self.events.items():
            grouped.setdefault(event, []).append(chip_id)
        return {event: self.scores(ids) for event, ids in sorted(grouped.items())}

    def report(self) -> dict[str, object]:
        """Return a JSON-ready report: overall scores at top level plus ``per_event`` and ``per_chip``."""
        overall = self.overall().as_dict()
        return {
            **overall,
            "per_event": {event: scores.as_dict() for event, scores in self.by_event().items()},
            "per_chip": {
                chip_id: {"event": self.events[chip_id], "iou": c.iou, "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}
                for chip_id, c in self.per_chip.items()
            },
        }

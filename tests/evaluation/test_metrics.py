import math

import numpy as np

from gee_flood.evaluation.metrics import MetricAccumulator, confusion


def test_confusion_ignores_nodata_and_invalid():
    label = np.array([[1, 1, 0, 0], [-1, -1, 1, 0]], np.int8)
    pred = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], np.uint8)
    valid = np.array([[True] * 4, [True, True, True, False]])
    c = confusion(pred, label, valid)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert math.isclose(c.iou, 0.5)
    assert math.isclose(c.f1, 4 / 6)
    assert math.isclose(c.omission, 1 / 3)
    assert math.isclose(c.commission, 0.5)


def test_pooled_vs_mean_iou_and_events():
    acc = MetricAccumulator()
    big = np.ones((10, 10), np.int8)
    acc.add("a", "ev1", np.ones((10, 10), np.uint8), big)  # IoU 1 over 100 px
    small_label = np.zeros((10, 10), np.int8)
    small_label[0, 0] = 1
    acc.add("b", "ev2", np.zeros((10, 10), np.uint8), small_label)  # IoU 0 over 1 px
    acc.add("c", "ev2", np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.int8))  # undefined, skipped
    overall = acc.overall()
    assert math.isclose(overall.total_iou, 100 / 101)
    assert math.isclose(overall.mean_iou, 0.5)
    events = acc.by_event()
    assert math.isclose(events["ev1"].total_iou, 1.0)
    assert events["ev2"].total_iou == 0.0
    report = acc.report()
    assert set(report) >= {"total_iou", "mean_iou", "f1", "omission", "commission", "per_event"}

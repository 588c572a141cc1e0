"""Evaluate a water-mapping method or model on a labelled dataset: overall and per-event scores, table and JSON.

A :class:`Predictor` turns one :class:`~gee_flood.data.chip.Chip` into a water mask; :func:`evaluate_dataset`
runs it over a dataset and counts the confusion per chip (:class:`~gee_flood.evaluation.metrics.MetricAccumulator`);
:func:`run_evaluation` opens the dataset through :func:`gee_flood.data.open_dataset`, evaluates, optionally
writes the JSON report atomically, and returns it; :func:`print_report` shows it as a table.

Predictors are chosen from command-line options in one place, :func:`select_predictor`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from gee_flood._io import write_json_atomic
from gee_flood._progress import rich_progress
from gee_flood.data.base import ChipDataset
from gee_flood.data.chip import LABEL_WATER, MODALITIES, Chip, require_modalities
from gee_flood.data.weak_labels import OtsuMethod, s1_otsu_label
from gee_flood.errors import DataError, InputError
from gee_flood.evaluation.metrics import MetricAccumulator

#: The SAR band Otsu thresholds by default, per dataset (``modality/band``). OMBRIA has one 8-bit SAR band.
DEFAULT_OTSU_BANDS: dict[str, str] = {
    "ombria": "s1_uint8/sar_uint8",
    "sen1floods11": "s1/VV",
    "synthetic": "s1/VV",
}
OTSU_METHODS: tuple[str, ...] = ("global", "tiled")
#: Methods that need no training, by ``--method`` name.
METHODS: tuple[str, ...] = ("otsu", "change")
#: The pre- and post-event SAR bands of the change-detection reference (``modality/band``), per dataset.
CHANGE_BANDS: dict[str, tuple[str, str]] = {
    "ombria": ("s1_uint8_pre/sar_uint8", "s1_uint8/sar_uint8"),
}


@runtime_checkable
class Predictor(Protocol):
    """Anything that maps a chip to a water mask.

    Attributes:
        name: Short name recorded in reports (``"otsu-global"``, a checkpoint's name...).
        required_modalities: Modality names the predictor reads from each chip (the dataset is opened with
            these only).
    """

    name: str
    required_modalities: list[str]

    def predict(self, chip: Chip) -> np.ndarray:
        """Return a ``(H, W)`` bool or 0/1 water mask for ``chip`` (1/True = water)."""
        ...


class OtsuPredictor:
    """Water where one SAR band is below its Otsu threshold, computed per chip (no training).

    Args:
        method: ``"global"`` (Otsu on the chip's histogram) or ``"tiled"`` (median threshold of the chip's bimodal
            64-pixel tiles; see :func:`gee_flood.data.weak_labels.tiled_otsu_threshold`).
        band: ``"modality/band"`` to threshold, e.g. ``"s1/VV"`` (dB) or ``"s1_uint8/sar_uint8"`` (OMBRIA's 8-bit
            SAR). Water must be the dark side.
        tile: Tile size in pixels for ``"tiled"``.

    Raises:
        InputError: Unknown method, or a band that is not ``modality/band`` of a known modality.
    """

    def __init__(self, method: str = "global", band: str = "s1/VV", *, tile: int = 64) -> None:
        if method not in OTSU_METHODS:
            raise InputError(f"unknown Otsu method {method!r}; expected one of {list(OTSU_METHODS)}")
        self.method: OtsuMethod = method  # type: ignore[assignment]
        self.modality, self.band = parse_band(band)
        self.tile = tile
        self.name = f"otsu-{method}"
        self.required_modalities = [self.modality]

    def predict(self, chip: Chip) -> np.ndarray:
        """Return the bool water mask of ``chip`` (all False where nothing can be thresholded)."""
        values = chip.band(self.modality, self.band)
        usable = np.isfinite(values) & chip.valid if chip.valid is not None else np.isfinite(values)
        if not usable.any() or np.ptp(values[usable]) == 0:
            return np.zeros(values.shape, dtype=bool)
        label, _ = s1_otsu_label(values, usable, method=self.method, tile=self.tile)
        return label == LABEL_WATER

    def __repr__(self) -> str:
        return f"OtsuPredictor(method={self.method!r}, band='{self.modality}/{self.band}')"


class ChangePredictor:
    """UN-SPIDER's change-detection reference on bi-temporal chips (no training; :mod:`gee_flood.product.change`).

    Both SAR images are focal-mean filtered (50 m), flood is where the scene darkened by the ratio (1.25), and flood
    regions under 8 connected pixels are dropped. The reference-water and slope masks of the recipe need data the
    chips do not carry (OMBRIA is not georeferenced).

    Args:
        before: ``modality/band`` of the pre-event SAR.
        after: ``modality/band`` of the post-event SAR.
        pixel_m: Pixel size in metres (OMBRIA: Sentinel-1 at 10 m).
        min_pixels: Minimum mapping unit in pixels (8-connected).
    """

    def __init__(self, before: str, after: str, *, pixel_m: float = 10.0, min_pixels: int = 8) -> None:
        self.before, self.after = parse_band(before), parse_band(after)
        self.required_modalities = [self.before[0], self.after[0]]
        self.pixel_m, self.min_pixels = pixel_m, min_pixels
        self.name = "change-unspider"

    def predict(self, chip: Chip) -> np.ndarray:  # noqa: D102 - documented on the protocol
        from scipy import ndimage

        from gee_flood.product.change import change_flood

        values = []
        for modality, band in (self.before, self.after):
            spec = chip.specs[modality]
            values.append(chip.modalities[modality][spec.bands.index(band)])
        brightness = "dB" not in chip.specs[self.after[0]].units
        flood = np.nan_to_num(change_flood(*values, pixel_m=self.pixel_m, brightness=brightness)) == 1
        labels, _count = ndimage.label(flood, np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel())
        return flood & (sizes[labels] >= self.min_pixels)

    def __repr__(self) -> str:
        return f"ChangePredictor(before={'/'.join(self.before)!r}, after={'/'.join(self.after)!r})"


def parse_band(band: str) -> tuple[str, str]:
    """Split ``"modality/band"`` and check both names against :data:`gee_flood.data.chip.MODALITIES`."""
    modality, sep, name = band.partition("/")
    if not sep or not modality or not name:
        raise InputError(f"band {band!r} must be 'modality/band', e.g. 's1/VV' or 's1_uint8/sar_uint8'")
    spec = MODALITIES.get(modality)
    if spec is None:
        raise InputError(f"band {band!r}: unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    if name not in spec.bands:
        raise InputError(f"band {band!r}: modality {modality!r} has bands {list(spec.bands)}")
    return modality, name


def select_predictor(
    dataset: str, *, method: str | None = None, otsu: str = "global", band: str | None = None
) -> Predictor:
    """Build the predictor that command-line options ask for (the one place the CLI chooses a predictor).

    Args:
        dataset: Dataset name (picks Otsu's default band, see :data:`DEFAULT_OTSU_BANDS`).
        method: ``"otsu"``, or ``"change"`` (UN-SPIDER's change detection; bi-temporal datasets).
        otsu: Otsu variant: ``"global"`` or ``"tiled"``.
        band: ``"modality/band"`` to threshold instead of the dataset's default.

    Raises:
        InputError: No or unknown method, unknown Otsu variant, unusable band.
    """
    if method is None:
        raise InputError(f"say what to evaluate: --method {'|'.join(METHODS)}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    if method == "change":
        if dataset not in CHANGE_BANDS:
            raise InputError(
                f"--method change needs pre- and post-event SAR; dataset {dataset!r} has no pre-event image "
                f"(bi-temporal datasets: {', '.join(CHANGE_BANDS)})"
            )
        return ChangePredictor(*CHANGE_BANDS[dataset])
    if band is None:
        band = DEFAULT_OTSU_BANDS.get(dataset, "s1/VV")
    return OtsuPredictor(otsu, band)


def evaluate_dataset(
    dataset: ChipDataset, predictor: Predictor, *, progress: bool = True, console: Console | None = None
) -> MetricAccumulator:
    """Run ``predictor`` on every chip of ``dataset`` and count its confusion against the labels.

    Pixels with label -1 or ``chip.valid`` False are not counted.

    Args:
        dataset: A labelled dataset carrying ``predictor.required_modalities``.
        predictor: The method or model to evaluate.
        progress: Show a progress bar (on stderr).
        console: Rich console for the progress bar (default: stderr).

    Returns:
        The per-chip confusion counts; ``.report()`` gives overall and per-event scores.

    Raises:
        DataError: The dataset lacks a required modality, a chip has no labels, or a prediction has the wrong
            shape.
    """
    require_modalities(dataset.modalities, predictor.required_modalities, where=f"{predictor.name} on {dataset.name}")
    if len(dataset) == 0:
        raise DataError(f"dataset {dataset.name}: has no chips to evaluate")
    accumulator = MetricAccumulator()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with rich_progress(*columns, enabled=progress, console=console) as bar:
        task = bar.add_task(f"{predictor.name} on {dataset.name}", total=len(dataset))
        for index in range(len(dataset)):
            chip = dataset[index]
            if chip.label is None:
                raise DataError(
                    f"dataset {dataset.name}: chip {chip.chip_id} has no labels; evaluation needs a labelled split"
                )
            prediction = np.asarray(predictor.predict(chip))
            if prediction.shape != chip.shape:
                raise DataError(
                    f"{predictor.name}: prediction for chip {chip.chip_id} has shape {prediction.shape}, "
                    f"expected {chip.shape}"
                )
            if prediction.dtype != bool:
                prediction = prediction == 1
            accumulator.add(chip.chip_id, chip.event, prediction, chip.label, chip.valid)
            bar.advance(task)
    return accumulator


def build_report(
    accumulator: MetricAccumulator,
    *,
    dataset: str,
    split: str,
    method: str,
    **details: Any,
) -> dict[str, Any]:
    """Return the JSON-ready report of an evaluation.

    It holds ``dataset``, ``split``, ``method``, any ``details`` (root, predictor, time...), the overall scores at
    top level (``total_iou``, ``mean_iou``, ``f1``, ``omission``, ``commission``, ``chips``, ``pixels``),
    ``per_event`` and ``per_chip``. Undefined scores (NaN) become ``None``.
    """
    report: dict[str, Any] = {"dataset": dataset, "split": split, "method": method, **details}
    report.update(accumulator.report())
    return _nan_to_none(report)


def run_evaluation(
    dataset: str,
    root: str | Path | None,
    split: str,
    predictor: Predictor,
    *,
    labels: str | None = "auto",
    json_path: str | Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    **dataset_options: Any,
) -> dict[str, Any]:
    """Open ``dataset`` through :func:`gee_flood.data.open_dataset`, evaluate ``predictor`` and build the report.

    Args:
        dataset: Dataset name (``"ombria"``, ``"sen1floods11"``...).
        root: Dataset folder.
        split: Split to evaluate on (e.g. ``"test"``).
        predictor: What to evaluate (see :func:`select_predictor`).
        labels: Label source passed to the factory (``"auto"``: the dataset's hand labels).
        json_path: If given, write the report there as JSON (atomically: a failed run leaves no file).
        progress: Show a progress bar on stderr.
        console: Rich console for the progress bar.
        **dataset_options: Reader options passed to the factory (e.g. ``part="hand"``).

    Returns:
        The report (see :func:`build_report`).
    """
    from gee_flood.data.factory import open_dataset

    if root is not None and not Path(root).exists():
        raise InputError(f"{root}: dataset folder not found")
    chips = open_dataset(
        dataset, root, split, modalities=predictor.required_modalities, labels=labels, **dataset_options
    )
    started = datetime.now(UTC)
    accumulator = evaluate_dataset(chips, predictor, progress=progress, console=console)
    report = build_report(
        accumulator,
        dataset=dataset,
        split=split,
        method=predictor.name,
        predictor=repr(predictor),
        root=str(root) if root is not None else None,
        labels=labels,
        evaluated_at=started.isoformat(timespec="seconds"),
        seconds=round((datetime.now(UTC) - started).total_seconds(), 3),
    )
    if json_path is not None:
        write_json_atomic(json_path, report)
    return report


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the report as a table: one row overall, one per event (scores of the water class)."""
    console = console or Console()
    table = Table(
        title=f"{report['method']} on {report['dataset']} {report['split']} (water class)",
        title_justify="left",
    )
    for column in ("", "chips", "total IoU", "mean IoU", "F1", "omission", "commission"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [("overall", report), *sorted(report.get("per_event", {}).items())]
    for name, scores in rows:
        table.add_row(
            name,
            str(scores["chips"]),
            *(_fmt(scores[key]) for key in ("total_iou", "mean_iou", "f1", "omission", "commission")),
            style="bold" if name == "overall" else None,
        )
    console.print(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _nan_to_none(value: Any) -> Any:
    # JSON has no NaN: undefined scores (e.g. IoU of a chip without water) are written as null.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    return value

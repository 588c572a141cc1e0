"""Score the demo's flood maps against the synthetic scene's true water, and write the report and overview picture.

Two comparisons, both against the scene's true water on the event date (rivers, lakes and the flood):

- **whole scene**: the SAR methods (Otsu on the event's S1 VV, the weak-label model, the student) over every pixel
  of the predicted map, split into pixels the post-event S2 saw clearly and pixels under its clouds;
- **corpus chips**: every method, the teacher (which needs S2) and the S2 NDWI weak label included, on the chips
  ``fetch`` accepted (mostly clear-sky, since too-cloudy chips are left out of the corpus).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject

from gee_flood._io import atomic_path, write_json_atomic, write_text_atomic
from gee_flood.data.chip import S2_BANDS, Chip
from gee_flood.data.weak_labels import s1_weak_label, s2_index_label
from gee_flood.evaluation.metrics import Confusion, MetricAccumulator, confusion

#: Cloud probability (%) above which a pixel of the post-event S2 counts as cloudy in the report.
CLOUDY_PERCENT = 50.0
METHOD_NAMES = {
    "otsu": "Otsu threshold on S1 VV (bimodal tiles, as the weak labels)",
    "s2_ndwi": "S2 NDWI > 0 (optical weak label)",
    "weak": "SAR model trained on Otsu weak labels",
    "student": "SAR-only student (cross-modal distillation)",
    "teacher": "teacher (S1 + S2)",
}


def _on_grid(
    values: np.ndarray, scene: Any, crs: Any, transform: Any, shape: tuple[int, int], fill: float
) -> np.ndarray:
    """Reproject a scene-grid array onto another grid (nearest; pixels outside the scene get ``fill``)."""
    destination = np.full(shape, fill, dtype=np.float32)
    reproject(
        values.astype(np.float32),
        destination,
        src_transform=scene.georef.transform,
        src_crs=scene.georef.crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.nearest,
        src_nodata=None,
        dst_nodata=fill,
    )
    return destination


def _post_event_s2(scene: Any, near: dt.datetime) -> Any:
    optical = [a for a in scene.acquisitions if a.sensor == "S2" and a.post_event]
    return min(optical, key=lambda a: abs((a.time - near).total_seconds()))


def _scores(counts: Confusion) -> dict[str, float | int]:
    return {
        "iou": counts.iou,
        "f1": counts.f1,
        "omission": counts.omission,
        "commission": counts.commission,
        "pixels": counts.pixels,
    }


def build_report(
    scene: Any,
    *,
    corpus: Path,
    flood_maps: dict[str, Path],
    s1_scene: Path,
    checkpoints: dict[str, Path],
    fetch_summary: Any,
    asset: str,
    event_day: dt.date,
) -> dict[str, Any]:
    """Score every method against the scene's true water; return the JSON-ready report.

    Args:
        scene: The synthetic scene (with its true water and acquisitions).
        corpus: The fetched corpus directory.
        flood_maps: ``{"student": flood_map.tif, "weak": ...}`` written by predict.
        s1_scene: The S1 VV/VH scene predict read (``--keep-scene``).
        checkpoints: ``{"teacher": ..., "weak": ..., "student": ...}`` model checkpoints.
        fetch_summary: What fetch did.
        asset: The Earth Engine asset the student's map was exported to.
        event_day: Day the flood started.
    """
    from gee_flood.data import open_dataset
    from gee_flood.models.predictor import CheckpointPredictor

    with rasterio.open(flood_maps["student"]) as src:
        crs, transform, shape = src.crs, src.transform, (src.height, src.width)
        descriptions = list(src.descriptions)
        mask_band = descriptions.index("water") + 1
        student_mask = src.read(mask_band)
    with rasterio.open(flood_maps["weak"]) as src:
        weak_mask = src.read(mask_band)
    with rasterio.open(s1_scene) as src:
        vv_db = src.read(1).astype(np.float32)
        s1_time = src.tags().get("s1_time") or src.tags().get("TIFFTAG_DATETIME")
    optical = _post_event_s2(scene, scene.event_date + dt.timedelta(days=1))
    truth = _on_grid(scene.flood_water, scene, crs, transform, shape, fill=-1)
    cloud_probability = _on_grid(optical.cloud_probability, scene, crs, transform, shape, fill=np.nan)
    s2_reflectance = np.stack(
        [_on_grid(band / 10000.0, scene, crs, transform, shape, fill=np.nan) for band in optical.data]
    )
    valid = (truth >= 0) & (student_mask != 255) & np.isfinite(vv_db)
    cloudy = np.nan_to_num(cloud_probability, nan=0.0) > CLOUDY_PERCENT
    label = np.where(valid, truth, -1).astype(np.int8)
    otsu = s1_weak_label(vv_db, valid)
    ndwi = s2_index_label(s2_reflectance, S2_BANDS, index="ndwi", cloud=cloudy)
    maps = {"otsu": otsu == 1, "weak": weak_mask == 1, "student": student_mask == 1}

    scene_scores: dict[str, Any] = {}
    for name, water in maps.items():
        scene_scores[name] = {
            "all": _scores(confusion(water, label)),
            "clear_sky": _scores(confusion(water, label, ~cloudy)),
            "under_cloud": _scores(confusion(water, label, cloudy)),
        }
    ndwi_usable = valid & (ndwi != -1)
    scene_scores["s2_ndwi"] = {
        "all": _scores(confusion(ndwi == 1, label)),  # cloudy pixels count as "not water": the optical view
        "clear_sky": _scores(confusion(ndwi == 1, label, ndwi_usable)),
        "under_cloud": _scores(confusion(np.zeros_like(cloudy), label, cloudy)),
    }
    true_water = valid & (truth == 1)
    clouds = {
        "s2_image": optical.image_id,
        "cloudy_fraction": float(cloudy[valid].mean()) if valid.any() else float("nan"),
        "true_water_under_cloud_fraction": float(cloudy[true_water].mean()) if true_water.any() else float("nan"),
        "true_water_pixels": int(true_water.sum()),
        "water_seen_by_s2_ndwi_fraction": (float((ndwi[true_water] == 1).mean()) if true_water.any() else float("nan")),
        "water_found_by_student_fraction": (
            float((student_mask[true_water] == 1).mean()) if true_water.any() else float("nan")
        ),
        "water_under_cloud_found_by_student_fraction": (
            float((student_mask[true_water & cloudy] == 1).mean()) if (true_water & cloudy).any() else float("nan")
        ),
    }

    chips = open_dataset("sen1floods11", corpus, "all", part="weak", modalities=["s1", "s2"], labels=None)
    predictors = {name: CheckpointPredictor(path) for name, path in checkpoints.items()}
    accumulators = {name: MetricAccumulator() for name in ("otsu", "s2_ndwi", "weak", "student", "teacher")}
    for chip in chips:
        assert chip.georef is not None
        chip_truth = _on_grid(
            scene.flood_water, scene, chip.georef.crs, chip.georef.transform, chip.shape, fill=-1
        ).astype(np.int8)
        chip = Chip(chip.chip_id, chip.event, chip.modalities, chip.specs, chip_truth, chip.valid, chip.georef)
        vv = chip.band("s1", "VV")
        results = {
            "otsu": s1_weak_label(vv, chip.valid) == 1,
            "s2_ndwi": s2_index_label(chip.modality("s2"), S2_BANDS, index="ndwi") == 1,
        }
        for name, predictor in predictors.items():
            results[name] = predictor.predict(chip).astype(bool)
        for name, water in results.items():
            accumulators[name].add(chip.chip_id, chip.event, water, chip_truth, chip.valid)
    chip_scores = {
        name: {k: v for k, v in acc.overall().as_dict().items()} for name, acc in accumulators.items() if acc.per_chip
    }

    return {
        "title": "gee-flood demo",
        "event": {"name": scene.config.event_name, "start": event_day.isoformat(), "s1_time": s1_time},
        "scene": {
            "crs": str(scene.georef.crs),
            "size_px": [int(scene.georef.height), int(scene.georef.width)],
            "pixel_m": float(abs(scene.georef.transform.a)),
            "area_km2": float(scene.georef.height * scene.georef.width * abs(scene.georef.transform.a) ** 2 / 1e6),
            "acquisitions": [
                {
                    "sensor": a.sensor,
                    "id": a.image_id,
                    "time": a.time.isoformat(),
                    "post_event": a.post_event,
                    "cloudy_percent": a.properties.get("CLOUDY_PIXEL_PERCENTAGE"),
                }
                for a in scene.acquisitions
            ],
        },
        "corpus": {
            "dir": str(corpus),
            "chips": len(chips),
            "written": fetch_summary.written,
            "reused": fetch_summary.already_done,
            "skipped": len(fetch_summary.skipped),
        },
        "scene_scores": scene_scores,
        "chip_scores": chip_scores,
        "clouds": clouds,
        "asset": asset,
        "methods": METHOD_NAMES,
    }


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def report_markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown."""
    clouds = report["clouds"]
    lines = [
        f"# {report['title']}",
        "",
        f"Event `{report['event']['name']}` starting {report['event']['start']}; synthetic scene of "
        f"{report['scene']['size_px'][0]}×{report['scene']['size_px'][1]} px at {report['scene']['pixel_m']:g} m "
        f"({report['scene']['area_km2']:.1f} km², {report['scene']['crs']}), "
        f"{len(report['scene']['acquisitions'])} acquisitions. Corpus: {report['corpus']['chips']} paired chips "
        f"({report['corpus']['skipped']} left out). Flood map exported to `{report['asset']}`.",
        "",
        "## Whole scene: water IoU against the true water on the event date",
        "",
        "| method | IoU (all) | IoU (clear sky) | IoU (under S2 cloud) | omission | commission |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("otsu", "s2_ndwi", "weak", "student"):
        scores = report["scene_scores"].get(name)
        if scores is None:
            continue
        lines.append(
            f"| {report['methods'][name]} | {_fmt(scores['all']['iou'])} | {_fmt(scores['clear_sky']['iou'])} | "
            f"{_fmt(scores['under_cloud']['iou'])} | {_fmt(scores['all']['omission'])} | "
            f"{_fmt(scores['all']['commission'])} |"
        )
    if "product" in report:
        from gee_flood.demo.product import product_markdown

        lines += product_markdown(report["product"])
    lines += [
        "",
        "## Corpus chips (what fetch accepted): every method, the teacher included",
        "",
        "| method | total IoU | mean chip IoU | F1 | omission | commission |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("otsu", "s2_ndwi", "weak", "student", "teacher"):
        scores = report["chip_scores"].get(name)
        if scores is None:
            continue
        lines.append(
            f"| {report['methods'][name]} | {_fmt(scores['total_iou'])} | {_fmt(scores['mean_iou'])} | "
            f"{_fmt(scores['f1'])} | {_fmt(scores['omission'])} | {_fmt(scores['commission'])} |"
        )
    lines += [
        "",
        "## Where the clouds hid the flood",
        "",
        f"- {100 * clouds['cloudy_fraction']:.0f}% of the scene was under cloud in the post-event Sentinel-2 image "
        f"`{clouds['s2_image']}`, hiding {100 * clouds['true_water_under_cloud_fraction']:.0f}% of the true water.",
        f"- The optical water index (NDWI) found {100 * clouds['water_seen_by_s2_ndwi_fraction']:.0f}% of the true "
        "water; under cloud it sees nothing.",
        f"- The SAR-only student found {100 * clouds['water_found_by_student_fraction']:.0f}% of the true water, and "
        f"{100 * clouds['water_under_cloud_found_by_student_fraction']:.0f}% of the water under the clouds.",
    ]
    if "watch" in report:
        watch = report["watch"]
        lines += [
            "",
            "## Watch: every post-event Sentinel-1 acquisition",
            "",
            f"`gee-flood watch --once` found {watch['found']} acquisitions and pushed {watch['pushed']} into "
            f"`{watch['collection']}` (one image each, start time = acquisition time).",
            "",
            "Flooded km² is each map's `flood` layer (new water: not reference water, never excluded), excluded km² "
            "its `exclusion` layer (valid pixels where flood cannot be mapped), on the ground.",
            "",
            "| acquisition (UTC) | flooded km² | excluded km² |",
            "|---|---|---|",
            *(
                f"| {when} | {km2:.3f} | {watch.get('excluded_km2', {}).get(when, float('nan')):.3f} |"
                for when, km2 in sorted(watch["flooded_km2"].items())
            ),
        ]
        if watch.get("plot"):
            lines += ["", f"![flooded km² per acquisition]({watch['plot']})"]
        if watch.get("series"):
            series = watch["series"]
            lines += [
                "",
                f"Over these acquisitions: maximum flood extent {series['max_extent_km2']:.3f} km², longest flood "
                f"duration {series['longest_flood_days']:.2f} days (Earth Engine's reduction of the collection and "
                f"the local one differ on {series['pixels_differing_earth_engine_vs_local']} pixels); layers as COGs "
                "in `watch_series/`.",
            ]
    if "timings_s" in report:
        total = sum(report["timings_s"].values())
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in report["timings_s"].items())
        lines += ["", f"Run time {total:.0f} s ({stages})."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], scene: Any, flood_map: Path, out: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``overview.png`` into ``out``; return their paths."""
    paths = {
        "json": write_json_atomic(out / "report.json", report),
        "markdown": write_text_atomic(out / "report.md", report_markdown(report)),
        "overview": out / "overview.png",
    }
    write_overview(scene, flood_map, paths["overview"])
    return paths


def write_overview(scene: Any, flood_map: Path, path: Path) -> Path:
    """Draw the post-event S2 (with its clouds), the S1 VV, the true water and the student's map side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    optical = _post_event_s2(scene, scene.event_date + dt.timedelta(days=1))
    radar = min(
        (a for a in scene.acquisitions if a.sensor == "S1" and a.post_event),
        key=lambda a: abs((a.time - optical.time).total_seconds()),
    )
    rgb = np.stack([optical.band(b) for b in ("B4", "B3", "B2")], axis=-1) / 10000.0
    rgb = np.clip(rgb / np.percentile(rgb, 99), 0, 1)
    with rasterio.open(flood_map) as src:
        mask = src.read(2)
        student = _from_grid(mask, src, scene)
    truth = scene.flood_water
    errors = np.zeros(truth.shape, np.uint8)  # 0 true negative, 1 hit, 2 missed, 3 false alarm
    errors[(student == 1) & truth] = 1
    errors[(student != 1) & truth] = 2
    errors[(student == 1) & ~truth] = 3
    errors[student == 255] = 0
    figure, axes = plt.subplots(1, 4, figsize=(16, 4.4), constrained_layout=True)
    panels = [
        (rgb, None, f"Sentinel-2 after the flood\n{optical.time:%Y-%m-%d} (clouds)"),
        (radar.band("VV"), "gray", f"Sentinel-1 VV (dB)\n{radar.time:%Y-%m-%d}"),
        (truth, ListedColormap(["#f2efe9", "#1f6fd1"]), "true water (rivers, lakes, flood)"),
        (errors, ListedColormap(["#f2efe9", "#1f6fd1", "#e8a33d", "#d1361f"]), "student: hit / missed / false"),
    ]
    for axis, (image, cmap, title) in zip(axes, panels, strict=True):
        if cmap == "gray":
            axis.imshow(image, cmap=cmap, vmin=-25, vmax=0)
        else:
            axis.imshow(image, cmap=cmap, interpolation="nearest")
        axis.set_title(title, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=80, format="png", bbox_inches="tight", pad_inches=0.15)
    plt.close(figure)
    return path


def _from_grid(values: np.ndarray, src: Any, scene: Any) -> np.ndarray:
    """Reproject a map band onto the scene grid (nearest; outside = 255)."""
    destination = np.full(scene.flood_water.shape, 255, dtype=np.uint8)
    reproject(
        values,
        destination,
        src_transform=src.transform,
        src_crs=src.crs,
        dst_transform=scene.georef.transform,
        dst_crs=scene.georef.crs,
        resampling=Resampling.nearest,
        src_nodata=255,
        dst_nodata=255,
    )
    return destination

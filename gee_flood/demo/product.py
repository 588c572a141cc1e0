"""The demo's flood product: the student and UN-SPIDER's change detection side by side, per zone.

Flooded and excluded km² and exposure per zone, against the synthetic truth. The auxiliary datasets are read from
the emulator under their real ids (``predict --ee-auxiliary`` for the student;
:func:`gee_flood.product.ee_inputs.fetch_auxiliary` once more for the change-detection map, which maps two local
scenes). The population is the GHS-POP grid the catalog serves (100 m cells), written as a local GeoTIFF as a user
would download it. The zones are the FAO GAUL level-1 units over the area of interest, read from Earth Engine (the
catalog's synthetic provinces) and written as ``zones.geojson`` for the local route; the student's map is also
reduced in Earth Engine, on its asset, per the same units (``reduceRegions``), beside the local route.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rich.console import Console

from gee_flood.demo.catalog import population_grid

#: Columns compared between the Earth Engine route and the local route.
EE_COLUMNS = ("flooded_km2", "excluded_km2", "people_exposed", "cropland_flooded_km2")
#: Methods of the side-by-side table.
METHODS = {"student": "SAR-only student", "change": "change detection (UN-SPIDER)"}


def write_zones(aoi: Path, dest: Path, settings: Any) -> Path:
    """The FAO GAUL level-1 units over the AOI, read from Earth Engine, as a GeoJSON file (a user's export)."""
    import shapely.geometry

    from gee_flood._io import atomic_path
    from gee_flood.geo import read_aoi
    from gee_flood.product.ee_stats import ee_admin_zones

    units = ee_admin_zones(shapely.geometry.mapping(read_aoi(aoi).geometry), 1, settings=settings)
    with atomic_path(dest, suffix=".geojson") as tmp:
        units.to_file(tmp, driver="GeoJSON")
    return dest


def write_population(scene: Any, dest: Path) -> Path:
    """The catalog's GHS-POP grid (people per 100 m cell) as a GeoTIFF."""
    people, grid = population_grid(scene)
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1, dtype="float32", crs=grid.crs,
                   transform=grid.transform)  # fmt: skip
    with rasterio.open(dest, "w", **profile) as dst:
        dst.write(people, 1)
    return dest


def truth_flooded_km2(scene: Any, flood_map: Path, zones: Path) -> dict[str, float]:
    """The synthetic flood (new water) per zone, km² on the ground, on the map's grid."""
    import geopandas  # type: ignore[import-untyped]
    import rasterio.features
    from rasterio.warp import Resampling, reproject

    from gee_flood.product.stats import pixel_area_m2

    with rasterio.open(flood_map) as src:
        crs, transform, shape = src.crs, src.transform, (src.height, src.width)
    truth = np.zeros(shape, np.uint8)
    reproject(scene.flooded.astype(np.uint8), truth, src_transform=scene.georef.transform, src_crs=scene.georef.crs,
              dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest)  # fmt: skip
    area = pixel_area_m2(crs, transform, 0, shape[0], shape[1])
    frame = geopandas.read_file(zones).to_crs(crs)
    out = {}
    for name, geometry in zip(frame["zone"], frame.geometry, strict=True):
        inside = ~rasterio.features.geometry_mask([geometry], out_shape=shape, transform=transform)
        out[str(name)] = float(area[inside & (truth == 1)].sum() / 1e6)
    return out


def product_section(
    *, scene: Any, out: Path, aoi: Path, student_map: Path, asset: str, pre_date: str, settings: Any,
    console: Console, progress: bool,
) -> dict[str, Any]:  # fmt: skip
    """Map the change-detection reference, then the statistics of both maps per zone; return the report section.

    Writes ``flood_map_change.tif``, ``s1_pre_scene.tif``, ``auxiliary/`` (the datasets read from Earth Engine,
    the population), ``zones.geojson`` and ``statistics.csv`` into ``out``.
    """
    from gee_flood.demo.catalog import POPULATION_COLLECTION, WORLDCOVER_COLLECTION
    from gee_flood.geo import parse_date, read_aoi
    from gee_flood.inference.aoi import fetch_s1_scene
    from gee_flood.inference.command import run_predict
    from gee_flood.product.ee_inputs import fetch_auxiliary
    from gee_flood.product.ee_stats import ee_zone_statistics
    from gee_flood.product.stats import write_statistics, zone_statistics
    from gee_flood.service_requests import PredictOptions, PredictRequest

    auxiliary = out / "auxiliary"
    auxiliary.mkdir(exist_ok=True)
    post, pre = out / "s1_scene.tif", out / "s1_pre_scene.tif"
    paths = fetch_auxiliary(post, auxiliary, settings, names=("reference", "dem", "hand", "worldcover"))
    fetch_s1_scene(read_aoi(aoi), parse_date(pre_date, what="pre-event date"), pre, ee_settings=settings,
                   console=console)  # fmt: skip
    change_map = out / "flood_map_change.tif"
    run_predict(
        PredictRequest(
            out=change_map,
            method="change",
            pre=pre,
            input_path=post,
            reference_water=paths["reference"],
            dem=paths["dem"],
            hand=paths["hand"],
            worldcover=paths["worldcover"],
            options=PredictOptions(progress=progress),
        ),  # fmt: skip
        console=console,
    )
    zones = write_zones(aoi, out / "zones.geojson", settings)
    population = write_population(scene, auxiliary / "ghs_pop.tif")
    maps = {"student": student_map, "change": change_map}
    tables = []
    for method, path in maps.items():
        table = zone_statistics(path, zones, population=population, worldcover=paths["worldcover"])
        tables.append(table.assign(method=method))
    import pandas as pd  # type: ignore[import-untyped]

    frame = pd.concat(tables, ignore_index=True)
    truth = truth_flooded_km2(scene, student_map, zones)
    frame["truth_flooded_km2"] = frame["zone"].map(truth)
    write_statistics(frame, out / "statistics.csv")
    rows = json.loads(frame.to_json(orient="records"))
    remote = ee_zone_statistics(asset, admin=1, population=f"{POPULATION_COLLECTION}/2020",
                                worldcover=f"{WORLDCOVER_COLLECTION}/2021", settings=settings)  # fmt: skip
    local = frame[frame["method"] == "student"].set_index("zone")
    earth_engine = [
        {"zone": row["zone"], **{f"{name}": row[name] for name in EE_COLUMNS},
         **{f"local_{name}": float(local.loc[row["zone"], name]) for name in EE_COLUMNS}}
        for row in remote.to_dict("records")
    ]  # fmt: skip
    return {"zones": rows, "truth_flooded_km2": truth, "maps": {k: v.name for k, v in maps.items()},
            "statistics": "statistics.csv", "earth_engine": earth_engine}  # fmt: skip


def product_markdown(section: dict[str, Any]) -> list[str]:
    """The report's flood-product section as Markdown lines."""
    lines = [
        "",
        "## Flood product: flooded and excluded area, exposure, per zone",
        "",
        "Student and UN-SPIDER change detection on the same scene, with the reference water, exclusions (radar "
        "shadow/layover, slope, HAND, urban) and cleanup of the flood product; areas on the ground.",
        "",
        "| zone | method | flooded km² | truth km² | excluded km² | people exposed | cropland flooded km² |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in section["zones"]:
        lines.append(
            f"| {row['zone']} | {METHODS.get(row['method'], row['method'])} | {row['flooded_km2']:.3f} | "
            f"{row['truth_flooded_km2']:.3f} | {row['excluded_km2']:.3f} | {row['people_exposed']:.0f} | "
            f"{row['cropland_flooded_km2']:.3f} |"
        )
    if section.get("earth_engine"):
        lines += [
            "",
            "The student's map reduced in Earth Engine on its asset (`reduceRegions` of `pixelArea`, per FAO GAUL "
            "level-1 unit, `gee-flood stats --asset ... --admin-level 1`), beside the local route on its COG:",
            "",
            "| zone | flooded km² (Earth Engine / local) | excluded km² | people exposed | cropland flooded km² |",
            "|---|---|---|---|---|",
        ]
        for row in section["earth_engine"]:
            cells = [f"{row[name]:.3f} / {row['local_' + name]:.3f}" if name != "people_exposed"
                     else f"{row[name]:.0f} / {row['local_' + name]:.0f}" for name in EE_COLUMNS]  # fmt: skip
            lines.append(f"| {row['zone']} | " + " | ".join(cells) + " |")
    return lines

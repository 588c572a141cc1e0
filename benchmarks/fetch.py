"""Earth Engine requests per km² and bytes per request of ``gee-flood fetch``, against the local emulator.

Builds a synthetic catalog over a 50 km x 50 km AOI cheaply (sources stored at 100 m; the emulator resamples them
to the 10 m chip grid on request), runs ``gee-flood fetch`` over it, and prints the emulator's counters next to two
naive baselines measured on a sample of the same chips:

- ``naive-xee``: per chip and modality, ``xr.open_dataset`` of the mosaic over the chip grid with xee's defaults
  (one variable per band, so one computePixels per band) and ``.load()``.
- ``per-chip``: per chip and modality, one open and ONE computePixels holding all bands (the band stack gee-flood
  uses, but one chip per request: "one request per chip per modality").

Usage::

    python -m benchmarks.fetch [--side-km 50] [--sample 8] [--workers 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import ee
import numpy as np
import xarray as xr
from affine import Affine
from pyproj import Transformer

from ee_emulator import CatalogBuilder, EmulatorServer
from gee_flood.data.chip import S2_BANDS
from gee_flood.earthengine import FetchRequest, RetryPolicy, queries, run_fetch
from gee_flood.earthengine.reads import StackReader, s1_stack, s2_stack
from gee_flood.earthengine.session import EESettings, initialize
from gee_flood.geo import PixelGrid

CRS = "EPSG:32632"
COARSE = 100.0  # source pixel size (m)
CHIP = 512
SCALE = 10.0


def build(root: Path, side_km: float) -> tuple[Path, float]:
    """Write the catalog and the AOI GeoJSON; return the AOI path and its area in km²."""
    step = CHIP * SCALE
    x0, y0 = 80 * step, 977 * step  # a lattice corner (409,600 m E, 5,002,240 m N: northern Italy)
    side = side_km * 1000.0
    margin = 2 * step
    size = int((side + 2 * margin) / COARSE)
    georef = PixelGrid(CRS, Affine(COARSE, 0, x0 - margin, 0, -COARSE, y0 + margin), size, size)
    half = size // 2
    left = PixelGrid(CRS, georef.transform, half + 4, size)
    right = PixelGrid(CRS, georef.transform * Affine.translation(half - 4, 0), size - half + 4, size)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    river = np.abs(yy - size / 2 - 40 * np.sin(xx / 50)) < 12
    s1 = np.stack([np.where(river, -20.0, -9.0), np.where(river, -27.0, -16.0), np.full((size, size), 38.0)])
    s1 = (s1 + rng.normal(0, 1, s1.shape)).astype(np.float32)
    s2 = rng.integers(300, 4000, size=(len(S2_BANDS), size, size)).astype(np.uint16)
    clouds = (xx - size * 0.3) ** 2 + (yy - size * 0.3) ** 2 < (size * 0.12) ** 2
    day = dt.datetime(2019, 3, 5, 5, 30, tzinfo=dt.UTC)
    with CatalogBuilder(root / "catalog") as builder:
        for index, part, window in (("s1_a", left, np.s_[:, :, : half + 4]), ("s1_b", right, np.s_[:, :, half - 4 :])):
            props = {
                "system:time_start": day,
                "instrumentMode": "IW",
                "transmitterReceiverPolarisation": ["VV", "VH"],
                "orbitProperties_pass": "DESCENDING",
                "relativeOrbitNumber_start": 66,
            }
            builder.add_image("COPERNICUS/S1_GRD", index, s1[window], part, ["VV", "VH", "angle"], props)
        for index, when, cloudy in (("s2_day5", day.replace(hour=10), clouds), ("s2_day6", day.replace(day=6), None)):
            props = {"system:time_start": when, "CLOUDY_PIXEL_PERCENTAGE": 10.0, "SENSING_ORBIT_NUMBER": 22}
            builder.add_image("COPERNICUS/S2_HARMONIZED", index, s2, georef, list(S2_BANDS), props)
            cs = (
                np.where(cloudy, 0.1, 0.9).astype(np.float32)
                if cloudy is not None
                else np.full((size, size), 0.9, np.float32)
            )
            builder.add_image(
                queries.CLOUD_SCORE_PLUS_COLLECTION,
                index,
                np.stack([cs, cs]),
                georef,
                ["cs", "cs_cdf"],
                {"system:time_start": when},
            )
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    ring = [
        list(to_lonlat.transform(x, y))
        for x, y in [(x0, y0), (x0 + side, y0), (x0 + side, y0 - side), (x0, y0 - side), (x0, y0)]
    ]
    aoi = root / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return aoi, side_km * side_km


def counters(server: EmulatorServer) -> dict:
    """Return the emulator's Earth Engine request counts (computePixels, value:compute) and bytes served so far."""
    snap = server.stats.snapshot()
    requests = snap["requests"]
    pixels = requests.get("image:computePixels", 0)
    values = requests.get("value:compute", 0)
    return {
        "computePixels": pixels,
        "value:compute": values,
        "ee_requests": pixels + values,
        "bytes_out": snap["bytes_out"],
        "faults": snap["faults"],
    }


def naive(server: EmulatorServer, corpus: Path, sample: int, *, per_band: bool) -> dict:
    """Re-read ``sample`` chips of the corpus one chip and modality at a time; return the emulator counters."""
    settings = EESettings(url=server.url, endpoint="highvolume", retry=RetryPolicy.fast())
    initialize(settings)
    StackReader.clear_cache()
    chips = json.loads((corpus / "manifest.json").read_text())["chips"][:sample]
    server.stats.reset()
    for entry in chips:
        grid = PixelGrid(entry["crs"], Affine(*entry["transform"]), entry["width"], entry["height"])
        s1_index = [i.rsplit("/", 1)[1] for i in entry["s1_ids"]]
        s2_index = [i.rsplit("/", 1)[1] for i in entry["s2_ids"]]
        stacks = [
            s1_stack(s1_index),
            s2_stack(s2_index, cloud_mask="cloudscore", cloud_threshold=None, with_occurrence=False),
        ]
        for stack in stacks:
            if per_band:  # xee defaults: one variable (and one computePixels) per band
                dataset = xr.open_dataset(
                    ee.ImageCollection.fromImages([stack.build()]),
                    engine="ee",
                    crs=grid.crs,
                    crs_transform=tuple(grid.transform[:6]),
                    shape_2d=(grid.width, grid.height),
                )
                dataset.load()
            else:  # the band stack, one chip per request, opened per chip
                StackReader.clear_cache()
                StackReader(settings).read(stack, grid, (0, grid.height, 0, grid.width), what="benchmark")
    result = counters(server)
    result["chips"] = len(chips)
    return result


def main() -> None:
    """Fetch the synthetic AOI through the emulator, re-read a sample naively, print (and optionally save) a table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--side-km", type=float, default=50.0)
    parser.add_argument("--sample", type=int, default=8, help="chips re-read by each naive baseline")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gee-flood-bench-") as tmp:
        root = Path(tmp)
        aoi, area_km2 = build(root, args.side_km)
        with EmulatorServer(root / "catalog") as server:
            started = time.perf_counter()
            summary = run_fetch(
                FetchRequest(
                    out=root / "corpus",
                    aoi=aoi,
                    dates="2019-03-01/2019-03-10",
                    ee_url=server.url,
                    workers=args.workers,
                    scheduler="threads",
                    progress=False,
                    retry=RetryPolicy.fast(),
                )
            )
            seconds = time.perf_counter() - started
            fetch = counters(server)
            chip_km2 = (CHIP * SCALE / 1000) ** 2
            rows = {"gee-flood fetch": {**fetch, "chips": summary.written, "seconds": round(seconds, 1)}}
            rows["naive-xee (per band)"] = naive(server, root / "corpus", args.sample, per_band=True)
            rows["per-chip (1 request/chip/modality)"] = naive(server, root / "corpus", args.sample, per_band=False)
    print(
        f"AOI {args.side_km:g} km x {args.side_km:g} km = {area_km2:,.0f} km²; {summary.written} chips of "
        f"{CHIP} px at {SCALE:g} m ({chip_km2:.2f} km² each); {summary.blocks} blocks; {summary.scheduler}"
    )
    names = ("method", "chips", "requests", "computePixels", "req/km²", "MB/computePixels")
    print("{:38s} {:>6s} {:>9s} {:>13s} {:>8s} {:>17s}".format(*names))
    table = {}
    for name, row in rows.items():
        km2 = row["chips"] * chip_km2
        per_km2 = row["ee_requests"] / km2
        mb = row["bytes_out"] / max(1, row["computePixels"]) / 1e6
        table[name] = {**row, "requests_per_km2": per_km2, "mb_per_computepixels": mb}
        print(
            f"{name:38s} {row['chips']:6d} {row['ee_requests']:9d} {row['computePixels']:13d} {per_km2:8.3f} {mb:17.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"area_km2": area_km2, "rows": table}, indent=2))


if __name__ == "__main__":
    main()

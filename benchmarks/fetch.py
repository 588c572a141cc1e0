"""Earth Engine requests per km² and bytes per request of ``gee-flood fetch``, against the local emulator.

Builds a synthetic catalog over a 50 km x 50 km AOI cheaply (sources stored at 100 m; the emulator resamples them
to the 10 m chip grid on request), runs ``gee-flood fetch`` over it, and prints the emulator's counters next to two
naive baselines measured on a sample of the same chips:

- ``naive-xee``: per chip and modality, ``xr.open_dataset`` of the mosaic over the chip grid with xee's defaults
  (one variable per band, so one computePixels per band) and ``.load()``.
- ``per-chip``: per chip and modality, one open and ONE computePixels holding all bands (the band stack gee-flood
  uses, but one chip per request: "one request per chip per modality").

With ``--compare-mosaics`` it also fetches the same AOI a second time with the mosaic builder gee-flood used before
(whole S1/S2 collections filtered by ``system:index`` with ``inList``; kept here only) and prints, for both builders,
the requests and the size of the computed objects sent (bytes of the expression JSON), and whether the two corpora
are byte-identical.

Usage::

    python -m benchmarks.fetch [--side-km 50] [--sample 8] [--workers 4] [--compare-mosaics] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ee
import numpy as np
import xarray as xr
from affine import Affine
from pyproj import Transformer

from ee_emulator import CatalogBuilder, EmulatorServer
from ee_emulator.contract import RequestRecorder
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


def _inlist_collection(collection_id: str, indexes: Sequence[str]) -> Any:
    """The builder gee-flood used before: the whole collection filtered by ``system:index``."""
    return ee.ImageCollection(collection_id).filter(ee.Filter.inList("system:index", list(indexes)))


def _inlist_s1_mosaic(indexes: Sequence[str]) -> Any:
    return _inlist_collection(queries.S1_COLLECTION, indexes).mosaic().select(list(queries.S1_BANDS)).toFloat()


def _inlist_s2_mosaic(
    indexes: Sequence[str],
    *,
    cloud_mask: queries.CloudMask = "cloudscore",
    cloud_threshold: float | None = None,
    with_occurrence: bool = False,
) -> Any:
    threshold = queries.DEFAULT_CLOUD_THRESHOLD[cloud_mask] if cloud_threshold is None else float(cloud_threshold)
    band = "cs" if cloud_mask == "cloudscore" else "probability"
    scenes = _inlist_collection(queries.S2_COLLECTION, indexes)
    mosaic = scenes.linkCollection(ee.ImageCollection(queries.cloud_collection_id(cloud_mask)), [band]).mosaic()
    cloudy = mosaic.select(band).lt(threshold) if cloud_mask == "cloudscore" else mosaic.select(band).gt(threshold)
    state = cloudy.toUint16().add(1).rename([queries.CLOUD_STATE_BAND])
    image = mosaic.select(list(S2_BANDS)).addBands(state)
    if with_occurrence:
        occurrence = ee.Image(queries.JRC_SURFACE_WATER).select([queries.OCCURRENCE_BAND]).unmask(0)
        image = image.addBands(occurrence)
    return image.toUint16()


@contextlib.contextmanager
def inlist_mosaics() -> Iterator[None]:
    """Build per-chip mosaics the old way (``inList`` over whole collections) while active."""
    saved = queries.s1_mosaic, queries.s2_mosaic
    queries.s1_mosaic, queries.s2_mosaic = _inlist_s1_mosaic, _inlist_s2_mosaic  # type: ignore[assignment]
    StackReader.clear_cache()
    try:
        yield
    finally:
        queries.s1_mosaic, queries.s2_mosaic = saved
        StackReader.clear_cache()


def expression_sizes(recorder: RequestRecorder) -> dict:
    """Requests and computed-object bytes (compact JSON of each request's expression) per endpoint."""
    sizes: dict[str, list[int]] = {"value:compute": [], "image:computePixels": []}
    for request in recorder.requests:
        endpoint = request.path.rsplit("/", 1)[-1]
        if endpoint in sizes and request.expression is not None:
            sizes[endpoint].append(len(json.dumps(request.expression, separators=(",", ":")).encode()))
    return {
        endpoint: {
            "requests": len(values),
            "expression_bytes": sum(values),
            "max_expression_bytes": max(values, default=0),
        }
        for endpoint, values in sizes.items()
    }


def fetch_once(server: EmulatorServer, aoi: Path, out: Path, workers: int) -> tuple[Any, dict, float]:
    """Run ``gee-flood fetch`` into ``out`` with the server's requests recorded; return summary, sizes, seconds."""
    StackReader.clear_cache()
    server.stats.reset()
    server.recorder = RequestRecorder()
    started = time.perf_counter()
    summary = run_fetch(
        FetchRequest(
            out=out,
            aoi=aoi,
            dates="2019-03-01/2019-03-10",
            ee_url=server.url,
            workers=workers,
            scheduler="threads",
            progress=False,
            retry=RetryPolicy.fast(),
        )
    )
    seconds = time.perf_counter() - started
    sizes = expression_sizes(server.recorder)
    server.recorder = None
    return summary, sizes, seconds


def corpus_bytes(out: Path) -> dict[str, bytes]:
    """Every file of a corpus, by relative path."""
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def print_mosaic_comparison(rows: dict[str, dict], identical: bool) -> None:
    """Print requests and computed-object sizes of both mosaic builders side by side."""
    print("\nper-chip mosaic builder: requests and computed-object size (bytes of the expression JSON)")
    names = ("builder", "value:compute", "bytes", "computePixels", "bytes", "max bytes/request")
    print("{:44s} {:>13s} {:>9s} {:>13s} {:>10s} {:>17s}".format(*names))
    for name, sizes in rows.items():
        value, pixels = sizes["value:compute"], sizes["image:computePixels"]
        largest = max(value["max_expression_bytes"], pixels["max_expression_bytes"])
        print(
            f"{name:44s} {value['requests']:13d} {value['expression_bytes']:9d} {pixels['requests']:13d} "
            f"{pixels['expression_bytes']:10d} {largest:17d}"
        )
    print(f"corpora byte-identical: {identical}")


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
    parser.add_argument(
        "--compare-mosaics",
        action="store_true",
        help="also fetch with the old inList mosaic builder and compare requests, expression sizes and corpora",
    )
    args = parser.parse_args()
    mosaic_rows: dict[str, dict] = {}
    identical = False
    with tempfile.TemporaryDirectory(prefix="gee-flood-bench-") as tmp:
        root = Path(tmp)
        aoi, area_km2 = build(root, args.side_km)
        with EmulatorServer(root / "catalog") as server:
            summary, sizes, seconds = fetch_once(server, aoi, root / "corpus", args.workers)
            fetch = counters(server)
            mosaic_rows["image ids (ImageCollection of Image.load)"] = sizes
            chip_km2 = (CHIP * SCALE / 1000) ** 2
            rows = {"gee-flood fetch": {**fetch, "chips": summary.written, "seconds": round(seconds, 1)}}
            if args.compare_mosaics:
                with inlist_mosaics():
                    _, old_sizes, _ = fetch_once(server, aoi, root / "corpus-inlist", args.workers)
                mosaic_rows["inList over whole collections (before)"] = old_sizes
                identical = corpus_bytes(root / "corpus") == corpus_bytes(root / "corpus-inlist")
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
    if args.compare_mosaics:
        print_mosaic_comparison(mosaic_rows, identical)
    if args.json:
        payload = {"area_km2": area_km2, "rows": table, "mosaics": mosaic_rows, "mosaic_corpora_identical": identical}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()

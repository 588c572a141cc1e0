"""Sentinel-1/Sentinel-2 pairs over an AOI as a lazy ``xarray.Dataset`` (xee, Dask), and that fetch as a corpus.

The scenes are found and paired by the code of ``gee-flood fetch`` (:func:`gee_flood.earthengine.fetch.lay_out_chips`
and :func:`~gee_flood.earthengine.fetch.find_pairs`: one batched metadata query, the same orbit, scene-cloud, gap
and coverage rules); the pixels are opened with the same xee band stacks (:class:`~gee_flood.earthengine.reads.
StackReader`), Dask-chunked so that nothing is read until computed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gee_flood.api._words import python_words
from gee_flood.errors import DataError
from gee_flood.service_requests import CloudMaskName, EndpointName, FetchRequest, OrbitPassName

if TYPE_CHECKING:
    import xarray as xr

    from gee_flood.earthengine.fetch import FetchSummary

#: Dataset attribute holding the fetch options (what :func:`write_corpus` fetches again, chip by chip).
REQUEST_ATTR = "gee_flood_fetch"


def _request_attrs(request: FetchRequest) -> dict[str, Any]:
    values = {item.name: getattr(request, item.name) for item in dataclasses.fields(request)}
    values.pop("out")
    values.pop("retry")
    return {name: str(value) if isinstance(value, Path) else value for name, value in values.items()}


@python_words
def open_pairs(
    aoi: str | os.PathLike[str],
    dates: str,
    *,
    scale_m: float = 10.0,
    crs: str = "auto",
    chip_size: int = 512,
    max_days: int = 2,
    max_cloud: float = 0.5,
    min_valid: float = 0.2,
    max_scene_cloud: float = 80.0,
    orbit_pass: OrbitPassName = "any",
    cloud_mask: CloudMaskName = "cloudscore",
    cloud_threshold: float | None = None,
    permanent_water: bool = False,
    max_candidates: int = 3,
    project: str | None = None,
    endpoint: EndpointName = "standard",
    ee_url: str | None = None,
    io_threads: int = 2,
) -> xr.Dataset:
    """Find the S1/S2 pairs of an AOI and open their pixels lazily (xee, Dask) on the fetch's chip lattice.

    The same layout, scene query and pairing as ``gee-flood fetch --aoi`` (each keyword is the ``fetch`` option of
    the same name). Every pair that is a candidate of at least one chip is a step of the ``pair`` dimension,
    ranked as fetch ranks them (closest in time first, then least cloudy). The per-chip cloud and valid-data rules
    (``max_cloud``, ``min_valid``) need the pixels; they are applied chip by chip by :func:`write_corpus` (and
    ``cloud_state`` lets you apply them yourself).

    Args:
        aoi: GeoJSON Polygon in EPSG:4326 (the rules of :func:`gee_flood.geo.read_aoi`).
        dates: UTC days ``START/END``, e.g. ``"2019-03-01/2019-03-20"``.
        scale_m: Pixel size in metres.
        crs: ``"auto"``/``"utm"`` (UTM zone of the AOI), ``"EPSG:4326"`` or ``"EPSG:<code>"``.
        chip_size: Chip side in pixels (the lattice is a whole number of chips).
        max_days: Largest gap between the S1 and S2 days.
        max_cloud: Largest cloudy fraction of a chip's S2 pixels (kept for :func:`write_corpus`).
        min_valid: Smallest fraction of a chip's pixels with S1 and clear S2 (kept for :func:`write_corpus`).
        max_scene_cloud: Scene prefilter, largest ``CLOUDY_PIXEL_PERCENTAGE`` (0-100).
        orbit_pass: ``"ASCENDING"``, ``"DESCENDING"`` or ``"any"``.
        cloud_mask: ``"cloudscore"`` (Cloud Score+) or ``"probability"`` (s2cloudless).
        cloud_threshold: Per-pixel cloud threshold (default: the method's).
        permanent_water: Also open JRC surface-water ``occurrence`` (percent).
        max_candidates: S2 mosaics kept per chip.
        project: Earth Engine Cloud project (default: the credentials').
        endpoint: ``"standard"`` or ``"highvolume"``.
        ee_url: An Earth Engine-compatible endpoint such as the local emulator (default: Earth Engine).
        io_threads: Concurrent ``computePixels`` requests per chunk read.

    Returns:
        A Dask-backed Dataset on the lattice grid (rioxarray CRS and transform set), with

        * ``s1`` (pair, s1_band, y, x) float32 VV, VH backscatter in dB, NaN no data;
        * ``s2`` (pair, s2_band, y, x) float32 Level-1C DN (reflectance x 10000), NaN no data;
        * ``cloud_state`` (pair, y, x) float32: 1 clear, 2 cloudy, NaN no cloud information;
        * ``occurrence`` (y, x) float32 JRC occurrence percent (with ``permanent_water``);
        * coordinates ``pair`` (``"<S1 mosaic>|<S2 mosaic>"``), ``s1_time``, ``s2_time`` (UTC), ``gap_days``,
          ``s2_cloudy_percentage`` per pair;
        * ``attrs``: the fetch options (``gee_flood_fetch``) and ``chips_without_pair``.

    Raises:
        InputError: Bad AOI, dates or options.
        DataError: No scenes, no cloud masks, or no pair covering any chip.
        RemoteError: Earth Engine refused or kept failing.

    Example:
        >>> pairs = gee_flood.open_pairs("aoi.geojson", "2019-03-01/2019-03-20", max_days=2)  # doctest: +SKIP
        >>> pairs.s1.sel(s1_band="VV").isel(pair=0).plot()  # reads only what is plotted  # doctest: +SKIP
    """
    request = FetchRequest(
        out=Path("."),
        aoi=Path(aoi),
        dates=dates,
        scale=scale_m,
        crs=crs,
        chip_size=chip_size,
        max_days=max_days,
        max_cloud=max_cloud,
        min_valid=min_valid,
        max_scene_cloud=max_scene_cloud,
        orbit_pass=orbit_pass,
        cloud_mask=cloud_mask,
        cloud_threshold=cloud_threshold,
        permanent_water=permanent_water,
        max_candidates=max_candidates,
        project=project,
        endpoint=endpoint,
        ee_url=ee_url,
        io_threads=io_threads,
        progress=False,
    )
    return _open_pairs(request)


def _open_pairs(request: FetchRequest) -> xr.Dataset:
    import numpy as np
    import rioxarray  # noqa: F401  - the .rio accessor
    import xarray as xr

    from gee_flood.api._grid import georeferenced
    from gee_flood.earthengine.fetch import find_pairs, lay_out_chips
    from gee_flood.earthengine.pairing import _rank  # fetch's own ranking: closest in time, least cloudy, keys
    from gee_flood.earthengine.queries import CLOUD_STATE_BAND, OCCURRENCE_BAND
    from gee_flood.earthengine.reads import StackReader, s1_stack, s2_stack
    from gee_flood.geo import PixelGrid

    request.validate_values()
    layout = lay_out_chips(request)
    settings, candidates, no_pair = find_pairs(request, layout, layout.chips)
    ranked: dict[str, Any] = {}
    for pair in sorted((p for found in candidates.values() for p in found), key=_rank):
        ranked.setdefault(pair.key, pair)
    (lattice,) = layout.lattices.values()  # an AOI is laid on one lattice
    grid = PixelGrid(lattice.crs, lattice.transform, lattice.width, lattice.height)
    reader = StackReader(settings, io_threads=request.io_threads, chunk_multiple=request.chip_size)
    s1_arrays, s2_arrays, states = [], [], []
    occurrence = None
    for pair in ranked.values():
        s1 = reader.open(s1_stack(pair.s1.indexes), grid, what=f"Sentinel-1 mosaic {pair.s1.key}", dask_chunks=True)
        s2_spec = s2_stack(
            pair.s2.indexes,
            cloud_mask=request.cloud_mask,
            cloud_threshold=request.cloud_threshold,
            with_occurrence=request.permanent_water,
        )
        s2 = reader.open(s2_spec, grid, what=f"Sentinel-2 mosaic {pair.s2.key}", dask_chunks=True)
        s1_arrays.append(s1.rename(band="s1_band").drop_vars([c for c in s1.coords if c not in s1.dims]))
        s2 = s2.drop_vars([c for c in s2.coords if c not in s2.dims])
        bands = [str(b) for b in s2_spec.bands]
        s2_arrays.append(s2.sel(band=bands[: bands.index(CLOUD_STATE_BAND)]).rename(band="s2_band"))
        states.append(s2.sel(band=CLOUD_STATE_BAND, drop=True))
        if request.permanent_water and occurrence is None:
            occurrence = s2.sel(band=OCCURRENCE_BAND, drop=True)
    if not ranked:
        raise DataError(f"no S1/S2 pair covers any chip of {layout.where}")
    pairs = list(ranked.values())
    index = xr.Variable("pair", [pair.key for pair in pairs])
    variables = {
        "s1": xr.concat(s1_arrays, dim=index).assign_attrs(units="dB", long_name="Sentinel-1 backscatter"),
        "s2": xr.concat(s2_arrays, dim=index).assign_attrs(units="DN", long_name="Sentinel-2 L1C (reflectance x 1e4)"),
        "cloud_state": xr.concat(states, dim=index).assign_attrs(meaning="1 clear, 2 cloudy, NaN no information"),
    }
    if occurrence is not None:
        variables["occurrence"] = occurrence.assign_attrs(units="percent", long_name="JRC surface water occurrence")
    dataset = xr.Dataset(variables).transpose("pair", "s1_band", "s2_band", "y", "x")
    dataset = dataset.assign_coords(
        pair=[pair.key for pair in pairs],
        s1_time=("pair", np.array([_naive_utc(pair.s1.time) for pair in pairs], dtype="datetime64[ns]")),
        s2_time=("pair", np.array([_naive_utc(pair.s2.time) for pair in pairs], dtype="datetime64[ns]")),
        gap_days=("pair", [pair.gap_days for pair in pairs]),
        s2_cloudy_percentage=("pair", [_nan_if_none(pair.s2.cloudy_percentage) for pair in pairs]),
    )
    dataset = georeferenced(dataset, grid.crs, grid.transform)
    dataset.attrs.update({REQUEST_ATTR: _request_attrs(request), "chips_without_pair": sorted(no_pair)})
    return dataset


def _naive_utc(when: Any) -> Any:
    return when.replace(tzinfo=None)


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


@python_words
def write_corpus(
    pairs: xr.Dataset,
    out: str | os.PathLike[str],
    *,
    weak_labels: bool = False,
    workers: int = 2,
    scheduler: str | None = "threads",
    progress: bool = False,
) -> FetchSummary:
    """Write the chips of an :func:`open_pairs` fetch as a gee-flood corpus (what ``gee-flood fetch`` writes).

    Runs :func:`gee_flood.earthengine.run_fetch` with the options the dataset was opened with: chip by chip, the
    first candidate pair whose S2 is clear enough (``max_cloud``) and whose pixels are valid enough
    (``min_valid``) is written as COGs plus the manifest; a rerun resumes.

    Args:
        pairs: A dataset returned by :func:`open_pairs`.
        out: Corpus folder (created; a rerun resumes it).
        weak_labels: Also write S1 Otsu and S2 NDWI weak labels.
        workers: Concurrent chip-block tasks.
        scheduler: ``"threads"``, ``"local"`` (Dask LocalCluster) or ``tcp://host:port``.
        progress: Show a progress bar on stderr.

    Returns:
        What was written and skipped (:class:`~gee_flood.earthengine.FetchSummary`).

    Raises:
        InputError: ``pairs`` did not come from :func:`open_pairs`.

    Example:
        >>> summary = gee_flood.write_corpus(pairs, "corpus/", weak_labels=True)  # doctest: +SKIP
        >>> print(summary.line())  # doctest: +SKIP
    """
    from gee_flood.errors import InputError

    options = pairs.attrs.get(REQUEST_ATTR)
    if not isinstance(options, dict):
        raise InputError(f"write_corpus: the dataset has no {REQUEST_ATTR!r} attribute; open it with open_pairs()")
    values: dict[str, Any] = dict(options)
    values.update(out=Path(out), weak_labels=weak_labels, workers=workers, scheduler=scheduler, progress=progress)
    for name in ("aoi", "chips"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    return fetch_corpus(FetchRequest(**values))


@python_words
def fetch_corpus(request: FetchRequest) -> FetchSummary:
    """Write a gee-flood corpus without opening the pairs first: exactly ``gee-flood fetch`` (its function).

    This is :func:`gee_flood.earthengine.run_fetch`, which the command line calls with the request it builds from its
    options (each :class:`~gee_flood.service_requests.FetchRequest` field is documented once, as that option's
    ``--help``). It finds the pairs with :func:`~gee_flood.earthengine.fetch.find_pairs`, as :func:`open_pairs` does,
    then writes chip by chip (COGs plus the manifest); a rerun resumes.

    Args:
        request: What to fetch: ``out`` and ``aoi`` with ``dates`` (or ``chips``), and the fetch's options.

    Returns:
        What was written and skipped (:class:`~gee_flood.earthengine.FetchSummary`).

    Raises:
        InputError: Bad inputs or options, an unwritable ``out``, a corpus another run is writing.
        DataError: No scenes, no pairs.
        RemoteError: Earth Engine refused or kept failing.

    Example:
        >>> request = gee_flood.FetchRequest(out=Path("corpus"), aoi=Path("po.geojson"), dates="2019-03-01/2019-03-20")
        >>> summary = gee_flood.fetch_corpus(request)  # doctest: +SKIP
        >>> print(summary.line())  # doctest: +SKIP
    """
    from gee_flood.earthengine.fetch import run_fetch

    return run_fetch(request)

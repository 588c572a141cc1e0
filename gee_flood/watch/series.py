"""Time-series products of a watched event: from the per-acquisition maps of a period.

Per pixel, over the acquisitions whose start time lies in the period (UTC days, inclusive), from the flood
product's layers of each map (:mod:`gee_flood.product.layers`): a pixel is *observed* by an acquisition where its
``exclusion`` is 0 (valid, and not shadow/layover, steep, high above drainage or urban: where flood can be mapped),
and *flooded* where its ``flood`` is 1 (new water: not reference water, never excluded).

============================  =========  ==================================================================
layer                         type       meaning
============================  =========  ==================================================================
``max_extent``                uint8      1 flooded in at least one acquisition, 0 observed and never flooded,
                                         255 never observed (no data or excluded in every map)
``observations``              uint16     acquisitions observing it (``exclusion`` = 0)
``flooded_observations``      uint16     acquisitions mapping it as flood (``flood`` = 1)
``first_flooded``             float32    time of the first flooded acquisition, days since 1970-01-01 UTC
                                         (NaN: never flooded)
``last_flooded``              float32    time of the last flooded acquisition, same unit (NaN: never flooded)
``flood_duration_days``       float32    ``last_flooded - first_flooded`` (0: flooded in one acquisition only;
                                         a pixel dry in between still counts: the span, not the sum)
============================  =========  ==================================================================

Two routes compute the same thing: :func:`series_image` builds one ``ee.Image`` from the ImageCollection the watch
pushes into (server-side reductions: ``count``, ``sum``, ``min``, ``max`` over the collection; nothing is
downloaded), :func:`series_from_maps` reduces local per-acquisition COGs (``watch --out-dir``) with xarray, and
:func:`write_series_cogs` writes its layers as Cloud-Optimized GeoTIFFs.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gee_flood.errors import InputError
from gee_flood.product.layers import EXCLUSION, FLOOD

#: Layers of the product, in band order.
LAYERS = ("max_extent", "observations", "flooded_observations", "first_flooded", "last_flooded",
          "flood_duration_days")  # fmt: skip
DAY_MS = 86_400_000
NODATA_MASK = 255


def days_since_epoch(when: dt.datetime) -> float:
    """``when`` (UTC) as days since 1970-01-01 UTC, the unit of ``first_flooded``/``last_flooded``."""
    return when.astimezone(dt.UTC).timestamp() / 86_400.0


def _period_filter(collection: Any, since: dt.date, until: dt.date) -> Any:
    return collection.filterDate(since.isoformat(), (until + dt.timedelta(days=1)).isoformat())


def series_image(collection: str, since: dt.date, until: dt.date) -> Any:
    """The time-series layers of ``collection``'s images in [since, until] as one ``ee.Image`` (server side).

    Each image's ``flood`` is masked where the pixel is not observed (``exclusion`` not 0; no data is ingested
    as missing data too), so ``count`` counts observations.

    Args:
        collection: ImageCollection asset id (what ``gee-flood watch`` pushes into).
        since: First UTC day.
        until: Last UTC day.

    Returns:
        ``ee.Image`` with bands :data:`LAYERS` (``first_flooded``/``last_flooded``/``flood_duration_days``
        masked where never flooded, ``max_extent`` masked where never observed, the counts never masked).
    """
    import ee

    if since > until:
        raise InputError(f"since {since} is after until {until}")
    images = _period_filter(ee.ImageCollection(collection), since, until)

    def per_image(image: Any) -> Any:
        image = ee.Image(image)
        flooded = image.select(FLOOD).eq(1).updateMask(image.select(EXCLUSION).eq(0))
        day = ee.Number(image.get("system:time_start")).divide(DAY_MS)
        when = ee.Image.constant(day).toFloat().updateMask(flooded)
        return flooded.rename("flooded").addBands(when.rename("when"))

    stack = images.map(per_image)
    # counts are counts everywhere (0 where never observed), as locally; the rest is masked where undefined
    observations = stack.select("flooded").count().unmask(0).toUint16().rename("observations")
    flooded = stack.select("flooded").sum().unmask(0).toUint16().rename("flooded_observations")
    first = stack.select("when").min().rename("first_flooded")
    last = stack.select("when").max().rename("last_flooded")
    extent = flooded.gt(0).updateMask(observations.gt(0)).toUint8().rename("max_extent")
    duration = last.subtract(first).rename("flood_duration_days")
    return ee.Image.cat([extent, observations, flooded, first, last, duration])


def series_image_pixels(image: Any, like: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The layers of :func:`series_image` read back on the grid of a per-acquisition map (one ``computePixels``).

    Masked pixels come back with the local fill values (255 for ``max_extent``, NaN for the dates and the
    duration), so the result compares directly with :func:`series_from_maps`. For AOI-sized grids (the request is
    limited to Earth Engine's 48 MiB per ``computePixels``).

    Returns:
        Layer -> ``(height, width)`` array.
    """
    import ee
    import rasterio

    with rasterio.open(like) as src:
        transform, width, height, crs = src.transform, src.width, src.height, src.crs.to_string()
    fill = -1.0
    pixels = ee.data.computePixels({
        "expression": ee.Image(image).toFloat().unmask(fill),
        "fileFormat": "NUMPY_NDARRAY",
        "grid": {"dimensions": {"width": width, "height": height},
                 "affineTransform": {"scaleX": transform.a, "shearX": transform.b, "translateX": transform.c,
                                     "shearY": transform.d, "scaleY": transform.e, "translateY": transform.f},
                 "crsCode": crs},
    })  # fmt: skip
    layers = {}
    for layer in LAYERS:
        values = np.asarray(pixels[layer], dtype=np.float64)
        if layer == "max_extent":
            layers[layer] = np.where(values == fill, NODATA_MASK, values).astype(np.uint8)
        elif layer in ("observations", "flooded_observations"):
            layers[layer] = values.astype(np.uint16)
        else:
            layers[layer] = np.where(values == fill, np.nan, values).astype(np.float32)
    return layers


def series_from_maps(
    maps: Mapping[dt.datetime, str | os.PathLike[str]],
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> xr.Dataset:
    """The time-series layers of local per-acquisition maps (gee-flood COGs on one grid), with xarray.

    Args:
        maps: Acquisition time (UTC) -> map COG (``watch --out-dir`` keeps them; all on the AOI's grid).
        since: First UTC day kept (None: all).
        until: Last UTC day kept (None: all).

    Returns:
        ``xarray.Dataset`` with the variables :data:`LAYERS` on the maps' (y, x) grid (``rio`` CRS and transform
        set), fill values as in the module table.

    Raises:
        InputError: No map in the period, or maps on different grids.
    """
    import rioxarray

    chosen = sorted(
        (when, Path(path))
        for when, path in maps.items()
        if (since is None or when.astimezone(dt.UTC).date() >= since)
        and (until is None or when.astimezone(dt.UTC).date() <= until)
    )
    if not chosen:
        raise InputError(f"no per-acquisition map between {since} and {until}")
    layers: list[xr.DataArray] = []
    for _, path in chosen:
        array = rioxarray.open_rasterio(path, chunks={"x": 1024, "y": 1024})
        assert isinstance(array, xr.DataArray)  # one GeoTIFF, one variable: a DataArray
        names = list(array.attrs.get("long_name") or ())
        if FLOOD not in names or EXCLUSION not in names:
            raise InputError(f"{path}: not a gee-flood flood map (bands {names}; expected {FLOOD} and {EXCLUSION})")
        flood = array.sel(band=names.index(FLOOD) + 1, drop=True)
        observed = array.sel(band=names.index(EXCLUSION) + 1, drop=True) == 0
        # one layer per map: 1 flooded, 0 observed and not flooded, NODATA_MASK not observed
        layers.append(xr.where(observed, flood == 1, NODATA_MASK).astype(np.uint8).rio.write_crs(array.rio.crs)
                      .rio.write_transform(array.rio.transform()))  # fmt: skip
    first_grid = layers[0]
    for (_, path), layer in zip(chosen, layers, strict=True):
        if layer.shape != first_grid.shape or layer.rio.transform() != first_grid.rio.transform():
            raise InputError(f"{path}: not on the grid of {chosen[0][1]}; the maps of one watch share the AOI grid")
    times = xr.DataArray(np.array([days_since_epoch(when) for when, _ in chosen]), dims="time")
    stacked: xr.DataArray = xr.concat(layers, dim="time")
    valid = stacked != NODATA_MASK
    flooded = stacked == 1
    observations = valid.sum("time").astype(np.uint16)
    flooded_count = flooded.sum("time").astype(np.uint16)
    when = xr.where(flooded, times, np.nan)
    first = when.min("time").astype(np.float32)
    last = when.max("time").astype(np.float32)
    extent = xr.where(observations == 0, NODATA_MASK, (flooded_count > 0)).astype(np.uint8)
    dataset = xr.Dataset({
        "max_extent": extent,
        "observations": observations,
        "flooded_observations": flooded_count,
        "first_flooded": first,
        "last_flooded": last,
        "flood_duration_days": (last - first).astype(np.float32),
    }).compute()  # fmt: skip
    dataset = dataset.rio.write_crs(first_grid.rio.crs).rio.write_transform(first_grid.rio.transform())
    return dataset


def write_series_cogs(dataset: xr.Dataset, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write each layer of :func:`series_from_maps` as ``<out_dir>/<layer>.tif`` (COG, DEFLATE; atomically).

    Nodata: 255 for ``max_extent``, NaN for the dates and the duration; counts have none (0 is a count).

    Returns:
        Layer -> written path.
    """
    from gee_flood._io import atomic_path

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for layer in LAYERS:
        data = dataset[layer].copy()
        data.attrs = {"long_name": layer}  # the band description (not the source maps' three band names)
        nodata = NODATA_MASK if layer == "max_extent" else (np.nan if data.dtype.kind == "f" else None)
        if nodata is not None:
            data = data.rio.write_nodata(nodata, encoded=False)
        path = folder / f"{layer}.tif"
        with atomic_path(path) as tmp:
            # rioxarray writes through GDAL's COG driver (tiling, overviews, layout): no hand-written COG code.
            data.rio.to_raster(tmp, driver="COG", compress="DEFLATE", overview_resampling="nearest")
        written[layer] = path
    return written

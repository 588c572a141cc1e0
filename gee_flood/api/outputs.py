"""Writing a :func:`gee_flood.predict` result: a COG, polygons (GeoJSON, GeoParquet), an Earth Engine asset.

All through the CLI's writers: the COG is :class:`~gee_flood.inference.output.FloodMapWriter` +
:func:`~gee_flood.inference.output.to_cog` (the bytes ``gee-flood predict`` writes), polygons are
:func:`~gee_flood.inference.polygons.write_flood_polygons` of that COG, and the asset is
:func:`~gee_flood.earthengine.export.push_flood_map` of it (``gee-flood map --mask --asset``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_flood.api._words import python_words
from gee_flood.errors import InputError, InputTypeError

if TYPE_CHECKING:
    import xarray as xr

    from gee_flood.earthengine.export import PushResult


def _windows(result: xr.Dataset, default_rows: int) -> Iterator[tuple[int, int, int, int]]:
    """Windows ``(row_start, row_stop, col_start, col_stop)`` to compute at once, top to bottom, left to right.

    The Dask blocks (each predicted once, bounded memory) when they lie on whole 512-px blocks of the GeoTIFF; else
    full-width strips (the row chunks, or ``default_rows`` rows of an in-memory result).
    """
    from gee_flood.inference.output import BLOCK

    first = next(iter(result.data_vars.values()))
    chunks = first.chunks
    height, width = result.sizes["y"], result.sizes["x"]
    rows = chunks[first.dims.index("y")] if chunks else None
    cols = chunks[first.dims.index("x")] if chunks else None
    if not rows or not cols:
        rows = tuple(min(default_rows, height - start) for start in range(0, height, default_rows))
        cols = (width,)
    if not all(size % BLOCK == 0 for size in (*rows[:-1], *cols[:-1])):
        cols = (width,)  # written as whole rows (the writer buffers rows that do not end on a block)
    top = 0
    for size_y in rows:
        left = 0
        for size_x in cols:
            yield top, top + size_y, left, left + size_x
            left += size_x
        top += size_y


def _band_layout(result: xr.Dataset, out: Path) -> tuple[list[Any], str, float, dict[str, dict[str, Any]]]:
    """The COG bands of a Dataset's variables: specs, the common stored dtype and no-data, each one's encoding.

    Raises:
        InputError: No variable, a variable not ``(y, x)``, or variables stored as different dtypes / no data.
    """
    from gee_flood.inference.encoding import stored_encoding
    from gee_flood.inference.output import BandSpec

    if not result.data_vars:
        raise InputError(f"{out}: the Dataset has no variable to write")
    specs, encodings, dtypes, fills = [], {}, set(), set()
    for name, variable in result.data_vars.items():
        if set(variable.dims) != {"y", "x"}:
            raise InputError(f"write_cog: variable {name!r} has dims {variable.dims}; expected (y, x)")
        encoding = stored_encoding(variable, str(name))
        dtype = str(np.dtype(encoding.get("dtype", variable.dtype)))
        fill = encoding.get("_FillValue", variable.attrs.get("_FillValue"))
        if fill is None and np.dtype(dtype).kind == "f":
            fill = float("nan")
        encodings[str(name)] = encoding
        dtypes.add(dtype)
        fills.add("nan" if fill is None or (isinstance(fill, float) and np.isnan(fill)) else float(fill))
        tags = {key: str(variable.attrs[key]) for key in ("long_name", "units", "meaning") if key in variable.attrs}
        specs.append(BandSpec.named(str(name), tags))
    if len(dtypes) > 1 or len(fills) > 1:
        stored = {
            name: (encoding.get("dtype", str(result[name].dtype)), encoding.get("_FillValue"))
            for name, encoding in encodings.items()
        }
        raise InputError(
            f"write_cog: one GeoTIFF has one dtype and one no-data value, but the variables are stored as {stored} "
            "(dtype, _FillValue); give them one encoding, e.g. "
            "result[name].encoding.update(dtype='uint8', _FillValue=255)"
        )
    (fill,) = fills
    if fill == "nan" and np.dtype(next(iter(dtypes))).kind != "f":
        raise InputError(
            f"write_cog: variables stored as {next(iter(dtypes))} need a no-data value "
            "(result[name].encoding['_FillValue'])"
        )
    return specs, next(iter(dtypes)), float(fill), encodings


def _in_this_thread() -> contextlib.AbstractContextManager[Any]:
    """Run each block's compute in the calling thread, unless the user chose a scheduler (a cluster, processes).

    Each compute of :func:`write_cog` is one block, one task: Dask's thread pool adds no parallelism, but every pool
    thread gets a malloc arena of its own, and the block-sized buffers freed in one are not reused by the next block
    in another, so the process grows block after block (about 100 MiB more at 3,000 x 3,000 px; docs/benchmarks.md).
    """
    import dask
    from dask.base import get_scheduler

    return dask.config.set(scheduler="synchronous") if get_scheduler() is None else contextlib.nullcontext()


@python_words
def write_cog(result: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a Dataset's variables as a Cloud-Optimized GeoTIFF, one band each, as they are stored.

    Every data variable (``(y, x)``, in order) becomes a band named after it (a :func:`gee_flood.predict` result's
    layers, ``likelihood``, ``water``, ``flood``, ``reference_water`` and ``exclusion``, are the bands
    ``gee-flood predict`` writes, pixel for pixel). Values are encoded with each variable's encoding
    (``dtype``, ``scale_factor``, ``add_offset``, ``_FillValue``: xarray's CF coder), so what the variables hold is
    what is written: an edited ``water`` is written as edited, nothing is re-thresholded. The variables must be
    stored as one dtype with one no-data value (a GeoTIFF has one of each).

    The result is computed one Dask block at a time (bounded memory). A map holding every layer of the product
    is then cleaned as ``gee-flood predict`` cleans its map (minimum mapping unit, border noise on ``flood``; the
    settings are the result's ``product_*`` attributes). The file appears atomically.

    Args:
        result: From :func:`gee_flood.predict` (any ``(y, x)`` variables with a rioxarray CRS).
        path: The ``.tif`` to write.

    Returns:
        ``path``.

    Raises:
        InputError: ``path`` is not a ``.tif``; ``result`` is not a georeferenced Dataset of ``(y, x)`` variables
            with one stored dtype and no-data value.
        DataError: No valid pixel, or the COG does not validate.

    Example:
        >>> gee_flood.write_cog(flood, "flood_map.tif")  # doctest: +SKIP
        PosixPath('flood_map.tif')
    """
    import rioxarray  # noqa: F401  - the .rio accessor
    import xarray as xr
    from rasterio.crs import CRS

    from gee_flood.inference.encoding import encode_values
    from gee_flood.inference.output import BLOCK
    from gee_flood.inference.predict import flood_map_cog, flood_map_tags

    out = Path(path)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"{out}: expected a .tif path for the Cloud-Optimized GeoTIFF")
    if not isinstance(result, xr.Dataset) or result.rio.crs is None:
        raise InputTypeError(
            f"write_cog: expected a georeferenced xarray Dataset (a gee_flood.predict result), got "
            f"{type(result).__name__}"
        )
    bands, dtype, nodata, encodings = _band_layout(result, out)
    attrs = result.attrs
    tags = (
        flood_map_tags(
            checkpoint=str(attrs.get("checkpoint", "")),
            role=str(attrs.get("checkpoint_role", "")),
            threshold=float(attrs["threshold"]),
            source=str(attrs.get("source", "")),
            tile=attrs.get("tile", ""),
            overlap=attrs.get("overlap", ""),
            product={name: str(value) for name, value in attrs.items() if name.startswith("product_")},
        )
        if "threshold" in attrs
        else {}
    )
    names = list(encodings)
    with (
        _in_this_thread(),
        flood_map_cog(
            out,
            crs=CRS.from_user_input(result.rio.crs),
            transform=result.rio.transform(),
            width=int(result.sizes["x"]),
            height=int(result.sizes["y"]),
            tags=tags,
            empty_message=f"{out}: no valid pixel in the map (all no data)",
            bands=bands,
            dtype=dtype,
            nodata=nodata,
            min_mapping_unit=int(attrs.get("product_min_mapping_unit", 0)),
            border_px=int(attrs.get("product_border_px", 0)),
        ) as writer,
    ):
        pending: list[np.ndarray] = []  # a window's encoded pieces (uint8: a quarter of its float32 values)
        for start, stop, left, right in _windows(result, 4 * BLOCK):
            window = result[names].isel(y=slice(start, stop), x=slice(left, right)).transpose("y", "x").compute()
            for row in range(0, stop - start, BLOCK // 2):  # encoded in small pieces: the coder works in float64
                piece = slice(row, min(row + BLOCK // 2, stop - start))
                encoded = np.stack(
                    [encode_values(window[name].values[piece], encodings[name]).astype(dtype) for name in names]
                )
                if right - left == writer.width:
                    writer.write_any(start + row, encoded)
                else:
                    pending.append(encoded)
            if pending:
                writer.write_window(start, left, np.concatenate(pending, axis=1))
                pending.clear()
            del window
    return out


@contextlib.contextmanager
def _as_cog(flood: Any, name: str = "flood_map.tif") -> Iterator[Path]:
    """The flood map as a COG path: ``flood`` itself if it is a path, else a temporary COG of the result."""
    if isinstance(flood, str | os.PathLike):
        yield Path(flood)
        return
    with tempfile.TemporaryDirectory(prefix="gee-flood-") as workdir:
        yield write_cog(flood, Path(workdir) / name)


@python_words
def write_polygons(flood: Any, path: str | os.PathLike[str]) -> int:
    """Vectorise the flood, reference water and other water of a flood map as GeoJSON or GeoParquet (EPSG:4326).

    Features carry ``class`` (``flood``, ``reference_water`` or ``water``) and ``area_m2``, as ``gee-flood predict
    --polygons`` writes them.

    Args:
        flood: A :func:`gee_flood.predict` result or a gee-flood COG path.
        path: ``.geojson`` / ``.json`` (RFC 7946 FeatureCollection) or ``.parquet`` (GeoParquet, via geopandas).

    Returns:
        Number of polygons written.

    Raises:
        InputError: An unknown file extension.

    Example:
        >>> gee_flood.write_polygons(flood, "flood.parquet")  # doctest: +SKIP
        42
    """
    from gee_flood._io import atomic_path
    from gee_flood.inference.polygons import write_flood_polygons

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".geojson", ".json", ".parquet"):
        raise InputError(f"{out}: expected a .geojson, .json or .parquet path for the polygons")
    with _as_cog(flood) as cog:
        if suffix != ".parquet":
            return write_flood_polygons(cog, out)
        import geopandas  # type: ignore[import-untyped]

        with tempfile.TemporaryDirectory(prefix="gee-flood-") as workdir:
            geojson = Path(workdir) / "polygons.geojson"
            count = write_flood_polygons(cog, geojson)
            frame = geopandas.read_file(geojson)
            if frame.crs is None:
                frame = frame.set_crs("EPSG:4326")
            with atomic_path(out, suffix=".parquet") as tmp:
                frame.to_parquet(tmp)
    return count


@python_words
def export_asset(
    flood: Any,
    asset: str,
    bucket: str,
    *,
    overwrite: bool = False,
    cog_backed: bool = False,
    project: str | None = None,
    ee_url: str | None = None,
    storage_client: Any = None,
    poll_s: float = 2.0,
) -> PushResult:
    """Upload a flood map to Cloud Storage and make it an Earth Engine image asset (``gee-flood map --asset``).

    Args:
        flood: A :func:`gee_flood.predict` result (written as a temporary COG named after the asset) or a COG path.
        asset: ``projects/<project>/assets/<path>``.
        bucket: ``gs://bucket[/prefix]`` to upload to.
        overwrite: Replace an existing asset.
        cog_backed: Register the uploaded COG as a COG-backed asset instead of ingesting it.
        project: Cloud project to initialise Earth Engine with (default: the asset's).
        ee_url: An Earth Engine-compatible endpoint (the emulator); default: Earth Engine.
        storage_client: A ``google.cloud.storage.Client`` (default: a new one; honours ``STORAGE_EMULATOR_HOST``).
        poll_s: Seconds between ingestion polls.

    Returns:
        The asset id, the object URI, the request id (:class:`~gee_flood.earthengine.export.PushResult`);
        ``ee.Image(result.asset)`` is the map in Earth Engine.

    Example:
        >>> asset = "projects/my-project/assets/floods/po"
        >>> pushed = gee_flood.export_asset(flood, asset, "gs://my-bucket/floods")  # doctest: +SKIP
        >>> gee_flood.add_flood_layers(pushed.asset)  # doctest: +SKIP
    """
    from gee_flood.earthengine.export import push_flood_map

    leaf = asset.rstrip("/").rsplit("/", 1)[-1] or "flood_map"
    with _as_cog(flood, f"{leaf}.tif") as cog:
        return push_flood_map(
            cog,
            asset,
            bucket,
            cog_backed=cog_backed,
            overwrite=overwrite,
            client=storage_client,
            poll_s=poll_s,
            project=project,
            ee_url=ee_url,
        )

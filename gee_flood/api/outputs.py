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

from gee_flood.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

    from gee_flood.earthengine.export import PushResult


def _strips(result: xr.Dataset, default_rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges to compute at once: the Dask row blocks (each predicted once) or ``default_rows`` strips."""
    chunks = result["likelihood"].chunks
    sizes = chunks[0] if chunks else None
    if not sizes:
        height = result.sizes["y"]
        sizes = tuple(min(default_rows, height - start) for start in range(0, height, default_rows))
    start = 0
    for size in sizes:
        yield start, start + size
        start += size


def write_cog(result: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a :func:`gee_flood.predict` result as the Cloud-Optimized GeoTIFF ``gee-flood predict`` writes.

    Bands: the product's layers (``likelihood``, ``water``, ``flood``, ``reference_water``, ``exclusion``; uint8, 255
    no data), named after the variables. The result is computed one Dask row block at a time (bounded memory), then
    cleaned as ``gee-flood predict`` cleans its map (minimum mapping unit, border noise; the settings are the
    result's ``product_*`` attributes); the file appears atomically.

    Args:
        result: From :func:`gee_flood.predict`.
        path: The ``.tif`` to write.

    Returns:
        ``path``.

    Raises:
        InputError: ``path`` is not a ``.tif``, or ``result`` is not a gee-flood result.
        DataError: No valid pixel, or the COG does not validate.

    Example:
        >>> gee_flood.write_cog(flood, "flood_map.tif")  # doctest: +SKIP
        PosixPath('flood_map.tif')
    """
    from rasterio.crs import CRS

    from gee_flood.inference.output import BLOCK
    from gee_flood.inference.predict import flood_map_cog, flood_map_tags
    from gee_flood.product.layers import LAYERS

    out = Path(path)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"{out}: expected a .tif path for the Cloud-Optimized GeoTIFF")
    attrs = result.attrs
    if any(name not in result for name in LAYERS) or "threshold" not in attrs:
        raise InputError(f"write_cog: expected a result of gee_flood.predict (variables {', '.join(LAYERS)})")
    threshold = float(attrs["threshold"])
    tags = flood_map_tags(
        checkpoint=str(attrs.get("checkpoint", "")),
        role=str(attrs.get("checkpoint_role", "")),
        threshold=threshold,
        source=str(attrs.get("source", "")),
        tile=attrs.get("tile", ""),
        overlap=attrs.get("overlap", ""),
        product={name: str(value) for name, value in attrs.items() if name.startswith("product_")},
    )
    with flood_map_cog(
        out,
        crs=CRS.from_user_input(result.rio.crs),
        transform=result.rio.transform(),
        width=int(result.sizes["x"]),
        height=int(result.sizes["y"]),
        tags=tags,
        empty_message=f"{out}: no valid pixel in the flood map (all no data)",
        min_mapping_unit=int(attrs.get("product_min_mapping_unit", 0)),
        border_px=int(attrs.get("product_border_px", 0)),
    ) as writer:
        for start, stop in _strips(result, 4 * BLOCK):
            strip = result[list(LAYERS)].isel(y=slice(start, stop)).compute()
            writer.write_any(start, np.stack([strip[name].values.astype(np.uint8) for name in LAYERS]))
    return out


@contextlib.contextmanager
def _as_cog(flood: Any, name: str = "flood_map.tif") -> Iterator[Path]:
    """The flood map as a COG path: ``flood`` itself if it is a path, else a temporary COG of the result."""
    if isinstance(flood, str | os.PathLike):
        yield Path(flood)
        return
    with tempfile.TemporaryDirectory(prefix="gee-flood-") as workdir:
        yield write_cog(flood, Path(workdir) / name)


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

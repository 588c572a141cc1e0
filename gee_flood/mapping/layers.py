"""Flood maps on a ``geemap.Map``: either backend (ipyleaflet ``geemap.geemap``, folium ``geemap.foliumap``).

In-memory results and local files are shown as image overlays rendered by the same code as ``gee-flood map --view``
(:mod:`gee_flood.mapping.view`: warped to Web Mercator at a bounded size, coloured, PNG ``data:`` URIs), so no tile
server is needed (geemap's ``add_raster`` would need localtileserver, which gee-flood does not install). An Earth
Engine asset (or ``ee.Image``) is added as an Earth Engine tile layer.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from gee_flood.errors import InputTypeError

if TYPE_CHECKING:
    import ee
    import geemap.foliumap
    import geemap.geemap
    import xarray as xr

    from gee_flood.mapping.view import Overlay

    #: The map :func:`add_flood_layers` draws on and returns: ``geemap.Map`` of either backend.
    GeemapMap: TypeAlias = "geemap.geemap.Map | geemap.foliumap.Map"

Backend = Literal["ipyleaflet", "folium"]


@contextlib.contextmanager
def _in_memory_raster(
    bands: list[np.ndarray], names: list[str], crs: Any, transform: Any, nodata: float
) -> Iterator[Any]:
    """An open rasterio dataset in GDAL's memory of ``bands`` (what the view renderers read)."""
    from rasterio.io import MemoryFile

    height, width = bands[0].shape
    profile = dict(driver="GTiff", width=width, height=height, count=len(bands), dtype=str(bands[0].dtype),
                   crs=crs, transform=transform, nodata=nodata)  # fmt: skip
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            for index, (band, name) in enumerate(zip(bands, names, strict=True), start=1):
                dst.write(band, index)
                dst.set_band_description(index, name)
        with memory.open() as src:
            yield src


def _flood_overlays(flood: Any, max_size: int) -> tuple[list[tuple[str, Overlay]], dict[str, str]]:
    from gee_flood.inference.encoding import encode_values, stored_encoding
    from gee_flood.mapping.view import flood_layer_overlays_of, render_flood_layer_overlays
    from gee_flood.product.layers import EXCLUSION, FLOOD, REFERENCE_WATER

    if isinstance(flood, str | os.PathLike):
        return render_flood_layer_overlays(Path(flood), max_size=max_size)
    import xarray as xr

    if not isinstance(flood, xr.Dataset) or FLOOD not in flood or EXCLUSION not in flood:
        raise InputTypeError(
            f"flood of type {type(flood).__name__}: expected a gee_flood.predict result, a COG path, an Earth Engine "
            "asset id or an ee.Image"
        )
    names = [name for name in (FLOOD, REFERENCE_WATER, EXCLUSION) if name in flood]
    values = [encode_values(flood[name].values, stored_encoding(flood[name], name)).astype(np.uint8) for name in names]
    with _in_memory_raster(values, names, flood.rio.crs, flood.rio.transform(), 255) as src:
        return flood_layer_overlays_of(src, max_size=max_size, where="flood map")


def _scene_overlay(scene: Any, max_size: int) -> Overlay:
    from gee_flood.inference.source import XarraySceneSource, s1_of_dataset
    from gee_flood.mapping.view import render_s1_overlay, s1_overlay_of

    if isinstance(scene, str | os.PathLike):
        return render_s1_overlay(Path(scene), max_size=max_size)
    import xarray as xr

    if not isinstance(scene, xr.DataArray | xr.Dataset):
        raise InputTypeError(
            f"scene of type {type(scene).__name__}: expected an xarray DataArray/Dataset or a GeoTIFF path"
        )
    array = s1_of_dataset(scene) if isinstance(scene, xr.Dataset) else scene
    source = XarraySceneSource(array, name="scene")
    vv = source.array.sel(band="VV") if "band" in source.array.coords else source.array.isel(band=0)
    values = np.asarray(vv.values, dtype=np.float32)
    with _in_memory_raster([values], ["VV"], source.crs, source.transform, float("nan")) as src:
        return s1_overlay_of(src, max_size=max_size, where="scene")


def _backend_of(m: Any) -> Backend:
    import folium

    if isinstance(m, folium.Map):
        return "folium"
    import ipyleaflet  # type: ignore[import-untyped]

    if isinstance(m, ipyleaflet.Map):
        return "ipyleaflet"
    raise InputTypeError(f"map of type {type(m).__name__}: expected a geemap.Map (ipyleaflet or folium backend)")


def _add_overlay(m: Any, backend: Backend, overlay: Overlay, name: str) -> None:
    (south, west), (north, east) = overlay.bounds
    if backend == "folium":
        import folium

        folium.raster_layers.ImageOverlay(
            image=overlay.data_uri, bounds=[[south, west], [north, east]], name=name, interactive=False
        ).add_to(m)
    else:
        import ipyleaflet

        m.add(ipyleaflet.ImageOverlay(url=overlay.data_uri, bounds=((south, west), (north, east)), name=name))


def add_flood_layers(
    flood: xr.Dataset | str | os.PathLike[str] | ee.Image,
    m: GeemapMap | None = None,
    *,
    scene: xr.DataArray | xr.Dataset | str | os.PathLike[str] | ee.Image | ee.ImageCollection | None = None,
    backend: Backend = "ipyleaflet",
    title: str = "gee-flood",
    max_size: int = 2048,
    zoom_to: bool = True,
) -> GeemapMap:
    """Add a flood map, the SAR scene under it and a legend to a ``geemap.Map`` (or to a new one) and return it.

    Args:
        flood: A :func:`gee_flood.predict` result, a gee-flood COG path, an Earth Engine asset id
            (``"projects/.../assets/..."``) or an ``ee.Image`` of an exported map (shown as an Earth Engine layer;
            Earth Engine must be initialised, e.g. by :func:`gee_flood.export_asset`).
        m: The map to add to: ``geemap.Map`` of either backend (``geemap.geemap.Map``, ``geemap.foliumap.Map``).
            Default: a new map of ``backend``.
        scene: The Sentinel-1 scene (VV shown in grey, -25 to 0 dB): a DataArray/Dataset, a GeoTIFF path, or an
            ``ee.Image`` / ``ee.ImageCollection`` (shown as an Earth Engine layer; a collection is mosaicked).
        backend: Backend of a new map, ``"ipyleaflet"`` (interactive widget) or ``"folium"`` (static HTML).
        title: Legend title.
        max_size: Longest side (pixels) of the rendered overlays; the flood map is computed in full to render it.
        zoom_to: Fit the map to the flood map (local maps only).

    Returns:
        The map, with layers ``Sentinel-1 VV (dB)`` (with ``scene``) and ``flood map`` (or ``Earth Engine: <asset>``).

    Example:
        >>> m = gee_flood.add_flood_layers(flood, scene=scene)  # a new ipyleaflet geemap.Map  # doctest: +SKIP
        >>> m = gee_flood.add_flood_layers("projects/p/assets/floods/po", m)  # the exported asset too  # doctest: +SKIP
    """
    from gee_flood.inference.source import is_ee_object
    from gee_flood.mapping.view import ee_flood_visualization, flood_legend, geemap_backend

    if m is None:
        m = geemap_backend(backend).Map(ee_initialize=False)
    kind = _backend_of(m)
    bounds = None
    if scene is not None and (is_ee_object(scene, "Image") or is_ee_object(scene, "ImageCollection")):
        # An Earth Engine scene stays in Earth Engine: a tile layer of its VV band (as predict mosaics a collection).
        ee_scene: Any = scene
        image = ee_scene.mosaic() if is_ee_object(scene, "ImageCollection") else ee_scene
        m.add_layer(image.select("VV"), {"min": -25, "max": 0}, "Sentinel-1 VV (dB)")
    elif scene is not None:
        overlay = _scene_overlay(scene, max_size)
        _add_overlay(m, kind, overlay, "Sentinel-1 VV (dB)")
        bounds = overlay.bounds
    # An asset id looks like a relative path: a file of that name (a folder called projects/) stays a file.
    is_asset = isinstance(flood, str) and flood.startswith("projects/") and not Path(flood).exists()
    if is_asset or is_ee_object(flood, "Image"):
        import ee

        image = ee.Image(flood)
        bands = image.bandNames().getInfo()
        m.add_layer(image, ee_flood_visualization(bands), f"Earth Engine: {flood if is_asset else 'flood map'}")
        legend = flood_legend("reference_water" in bands)
    else:
        overlays, legend = _flood_overlays(flood, max_size)
        for name, overlay in overlays:  # each layer its own overlay, toggled in the layer control
            _add_overlay(m, kind, overlay, name)
        bounds = overlays[0][1].bounds
    # A folium legend stays put: a draggable one loads jQuery UI from a CDN, and the page would stall offline.
    fixed = {"draggable": False} if kind == "folium" else {}
    m.add_legend(title=title, legend_dict=legend, position="bottomright", **fixed)
    if zoom_to and bounds is not None:
        _zoom_to(m, kind, bounds)
    return m


def _zoom_to(m: Any, backend: Backend, bounds: tuple[tuple[float, float], tuple[float, float]]) -> None:
    """Centre the map on ``((south, west), (north, east))`` at a zoom that shows it all."""
    (south, west), (north, east) = bounds
    if backend == "folium":
        m.fit_bounds([[south, west], [north, east]])
        return
    # ipyleaflet's fit_bounds waits for the browser to report the view (it never finishes without a live front end,
    # e.g. under nbclient); a zoom from the extent needs nothing: 360 / 2**zoom degrees per 256-pixel tile.
    span = max(east - west, north - south, 1e-6)
    m.center = ((south + north) / 2, (west + east) / 2)
    m.zoom = int(min(18, max(1, math.floor(math.log2(360.0 / span)) + 1)))

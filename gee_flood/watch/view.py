"""Show a watched event on a ``geemap.Map``: the time-series layers and the per-acquisition maps.

Built on the renderers of :func:`gee_flood.add_flood_layers` (each per-acquisition map is a flood map), the overlay
machinery of :mod:`gee_flood.mapping.view`. With an Earth Engine collection on an ipyleaflet map, geemap's
``Map.add_time_slider`` steps through the acquisitions by date; geemap's folium backend has no time slider
(its ``add_time_slider`` only prints that it is unsupported), so an HTML page gets one layer per date in the layer
control instead, the latest shown.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from rasterio.enums import Resampling

from gee_flood.product.layers import FLOOD
from gee_flood.watch.series import NODATA_MASK

#: Colours (RGBA) of the maximum extent: flooded at least once, observed and never flooded.
EXTENT_RGBA = {1: (0, 90, 255, 200), 0: (160, 160, 160, 60)}
#: Duration colour ramp (light to dark blue) over 0 .. the longest duration.
DURATION_RAMP = ((198, 219, 239), (8, 48, 107))


def _series_overlays(series: xr.Dataset, max_size: int) -> list[tuple[str, Any, dict[str, str]]]:
    """(layer name, Overlay, legend) of the maximum extent and the flood duration of a local series."""
    import rasterio

    from gee_flood.mapping.view import Overlay, _bounds_latlon, _hex, _png, _warp_to_mercator
    from gee_flood.watch.series import write_series_cogs

    overlays = []
    with tempfile.TemporaryDirectory(prefix="gee-flood-series-") as folder:
        paths = write_series_cogs(series, folder)
        with rasterio.open(paths["max_extent"]) as src:
            values, grid = _warp_to_mercator(src, 1, max_size, Resampling.nearest)
        rgba = np.zeros((*values.shape, 4), np.uint8)
        filled = values.filled(NODATA_MASK)
        for value, colour in EXTENT_RGBA.items():
            rgba[filled == value] = colour
        legend = {"flooded at least once": _hex(EXTENT_RGBA[1]), "observed, never flooded": _hex(EXTENT_RGBA[0])}
        overlays.append(("maximum flood extent", Overlay(_png(rgba), _bounds_latlon(grid), (grid[1], grid[2])), legend))
        with rasterio.open(paths["flood_duration_days"]) as src:
            days, grid = _warp_to_mercator(src, 1, max_size, Resampling.nearest)
        longest = float(np.nanmax(days.filled(np.nan))) if days.count() else 0.0
        data = days.filled(np.nan)
        fraction = np.clip(np.nan_to_num(data / longest if longest > 0 else data * 0), 0, 1)[..., None]
        low, high = (np.array(colour, float) for colour in DURATION_RAMP)
        rgba = np.zeros((*data.shape, 4), np.uint8)
        rgba[..., :3] = (low + (high - low) * fraction).astype(np.uint8)
        rgba[..., 3] = np.where(np.isfinite(data), 220, 0)
        legend = {"0 days": _hex(DURATION_RAMP[0]), f"{longest:g} days": _hex(DURATION_RAMP[1])}
        overlays.append(
            ("flood duration (days)", Overlay(_png(rgba), _bounds_latlon(grid), (grid[1], grid[2])), legend)
        )
    return overlays


def add_watch_layers(
    m: Any = None,
    *,
    series: xr.Dataset | None = None,
    maps: Mapping[dt.datetime, str | os.PathLike[str]] | None = None,
    collection: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    backend: str = "ipyleaflet",
    max_size: int = 1024,
) -> Any:
    """Add a watched event to a ``geemap.Map`` (or a new one) and return it.

    Args:
        m: The map (either geemap backend); default a new map of ``backend``.
        series: Local time-series layers (:func:`gee_flood.watch.series.series_from_maps`): the maximum extent
            and the flood duration are added as overlays.
        maps: Acquisition time -> per-acquisition map COG: one ``flood map <date>`` layer each (the latest shown).
        collection: The watch's ImageCollection: its time-series layers as Earth Engine layers (``since`` and
            ``until`` needed), and on an ipyleaflet map geemap's time slider over its images.
        since: First UTC day of the period (with ``collection``).
        until: Last UTC day of the period (with ``collection``).
        backend: Backend of a new map: ``"ipyleaflet"`` or ``"folium"``.
        max_size: Longest side (pixels) of the rendered local overlays.

    Returns:
        The map.
    """
    from gee_flood.mapping.layers import _add_overlay, _backend_of, _zoom_to
    from gee_flood.mapping.view import flood_legend, geemap_backend

    if m is None:
        m = geemap_backend(backend).Map(ee_initialize=False)
    kind = _backend_of(m)
    fixed = {"draggable": False} if kind == "folium" else {}
    bounds = None
    for index, (when, path) in enumerate(sorted((maps or {}).items())):
        _add_one_map(m, kind, Path(path), max_size)  # one picture per map (the flood product's layers drawn over it)
        if index == 0:
            m.add_legend(title="per-acquisition maps", legend_dict=flood_legend(), position="bottomright", **fixed)
        _rename_last_overlay(m, kind, f"flood map {when.astimezone(dt.UTC):%Y-%m-%d %H:%M}")
    if series is not None:
        for name, overlay, legend in _series_overlays(series, max_size):
            _add_overlay(m, kind, overlay, name)
            m.add_legend(title=name, legend_dict=legend, position="bottomleft", **fixed)
            bounds = overlay.bounds
    if collection is not None:
        if since is None or until is None:
            raise ValueError("collection needs since and until")
        import ee

        from gee_flood.watch.series import _period_filter, series_image

        image = series_image(collection, since, until)
        m.add_layer(image.select("max_extent"), {"min": 0, "max": 1, "palette": ["a0a0a0", "005aff"]},
                    "Earth Engine: maximum flood extent")  # fmt: skip
        m.add_layer(image.select("flood_duration_days"), {"min": 0, "max": 30, "palette": ["c6dbef", "08306b"]},
                    "Earth Engine: flood duration (days)")  # fmt: skip
        if kind == "ipyleaflet":
            images = _period_filter(ee.ImageCollection(collection), since, until).select(FLOOD)
            m.add_time_slider(images, {"min": 0, "max": 1, "palette": ["a0a0a0", "005aff"]},
                              layer_name="per-acquisition maps", date_format="YYYY-MM-dd HH:mm")  # fmt: skip
    if bounds is not None:
        _zoom_to(m, kind, bounds)
    return m


def _add_one_map(m: Any, kind: str, path: Path, max_size: int) -> None:
    from gee_flood.mapping.layers import _add_overlay
    from gee_flood.mapping.view import render_flood_overlay

    overlay, _ = render_flood_overlay(path, max_size=max_size)
    _add_overlay(m, kind, overlay, "flood map")  # type: ignore[arg-type]


def _rename_last_overlay(m: Any, kind: str, name: str) -> None:
    """Name the overlay just added (every local map is added as ``flood map``)."""
    if kind == "folium":
        overlays = [child for child in m._children.values() if type(child).__name__ == "ImageOverlay"]
        if overlays:
            overlays[-1].layer_name = name
    else:
        overlays = [layer for layer in m.layers if type(layer).__name__ == "ImageOverlay"]
        if overlays:
            overlays[-1].name = name


def write_watch_html(
    html: str | os.PathLike[str],
    *,
    series: xr.Dataset | None = None,
    maps: Mapping[dt.datetime, str | os.PathLike[str]] | None = None,
    max_size: int = 1024,
) -> Path:
    """Write a self-contained HTML page of a watched event (local layers; opens offline like ``map --view``).

    The page is :func:`add_watch_layers` on a folium ``geemap.Map`` stripped to Leaflet, with a layer control (one
    layer per acquisition date, the maximum extent and the flood duration), Leaflet inlined.
    """
    import folium

    from gee_flood._io import write_text_atomic
    from gee_flood.errors import InputError
    from gee_flood.mapping.view import geemap_backend, inline_leaflet

    html = Path(html)
    if html.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{html}: expected an .html path")
    m = geemap_backend("folium").Map(ee_initialize=False, plugin_Draw=False, plugin_Fullscreen=False,
                                     search_control=False, locate_control=False, layers_control=False)  # fmt: skip
    # Leaflet alone, as gee_flood.mapping.page does: folium's CDN extras would stall the page offline.
    m.default_js = [(name, url) for name, url in m.default_js if name == "leaflet"]
    m.default_css = [(name, url) for name, url in m.default_css if name == "leaflet_css"]
    add_watch_layers(m, series=series, maps=maps, max_size=max_size)
    folium.LayerControl(collapsed=False).add_to(m)
    return write_text_atomic(html, inline_leaflet(m.get_root().render()))


def plot_flooded_km2(points: Mapping[dt.datetime, float], path: str | os.PathLike[str]) -> Path:
    """Draw flooded km² per acquisition date (a small time-series PNG, matplotlib Agg) at ``path`` (atomically).

    Args:
        points: Acquisition time (UTC) -> flooded km² (the collection's ``flooded_km2`` property).
        path: The PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from gee_flood._io import atomic_path

    times = sorted(points)
    figure, axes = plt.subplots(figsize=(5.0, 2.4), dpi=100)
    try:
        days = mdates.date2num([t.astimezone(dt.UTC).replace(tzinfo=None) for t in times])
        axes.plot(days, [points[t] for t in times], marker="o", color="#005aff")
        axes.set_ylabel("flooded km²")
        axes.set_ylim(bottom=0)
        locator = mdates.AutoDateLocator(minticks=2, maxticks=6)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.set_title("flooded area per Sentinel-1 acquisition", fontsize=10)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        final = Path(path)
        with atomic_path(final) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
    return final

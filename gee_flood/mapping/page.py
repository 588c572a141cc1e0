"""``gee-flood map --view``: the self-contained HTML page of a flood map.

The page is the map :func:`gee_flood.add_flood_layers` assembles (the one place a map is built) on a folium
``geemap.Map`` stripped to Leaflet alone, plus the Earth Engine asset of the same map as a tile layer when Earth
Engine answers; Leaflet (vendored) is then inlined (:mod:`gee_flood.mapping.view`), so the page opens offline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import rasterio
from rich.console import Console

from gee_flood._io import write_text_atomic
from gee_flood.errors import InputError
from gee_flood.mapping.view import ee_tile_url, geemap_backend, inline_leaflet


def write_map_html(
    flood_map: str | os.PathLike[str],
    html: str | os.PathLike[str],
    *,
    s1: str | os.PathLike[str] | None = None,
    asset: str | None = None,
    title: str | None = None,
    max_size: int = 2048,
    project: str | None = None,
    ee_url: str | None = None,
    console: Console | None = None,
    statistics: Any = None,
) -> Path:
    """Write a self-contained HTML map of ``flood_map`` (plus the S1 scene and an Earth Engine asset if given).

    Args:
        flood_map: A GeoTIFF written by ``gee-flood predict`` (any CRS).
        html: The page to write (atomically).
        s1: Optional Sentinel-1 scene (VV, VH dB) shown under the flood overlay.
        asset: Optional Earth Engine asset id of the same map, added as an EE tile layer when Earth Engine answers.
        title: Legend title (default: the map's file name).
        max_size: Longest side of the embedded PNGs (pixels).
        project: Cloud project to initialise Earth Engine with for ``asset`` (default: the asset's project).
        ee_url: Earth Engine API URL (the emulator); default: Earth Engine itself.
        console: Where warnings go.
        statistics: A table to show on the page (a pandas DataFrame: :func:`gee_flood.flood_statistics`).

    Returns:
        The HTML path.
    """
    from gee_flood.mapping.layers import add_flood_layers

    console = console or Console(stderr=True)
    flood_map, html = Path(flood_map), Path(html)
    if html.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {html}: expected an .html path")
    m = geemap_backend("folium").Map(
        ee_initialize=False,
        plugin_Draw=False,
        plugin_Fullscreen=False,
        search_control=False,
        locate_control=False,
        layers_control=False,
    )
    # The page draws image overlays, a legend and a layer control: Leaflet alone. folium's other defaults (jQuery,
    # Bootstrap, Font Awesome, awesome-markers) are render-blocking CDN tags that would stall the page offline.
    m.default_js = [(name, url) for name, url in m.default_js if name == "leaflet"]
    m.default_css = [(name, url) for name, url in m.default_css if name == "leaflet_css"]
    # The map is assembled as in a notebook (the SAR, the flood map over it, its legend, fitted to it)...
    add_flood_layers(flood_map, m, scene=s1, title=title or flood_map.name, max_size=max_size, zoom_to=True)
    # ...then the asset as Earth Engine tiles when Earth Engine answers (after the local checks; a warning if not).
    if asset is not None:
        tiles_url = _ee_tiles_or_warning(flood_map, asset, project=project, ee_url=ee_url, console=console)
        if tiles_url is not None:
            import folium

            folium.TileLayer(
                tiles=tiles_url, attr="Google Earth Engine", name=f"Earth Engine: {asset}", overlay=True
            ).add_to(m)
    import folium

    folium.LayerControl(collapsed=False).add_to(m)
    if statistics is not None:
        table = statistics.to_html(index=False, border=0, classes="gee-flood-statistics")
        box = ('<div style="position: fixed; top: 10px; left: 60px; z-index: 9999; background: white; '
               'padding: 6px; font: 12px sans-serif; max-height: 40%; overflow: auto;">'
               f"<b>Flooded and excluded km², exposure, per zone</b>{table}</div>")  # fmt: skip
        m.get_root().html.add_child(folium.Element(box))
    page = inline_leaflet(m.get_root().render())
    return write_text_atomic(html, page)


def _ee_tiles_or_warning(
    flood_map: Path, asset: str, *, project: str | None, ee_url: str | None, console: Console
) -> str | None:
    """The tile URL of ``asset`` (the same map in Earth Engine), or ``None`` and one warning if Earth Engine fails."""
    from gee_flood.earthengine.export import ensure_initialized, parse_asset_id
    from gee_flood.errors import RemoteError

    asset_id = parse_asset_id(asset)
    try:
        ensure_initialized(project or asset_id.project, ee_url)
        with rasterio.open(flood_map) as src:
            return ee_tile_url(str(asset_id), list(src.descriptions))
    except RemoteError as error:
        console.print(f"[yellow]warning:[/] no Earth Engine layer: {error}", soft_wrap=True)
    except Exception as error:  # ee.EEException and HTTP errors from getMapId
        console.print(
            f"[yellow]warning:[/] no Earth Engine layer for {asset_id}: {str(error).splitlines()[0]}", soft_wrap=True
        )
    return None

"""The renderers of flood-map pages and notebook maps (``gee-flood map --view``, :func:`gee_flood.add_flood_layers`).

The flood map (and optionally the Sentinel-1 scene) is warped to Web Mercator (EPSG:3857, what Leaflet displays) at
a bounded size, coloured, encoded as PNG and embedded as a ``data:`` URI in a folium ``ImageOverlay`` at its true
lat/lon bounds. Leaflet itself (vendored, BSD-2) is inlined too and no other script or style sheet is linked, so the
page shows the overlays with no network; only the basemap tiles (and an Earth Engine layer, when an asset is given
and Earth Engine answers) need the internet.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform, transform_bounds

from gee_flood.errors import DataError, InputError, InputNotFoundError

WEB_MERCATOR = "EPSG:3857"
#: RGBA of each map class: flood, reference water, excluded, not flood (faint, shows where the model looked).
WATER_RGBA = (0, 90, 255, 215)
PERMANENT_RGBA = (0, 20, 90, 215)
EXCLUDED_RGBA = (255, 150, 0, 120)
LAND_RGBA = (160, 160, 160, 70)
LEAFLET_JS = re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/leaflet@[0-9.]+/dist/leaflet\.js"></script>')
LEAFLET_CSS = re.compile(
    r'<link rel="stylesheet" href="https://cdn\.jsdelivr\.net/npm/leaflet@[0-9.]+/dist/leaflet\.css"/>'
)


@dataclass
class Overlay:
    """A coloured PNG on Web Mercator with its lat/lon bounds."""

    png: bytes
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east))
    size: tuple[int, int]  # (width, height) in pixels

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _open(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputNotFoundError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioIOError as error:
        raise InputError(f"{path}: not a readable GeoTIFF ({str(error).splitlines()[0]})") from None
    if src.crs is None:
        src.close()
        raise InputError(f"{path}: GeoTIFF has no CRS; cannot place it on a map")
    return src


def _warp_to_mercator(src: Any, band: int, max_size: int, resampling: Resampling) -> tuple[np.ma.MaskedArray, Any]:
    """Band ``band`` of ``src`` on a Web Mercator grid at most ``max_size`` pixels wide/high (masked no data)."""
    transform, width, height = calculate_default_transform(src.crs, WEB_MERCATOR, src.width, src.height, *src.bounds)
    scale = max(width / max_size, height / max_size, 1.0)
    width, height = max(1, round(width / scale)), max(1, round(height / scale))
    transform = transform * transform.scale(scale, scale)
    with WarpedVRT(
        src,
        crs=WEB_MERCATOR,
        transform=transform,
        width=width,
        height=height,
        resampling=resampling,
        src_nodata=src.nodata,
        nodata=src.nodata,
    ) as vrt:
        data = vrt.read(band, masked=True)
    return data, (transform, width, height)


def _bounds_latlon(grid: tuple[Any, int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
    transform, width, height = grid
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    west, south, east, north = transform_bounds(WEB_MERCATOR, "EPSG:4326", left, bottom, right, top)
    return (south, west), (north, east)


def _hex(rgba: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def _png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render_flood_overlay(flood_map: Path, *, max_size: int = 2048) -> tuple[Overlay, dict[str, str]]:
    """Colour a gee-flood map (flood, reference water, excluded, not flood) as a Web Mercator PNG.

    Returns:
        The overlay and its legend (label -> hex colour).
    """
    with _open(flood_map, "flood map") as src:
        return flood_overlay_of(src, max_size=max_size, where=str(flood_map))


def flood_overlay_of(src: Any, *, max_size: int = 2048, where: str = "flood map") -> tuple[Overlay, dict[str, str]]:
    """:func:`render_flood_overlay` of an open rasterio dataset (a file, or an in-memory map of the notebook API).

    Returns:
        The overlay and its legend (label -> hex colour).
    """
    layers, legend = flood_layer_overlays_of(src, max_size=max_size, where=where)
    base = layers[0][1]
    rgba = np.array(Image.open(io.BytesIO(base.png)).convert("RGBA"))
    for _name, overlay in layers[1:]:  # the layers drawn over each other: one picture
        top = np.array(Image.open(io.BytesIO(overlay.png)).convert("RGBA"))
        painted = top[..., 3] > 0
        rgba[painted] = top[painted]
    return Overlay(_png(rgba), base.bounds, base.size), legend


def render_flood_layer_overlays(
    flood_map: Path, *, max_size: int = 2048
) -> tuple[list[tuple[str, Overlay]], dict[str, str]]:
    """:func:`flood_layer_overlays_of` of a flood map file."""
    with _open(flood_map, "flood map") as src:
        return flood_layer_overlays_of(src, max_size=max_size, where=str(flood_map))


#: Layer names of a flood map on a map, bottom to top (each its own toggleable overlay).
FLOOD_LAYER_NAMES = ("flood map", "excluded", "reference water")


def flood_layer_overlays_of(
    src: Any, *, max_size: int = 2048, where: str = "flood map"
) -> tuple[list[tuple[str, Overlay]], dict[str, str]]:
    """The flood map's layers as Web Mercator PNG overlays, one per toggleable map layer, and their legend.

    ``flood map`` (flood, and the faint grey of mapped land that is not flood), ``excluded`` (pixels with an
    exclusion bit other than no data) and ``reference water``, bottom to top (:data:`FLOOD_LAYER_NAMES`).
    """
    from gee_flood.product.layers import EXCLUDED_NODATA, EXCLUSION, FLOOD, REFERENCE_WATER

    names = list(src.descriptions)
    if FLOOD not in names or EXCLUSION not in names:
        raise DataError(f"{where}: not a gee-flood map (no band described {FLOOD!r} and {EXCLUSION!r})")
    flood, grid = _warp_to_mercator(src, names.index(FLOOD) + 1, max_size, Resampling.nearest)
    exclusion = _warp_to_mercator(src, names.index(EXCLUSION) + 1, max_size, Resampling.nearest)[0].filled(1)
    reference = np.zeros(flood.shape, bool)
    if REFERENCE_WATER in names:
        warped = _warp_to_mercator(src, names.index(REFERENCE_WATER) + 1, max_size, Resampling.nearest)[0]
        reference = warped.filled(0) == 1
    filled = flood.filled(255)
    excluded = (exclusion != 0) & ((exclusion & EXCLUDED_NODATA) == 0)
    layers = []
    for name, paint in (
        ("flood map", [(filled == 0, LAND_RGBA), (filled == 1, WATER_RGBA)]),
        ("excluded", [(excluded & (filled != 1), EXCLUDED_RGBA)]),
        ("reference water", [(reference & (filled != 1), PERMANENT_RGBA)]),
    ):
        rgba = np.zeros((*flood.shape, 4), np.uint8)
        for where_painted, colour in paint:
            rgba[where_painted] = colour
        layers.append((name, Overlay(_png(rgba), _bounds_latlon(grid), (grid[1], grid[2]))))
    return layers, flood_legend(bool(reference.any()))


def render_s1_overlay(scene: Path, *, max_size: int = 2048, db_range: tuple[float, float] = (-25.0, 0.0)) -> Overlay:
    """Render a Sentinel-1 scene's VV band (dB) as a grey Web Mercator PNG (no data transparent)."""
    with _open(scene, "Sentinel-1 scene") as src:
        return s1_overlay_of(src, max_size=max_size, db_range=db_range, where=str(scene))


def s1_overlay_of(
    src: Any, *, max_size: int = 2048, db_range: tuple[float, float] = (-25.0, 0.0), where: str = "Sentinel-1 scene"
) -> Overlay:
    """:func:`render_s1_overlay` of an open rasterio dataset (a file, or an in-memory scene of the notebook API)."""
    names = [(d or "").strip().upper() for d in src.descriptions]
    if "VV" not in names and not (src.count == 2 and not any(names)):
        raise DataError(f"{where}: expected a Sentinel-1 scene with a VV band (dB); bands are described {names}")
    vv_band = names.index("VV") + 1 if "VV" in names else 1
    vv_db, grid = _warp_to_mercator(src, vv_band, max_size, Resampling.average)
    vv = np.ma.filled(vv_db.astype(np.float32), np.nan)
    low, high = db_range
    grey = np.clip((vv - low) / (high - low) * 255.0, 0, 255)
    rgba = np.zeros((*vv.shape, 4), np.uint8)
    finite = np.isfinite(vv)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = np.where(finite, grey, 0).astype(np.uint8)
    rgba[..., 3] = np.where(finite, 255, 0)
    return Overlay(_png(rgba), _bounds_latlon(grid), (grid[1], grid[2]))


def geemap_backend(backend: str) -> Any:
    """Import a geemap backend module, ``"folium"`` (``geemap.foliumap``) or ``"ipyleaflet"`` (``geemap.geemap``).

    Both work in one process, whichever was imported first. geemap 0.37.2's ``__init__`` star-imports the backend
    chosen by ``USE_FOLIUM``, which replaces the package attribute ``geemap.basemaps`` (the module) by that
    backend's basemap ``Box``; the *other* backend then does ``from . import basemaps``, gets the Box and fails
    (``BoxKeyError: 'xyz_to_folium'`` / ``'get_xyz_dict'``). The real module is put back for that import only.
    """
    import importlib

    import geemap

    module_name = {"folium": "geemap.foliumap", "ipyleaflet": "geemap.geemap"}.get(backend)
    if module_name is None:
        raise InputError(f"map backend {backend!r}: expected 'ipyleaflet' or 'folium'")
    exported = geemap.__dict__.get("basemaps")
    geemap.basemaps = importlib.import_module("geemap.basemaps")
    try:
        return importlib.import_module(module_name)
    finally:
        if exported is not None:
            geemap.basemaps = exported


def inline_leaflet(html: str) -> str:
    """Replace folium's CDN Leaflet ``<script>``/``<link>`` tags of ``html`` by the vendored Leaflet, inline."""
    vendor = resources.files("gee_flood.mapping") / "vendor" / "leaflet"
    script = (vendor / "leaflet.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    style = (vendor / "leaflet.css").read_text(encoding="utf-8")
    html, scripts = LEAFLET_JS.subn(lambda _: f"<script>{script}</script>", html)
    html, styles = LEAFLET_CSS.subn(lambda _: f"<style>{style}</style>", html)
    if not scripts or not styles:
        raise RuntimeError("folium's Leaflet tags were not found; cannot inline Leaflet")
    return html


def ee_tile_url(asset: str, bands: list[str] | None = None) -> str:
    """Tile URL template of an Earth Engine image asset's water band (``getMapId``), for a folium ``TileLayer``."""
    import ee

    image = ee.Image(asset)
    return image.getMapId(ee_flood_visualization(bands))["tile_fetcher"].url_format


def ee_flood_visualization(bands: list[str] | None = None) -> dict[str, Any]:
    """Earth Engine visualisation parameters of a gee-flood map asset: its ``flood`` band (0 not flood, 1 flood)."""
    del bands  # every gee-flood map has the product's bands
    return {"bands": ["flood"], "min": 0, "max": 1, "palette": ["a0a0a0", "005aff"]}


def flood_legend(with_reference: bool = True) -> dict[str, str]:
    """Legend (label -> hex colour) of a flood overlay: flood, reference water, excluded, not flood (mapped)."""
    labels = {"flood": _hex(WATER_RGBA)}
    if with_reference:
        labels["reference water"] = _hex(PERMANENT_RGBA)
    labels["excluded (shadow, slope, HAND, urban)"] = _hex(EXCLUDED_RGBA)
    labels["not flood (mapped)"] = _hex(LAND_RGBA)
    return labels

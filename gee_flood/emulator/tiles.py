"""Pictures: ``Image.visualize``, map tiles (``getMapId``) and thumbnails (``getThumbURL``).

* ``maps.create`` stores an image (usually already passed through ``Image.visualize`` by the client) and answers
  its name; ``maps/{id}/tiles/{z}/{x}/{y}`` renders a 256 x 256 Web-Mercator (EPSG:3857) PNG tile, transparent where
  the image is masked.
* ``thumbnails.create`` + ``thumbnails/{id}:getPixels`` render the image on its ``clipToBoundsAndScale`` grid (set by
  ``getThumbURL``'s ``region`` and ``dimensions``) as PNG, JPEG, GeoTIFF or NPY.
* ``Image.visualize`` turns 1 band (grey or a palette) or 3 bands (RGB) into ``vis-red``, ``vis-green``,
  ``vis-blue`` bytes, using ``min``/``max`` (or ``gain``/``bias``), ``gamma`` and ``opacity`` like Earth Engine.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from PIL import Image as PILImage
from PIL import ImageColor
from typing_extensions import override

from gee_flood.emulator.algorithms.images import as_image, select_bands
from gee_flood.emulator.errors import EEError
from gee_flood.emulator.evaluator import algorithm
from gee_flood.emulator.grid import PixelGrid
from gee_flood.emulator.objects import Band, EEImage, as_list, type_name
from gee_flood.emulator.pixels import REQUEST_BYTE_LIMIT, compute_pixels, parse_grid
from gee_flood.emulator.pixeltypes import PixelType
from gee_flood.emulator.raster import Node, RenderContext, Rendered

if TYPE_CHECKING:
    from gee_flood.emulator.server import EmulatorServer

_WEB_MERCATOR_HALF = 20037508.342789244
_TILE = 256
_BYTE = PixelType("int", 0, 255)


def _numbers(value: Any, count: int, default: float, where: str) -> list[float]:
    if value is None:
        return [default] * count
    items = [float(v) for v in (value.split(",") if isinstance(value, str) else as_list(value))]
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise EEError(f"{where}: expected 1 or {count} values, got {len(items)}")
    return items


def _palette(colours: Any) -> np.ndarray:
    names = colours.split(",") if isinstance(colours, str) else as_list(colours)
    rgb = []
    for name in names:
        text = str(name).strip()
        if len(text) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in text):
            text = "#" + text
        try:
            rgb.append(ImageColor.getrgb(text)[:3])
        except ValueError:
            raise EEError(f"Image.visualize: invalid palette colour '{name}'") from None
    return np.asarray(rgb, dtype=np.float64)


@dataclass(eq=False)
class _Visualization:
    """Shared computation of the three visible channels (cached once per render)."""

    sources: tuple[Node, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]
    gamma: tuple[float, ...]
    palette: np.ndarray | None
    opacity: float

    def rgb(self, ctx: RenderContext) -> tuple[np.ndarray, np.ndarray]:
        key = id(self)
        if key not in ctx.cache:
            rendered = [source.render(ctx) for source in self.sources]
            mask = np.logical_and.reduce([m for _, m in rendered])
            scaled = []
            for (values, _), low, high, gamma in zip(rendered, self.minimum, self.maximum, self.gamma, strict=True):
                span = high - low if high != low else 1.0
                unit = np.clip((values - low) / span, 0.0, 1.0)
                scaled.append(unit ** (1.0 / gamma) if gamma != 1.0 else unit)
            if self.palette is not None:
                positions = scaled[0] * (len(self.palette) - 1)
                channels = [np.interp(positions, np.arange(len(self.palette)), self.palette[:, c]) for c in range(3)]
            elif len(scaled) == 1:
                channels = [scaled[0] * 255.0] * 3
            else:
                channels = [s * 255.0 for s in scaled]
            stack = np.stack([np.round(c) for c in channels])
            ctx.cache[key] = (stack, mask & (self.opacity > 0))
        return ctx.cache[key]  # type: ignore[return-value]


@dataclass(eq=False)
class VisualChannel(Node):
    """One of ``vis-red``, ``vis-green``, ``vis-blue``."""

    visualization: _Visualization
    channel: int

    @override
    def children(self) -> tuple[Node, ...]:
        return self.visualization.sources

    @override
    def _render(self, ctx: RenderContext) -> Rendered:
        rgb, mask = self.visualization.rgb(ctx)
        return rgb[self.channel], mask


@algorithm("Image.visualize")
def image_visualize(
    image: Any,
    bands: Any = None,
    gain: Any = None,
    bias: Any = None,
    min: Any = None,  # noqa: A002 - Earth Engine argument name
    max: Any = None,  # noqa: A002
    gamma: Any = None,
    opacity: Any = None,
    palette: Any = None,
    forceRgbOutput: bool = False,
) -> EEImage:
    """Render 1 band (grey or palette) or 3 bands (RGB) to ``vis-red/green/blue`` bytes."""
    img = as_image(image, "Image.visualize")
    selectors = bands.split(",") if isinstance(bands, str) else as_list(bands)
    chosen = (
        select_bands(img, selectors, "Image.visualize") if selectors else img.bands[: 1 if len(img.bands) < 3 else 3]
    )
    if len(chosen) not in (1, 3):
        raise EEError(f"Image.visualize: 1 or 3 bands are required, got {len(chosen)}.")
    if palette is not None and len(chosen) != 1:
        raise EEError("Image.visualize: a palette needs exactly one band.")
    count = len(chosen)
    if gain is not None or bias is not None:
        if min is not None or max is not None:
            raise EEError("Image.visualize: gain and bias cannot be specified together with min and max.")
        gains = _numbers(gain, count, 1.0, "Image.visualize gain")
        biases = _numbers(bias, count, 0.0, "Image.visualize bias")
        lows = [-b / g for g, b in zip(gains, biases, strict=True)]
        highs = [255.0 / g + low for g, low in zip(gains, lows, strict=True)]
    else:
        lows = _numbers(min, count, 0.0, "Image.visualize min")
        highs = _numbers(max, count, 1.0 if palette is not None or _is_float(chosen) else 255.0, "Image.visualize max")
    gammas = _numbers(gamma, count, 1.0, "Image.visualize gamma")
    visualization = _Visualization(
        tuple(band.node for band in chosen),
        tuple(lows),
        tuple(highs),
        tuple(gammas),
        _palette(palette) if palette is not None else None,
        1.0 if opacity is None else float(opacity),
    )
    native = chosen[0].native
    out = [Band(name, _BYTE, VisualChannel(visualization, c), native) for c, name in
           enumerate(("vis-red", "vis-green", "vis-blue"))]  # fmt: skip
    return EEImage(out, dict(img.properties), img.image_id, img.version, img.default_grid)


def _is_float(bands: list[Band]) -> bool:
    return any(band.ptype.precision != "int" for band in bands)


def tile_grid(z: int, x: int, y: int) -> PixelGrid:
    """The 256 x 256 EPSG:3857 grid of Web-Mercator tile ``z/x/y``."""
    if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise EEError(f"Invalid tile {z}/{x}/{y}.", 400)
    size = 2 * _WEB_MERCATOR_HALF / 2**z
    transform = Affine(size / _TILE, 0, -_WEB_MERCATOR_HALF + x * size, 0, -size / _TILE, _WEB_MERCATOR_HALF - y * size)
    return PixelGrid("EPSG:3857", transform, _TILE, _TILE)


def encode_picture(arrays: list[np.ndarray], file_format: str, mask: np.ndarray | None = None) -> tuple[bytes, str]:
    """PNG (RGBA, transparent where masked) or JPEG of 1 or 3 bands of values clipped to 0-255."""
    if len(arrays) not in (1, 3):
        raise EEError(f"PNG/JPEG output needs 1 or 3 bands, got {len(arrays)}; use Image.visualize.")
    channels = [np.clip(np.nan_to_num(a.astype(np.float64)), 0, 255).astype(np.uint8) for a in arrays]
    rgb = np.stack(channels * 3 if len(channels) == 1 else channels, axis=-1)
    buffer = io.BytesIO()
    if file_format == "JPEG":
        PILImage.fromarray(rgb, "RGB").save(buffer, format="JPEG", quality=90)
        return buffer.getvalue(), "image/jpeg"
    alpha = (mask if mask is not None else np.ones(rgb.shape[:2], bool)).astype(np.uint8) * 255
    PILImage.fromarray(np.dstack([rgb, alpha]), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


def render_picture(image: EEImage, grid: PixelGrid, file_format: str, band_ids: list[str] | None) -> tuple[bytes, str]:
    """Render an image's bands (1 or 3) on a grid as PNG (alpha = mask) or JPEG."""
    bands = [b for b in image.bands if not band_ids or b.name in band_ids]
    if not bands:
        raise EEError("The image has no bands to render.")
    ctx = RenderContext(grid)
    rendered = [band.node.render(ctx) for band in bands]
    mask = np.logical_and.reduce([m for _, m in rendered])
    values = [band.ptype.cast(np.where(m, v, 0.0)) for band, (v, m) in zip(bands, rendered, strict=True)]
    return encode_picture(values, "JPEG" if file_format == "JPEG" else "PNG", mask)


def _with_visualization_options(image: EEImage, options: dict[str, Any] | None) -> EEImage:
    if not options:
        return image
    ranges = options.get("ranges") or []
    return image_visualize(
        image,
        min=[r.get("min", 0) for r in ranges] or None,
        max=[r.get("max", 1) for r in ranges] or None,
        gamma=(options.get("gamma") or {}).get("value"),
        palette=options.get("paletteColors"),
        opacity=options.get("opacity"),
    )


def handle(
    server: EmulatorServer, endpoint: str, params: dict[str, str], payload: dict[str, Any], project: str
) -> tuple[int, bytes, str]:
    """Answer a maps or thumbnails request: ``(status, body, content type)``."""
    import json

    store: dict[str, Any] = server._maps  # noqa: SLF001 - the server owns the map/thumbnail registry
    if endpoint in ("maps.create", "thumbnails.create"):
        image = server._evaluate(payload.get("expression"), project)  # noqa: SLF001
        if not isinstance(image, EEImage):
            raise EEError(f"{endpoint}: the expression must be an Image, got {type_name(image)}.")
        image = _with_visualization_options(image, payload.get("visualizationOptions"))
        kind = "maps" if endpoint == "maps.create" else "thumbnails"
        name = f"projects/{project}/{kind}/{uuid.uuid4().hex}"
        store[name] = (image, str(payload.get("fileFormat") or "PNG").upper(), payload.get("bandIds"), payload)
        return 200, json.dumps({"name": name}).encode(), "application/json; charset=UTF-8"
    if endpoint == "maps.tiles":
        name = f"projects/{params['project']}/maps/{params['map']}"
        if name not in store:
            raise EEError(f"Map {name} not found.", 404)
        image, file_format, band_ids, _ = store[name]
        grid = tile_grid(int(params["z"]), int(params["x"]), int(params["y"]))
        body, content_type = render_picture(image, grid, file_format, band_ids)
        return 200, body, content_type
    name = f"projects/{params['project']}/thumbnails/{params['thumb']}"
    if name not in store:
        raise EEError(f"Thumbnail {name} not found.", 404)
    image, file_format, band_ids, request = store[name]
    grid = image.default_grid or parse_grid(request.get("grid"), image)
    if file_format in ("NPY", "GEO_TIFF"):
        body, content_type = compute_pixels(image, {"fileFormat": file_format, "bandIds": band_ids,
                                                    "grid": _grid_dict(grid)})  # fmt: skip
        return 200, body, content_type
    if grid.width * grid.height * 4 > REQUEST_BYTE_LIMIT:
        raise EEError(f"Total request size ({grid.width * grid.height * 4} bytes) must be less than or equal to "
                      f"{REQUEST_BYTE_LIMIT} bytes.")  # fmt: skip
    body, content_type = render_picture(image, grid, file_format, band_ids)
    return 200, body, content_type


def _grid_dict(grid: PixelGrid) -> dict[str, Any]:
    a, b, c, d, e, f = grid.transform[:6]
    return {
        "dimensions": {"width": grid.width, "height": grid.height},
        "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e, "translateY": f},
        "crsCode": grid.crs,
    }

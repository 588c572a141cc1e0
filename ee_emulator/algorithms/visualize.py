"""``Image.visualize``: 1 band (grey or a palette) or 3 bands (RGB) to ``vis-red``, ``vis-green``, ``vis-blue`` bytes.

Uses ``min``/``max`` (or ``gain``/``bias``), ``gamma`` and ``opacity`` like Earth Engine. The map tiles and thumbnails
that usually show the result are served by :mod:`ee_emulator.tiles`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ImageColor
from typing_extensions import override

from ee_emulator.algorithms.images import as_image, select_bands
from ee_emulator.errors import EEError
from ee_emulator.objects import Band, EEImage, as_list
from ee_emulator.pixeltypes import PixelType
from ee_emulator.raster import Node, RenderContext, Rendered
from ee_emulator.registry import algorithm

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
        return ctx.cache[key]


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

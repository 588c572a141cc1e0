"""Pictures of an image: its 1 or 3 bands rendered on a pixel grid as PNG (alpha = mask) or JPEG.

Shared by ``image:computePixels`` (:mod:`ee_emulator.pixels`) and the map tiles and thumbnails
(:mod:`ee_emulator.tiles`).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.objects import EEImage
from ee_emulator.raster import RenderContext


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

"""``image:computePixels``: materialise an image on a requested grid and encode it (NPY or GeoTIFF).

Like Earth Engine:

* A request larger than 50,331,648 bytes is refused with HTTP 400 and Earth Engine's message. Bytes are counted as
  xee and Earth Engine count them: width x height x sum over bands of (bytes per pixel of the band type + 1 mask
  byte).
* ``NPY`` answers are a structured array of shape (height, width) with one field per band, each in the band's own
  dtype (the smallest numpy type of its Earth Engine pixel type). The NPY format has no mask: masked pixels are
  sent as 0 — which is why xee calls ``unmask(mask_value, sameFootprint=False)`` before reading.
* ``GEO_TIFF`` answers are a GeoTIFF of the grid with all bands converted to one common dtype (GeoTIFFs hold one
  type) and band descriptions set to the band names; masked pixels are 0 there too.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.objects import Band, EEImage, type_name
from ee_emulator.pictures import render_picture
from ee_emulator.raster import RenderContext

#: Earth Engine's computePixels/getPixels request size limit, in bytes.
REQUEST_BYTE_LIMIT = 50_331_648
#: Largest grid side the emulator materialises (Earth Engine's own limit is 32768 pixels per side).
MAX_GRID_SIDE = 32768

_AFFINE_FIELDS = ("scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY")


def parse_grid(grid: dict[str, Any] | None, image: EEImage) -> PixelGrid:
    """Turn a REST ``PixelGrid`` (dimensions, affineTransform, crsCode/crsWkt) into a :class:`PixelGrid`.

    Without a grid, the image's first band's native grid is used (Earth Engine's default).

    Raises:
        EEError: If the grid is incomplete or absent for an image without a native grid.
    """
    if grid is None:
        native = image.bands[0].native if image.bands else None
        if native is None or not native.width:
            raise EEError("computePixels: a grid (dimensions, affineTransform, crsCode) is required for this image.")
        return native
    dimensions = grid.get("dimensions")
    if not isinstance(dimensions, dict) or "width" not in dimensions or "height" not in dimensions:
        raise EEError("computePixels: grid.dimensions with width and height is required.")
    width, height = int(dimensions["width"]), int(dimensions["height"])
    if width <= 0 or height <= 0:
        raise EEError(f"computePixels: grid dimensions must be positive, got {width}x{height}.")
    if width > MAX_GRID_SIDE or height > MAX_GRID_SIDE:
        raise EEError(f"computePixels: grid dimensions must be at most {MAX_GRID_SIDE}, got {width}x{height}.")
    transform_fields = grid.get("affineTransform") or {}
    values = [float(transform_fields.get(name, 0.0)) for name in _AFFINE_FIELDS]
    if values[0] == 0 and values[4] == 0:
        raise EEError("computePixels: grid.affineTransform needs non-zero scaleX and scaleY.")
    crs = grid.get("crsCode") or grid.get("crsWkt") or "EPSG:4326"
    try:
        rasterio.crs.CRS.from_user_input(crs)
    except rasterio.errors.CRSError:
        raise EEError(f"computePixels: unknown CRS '{crs}'.") from None
    return PixelGrid(str(crs), Affine(*values), width, height)


def request_bytes(bands: list[Band], grid: PixelGrid) -> int:
    """Bytes Earth Engine (and xee) count for a request: pixels x sum(band bytes + 1 mask byte)."""
    per_pixel = sum(band.ptype.dtype.itemsize + 1 for band in bands)
    return grid.width * grid.height * per_pixel


def check_request_size(bands: list[Band], grid: PixelGrid) -> None:
    """Refuse a request over Earth Engine's byte limit with Earth Engine's own message (HTTP 400)."""
    size = request_bytes(bands, grid)
    if size > REQUEST_BYTE_LIMIT:
        raise EEError(f"Total request size ({size} bytes) must be less than or equal to {REQUEST_BYTE_LIMIT} bytes.")


def select_request_bands(image: EEImage, band_ids: list[str] | None) -> list[Band]:
    """The bands a request asks for (all when ``bandIds`` is absent)."""
    if not band_ids:
        return list(image.bands)
    by_name = {band.name: band for band in image.bands}
    missing = [name for name in band_ids if name not in by_name]
    if missing:
        raise EEError(f"computePixels: band(s) {missing} not found; the image has {list(by_name)}.")
    return [by_name[name] for name in band_ids]


def render_bands(bands: list[Band], grid: PixelGrid) -> list[np.ndarray]:
    """Materialise bands on a grid, converted to their pixel types (masked pixels are 0)."""
    ctx = RenderContext(grid)
    arrays = []
    for band in bands:
        values, mask = band.node.render(ctx)
        arrays.append(band.ptype.cast(np.where(mask, values, 0.0)))
    return arrays


def compute_pixels(image: Any, request: dict[str, Any]) -> tuple[bytes, str]:
    """Answer an ``image:computePixels`` request body for an evaluated image.

    Returns:
        The response body and its content type.

    Raises:
        EEError: For a non-image expression, a bad grid, an unsupported format or an oversized request.
    """
    if not isinstance(image, EEImage):
        raise EEError(f"computePixels: the expression must be an Image, got {type_name(image)}.")
    file_format = str(request.get("fileFormat") or "AUTO_JPEG_PNG").upper()
    if request.get("visualizationOptions"):
        raise EEError("computePixels: visualizationOptions are not implemented by the gee-flood emulator.")
    bands = select_request_bands(image, request.get("bandIds"))
    if not bands:
        raise EEError("computePixels: the image has no bands.")
    grid = parse_grid(request.get("grid"), image)
    check_request_size(bands, grid)
    names = [band.name for band in bands]
    if file_format in ("PNG", "JPEG", "AUTO_JPEG_PNG"):
        return render_picture(image, grid, file_format, names)
    if file_format == "ZIPPED_GEO_TIFF":
        raise EEError("computePixels: ZIPPED_GEO_TIFF is not implemented by the gee-flood emulator; use GEO_TIFF.")
    if file_format not in ("NPY", "GEO_TIFF"):
        raise EEError(f"computePixels: fileFormat {file_format} is not implemented by the gee-flood emulator.")
    arrays = render_bands(bands, grid)
    if file_format == "NPY":
        return encode_npy(names, arrays), "application/octet-stream"
    return encode_geotiff(names, arrays, grid), "image/tiff"


def encode_npy(names: list[str], arrays: list[np.ndarray]) -> bytes:
    """A ``.npy`` structured array (height, width) with one field per band, each in its own dtype."""
    height, width = arrays[0].shape
    structured = np.zeros(
        (height, width), dtype=[(name, array.dtype) for name, array in zip(names, arrays, strict=True)]
    )
    for name, array in zip(names, arrays, strict=True):
        structured[name] = array
    buffer = io.BytesIO()
    np.save(buffer, structured, allow_pickle=False)
    return buffer.getvalue()


def encode_geotiff(names: list[str], arrays: list[np.ndarray], grid: PixelGrid) -> bytes:
    """A GeoTIFF of the grid; all bands in their common dtype, described by band name."""
    dtype = np.result_type(*arrays)
    if dtype == np.int8:
        dtype = np.dtype(np.int16)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(arrays),
        "dtype": dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(np.stack([array.astype(dtype) for array in arrays]))
            dataset.descriptions = tuple(names)
        return memory.read()

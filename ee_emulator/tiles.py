"""Map tiles (``getMapId``) and thumbnails (``getThumbURL``) of images.

* ``maps.create`` stores an image (usually already passed through ``Image.visualize`` by the client, see
  :mod:`ee_emulator.algorithms.visualize`) and answers its name; ``maps/{id}/tiles/{z}/{x}/{y}`` renders a 256 x 256
  Web-Mercator (EPSG:3857) PNG tile, transparent where the image is masked.
* ``thumbnails.create`` + ``thumbnails/{id}:getPixels`` render the image on its ``clipToBoundsAndScale`` grid (set by
  ``getThumbURL``'s ``region`` and ``dimensions``) as PNG, JPEG, GeoTIFF or NPY.

The server hands itself in as a :class:`PictureHost` (its public ``evaluate`` and ``pictures``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from affine import Affine

from ee_emulator.algorithms.visualize import image_visualize
from ee_emulator.errors import EEError
from ee_emulator.grid import PixelGrid
from ee_emulator.objects import EEImage, type_name
from ee_emulator.pictures import render_picture
from ee_emulator.pixels import REQUEST_BYTE_LIMIT, compute_pixels, parse_grid

_WEB_MERCATOR_HALF = 20037508.342789244
_TILE = 256


class PictureHost(Protocol):
    """What the picture endpoints need from the server: expression evaluation and the map/thumbnail registry."""

    @property
    def pictures(self) -> dict[str, Any]:
        """Map and thumbnail name -> ``(image, file format, band ids, request)``, kept for the server's lifetime."""
        ...

    def evaluate(self, expression: Any, project: str) -> Any:
        """Evaluate an expression graph for ``project`` and return the server-side value."""
        ...


def tile_grid(z: int, x: int, y: int) -> PixelGrid:
    """The 256 x 256 EPSG:3857 grid of Web-Mercator tile ``z/x/y``."""
    if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise EEError(f"Invalid tile {z}/{x}/{y}.", 400)
    size = 2 * _WEB_MERCATOR_HALF / 2**z
    transform = Affine(size / _TILE, 0, -_WEB_MERCATOR_HALF + x * size, 0, -size / _TILE, _WEB_MERCATOR_HALF - y * size)
    return PixelGrid("EPSG:3857", transform, _TILE, _TILE)


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
    server: PictureHost, endpoint: str, params: dict[str, str], payload: dict[str, Any], project: str
) -> tuple[int, bytes, str]:
    """Answer a maps or thumbnails request: ``(status, body, content type)``."""
    store = server.pictures
    if endpoint in ("maps.create", "thumbnails.create"):
        image = server.evaluate(payload.get("expression"), project)
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

"""gee-flood: flood extent mapping from Sentinel-1 SAR by cross-modal distillation from Sentinel-2.

The notebook API (:mod:`gee_flood.api`) is exported here and imported on first use, so ``import gee_flood`` (and
the command line's start-up) stays free of torch, xarray and Earth Engine::

    import gee_flood

    model = gee_flood.open_model("student.ckpt")
    flood = gee_flood.predict(model, "s1_scene.tif")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public names of :mod:`gee_flood.api`, loaded on first attribute access.
_API_NAMES = (
    "FloodModel",
    "add_flood_layers",
    "export_asset",
    "open_ee_image",
    "open_model",
    "open_pairs",
    "predict",
    "write_cog",
    "write_corpus",
    "write_polygons",
)

if TYPE_CHECKING:
    from gee_flood.api import (
        FloodModel,
        add_flood_layers,
        export_asset,
        open_ee_image,
        open_model,
        open_pairs,
        predict,
        write_cog,
        write_corpus,
        write_polygons,
    )

__all__ = ["__version__", *_API_NAMES]


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from gee_flood import api

        return getattr(api, name)
    raise AttributeError(f"module 'gee_flood' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API_NAMES})

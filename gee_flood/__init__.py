"""gee-flood: flood extent mapping from Sentinel-1 SAR by cross-modal distillation from Sentinel-2.

The notebook API (:mod:`gee_flood.api`) is exported here and imported on first use, so ``import gee_flood`` (and
the command line's start-up) stays free of torch, xarray and Earth Engine::

    import gee_flood

    model = gee_flood.open_model("student.ckpt")
    flood = gee_flood.predict(model, "s1_scene.tif")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gee_flood._version import __version__

if TYPE_CHECKING:
    from gee_flood.api import (
        FetchRequest,
        FloodModel,
        ProductSettings,
        add_flood_layers,
        export_asset,
        fetch_corpus,
        flood_statistics,
        open_ee_image,
        open_model,
        open_pairs,
        predict,
        write_cog,
        write_corpus,
        write_polygons,
    )

__all__ = [
    "FetchRequest",
    "FloodModel",
    "ProductSettings",
    "__version__",
    "add_flood_layers",
    "export_asset",
    "fetch_corpus",
    "flood_statistics",
    "open_ee_image",
    "open_model",
    "open_pairs",
    "predict",
    "write_cog",
    "write_corpus",
    "write_polygons",
]


def __getattr__(name: str) -> Any:
    """Load the notebook API (:mod:`gee_flood.api`) on first use of one of its names."""
    if name in __all__:
        from gee_flood import api

        return getattr(api, name)
    raise AttributeError(f"module 'gee_flood' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

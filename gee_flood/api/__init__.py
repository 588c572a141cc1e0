"""The notebook API: xarray in and out, Earth Engine images in, geemap out.

The same pipeline as the command line (which calls the same code), as a few typed functions, all exported from
:mod:`gee_flood` itself:

- :func:`open_pairs` / :func:`write_corpus`: S1/S2 pairs of an AOI as a lazy Dataset; the same fetch as a corpus.
- :func:`fetch_corpus` (a :class:`FetchRequest`): a corpus without opening the pairs, exactly ``gee-flood fetch``.
- :func:`open_model` / :class:`FloodModel`: a checkpoint loaded once, its card on show.
- :func:`predict` (and :func:`open_ee_image`): a lazy flood map Dataset from an xarray scene, an ``ee.Image`` or a
  GeoTIFF.
- :func:`write_cog`, :func:`write_polygons`, :func:`export_asset`: the COG, GeoJSON/GeoParquet polygons, an Earth
  Engine asset.
- :func:`add_flood_layers`: the flood map, the SAR under it and a legend on a ``geemap.Map`` (either backend).
- :func:`flood_statistics`: flooded and excluded km² and exposure per zone, a pandas DataFrame.
"""

from gee_flood.api._words import python_words
from gee_flood.api.maps import add_flood_layers
from gee_flood.api.outputs import export_asset, write_cog, write_polygons
from gee_flood.api.pairs import fetch_corpus, open_pairs, write_corpus
from gee_flood.api.prediction import open_ee_image, predict
from gee_flood.api.statistics import flood_statistics
from gee_flood.inference.model import FloodModel
from gee_flood.inference.model import open_model as _open_model
from gee_flood.product.layers import ProductSettings
from gee_flood.service_requests import FetchRequest

#: The engine's loader (:mod:`gee_flood.inference.model`), its errors in Python words.
open_model = python_words(_open_model)

__all__ = [
    "FetchRequest",
    "FloodModel",
    "ProductSettings",
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

"""Tiled, streamed inference of a SAR-only student over a scene; COG output, flood polygons."""

from gee_flood.inference.output import FloodMapWriter, to_cog
from gee_flood.inference.polygons import write_flood_polygons
from gee_flood.inference.predict import PredictionSummary, predict_scene
from gee_flood.inference.runner import TileRunner, check_sar_only
from gee_flood.inference.source import ArraySceneSource, GeoTiffSceneSource, SceneSource
from gee_flood.inference.streaming import NODATA, iter_probability_rows
from gee_flood.inference.tiling import TilePlan, blend_weights
from gee_flood.service_requests import PredictOptions, PredictRequest

__all__ = [
    "NODATA",
    "ArraySceneSource",
    "FloodMapWriter",
    "GeoTiffSceneSource",
    "PredictOptions",
    "PredictRequest",
    "PredictionSummary",
    "SceneSource",
    "TilePlan",
    "TileRunner",
    "blend_weights",
    "check_sar_only",
    "iter_probability_rows",
    "predict_scene",
    "to_cog",
    "write_flood_polygons",
]

"""Watch an area: map every new Sentinel-1 acquisition into an Earth Engine ImageCollection, and its time series.

- :func:`find_acquisitions`: the Sentinel-1 acquisitions (day + relative orbit) over an AOI in a period.
- :func:`watch_once` / :func:`watch_loop`: map the acquisitions the collection lacks (the same path as
  ``predict`` + ``map``) and push each as one image (start time = acquisition time); the collection is the ledger.
- :mod:`gee_flood.watch.series`: maximum extent, observation counts, first/last flooded date and flood duration
  over a period, as ``ee.Image`` (server side) or xarray/COGs (local).
"""

from gee_flood.watch.acquisitions import Acquisition, find_acquisitions
from gee_flood.watch.areas import MapAreas, map_areas
from gee_flood.watch.run import (
    EventLog,
    WatchEvent,
    WatchRequest,
    WatchResult,
    checkpoint_sha256,
    collection_images,
    ensure_collection,
    watch_loop,
    watch_once,
)

__all__ = [
    "Acquisition",
    "EventLog",
    "MapAreas",
    "WatchEvent",
    "WatchRequest",
    "WatchResult",
    "checkpoint_sha256",
    "collection_images",
    "ensure_collection",
    "find_acquisitions",
    "map_areas",
    "watch_loop",
    "watch_once",
]

"""Watch an area: map every new Sentinel-1 acquisition into an Earth Engine ImageCollection, and its time series.

- :func:`find_acquisitions`: the Sentinel-1 acquisitions (one pass each: sensing time, platform, relative orbit)
  over an AOI in a period.
- :func:`watch_once` / :func:`watch_loop`: map the acquisitions the collection lacks (the same path as
  ``predict`` + ``map``; with a checkpoint or, checkpoint-free, by change detection) and push each as one image
  (start time = acquisition time; flooded and excluded km² from :func:`gee_flood.product.flood_areas`); the
  collection is the ledger.
- :mod:`gee_flood.watch.series`: maximum extent, observation counts, first/last flooded date and flood duration
  over a period, as ``ee.Image`` (server side) or xarray/COGs (local).
"""

from gee_flood.watch.acquisitions import Acquisition, find_acquisitions
from gee_flood.watch.run import (
    EventLog,
    WatchEvent,
    WatchRequest,
    WatchResult,
    change_parameters,
    checkpoint_sha256,
    collection_images,
    ensure_collection,
    method_identity,
    pre_event,
    watch_loop,
    watch_once,
)

__all__ = [
    "Acquisition",
    "EventLog",
    "WatchEvent",
    "WatchRequest",
    "WatchResult",
    "change_parameters",
    "checkpoint_sha256",
    "collection_images",
    "ensure_collection",
    "find_acquisitions",
    "method_identity",
    "pre_event",
    "watch_loop",
    "watch_once",
]

"""Earth Engine: queries, S1/S2 pairing, xee reads and asset export.

Public surface:

- :func:`run_fetch` / :class:`FetchRequest` / :class:`FetchSummary`: ``gee-flood fetch``.
- :func:`read_s1_scene`: a lazily read (Dask) Sentinel-1 VV/VH mosaic over an AOI, for ``gee-flood predict``.
- :class:`EESettings` / :class:`RetryPolicy` / :func:`initialize`: Earth Engine sessions (also on Dask workers).
"""

from gee_flood.earthengine.fetch import FetchSummary, run_fetch
from gee_flood.earthengine.reads import REQUEST_BYTE_LIMIT, read_s1_scene
from gee_flood.earthengine.session import EESettings, RetryPolicy, initialize
from gee_flood.service_requests import FetchRequest

__all__ = [
    "REQUEST_BYTE_LIMIT",
    "EESettings",
    "FetchRequest",
    "FetchSummary",
    "RetryPolicy",
    "initialize",
    "read_s1_scene",
    "run_fetch",
]

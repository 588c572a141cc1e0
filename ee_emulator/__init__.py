"""A local Earth Engine: a loopback HTTP server speaking the Earth Engine REST v1 API over a GeoTIFF catalog.

A separate package from gee_flood (it imports nothing of it), usable by any project that talks to Earth Engine. The
real ``earthengine-api`` and ``xee`` clients work against it with no network and no account.

Start it from the command line over a catalog folder (``catalog.json`` + GeoTIFFs)::

    ee-emulator serve --catalog CATALOG_DIR --port 8765      # or: python -m ee_emulator serve ...

or in Python, and point the ordinary client at its URL (no Google credentials; any 6-30 character project id)::

    import ee
    from ee_emulator import CatalogBuilder, EmulatorServer

    with CatalogBuilder("catalog") as builder:
        builder.add_image("COPERNICUS/S1_GRD", "S1_X", s1_db, georef, ["VV", "VH"], {"system:time_start": when})
    with EmulatorServer("catalog") as server:
        ee.Initialize(credentials=None, url=server.url, project="emulator")
        ee.ImageCollection("COPERNICUS/S1_GRD").size().getInfo()

``server.high_volume_url`` (``<url>/highvolume``) is the same API, counted separately in ``server.stats``.
:func:`initialize_ee` does the ``ee.Initialize`` call and also skips the client's lookup of deprecated assets on
Google Cloud Storage, so that initialising needs no network at all.
"""

from ee_emulator.catalog import (
    CATALOG_FILE,
    BandSource,
    Catalog,
    CatalogBuilder,
    CatalogEntry,
    CatalogImage,
    image_from_geotiff,
    write_catalog,
)
from ee_emulator.contract import EarthEngineContract, RequestRecorder, recording
from ee_emulator.errors import DataError, EEError, EmulatorError, InputError, NotImplementedAlgorithm
from ee_emulator.evaluator import Evaluator, implemented_algorithms
from ee_emulator.faults import QUOTA_MESSAGE, FaultConfig, FaultRule
from ee_emulator.pixels import REQUEST_BYTE_LIMIT
from ee_emulator.registry import EvalContext, algorithm
from ee_emulator.server import ENDPOINTS, EmulatorServer, EmulatorStats, initialize_ee

__all__ = [
    "CATALOG_FILE",
    "ENDPOINTS",
    "QUOTA_MESSAGE",
    "REQUEST_BYTE_LIMIT",
    "BandSource",
    "Catalog",
    "CatalogBuilder",
    "CatalogEntry",
    "CatalogImage",
    "DataError",
    "EEError",
    "EarthEngineContract",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorStats",
    "EvalContext",
    "Evaluator",
    "FaultConfig",
    "FaultRule",
    "InputError",
    "NotImplementedAlgorithm",
    "RequestRecorder",
    "algorithm",
    "image_from_geotiff",
    "implemented_algorithms",
    "initialize_ee",
    "recording",
    "write_catalog",
]

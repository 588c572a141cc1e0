"""A local Earth Engine emulator: a loopback HTTP server speaking the EE REST v1 API over a GeoTIFF catalog.

The real ``earthengine-api`` and ``xee`` clients work against it with no network and no account::

    from gee_flood.emulator import CatalogBuilder, EmulatorServer, initialize_ee

    with CatalogBuilder("catalog") as builder:
        builder.add_image("COPERNICUS/S1_GRD", "S1_X", s1_db, georef, ["VV", "VH"], {"system:time_start": when})
    with EmulatorServer("catalog") as server:
        initialize_ee(server)          # ee.Initialize(credentials=None, url=server.url, project="emulator")
        ee.ImageCollection("COPERNICUS/S1_GRD").size().getInfo()
"""

from gee_flood.emulator.catalog import (
    CATALOG_FILE,
    Catalog,
    CatalogBuilder,
    CatalogEntry,
    CatalogImage,
    image_from_geotiff,
    write_catalog,
)
from gee_flood.emulator.errors import EEError, NotImplementedAlgorithm
from gee_flood.emulator.evaluator import EvalContext, Evaluator, algorithm, implemented_algorithms
from gee_flood.emulator.faults import QUOTA_MESSAGE, FaultConfig, FaultRule
from gee_flood.emulator.pixels import REQUEST_BYTE_LIMIT
from gee_flood.emulator.server import ENDPOINTS, EmulatorServer, EmulatorStats, initialize_ee

__all__ = [
    "CATALOG_FILE",
    "ENDPOINTS",
    "QUOTA_MESSAGE",
    "REQUEST_BYTE_LIMIT",
    "Catalog",
    "CatalogBuilder",
    "CatalogEntry",
    "CatalogImage",
    "EEError",
    "EmulatorServer",
    "EmulatorStats",
    "EvalContext",
    "Evaluator",
    "FaultConfig",
    "FaultRule",
    "NotImplementedAlgorithm",
    "algorithm",
    "image_from_geotiff",
    "implemented_algorithms",
    "initialize_ee",
    "write_catalog",
]

"""A local Cloud Storage stand-in: gcp-storage-emulator in memory on a free loopback port.

The real ``google-cloud-storage`` client talks to it when ``STORAGE_EMULATOR_HOST`` points at it, which
:func:`storage_emulator` sets for the duration of the block (and restores afterwards). Used by the demo and the
tests of the asset export and of the Earth Engine emulator's ingestion.

Every bucket reports a location, as Cloud Storage does (``bucket.location``, ``bucket.location_type`` and, for a
configurable dual-region, ``customPlacementConfig.dataLocations``); it is set per bucket with a location spec (see
:func:`bucket_location_fields`), so code that checks where a bucket lives (COG-backed Earth Engine assets need the
US multi-region, a US dual-region including us-central1, or us-central1) can be tested on both sides of the rule.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from ee_emulator.errors import InputError

STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"

#: Cloud Storage's multi-region location codes.
MULTI_REGIONS = ("US", "EU", "ASIA")
#: Cloud Storage's predefined dual-regions and the regions each spans.
PREDEFINED_DUAL_REGIONS = {
    "NAM4": ("US-CENTRAL1", "US-EAST1"),
    "EUR4": ("EUROPE-NORTH1", "EUROPE-WEST4"),
    "EUR5": ("EUROPE-WEST1", "EUROPE-WEST2"),
    "EUR7": ("EUROPE-WEST3", "EUROPE-WEST10"),
    "EUR8": ("EUROPE-WEST3", "EUROPE-WEST6"),
    "ASIA1": ("ASIA-NORTHEAST1", "ASIA-NORTHEAST2"),
}


def bucket_location_fields(spec: str) -> dict[str, Any]:
    """The bucket resource fields of a location spec.

    Args:
        spec: ``"US"`` / ``"EU"`` / ``"ASIA"`` (multi-region), a predefined dual-region (``"NAM4"``), a
            configurable dual-region ``"US-CENTRAL1+US-EAST4"`` (two regions joined by ``+``), or a region
            (``"US-CENTRAL1"``, ``"EUROPE-WEST1"``); case-insensitive.

    Returns:
        ``location``, ``locationType`` and, for a configurable dual-region, ``customPlacementConfig``.

    Raises:
        InputError: For an empty spec or a dual-region that does not name two regions.
    """
    code = spec.strip().upper()
    if not code:
        raise InputError("bucket location: expected a location such as US, US-CENTRAL1, NAM4 or US-CENTRAL1+US-EAST4")
    if "+" in code:
        regions = [part.strip() for part in code.split("+")]
        if len(regions) != 2 or not all(regions):
            raise InputError(f"bucket location {spec!r}: a configurable dual-region names two regions, A+B")
        # Cloud Storage reports a configurable dual-region under its multi-region's code (US, EU, ASIA).
        continent = regions[0].split("-", 1)[0]
        multi = {"NORTHAMERICA": "US", "EUROPE": "EU"}.get(continent, continent)
        return {
            "location": multi,
            "locationType": "dual-region",
            "customPlacementConfig": {"dataLocations": regions},
        }
    if code in MULTI_REGIONS:
        return {"location": code, "locationType": "multi-region"}
    if code in PREDEFINED_DUAL_REGIONS:
        return {"location": code, "locationType": "dual-region"}
    return {"location": code, "locationType": "region"}


#: Earth Engine's rule for buckets behind COG-backed assets (and ``ee.Blob``), as its documentation states it.
COG_BUCKET_RULE = "the US multi-region, a dual-region including US-CENTRAL1, or the US-CENTRAL1 region"


def cog_bucket_allowed(location: str | None, location_type: str | None, data_locations: list[str] | None) -> bool:
    """True if Earth Engine reads COG-backed assets from a bucket at this location (:data:`COG_BUCKET_RULE`).

    A configurable dual-region is reported as ``US`` with its two regions in ``data_locations``; the predefined US
    dual-region that includes us-central1 is ``NAM4``.
    """
    code = (location or "").upper()
    regions = [region.upper() for region in data_locations or []]
    if (location_type or "").lower() == "dual-region":
        return code == "NAM4" or (code == "US" and "US-CENTRAL1" in regions)
    return code in ("US", "US-CENTRAL1")


@contextlib.contextmanager
def storage_emulator(
    bucket: str,
    *,
    host: str = "127.0.0.1",
    location: str = "US",
    buckets: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve an in-memory Cloud Storage with ``bucket`` created; yield its URL.

    Args:
        bucket: Bucket to create.
        host: Loopback address to listen on.
        location: Location spec of ``bucket`` (see :func:`bucket_location_fields`; default the US multi-region).
        buckets: More buckets to create: name -> location spec.

    Yields:
        The emulator's URL (also in ``STORAGE_EMULATOR_HOST`` while the block runs).

    Raises:
        InputError: If gcp-storage-emulator is missing or a location spec is invalid.
    """
    try:
        from gcp_storage_emulator.handlers import buckets as bucket_handlers
        from gcp_storage_emulator.server import create_server
    except ImportError:
        raise InputError(
            "the Cloud Storage stand-in needs gcp-storage-emulator: pip install gcp-storage-emulator"
        ) from None
    wanted = {bucket: location, **dict(buckets or {})}
    fields = {name: bucket_location_fields(spec) for name, spec in wanted.items()}
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = create_server(host, port, in_memory=True)
    # gcp-storage-emulator creates every bucket in the US multi-region and lets no client set a location, so the
    # bucket resources are made and given their location here, through its storage object (no public API for it).
    store = server._storage
    for name, resource_fields in fields.items():
        resource = bucket_handlers.create_bucket(name, store) or store.get_bucket(name)
        resource.update(resource_fields)
        store.create_bucket(name, resource)
    server.start()
    url = f"http://{host}:{port}"
    previous = os.environ.get(STORAGE_EMULATOR_ENV)
    os.environ[STORAGE_EMULATOR_ENV] = url
    try:
        yield url
    finally:
        server.stop()
        if previous is None:
            os.environ.pop(STORAGE_EMULATOR_ENV, None)
        else:
            os.environ[STORAGE_EMULATOR_ENV] = previous

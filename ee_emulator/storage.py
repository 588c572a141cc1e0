"""A local Cloud Storage stand-in: gcp-storage-emulator in memory on a free loopback port.

The real ``google-cloud-storage`` client talks to it when ``STORAGE_EMULATOR_HOST`` points at it, which
:func:`storage_emulator` sets for the duration of the block (and restores afterwards). Used by the demo and the
tests of the asset export and of the Earth Engine emulator's ingestion.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

from ee_emulator.errors import InputError

STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


@contextlib.contextmanager
def storage_emulator(bucket: str, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an in-memory Cloud Storage with ``bucket`` created; yield its URL.

    Args:
        bucket: Bucket to create.
        host: Loopback address to listen on.

    Yields:
        The emulator's URL (also in ``STORAGE_EMULATOR_HOST`` while the block runs).
    """
    try:
        from gcp_storage_emulator.server import create_server
    except ImportError:
        raise InputError(
            "the Cloud Storage stand-in needs gcp-storage-emulator: pip install gcp-storage-emulator"
        ) from None
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = create_server(host, port, in_memory=True, default_bucket=bucket)
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

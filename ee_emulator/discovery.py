"""The REST discovery document and the algorithm list the ``ee`` client fetches when it initialises.

Both are the payloads shipped inside the earthengine-api wheel for its own tests (``ee/tests/``), so they match the
client exactly. The discovery document says ``v1alpha``; the client asks for ``v1``, so every occurrence is
rewritten, and ``image.importExternal`` (missing from the bundled document) is added.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import ee

from ee_emulator.errors import DataError

_TESTS_DIR = Path(ee.__file__).resolve().parent / "tests"
#: The installed earthengine-api's REST discovery document (read at run time, never copied).
DISCOVERY_PATH = _TESTS_DIR / "cloud_api_discovery_document.json"
#: The installed earthengine-api's algorithm list (read at run time, never copied).
ALGORITHMS_PATH = _TESTS_DIR / "algorithms.json"


@functools.lru_cache(maxsize=1)
def _discovery_template() -> dict[str, Any]:
    try:
        text = DISCOVERY_PATH.read_text()
    except OSError as error:
        raise DataError(f"earthengine-api discovery document {DISCOVERY_PATH} is unreadable: {error}") from None
    document = json.loads(text.replace("v1alpha", "v1"))
    methods = document["resources"]["projects"]["resources"]["image"]["methods"]
    if "importExternal" not in methods:
        external = copy.deepcopy(methods["import"])
        external["id"] = "earthengine.projects.image.importExternal"
        external["path"] = external["path"].replace(":import", ":importExternal")
        external["flatPath"] = external["flatPath"].replace(":import", ":importExternal")
        external["description"] = "Imports an external image (COG-backed)."
        methods["importExternal"] = external
    return document


def discovery_document(root_url: str) -> bytes:
    """The discovery document (version ``v1``) with ``rootUrl`` pointing at the emulator."""
    document = copy.deepcopy(_discovery_template())
    root = root_url.rstrip("/") + "/"
    document["rootUrl"] = root
    document["baseUrl"] = root
    return json.dumps(document).encode()


@functools.lru_cache(maxsize=1)
def algorithms_payload() -> bytes:
    """The ``algorithms.list`` answer (991 algorithm signatures, as in the client's own tests)."""
    try:
        return ALGORITHMS_PATH.read_bytes()
    except OSError as error:
        raise DataError(f"earthengine-api algorithm list {ALGORITHMS_PATH} is unreadable: {error}") from None

from __future__ import annotations

import pytest

from ee_emulator import EmulatorServer
from tests.earthengine.test_export import BUCKET
from tests.inference.conftest import make_checkpoint
from tests.watch.catalog import build

COLLECTION = "projects/emulator/assets/watch/po_event"


@pytest.fixture(scope="session")
def watch_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("watch-ckpt") / "student.ckpt")


@pytest.fixture
def storage():
    from ee_emulator.storage import storage_emulator

    with storage_emulator(BUCKET) as url:
        yield url


@pytest.fixture
def growing(tmp_path):
    """Three acquisitions (and a half-cover one) in a catalog that tests add to."""
    return build(tmp_path / "catalog")


@pytest.fixture
def earth_engine(growing, tmp_path):
    with EmulatorServer(growing.root, assets_dir=tmp_path / "assets", operation_step_s=0.01) as server:
        yield server

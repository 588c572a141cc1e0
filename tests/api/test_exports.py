"""The API is exported from gee_flood, and `import gee_flood` stays light (the CLI start-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gee_flood
import gee_flood.api

REPO = Path(__file__).resolve().parents[2]


def test_every_api_name_is_exported_from_gee_flood():
    assert set(gee_flood.__all__) == {"__version__", *gee_flood.api.__all__}
    for name in gee_flood.api.__all__:
        assert getattr(gee_flood, name) is getattr(gee_flood.api, name)
        assert getattr(gee_flood.api, name).__doc__ and "Example" in getattr(gee_flood.api, name).__doc__, name
    assert set(gee_flood.api.__all__) <= set(dir(gee_flood))


def test_import_gee_flood_loads_neither_torch_nor_xarray_nor_earth_engine():
    heavy = "('torch', 'xarray', 'ee', 'gee_flood.api')"
    code = f"import sys, gee_flood; print(sorted(m for m in {heavy} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"

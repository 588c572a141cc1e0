#!/usr/bin/env bash
# Refresh requirements.lock: the exact dependency set that `pip install -e '.[dev]'` resolves to.
#
# Builds a fresh, temporary virtual environment with python3.11 (override with PYTHON=...), installs the project
# with its dev extra from pyproject.toml's ranges alone (no lock), then writes every installed distribution as
# `name==version` (names normalised, sorted) and replaces requirements.lock atomically. pip, and setuptools/wheel
# unless an installed distribution requires them, are left out, as is the project itself. pip's own configuration
# (index, find-links, global constraints) applies as for any install on this machine.
#
# Usage: scripts/update_lock.sh        (takes a few minutes: it installs PyTorch). Review and commit the diff.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
LOCK="requirements.lock"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gee-flood-lock.XXXXXX")"
TMP_LOCK="$(mktemp "$LOCK.tmp.XXXXXX")"
cleanup() { rm -rf "$WORK" "$TMP_LOCK"; }
trap cleanup EXIT

echo "update_lock: fresh venv in $WORK with $("$PYTHON" --version 2>&1)" >&2
"$PYTHON" -m venv "$WORK/venv"
# From pyproject.toml's ranges only: no `-c requirements.lock` here.
"$WORK/venv/bin/pip" install -q -e '.[dev]'
"$WORK/venv/bin/pip" check >&2

"$WORK/venv/bin/python" - "$TMP_LOCK" <<'PY'
"""Write the installed distributions of this interpreter as a sorted `name==version` lock to argv[1]."""

import importlib.metadata
import platform
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "gee-flood"
TOOLING = {"pip", "setuptools", "wheel"}

installed: dict[str, str] = {}
required: set[str] = set()
for dist in importlib.metadata.distributions():
    name = canonicalize_name(dist.metadata["Name"])
    installed.setdefault(name, dist.version)
    extras = {"dev"} if name == PROJECT else {""}
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras):
            required.add(canonicalize_name(req.name))

keep = {name: version for name, version in installed.items() if name != PROJECT}
for tool in TOOLING - required:
    keep.pop(tool, None)

python = f"{platform.python_implementation()} {platform.python_version()}, {sys.platform} {platform.machine()}"
header = f"""\
# requirements.lock: the exact, tested dependency set of `pip install -e '.[dev]'`; install with it as a
# constraints file, as README.md and .ci/run do:
#     python3.11 -m venv .venv && .venv/bin/pip install -c requirements.lock -e '.[dev]'
# Made by scripts/update_lock.sh: a fresh python3.11 venv, `pip install -e '.[dev]'` from pyproject.toml's ranges
# (no lock), then every installed distribution but the project, pip and unrequired setuptools/wheel, names
# normalised and sorted. Resolved on {python}.
# The nvidia-*, cuda-* and triton pins are torch's Linux x86_64 dependencies; as a constraints file only
# constrains, they are ignored where torch does not need them.
# To refresh (new dependency, new range, upgrade): run scripts/update_lock.sh, review the diff, commit it.
# tests/test_packaging.py fails when this file, pyproject.toml and the running environment disagree.
"""
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write(header)
    for name in sorted(keep):
        handle.write(f"{name}=={keep[name]}\n")
PY

chmod 644 "$TMP_LOCK"
mv "$TMP_LOCK" "$LOCK"
echo "update_lock: wrote $(grep -cv '^#' "$LOCK") pins to $LOCK" >&2

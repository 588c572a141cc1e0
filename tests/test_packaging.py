"""The install is what was tested: pyproject.toml, requirements.lock and the running environment agree.

requirements.lock pins every distribution `pip install -e '.[dev]'` installs (scripts/update_lock.sh writes it); CI
and the README install with `-c requirements.lock`. These checks fail when the lock, pyproject.toml's ranges or the
environment drift apart, and when gee_flood or ee_emulator (the two packages the project installs) imports a
third-party package that pyproject.toml does not declare.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
#: The packages the project installs (pyproject.toml's [tool.setuptools] packages).
PACKAGES = (ROOT / "gee_flood", ROOT / "ee_emulator")
LOCK = ROOT / "requirements.lock"
PROJECT = canonicalize_name("gee-flood")
#: Installed by venv/pip themselves; the lock pins them only when a dependency requires them (torch: setuptools).
TOOLING = {canonicalize_name(name) for name in ("pip", "setuptools", "wheel")}
#: Declared runtime dependencies that neither package imports, and why they are declared anyway.
DECLARED_WITHOUT_IMPORT = {
    "torchvision": "segmentation-models-pytorch/timm need it; capped with torch at the locally available build",
    "onnx": "torch.onnx.export needs it for `--runtime onnxruntime` (found with importlib.util.find_spec)",
    "dask": "xarray needs it for the chunked xee reads (`chunks={}`); its extra pins distributed to dask's version",
}
INSTALL_LINE = "pip install -c requirements.lock -e '.[dev]'"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _declared(*, dev: bool) -> list[Requirement]:
    """Return pyproject.toml's ``[project].dependencies``, or its ``dev`` extra when ``dev``."""
    project = _pyproject()["project"]
    lines = project["optional-dependencies"]["dev"] if dev else project["dependencies"]
    return [Requirement(line) for line in lines]


@cache
def _lock() -> dict[NormalizedName, str]:
    """Parse requirements.lock into ``{normalised name: version}``, rejecting anything but ``name==version``."""
    pins: dict[NormalizedName, str] = {}
    for number, raw in enumerate(LOCK.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and not req.extras and req.marker is None, (
            f"requirements.lock:{number}: {raw!r} is not a plain `name==version` pin"
        )
        name = canonicalize_name(req.name)
        assert name not in pins, f"requirements.lock:{number}: {req.name} is pinned twice"
        pins[name] = specs[0].version
    return pins


def _installed() -> dict[NormalizedName, str]:
    """Return ``{normalised name: version}`` of the running environment; the first of duplicates wins, as for import."""
    found: dict[NormalizedName, str] = {}
    for dist in importlib.metadata.distributions():
        found.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    return found


def test_lock_is_sorted_normalised_pins() -> None:
    names = [
        line.split("==", 1)[0] for line in LOCK.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
    ]
    assert names, "requirements.lock pins nothing"
    assert names == sorted(names), "requirements.lock is not sorted: regenerate it with scripts/update_lock.sh"
    assert all(name == canonicalize_name(name) for name in names), "requirements.lock names are not normalised"
    assert PROJECT not in _lock(), "requirements.lock pins the project itself"


@pytest.mark.parametrize("dev", [False, True], ids=["dependencies", "dev-extra"])
def test_every_declared_requirement_is_pinned_within_its_range(dev: bool) -> None:
    lock = _lock()
    problems = []
    for req in _declared(dev=dev):
        if req.marker is not None and not req.marker.evaluate({"extra": "dev" if dev else ""}):
            continue
        name = canonicalize_name(req.name)
        if name not in lock:
            problems.append(f"{req.name}: declared as {str(req)!r} but not pinned in requirements.lock")
        elif not req.specifier.contains(lock[name], prereleases=True):
            problems.append(f"{req.name}: requirements.lock pins {lock[name]}, outside pyproject.toml's {str(req)!r}")
    assert not problems, "pyproject.toml and requirements.lock disagree (run scripts/update_lock.sh):\n" + "\n".join(
        problems
    )


def test_every_installed_distribution_is_locked_at_its_version() -> None:
    lock = _lock()
    problems = [
        f"{name}: installed {version}, "
        + (f"requirements.lock pins {lock[name]}" if name in lock else "not in requirements.lock")
        for name, version in sorted(_installed().items())
        if name != PROJECT and name not in TOOLING and lock.get(name) != version
    ]
    assert not problems, "this environment drifted from requirements.lock:\n" + "\n".join(problems)


def test_every_lock_entry_is_installed_at_its_version() -> None:
    installed = _installed()
    problems = [
        f"{name}: requirements.lock pins {version}, "
        + (f"installed {installed[name]}" if name in installed else "not installed")
        for name, version in sorted(_lock().items())
        if installed.get(name) != version
    ]
    assert not problems, (
        f"this environment is not `{INSTALL_LINE}` of requirements.lock (reinstall with it):\n" + "\n".join(problems)
    )


def _imported_modules(path: Path) -> Iterator[str]:
    """Yield the dotted absolute module names ``path`` imports, anywhere in the module (lazy imports included).

    ``from a.b import c`` yields ``a.b.c``, as ``c`` may be a submodule; the owner lookup falls back to the longest
    prefix that some distribution ships.
    """
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from (f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")


def _owners(module: str) -> set[NormalizedName]:
    """Return the installed distributions that provide ``module`` (empty when none does).

    A top-level name shipped by several distributions is a namespace package (``google``): the owner is the
    distribution that ships the longest prefix of ``module`` as a package or a module file.
    """
    top = module.split(".", 1)[0]
    candidates = {canonicalize_name(name) for name in _packages_distributions().get(top, [])}
    if len(candidates) <= 1:
        return candidates
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        stem = "/".join(parts[:depth])
        owners = {name for name in candidates if _ships(name, stem)}
        if owners:
            return owners
    return candidates


@cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@cache
def _files(name: NormalizedName) -> frozenset[str]:
    files = importlib.metadata.distribution(name).files or []
    return frozenset(file.as_posix() for file in files)


def _ships(name: NormalizedName, stem: str) -> bool:
    """Whether distribution ``name`` ships the package or module whose path without suffix is ``stem``."""
    return any(file.startswith(stem + "/") or file.split(".", 1)[0] == stem for file in _files(name))


def _third_party_imports() -> dict[str, set[str]]:
    """Map each dotted third-party module gee_flood or ee_emulator imports to the files that import it."""
    own = {package.name for package in PACKAGES}
    imports: dict[str, set[str]] = {}
    for path in sorted(path for package in PACKAGES for path in package.rglob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".", 1)[0]
            if top in sys.stdlib_module_names or top in own:
                continue
            imports.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return imports


def test_every_imported_package_is_declared() -> None:
    declared = {canonicalize_name(req.name) for req in _declared(dev=False)}
    undeclared: dict[str, set[str]] = {}
    for module, files in _third_party_imports().items():
        owners = _owners(module)
        if not owners:
            undeclared.setdefault(f"{module}: no installed distribution provides it", set()).update(files)
        elif not owners & declared:
            key = f"{' / '.join(sorted(owners))}: not in [project].dependencies"
            undeclared.setdefault(key, set()).update(files)
    problems = [f"{what} (imported by {', '.join(sorted(files))})" for what, files in sorted(undeclared.items())]
    assert not problems, "gee_flood or ee_emulator imports undeclared packages:\n" + "\n".join(problems)


def test_every_declared_dependency_is_imported_or_explained() -> None:
    imported = set().union(*(_owners(module) for module in _third_party_imports()))
    explained = {canonicalize_name(name) for name in DECLARED_WITHOUT_IMPORT}
    unused = sorted(str(req) for req in _declared(dev=False) if canonicalize_name(req.name) not in imported | explained)
    assert not unused, (
        "declared in [project].dependencies but never imported by gee_flood nor ee_emulator (drop, or explain them in "
        f"DECLARED_WITHOUT_IMPORT): {', '.join(unused)}"
    )


@pytest.mark.parametrize("path", [".ci/run", "README.md"])
def test_installs_use_the_lock(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert INSTALL_LINE in text, f"{path} does not install with `{INSTALL_LINE}`"
    assert "pip install -e '.[dev]'" not in text, f"{path} still installs without requirements.lock"

"""The configs ship inside the package (``gee_flood.configs`` = top-level ``configs/``) and are found by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gee_flood.data import load_dataset_config
from gee_flood.data.dataset_config import DATASET_CONFIG_DIR, list_dataset_configs
from gee_flood.errors import InputError
from gee_flood.training.config import list_packaged_configs, load_config, resolve_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = (ROOT / "configs").resolve()  # the top-level configs/ links to gee_flood/configs
NAMES = sorted(path.stem for path in CONFIGS.glob("*.yaml"))
#: Top-level folders of the repository that are not installed: experiment harnesses, tests, maintenance scripts.
NOT_SHIPPED = ("benchmarks", "tests", "scripts")


def test_the_package_serves_the_top_level_configs_folder():
    assert list_packaged_configs() == NAMES
    assert "ombria_teacher" in NAMES and "sen1floods11_baseline_weak_s1otsu" in NAMES
    assert list_dataset_configs() == sorted(path.stem for path in (CONFIGS / "datasets").glob("*.yaml"))
    # In this (editable) install the packaged files are the repository's own, not copies.
    assert resolve_config("ombria_teacher", role="teacher").resolve() == CONFIGS / "ombria_teacher.yaml"
    assert Path(str(DATASET_CONFIG_DIR)).resolve() == CONFIGS / "datasets"


@pytest.mark.parametrize("name", NAMES)
def test_every_packaged_config_loads_by_name(name):
    role = next(role for role in ("teacher", "student", "baseline") if f"_{role}" in name)
    path = resolve_config(name, role=role)
    assert path.name == f"{name}.yaml"
    config = load_config(path)
    assert config.role == role and config.data.inputs
    assert config.normalization is None  # computed at run time, never committed
    # No default points outside the working directory: data roots are relative and never climb out of it.
    roots = [config.data.root] + [
        source.root for source in (config.data.validation, config.data.unlabelled) if hasattr(source, "root")
    ]
    for root in filter(None, roots):
        assert not root.is_absolute() and ".." not in root.parts, f"{name}: data root {root} leaves the working dir"


@pytest.mark.parametrize("name", list_dataset_configs())
def test_every_packaged_dataset_config_loads(name):
    assert load_dataset_config(name).name == name


@pytest.mark.parametrize(
    ("value", "role", "kind", "expected"),
    [
        ("ombria", "teacher", None, "ombria_teacher"),
        ("ombria", "student", None, "ombria_student"),
        ("ombria", "baseline", "weak", "ombria_baseline_weak"),
        ("ombria", "baseline", "supervised", "ombria_baseline_supervised"),
        ("sen1floods11", "teacher", None, "sen1floods11_teacher"),
        ("sen1floods11", "baseline", "supervised", "sen1floods11_baseline_supervised"),
        ("sen1floods11", "baseline", "weak-s1otsu", "sen1floods11_baseline_weak_s1otsu"),  # kind '-' -> '_'
        ("sen1floods11_baseline_weak_s1otsu", "baseline", "weak", "sen1floods11_baseline_weak_s1otsu"),
        ("ombria_baseline_supervised_all", "baseline", "supervised", "ombria_baseline_supervised_all"),
        ("ombria_student", "student", None, "ombria_student"),
    ],
)
def test_names_resolve_by_role_and_kind(value, role, kind, expected):
    assert resolve_config(value, role=role, kind=kind).name == f"{expected}.yaml"


def test_paths_are_paths(tmp_path, monkeypatch):
    own = tmp_path / "mine.yaml"
    own.write_text("role: teacher\ndata: {inputs: [s1, s2]}\n")
    assert resolve_config(str(own), role="teacher") == own
    assert resolve_config(own, role="teacher") == own  # a Path, as typer passes it
    assert load_config(resolve_config(own, role="teacher")).role == "teacher"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ombria").write_text("role: student\ndata: {inputs: [s1]}\n")
    assert resolve_config("ombria", role="teacher") == Path("ombria")  # an existing file wins over a name
    assert resolve_config("mine.yaml", role="teacher") == Path("mine.yaml")
    with pytest.raises(InputError, match=r"missing\.yaml: config file not found .*ombria_teacher"):
        resolve_config("missing.yaml", role="teacher")
    with pytest.raises(InputError, match="config file not found"):
        resolve_config("some/dir/ombria_teacher", role="teacher")


def test_unknown_name_is_one_line_listing_the_known_names():
    with pytest.raises(InputError) as error:
        resolve_config("ombira", role="teacher")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("ombira: no such config file or packaged config (tried ombira_teacher, ombira)")
    assert message.endswith("packaged configs: " + ", ".join(NAMES))
    with pytest.raises(InputError, match=r"tried sen1floods11_baseline_weak, sen1floods11\)"):
        resolve_config("sen1floods11", role="baseline", kind="weak")  # two weak baselines: name one of them
    with pytest.raises(InputError, match=r"tried ombria_baseline, ombria\)"):
        resolve_config("ombria", role="baseline")


_CHECK_INSTALLED = """
import json
import ee_emulator
import gee_flood
from gee_flood.training.config import list_packaged_configs, load_config, resolve_config
from gee_flood.data import load_dataset_config

path = resolve_config("ombria", role="teacher")
config = load_config(path, {"data.root": "elsewhere/ombria"})
print(json.dumps({
    "package": gee_flood.__file__,
    "emulator": ee_emulator.__file__,
    "algorithms": len(ee_emulator.implemented_algorithms()),
    "path": str(path),
    "role": config.role,
    "names": list_packaged_configs(),
    "dataset": load_dataset_config("sen1floods11").name,
}))
"""


def test_the_wheel_ships_the_configs_and_finds_them_by_name(tmp_path):
    pytest.importorskip("setuptools", reason="the wheel is built without isolation, with this environment's setuptools")
    # Build from a copy of what a wheel is made of, so stale build/ output or other files of the checkout cannot leak.
    source = tmp_path / "source"
    source.mkdir()
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, source / path.name)
    # The harnesses, tests and scripts are copied too, so the check below that none of them ships means something.
    for folder in ("gee_flood", "ee_emulator", "configs", *NOT_SHIPPED):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True, env=env
    )
    (wheel,) = wheels.glob("gee_flood-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    expected_configs = {
        "gee_flood/configs/" + path.relative_to(CONFIGS).as_posix() for path in sorted(CONFIGS.rglob("*.y*ml"))
    }
    assert {"gee_flood/configs/ombria_teacher.yaml", "gee_flood/configs/datasets/ombria.yaml"} <= expected_configs
    assert expected_configs - names == set(), "config files missing from the wheel"
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("gee_flood", "ee_emulator")
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert "ee_emulator/algorithms/images.py" in modules
    modules |= {"gee_flood/configs/__init__.py", "gee_flood/configs/datasets/__init__.py"}
    assert modules - names == set(), "modules missing from the wheel (a subpackage not listed in pyproject.toml?)"
    typed_markers = {"gee_flood/py.typed", "ee_emulator/py.typed"}
    assert all((ROOT / marker).is_file() for marker in typed_markers)
    assert typed_markers - names == set(), "PEP 561 py.typed markers missing from the wheel (package-data)"
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "gee-flood = gee_flood.cli:main" in scripts and "ee-emulator = ee_emulator.cli:main" in scripts
    assert (ROOT / "benchmarks" / "ombria.py").is_file() and (source / "benchmarks" / "ombria.py").is_file()
    shipped = sorted(name for name in names if name.split("/", 1)[0] in NOT_SHIPPED)
    assert shipped == [], "experiment harnesses, tests or scripts in the wheel"
    assert not any(name.startswith("gee_flood/data/testing") for name in names), "test fixtures in the wheel"

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, env=env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _CHECK_INSTALLED],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).is_relative_to(site), found["package"]  # the wheel's copy, not this checkout
    assert Path(found["emulator"]).is_relative_to(site), found["emulator"]
    assert found["algorithms"] > 100  # the emulator's registry fills from the installed algorithm modules
    assert Path(found["path"]) == site / "gee_flood" / "configs" / "ombria_teacher.yaml"
    assert found["role"] == "teacher" and found["dataset"] == "sen1floods11"
    assert found["names"] == NAMES

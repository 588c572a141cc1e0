"""The static type check CI relies on: mypy, configured in pyproject.toml ([tool.mypy]), passes on both packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _mypy(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(PYPROJECT), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_gee_flood_and_ee_emulator_type_check():
    # The packages come from [tool.mypy] packages; the incremental cache is the repository's .mypy_cache/ (ignored
    # by git), so a second run takes seconds instead of about a minute.
    result = _mypy(cwd=ROOT)
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout


def test_the_type_check_fails_on_a_type_error(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def half(value: int) -> int:\n    return value / 2\n")
    result = _mypy("--cache-dir", str(tmp_path / "cache"), str(wrong), cwd=tmp_path)
    assert result.returncode == 1, f"mypy did not fail:\n{result.stdout}{result.stderr}"
    assert f"{wrong.name}:2: error: Incompatible return value type" in result.stdout
    assert "[return-value]" in result.stdout


USER_SCRIPT = """\
import gee_flood

flood = gee_flood.predict("student.ckpt", "s1_scene.tif")
reveal_type(flood)
gee_flood.predict("student.ckpt", 42)
"""


@pytest.mark.slow
def test_a_users_type_checker_finds_the_package_of_an_editable_install(tmp_path):
    """A plain ``pip install -e .`` (strict mode, set in pyproject.toml's [tool.distutils.editable_wheel]) gives a
    user's mypy the package (py.typed) without MYPYPATH; ``scene`` is typed, so passing an int is an error."""
    import shutil
    import sysconfig
    import venv

    source = tmp_path / "repo"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", ".mypy_cache"))
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)  # pip, setuptools, wheel: this environment's (below)
    python = environment / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    # The dependencies (and setuptools for the build) come from this environment's site-packages.
    (Path(site) / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e",
         str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    pth = [path.name for path in Path(site).glob("__editable__*.pth")]
    assert not list(Path(site).glob("__editable__*finder.py")), pth  # no import hook: a folder on sys.path
    user = tmp_path / "user" / "analysis.py"
    user.parent.mkdir()
    user.write_text(USER_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), "--cache-dir", str(tmp_path / "cache"),
         str(user)],
        cwd=user.parent, capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert 'Revealed type is "xarray.core.dataset.Dataset"' in result.stdout, result.stdout
    assert 'analysis.py:5: error: Argument 2 to "predict" has incompatible type "int"' in result.stdout

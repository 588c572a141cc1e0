"""The static type check CI relies on: mypy, configured in pyproject.toml ([tool.mypy]), passes on both packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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

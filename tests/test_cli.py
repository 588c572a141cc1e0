import subprocess
import sys

from typer.testing import CliRunner

from gee_flood.cli import app

runner = CliRunner()


def test_help_lists_every_command_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "fetch", "train", "evaluate", "predict", "map", "data", "emulator"):
        assert command in result.output


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "gee_flood.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "Usage" in result.stdout

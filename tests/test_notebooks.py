"""The example notebooks: valid nbformat, committed without outputs, and the quickstart runs (in a fresh kernel)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_the_notebooks_are_there():
    assert {path.name for path in NOTEBOOKS} == {"quickstart.ipynb", "live-earth-engine.ipynb", "watch.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_are_valid_and_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), f"{path.name} has outputs"
    assert notebook.metadata.kernelspec.name == "python3"


def test_the_live_notebook_says_it_needs_credentials():
    notebook = json.loads((EXAMPLES / "live-earth-engine.ipynb").read_text())
    assert notebook["metadata"]["gee_flood"]["needs_credentials"] is True
    assert "Needs credentials" in "".join(notebook["cells"][0]["source"])


def _run_offline(name: str, tmp_path: Path) -> tuple[list, str]:
    """Execute ``docs/examples/<name>`` in a fresh kernel of this interpreter; its outputs and their text."""
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    # The kernel must be this interpreter (and so this gee_flood): check it from inside, first thing.
    check = nbformat.v4.new_code_cell(f"import sys\nassert sys.executable == {sys.executable!r}, sys.executable")
    notebook.cells.insert(0, check)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", "")) for output in outputs
    )
    return outputs, text


def test_quickstart_runs_offline_in_this_interpreter(tmp_path):
    outputs, text = _run_offline("quickstart.ipynb", tmp_path)
    assert "lazy: Array" in text and "chips written" in text
    assert "FloodModel(" in text and "role: student" in text
    assert "projects/gee-flood-demo/assets/quickstart/flood_map ingested" in text
    assert "Earth Engine: projects/gee-flood-demo/assets/quickstart/flood_map" in text
    # A static picture of the flood map besides the widget: a rendered notebook shows the result.
    assert "static picture: flood map" in text
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) >= 2  # the pair, and the flood map


def test_watch_runs_offline_in_this_interpreter(tmp_path):
    outputs, text = _run_offline("watch.ipynb", tmp_path)
    assert "2 found, 2 mapped, 2 pushed" in text
    assert "rerun: 0 mapped, 2 skipped (already in the collection)" in text
    assert "change detection: 2 mapped, 2 pushed" in text  # checkpoint-free, against the pre-event passes
    assert "'max_extent', 'observations', 'flooded_observations'" in text
    assert "flood map 2023-" in text and "per-acquisition maps" in text  # a layer per date; geemap's time slider
    assert (tmp_path / "gee-flood-watch" / "series" / "flood_duration_days.tif").is_file()

"""`ee-emulator serve` (and `python -m ee_emulator serve`); the picture endpoints (visualize, tiles, thumbnails)."""

from __future__ import annotations

import io
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import requests
from PIL import Image
from typer.testing import CliRunner

from ee_emulator.cli import app
from ee_emulator.serve import serve
from tests.ee_emulator.conftest import JRC, S1, utm_grid
from tests.ee_emulator.test_pixels import grid_dict

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_cli_help_and_resampling_choices(monkeypatch, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--catalog" in result.output and "<nearest|bilinear>" in result.output
    calls: list[dict] = []
    monkeypatch.setattr("ee_emulator.cli.serve", lambda *args, **kwargs: calls.append(kwargs))
    result = runner.invoke(app, ["serve", "--catalog", str(tmp_path), "--resampling", "bilinear"])
    assert result.exit_code == 0, result.output
    assert calls[0]["default_resampling"] == "bilinear"
    result = runner.invoke(app, ["serve", "--catalog", str(tmp_path), "--resampling", "cubic"])
    assert result.exit_code == 2 and "Invalid value for '--resampling'" in result.output


def test_cli_rejects_bad_catalog_and_remote_host(tmp_path: Path, catalog) -> None:
    result = runner.invoke(app, ["serve", "--catalog", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: emulator catalog {tmp_path}: has no catalog.json" in result.output
    result = runner.invoke(app, ["serve", "--catalog", str(catalog.root), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "only loopback is allowed" in result.output
    (tmp_path / "faults.json").write_text('{"rules": [{"endpoint": "*", "kind": "meteor"}]}')
    result = runner.invoke(app, ["serve", "--catalog", str(catalog.root), "--faults",
                                 str(tmp_path / "faults.json")])  # fmt: skip
    assert result.exit_code == 2 and "fault kind 'meteor'" in result.output


def test_serve_announces_url_and_stops(catalog) -> None:
    lines: list[str] = []
    stop = threading.Event()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(serve(catalog.root, port=0, announce=lines.append,
                                                                 stop=stop)))  # fmt: skip
    thread.start()
    for _ in range(500):
        if any("press Ctrl-C" in line for line in lines):
            break
        threading.Event().wait(0.01)
    url = lines[0].rsplit(" at ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/v1/projects/emulator/algorithms", timeout=5).status_code == 200
    assert any("initialize_ee(" in line for line in lines)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and result["requests"] == {"algorithms": 1}


def test_keyboard_interrupt_stops_serving(catalog) -> None:
    class CtrlC(threading.Event):
        def wait(self, timeout=None):  # noqa: ANN001, ANN202
            raise KeyboardInterrupt

    lines: list[str] = []
    stats = serve(catalog.root, port=0, announce=lines.append, stop=CtrlC())
    assert lines[-1] == "stopping" and stats["requests"] == {}


def test_ctrl_c_stops_the_cli_cleanly(catalog) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ee_emulator", "serve", "--catalog", str(catalog.root), "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        first = process.stdout.readline()
        url = first.strip().rsplit(" at ", 1)[1]
        assert requests.get(f"{url}/$discovery/rest?version=v1", timeout=10).json()["version"] == "v1"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopping" in out and "Traceback" not in err


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2**z)
    return x, y


def test_visualize_map_tiles_and_thumbnails(ee_client) -> None:
    ee = ee_client
    water = ee.Image(JRC).visualize(min=0, max=100, palette=["000000", "ff0000"])
    rgb = ee.data.computePixels({"expression": water, "fileFormat": "NUMPY_NDARRAY", "grid": grid_dict(utm_grid())})
    assert rgb.dtype.names == ("vis-red", "vis-green", "vis-blue") and rgb.dtype["vis-red"] == np.uint8
    cols = np.arange(64)[None, :].repeat(64, 0)
    np.testing.assert_array_equal(rgb["vis-red"], np.where(cols > 48, 255, 0))
    assert rgb["vis-green"].max() == 0
    map_id = ee.Image(f"{S1}/S1_A").select("VV").getMapId({"min": -20, "max": -10, "palette": ["0000ff", "ffffff"]})
    x, y = tile_of(15.004, 45.156, 15)
    tile = requests.get(map_id["tile_fetcher"].format_tile_url(x, y, 15), timeout=10)
    assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(tile.content)))
    assert pixels.shape == (256, 256, 4)
    opaque = pixels[..., 3] == 255
    assert 0 < opaque.mean() < 1  # the image covers part of the tile; the rest is transparent
    assert np.all(pixels[opaque][:, 2] == 255)  # the palette runs from blue to white: blue is always full
    thumb_url = (
        ee.Image(f"{S1}/S1_A")
        .select("VV")
        .getThumbURL(
            {"min": -20, "max": -10, "dimensions": 32, "region": ee.Image(f"{S1}/S1_A").geometry(), "format": "png"}
        )
    )
    thumb = np.asarray(Image.open(io.BytesIO(requests.get(thumb_url, timeout=10).content)))
    assert thumb.shape[:2] == (32, 32) or max(thumb.shape[:2]) == 32
    assert thumb[..., 3].mean() > 200

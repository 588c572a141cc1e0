"""The HTML map: self-contained (Leaflet inlined, PNG overlays as data URIs), correct bounds, and, rendered by
headless Chromium with no network, the water colour where the map has water."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform_bounds
from typer.testing import CliRunner

from gee_flood.cli import app
from gee_flood.mapping import write_map_html
from tests.inference.conftest import synthetic_s1, write_s1
from tests.inference.maps import write_flood_map

runner = CliRunner()
CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)


@pytest.fixture(scope="module")
def left_half_flooded(tmp_path_factory) -> Path:
    water = np.zeros((400, 400), np.uint8)
    water[:, :200] = 1  # flooded: the left (western) half
    return write_flood_map(tmp_path_factory.mktemp("map") / "flood.tif", water, cog=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory, left_half_flooded) -> Path:
    scene = write_s1(tmp_path_factory.mktemp("s1") / "s1.tif", synthetic_s1(400, 400))
    html = tmp_path_factory.mktemp("html") / "map.html"
    result = runner.invoke(app, ["map", "--view", str(left_half_flooded), "--out", str(html), "--s1", str(scene)])
    assert result.exit_code == 0, result.output
    return html


def test_page_is_self_contained(page):
    text = page.read_text()
    assert "cdn.jsdelivr.net/npm/leaflet@" not in text  # Leaflet is inlined, the page works offline
    assert "L.map(" in text and "L.imageOverlay(" in text
    assert text.count("data:image/png;base64,") == 4  # S1 and the flood map's three layers embedded
    for layer in ("flood map", "excluded", "reference water"):  # each its own layer in the layer control
        assert f'"{layer}"' in text
    assert "flood" in text and "not flood (mapped)" in text and "excluded" in text  # legend
    # nothing render-blocking from a CDN: only the basemap tiles (and an EE layer) may need the network
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', text)


def test_overlay_bounds_are_the_maps_lat_lon_bounds(page, left_half_flooded):
    with rasterio.open(left_half_flooded) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    text = page.read_text()
    numbers = re.findall(
        r"L\.imageOverlay\(\s*\"data:image/png;base64,[^\"]+\",\s*(\[\[[^\]]+\],\s*\[[^\]]+\]\])", text
    )
    assert numbers
    (s, w), (n, e) = eval(numbers[-1])  # noqa: S307 - a literal list from our own page
    # Web Mercator grid snaps outward by at most a pixel (about 10 m, 1e-4 degrees)
    assert abs(s - south) < 2e-4 and abs(n - north) < 2e-4 and abs(w - west) < 2e-4 and abs(e - east) < 2e-4


def _screenshot(html: Path, shot: Path, *, budget_ms: int) -> np.ndarray:
    """Render ``html`` in headless Chromium with every host name unresolvable (no network, and no waiting on it)."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", f"--screenshot={shot}",
            "--window-size=1000,800", f"--virtual-time-budget={budget_ms}", html.as_uri(),
        ]  # fmt: skip
        # its own session, so that a timeout kills Chromium's helper processes too
        with subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        ) as chromium:
            try:
                _, stderr = chromium.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(chromium.pid, signal.SIGKILL)
                chromium.communicate()
                pytest.fail(f"headless Chromium did not finish {html.name} in 90 s")
        assert chromium.returncode == 0 and shot.is_file(), stderr.decode(errors="replace")[-2000:]
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def _water(pixels: np.ndarray) -> np.ndarray:
    """Pixels of the water colour (#005aff at 84 % over the map background), legend swatch excluded."""
    r, b = pixels[..., 0], pixels[..., 2]
    water = (b > 200) & (r < 100) & (b - r > 120)
    water[pixels.shape[0] - 200 :, pixels.shape[1] - 250 :] = False
    return water


# CI installs Chromium and sets GEE_FLOOD_REQUIRE_CHROMIUM=1, so there the check cannot be skipped silently.
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("GEE_FLOOD_REQUIRE_CHROMIUM"),
    reason="Chromium is not installed (apt-get install chromium); CI installs it",
)
def test_headless_chromium_shows_water_in_the_left_half(tmp_path, left_half_flooded):
    html = write_map_html(left_half_flooded, tmp_path / "plain.html")
    pixels = _screenshot(html, tmp_path / "shot.png", budget_ms=5000)
    if not _water(pixels).any():  # a heavily loaded machine may not have painted the overlay yet: one more try
        pixels = _screenshot(html, tmp_path / "shot2.png", budget_ms=20000)
    height, width, _ = pixels.shape
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    water = _water(pixels)
    ys, xs = np.nonzero(water)
    assert water.sum() > 0.05 * height * width, "no water-coloured overlay on the page"
    # the map is centred on the flood map: water must sit left of the centre line, not right of it
    assert (xs < width / 2).mean() > 0.97
    assert xs.max() - xs.min() > 100 and ys.max() - ys.min() > 100
    # and the right half of the overlay shows the faint 'not water' grey instead
    grey = (np.abs(r - 204) <= 6) & (np.abs(g - 204) <= 6) & (np.abs(b - 204) <= 6)
    assert grey[:, width // 2 : width - 100].sum() > 10 * grey[:, 100 : width // 2].sum()


def test_bad_view_inputs_are_one_line_errors(tmp_path, left_half_flooded):
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    for args, message in [
        (["--view", str(bare), "--out", str(tmp_path / "a.html")], "has no CRS"),
        (["--view", str(left_half_flooded)], "--view needs --out"),
        (["--view", str(left_half_flooded), "--out", str(tmp_path / "a.png")], "expected an .html path"),
        ([], "give --mask"),
    ]:
        result = runner.invoke(app, ["map", *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "a.html").exists()


def test_unreachable_earth_engine_still_writes_the_page_with_one_warning(tmp_path, left_half_flooded, monkeypatch):
    from gee_flood.earthengine import export
    from gee_flood.errors import RemoteError

    def unreachable(project, ee_url=None):
        # what gee_flood.earthengine.initialize raises when ee.Initialize cannot connect (after ~40 s of retries)
        raise RemoteError(f"could not initialise Earth Engine at {ee_url}: ConnectionError")

    monkeypatch.setattr(export, "ensure_initialized", unreachable)
    html = tmp_path / "ee.html"
    result = runner.invoke(
        app,
        ["map", "--view", str(left_half_flooded), "--out", str(html), "--asset", "projects/emulator/assets/x",
         "--ee-url", "http://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no Earth Engine layer" in warnings[0]
    assert "L.imageOverlay(" in html.read_text()

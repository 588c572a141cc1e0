"""Every scene shape makes a valid Cloud-Optimized GeoTIFF: the writer, ``gee-flood predict`` and ``write_cog``.

rio-cogeo calls an image exactly one tile (512 px) wide "not tiled" (its block is as wide as the image): a
1500 x 1024 scene's first overview is 750 x 512, a 513 x 512 scene is itself one tile wide. Such files are tiled,
valid COGs; :func:`gee_flood.inference.output.cog_errors` reads the TIFF tags instead of trusting that heuristic.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import tifffile
from typer.testing import CliRunner

import gee_flood
from gee_flood.cli import app
from gee_flood.errors import DataError
from gee_flood.inference.output import FloodMapWriter, cog_errors, to_cog
from tests.inference.conftest import ORIGIN, UTM, synthetic_s1, write_s1

# (height, width): tall, wide, square, powers of two, one tile, one pixel more than a tile, one pixel.
SHAPES = [
    (1500, 1024),  # tall, a power-of-two width (the first overview is 750 x 512)
    (3000, 2048),
    (2048, 4096),  # wide, powers of two
    (4096, 2048),
    (1024, 1024),  # square
    (512, 512),  # one tile
    (513, 512),  # one pixel taller than a tile
    (512, 513),  # one pixel wider than a tile
    (1025, 700),
    (1, 1),
]


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_the_flood_map_writer_makes_a_valid_tiled_cog_of_every_shape(tmp_path, height, width):
    tiled = tmp_path / "tiled.tif"
    writer = FloodMapWriter(tiled, crs=UTM, transform=ORIGIN, width=width, height=height, bands=("likelihood", "water"))
    values = np.zeros((2, height, width), np.uint8)
    values[1, :, : width // 2] = 1
    writer.write_any(0, values)
    writer.close()
    cog = to_cog(tiled, tmp_path / "map.tif")
    assert cog_errors(cog) == []
    with tifffile.TiffFile(cog) as tif:
        assert all(page.is_tiled for page in tif.pages)  # every image, overviews included, in 512 px tiles
    with rasterio.open(cog) as src:
        assert (src.height, src.width) == (height, width)
        np.testing.assert_array_equal(src.read(), values)


def test_a_stripped_geotiff_is_still_refused(tmp_path):
    path = tmp_path / "stripped.tif"
    with rasterio.open(path, "w", driver="GTiff", width=700, height=900, count=1, dtype="uint8", crs=UTM,
                       transform=ORIGIN) as dst:  # fmt: skip
        dst.write(np.zeros((1, 900, 700), np.uint8))
    assert any("not tiled" in error for error in cog_errors(path))


@pytest.mark.parametrize(("height", "width"), [(513, 512), (1030, 512)])
def test_predict_and_write_cog_take_one_tile_wide_scenes(student_ckpt, tmp_path, height, width):
    scene = write_s1(tmp_path / "scene.tif", synthetic_s1(height, width, seed=1))
    cli_out = tmp_path / "cli.tif"
    args = ["--checkpoint", str(student_ckpt), "--input", str(scene), "--out", str(cli_out)]
    result = CliRunner().invoke(app, ["predict", *args, "--tile", "256", "--overlap", "32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert cog_errors(cli_out) == []
    flood = gee_flood.predict(student_ckpt, scene, tile=256, overlap=32)
    api_out = gee_flood.write_cog(flood, tmp_path / "api.tif")
    assert cog_errors(api_out) == []
    with rasterio.open(api_out) as api_map, rasterio.open(cli_out) as cli_map:
        assert (api_map.height, api_map.width) == (height, width)
        np.testing.assert_array_equal(api_map.read(), cli_map.read())


def test_an_invalid_cog_leaves_nothing(tmp_path, monkeypatch):
    from gee_flood.inference import output

    tiled = tmp_path / "tiled.tif"
    writer = FloodMapWriter(tiled, crs=UTM, transform=ORIGIN, width=600, height=600, bands=("likelihood", "water"))
    writer.write_any(0, np.zeros((2, 600, 600), np.uint8))
    writer.close()
    monkeypatch.setattr(output, "cog_errors", lambda path: ["broken"])
    with pytest.raises(DataError, match="broken"):
        to_cog(tiled, tmp_path / "map.tif")
    assert not (tmp_path / "map.tif").exists()

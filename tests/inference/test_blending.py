"""Tiling and blending: the streamed, tiled result equals whole-image inference and shows no seams."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from gee_flood.inference import ArraySceneSource, TilePlan, TileRunner, blend_weights, iter_probability_rows
from gee_flood.models import LoadedModel

from .conftest import ORIGIN, UTM, tiny_card


class Pointwise(nn.Module):
    """logit = 2 * normalised VV - 1 * normalised VH + 0.3 (no spatial context)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 1)
        with torch.no_grad():
            self.conv.weight[:] = torch.tensor([2.0, -1.0]).reshape(1, 2, 1, 1)
            self.conv.bias[:] = 0.3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Blur(nn.Module):
    """A 9x9 box blur of normalised VV with zero padding: like a CNN, wrong near its input's borders."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 9, padding=4, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 1.0 / 81.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 * self.conv(x)


def runner(model: nn.Module, batch_size: int = 3) -> TileRunner:
    return TileRunner(LoadedModel(model=model.eval(), card=tiny_card()), device="cpu", batch_size=batch_size)


def smooth_scene(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    vv = -12.0 + 6.0 * np.sin(cols / 23.0) * np.cos(rows / 31.0)
    return np.stack([vv, vv - 7.0]).astype(np.float32)


def stream(source, model, plan, **kw) -> np.ndarray:
    rows = list(iter_probability_rows(source, runner(model), plan, **kw))
    starts = [r.row_start for r in rows]
    assert starts == sorted(starts)
    return np.concatenate([r.probability for r in rows])


def whole_image(model: nn.Module, s1_db: np.ndarray) -> np.ndarray:
    normalised = tiny_card().normalization.normalize("s1", s1_db)
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(normalised)[None]))[0, 0].numpy()


def test_weights_are_smooth_positive_and_peak_in_the_centre():
    weights = blend_weights(64)
    assert weights.shape == (64, 64)
    assert weights.min() > 0
    assert weights[32, 32] == pytest.approx(1.0, abs=2e-3)
    assert weights[0, 0] < 1e-3
    assert np.allclose(weights, weights.T)


def test_plan_covers_the_scene_and_ends_at_the_edge():
    plan = TilePlan(150, 230, tile=64, overlap=16)
    assert plan.row_origins[0] == 0 and plan.row_origins[-1] == 150 - 64
    assert plan.col_origins[-1] == 230 - 64
    assert all(b - a <= plan.stride for a, b in zip(plan.col_origins, plan.col_origins[1:], strict=False))
    assert TilePlan(20, 40, tile=64, overlap=16).row_origins == (0,)
    assert plan.row_origins_touching(100, 120) == tuple(y for y in plan.row_origins if y < 120 and y + 64 > 100)


def test_pointwise_model_matches_whole_image_exactly():
    s1_db = smooth_scene(150, 230) + np.random.default_rng(1).normal(0, 2, (2, 150, 230)).astype(np.float32)
    source = ArraySceneSource(s1_db, UTM, ORIGIN)
    tiled = stream(source, Pointwise(), TilePlan(150, 230, tile=64, overlap=16))
    assert tiled.shape == (150, 230)
    np.testing.assert_allclose(tiled, whole_image(Pointwise(), s1_db), atol=2e-6)


def test_scene_smaller_than_a_tile_is_padded_not_cropped():
    s1_db = smooth_scene(40, 50)
    tiled = stream(ArraySceneSource(s1_db, UTM, ORIGIN), Pointwise(), TilePlan(40, 50, tile=64, overlap=16))
    np.testing.assert_allclose(tiled, whole_image(Pointwise(), s1_db), atol=2e-6)


def _border_step(probability: np.ndarray, reference: np.ndarray, plan: TilePlan) -> float:
    """Largest extra column-to-column step at tile borders compared with whole-image inference (rows inside)."""
    extra = np.abs(np.diff(probability, axis=1) - np.diff(reference, axis=1))[8:-8]
    borders = {x - 1 for x in plan.col_origins[1:]} | {x + plan.tile - 1 for x in plan.col_origins[:-1]}
    return float(max(extra[:, j].max() for j in borders if j < extra.shape[1]))


def test_context_model_shows_no_seams_with_hann_blending():
    s1_db = smooth_scene(160, 300)
    hann = TilePlan(160, 300, tile=64, overlap=32, window="hann")
    uniform = TilePlan(160, 300, tile=64, overlap=32, window="uniform")
    source = ArraySceneSource(s1_db, UTM, ORIGIN)
    reference = whole_image(Blur(), s1_db)
    blended = stream(source, Blur(), hann)
    averaged = stream(source, Blur(), uniform)
    # Plain averaging of zero-padded tiles leaves steps where tiles start and end; the Hann window does not.
    assert _border_step(averaged, reference, uniform) > 0.03
    assert _border_step(blended, reference, hann) < 0.002
    # Away from the scene border (where whole-image inference is zero-padded too), blending is close to whole-image.
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(blended - reference)[inner].max() < 0.01


def test_nan_input_gives_nan_probability_only_there():
    s1_db = smooth_scene(100, 120)
    s1_db[0, 30:40, 50:70] = np.nan
    s1_db[1, 80:90, 0:10] = np.nan
    tiled = stream(ArraySceneSource(s1_db, UTM, ORIGIN), Pointwise(), TilePlan(100, 120, tile=64, overlap=16))
    expected_nodata = ~np.isfinite(s1_db).all(axis=0)
    np.testing.assert_array_equal(np.isnan(tiled), expected_nodata)


def test_row_blocks_give_the_same_pixels_as_one_pass():
    s1_db = smooth_scene(300, 140)
    plan = TilePlan(300, 140, tile=64, overlap=16)
    source = ArraySceneSource(s1_db, UTM, ORIGIN)
    one_pass = stream(source, Blur(), plan)
    blocks = [stream(source, Blur(), plan, row_start=a, row_stop=b) for a, b in plan.row_blocks(70)]
    np.testing.assert_allclose(np.concatenate(blocks), one_pass, atol=1e-6)


def test_blocks_over_rows_and_columns_give_the_same_pixels_and_read_only_their_tiles():
    s1_db = smooth_scene(300, 260)
    plan = TilePlan(300, 260, tile=64, overlap=16)
    source = RecordingSource(s1_db, UTM, ORIGIN)
    one_pass = stream(source, Blur(), plan)
    source.windows.clear()
    mosaic = np.full_like(one_pass, np.nan)
    for top, bottom in plan.row_blocks(70):
        for left, right in plan.col_blocks(90):
            mosaic[top:bottom, left:right] = stream(
                source, Blur(), plan, row_start=top, row_stop=bottom, col_start=left, col_stop=right
            )
            # only the columns of the tiles over the block are read, not the scene's width
            columns = plan.col_origins_touching(left, right)
            assert {window[2:] for window in source.windows} == {(columns[0], columns[-1] + 64)}
            source.windows.clear()
    np.testing.assert_allclose(mosaic, one_pass, atol=1e-6)
    assert plan.col_origins_touching(100, 101) == tuple(x for x in plan.col_origins if x < 101 and x + 64 > 100)


class RecordingSource(ArraySceneSource):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.reads: list[tuple[int, int]] = []
        self.windows: list[tuple[int, int, int, int]] = []

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:
        self.reads.append((row_start, row_stop))
        return super().read_rows(row_start, row_stop)

    def read_window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
        self.windows.append((row_start, row_stop, col_start, col_stop))
        return super().read_window(row_start, row_stop, col_start, col_stop)


def test_streaming_holds_one_tile_row_not_the_scene():
    height, width, tile = 4096, 256, 64
    source = RecordingSource(smooth_scene(height, width), UTM, ORIGIN)
    plan = TilePlan(height, width, tile=tile, overlap=16)
    whole_scene_accumulators = 2 * height * width * 4  # sum(p*w) and sum(w) as float32 for the whole scene
    tracemalloc.start()
    rows = 0
    for part in iter_probability_rows(source, runner(Pointwise(), batch_size=8), plan):
        rows += part.probability.shape[0]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rows == height
    assert max(stop - start for start, stop in source.reads) <= tile
    assert peak < whole_scene_accumulators / 8, f"peak {peak} bytes"

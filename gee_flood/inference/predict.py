"""``gee-flood predict``: a SAR-only checkpoint over a whole Sentinel-1 scene, streamed, into a Cloud-Optimized GeoTIFF.

The scene is read in full-width row strips and predicted with overlapping, Hann-blended tiles
(:mod:`gee_flood.inference.streaming`); finished rows are encoded and written block row by block row into a tiled
GeoTIFF, which rio-cogeo then turns into a validated COG, renamed into place atomically. Memory stays
``O(tile x width)`` whatever the scene height. With a Dask scheduler the scene is split into row blocks, each a Dask
task that predicts its rows over the same global tile grid (so results do not depend on the split) and returns
its encoded rows, which the caller writes as they arrive.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from affine import Affine
from pydantic import BaseModel, Field
from rasterio.crs import CRS
from rich.console import Console

from gee_flood._io import temporary_directory
from gee_flood._progress import progress_bar
from gee_flood._version import __version__
from gee_flood.errors import DataError, InputError, RemoteError
from gee_flood.inference.output import BLOCK, BandSpec, FloodMapWriter, to_cog
from gee_flood.inference.polygons import write_flood_polygons
from gee_flood.inference.runner import EnsembleRunner, TileRunner, check_runtime, check_sar_only
from gee_flood.inference.source import SceneSource, describe_crs
from gee_flood.inference.streaming import iter_probability_rows, read_window
from gee_flood.inference.tiling import TilePlan
from gee_flood.product.cleanup import clean_product
from gee_flood.product.inputs import Grid, ProductInputs
from gee_flood.product.layers import LAYERS, NODATA
from gee_flood.service_requests import PredictOptions, RuntimeName, WindowName

if TYPE_CHECKING:
    from gee_flood.inference.model import FloodModel

#: GDAL's block cache during prediction (MB). GDAL's default, 5 % of RAM, would let the cache alone grow past the
#: memory budget on a large machine.
GDAL_CACHE_MB = 128


class PredictionSummary(BaseModel):
    """What predict wrote."""

    output: str
    polygons: str | None = None
    width: int
    height: int
    crs: str
    transform: list[float]
    tiles: int
    threshold: float
    valid_pixels: int
    water_pixels: int
    water_fraction: float = Field(description="water pixels / valid pixels")
    flood_pixels: int = Field(description="flood pixels: water, not reference water, not excluded, after cleanup")
    removed_pixels: int = Field(0, description="flood pixels removed by the minimum mapping unit")
    border_pixels: int = Field(0, description="valid pixels masked as Sentinel-1 border noise")
    flooded_km2: float = Field(description="flooded area on the ground (km², WGS 84 ellipsoid)")
    excluded_km2: float = Field(description="valid area excluded (shadow/layover, slope, HAND, urban; km²)")
    polygon_count: int | None = None
    device: str
    scheduler: str
    seconds: float


def resolution_warning(source: SceneSource, expected_m: float | None) -> str | None:
    """The warning for a scene whose pixels are not within a factor 2 of the checkpoint's (``None``: fine).

    The same words from the CLI (printed) and :func:`gee_flood.predict` (a :class:`~gee_flood.errors.GeeFloodWarning`).
    """
    if not expected_m:
        return None
    if source.crs.is_geographic:
        pixel_m = abs(source.transform.a) * 111_320.0 * math.cos(math.radians(source.transform.f))
    else:
        pixel_m = abs(source.transform.a) * (source.crs.linear_units_factor[1] if source.crs.linear_units_factor else 1)
    if 0.5 * expected_m <= pixel_m <= 2.0 * expected_m:
        return None
    return (
        f"{source.name}: pixels are about {pixel_m:.1f} m, the checkpoint was trained at {expected_m:g} m; "
        "predictions may be poor (resample the scene first)"
    )


def _warn_resolution(source: SceneSource, expected_m: float | None, console: Console) -> None:
    warning = resolution_warning(source, expected_m)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True, markup=True, highlight=False)


def _progress(total: int, enabled: bool, console: Console, label: str) -> contextlib.AbstractContextManager[Any]:
    """The one progress display (:mod:`gee_flood._progress`): only on a terminal, never with ``--quiet``."""
    return progress_bar(total, label, enabled=enabled, console=console)


def predict_rows(
    source: SceneSource,
    runner: TileRunner | EnsembleRunner,
    plan: TilePlan,
    row_start: int,
    row_stop: int,
    col_start: int = 0,
    col_stop: int | None = None,
) -> np.ndarray:
    """Water probability of a block of the scene, streamed through the scene's global tile grid.

    Rows ``[row_start, row_stop)``, columns ``[col_start, col_stop)`` (default: to the scene's width). Any split of
    the scene into blocks gives the same pixels as a whole-scene run.

    Returns:
        ``(rows, cols)`` float32 probability 0-1, NaN where the input has no data.
    """
    col_stop = source.width if col_stop is None else col_stop
    out = np.empty((row_stop - row_start, col_stop - col_start), np.float32)  # filled as rows finish: no 2nd copy
    strips = iter_probability_rows(
        source, runner, plan, row_start=row_start, row_stop=row_stop, col_start=col_start, col_stop=col_stop
    )
    for rows in strips:
        out[rows.row_start - row_start : rows.row_start - row_start + rows.probability.shape[0]] = rows.probability
    return out


class _Window:
    """A window of a scene (rows and columns), read once, served as the scene to the streaming tiler.

    A block's tile rows overlap: read straight from a lazy (xee) array, each strip would compute whole Dask chunks
    again (new ``computePixels`` requests). Reading the block's input window once bounds memory by the block instead.
    """

    def __init__(
        self, source: SceneSource, window: tuple[int, int, int, int], values: np.ndarray | None = None
    ) -> None:
        self.height, self.width, self.crs, self.transform = source.height, source.width, source.crs, source.transform
        self.name = source.name
        self.modalities = source.modalities
        self.row_start, row_stop, self.col_start, col_stop = window
        self.values = read_window(source, *window) if values is None else values

    def read_window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray:
        """A window of the scene (within the window read)."""
        rows = slice(row_start - self.row_start, row_stop - self.row_start)
        return self.values[:, rows, col_start - self.col_start : col_stop - self.col_start]

    def read_rows(self, row_start: int, row_stop: int) -> np.ndarray:
        """Whole rows of the scene (the window read must span the width)."""
        return self.read_window(row_start, row_stop, 0, self.width)


@dataclass(frozen=True)
class ScenePrediction:
    """A checked prediction of one scene: the one pipeline of ``gee-flood predict`` and :func:`gee_flood.predict`.

    Built by :func:`plan_prediction`; pickles small (the model as its checkpoint path, the scene source), so it is
    what each Dask task of either receives.

    Attributes:
        model: The SAR-only model (:func:`gee_flood.open_model`).
        source: The Sentinel-1 scene (VV, VH dB); the output has its grid.
        plan: The global overlapping tile grid.
        threshold: Water probability threshold (0-1).
        device: Torch device (``None``: CUDA when present).
        batch_size: Tiles per forward pass.
        runtime: ``auto``, ``torch`` or ``onnxruntime``.
        product: Reference water, terrain, drainage and land cover on the scene's grid, and the thresholds.
        ensemble: Further SAR-only models: the probability is then the mean of ``model``'s and theirs (the
            product's ``likelihood`` with several models).
    """

    model: FloodModel
    source: SceneSource
    plan: TilePlan
    threshold: float
    device: str | None
    batch_size: int
    runtime: RuntimeName
    product: ProductInputs
    ensemble: tuple[FloodModel, ...] = ()

    @property
    def models(self) -> tuple[FloodModel, ...]:
        """Every model whose probabilities are averaged (``model`` alone unless an ensemble)."""
        return (self.model, *self.ensemble)

    def runner(self) -> TileRunner | EnsembleRunner:
        """The tile runner for this device, batch size and runtime (built once per model and process).

        Several models run as one :class:`~gee_flood.inference.runner.EnsembleRunner` (their mean probability).
        """
        runners = [model.runner(device=self.device, batch_size=self.batch_size, runtime=self.runtime)
                   for model in self.models]  # fmt: skip
        return runners[0] if len(runners) == 1 else EnsembleRunner(runners)

    def row_blocks(self, block_rows: int) -> list[tuple[int, int]]:
        """The scene's ``[start, stop)`` row blocks of about ``block_rows`` rows (rounded up to whole COG blocks)."""
        return self.plan.row_blocks(_whole_blocks(block_rows))

    def blocks(self, block_rows: int, block_cols: int) -> list[list[tuple[int, int, int, int]]]:
        """The scene's blocks ``(row_start, row_stop, col_start, col_stop)``, a list per row of blocks.

        About ``block_rows`` x ``block_cols`` pixels each, both rounded up to whole COG blocks (512 px).
        """
        columns = self.plan.col_blocks(_whole_blocks(block_cols))
        return [[(*rows, *cols) for cols in columns] for rows in self.row_blocks(block_rows)]

    def input_rows(self, row_start: int, row_stop: int) -> tuple[int, int]:
        """The scene rows ``[start, stop)`` the tiles of a row block read."""
        origins = self.plan.row_origins_touching(row_start, row_stop)
        return origins[0], min(origins[-1] + self.plan.tile, self.source.height)

    def input_window(self, block: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The scene window ``(row_start, row_stop, col_start, col_stop)`` the tiles of a block read.

        The block's columns are widened by the column of halo its layers need (:meth:`block_probability`).
        """
        row_start, row_stop, col_start, col_stop = self._with_halo(block)
        columns = self.plan.col_origins_touching(col_start, col_stop)
        return (*self.input_rows(row_start, row_stop), columns[0], min(columns[-1] + self.plan.tile, self.source.width))

    def _with_halo(self, block: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A block widened by one column on each side within the scene (the slope of a DEM needs its neighbours)."""
        row_start, row_stop, col_start, col_stop = block
        return row_start, row_stop, max(0, col_start - 1), min(self.source.width, col_stop + 1)

    def probability_rows(self, row_start: int, row_stop: int, values: np.ndarray | None = None) -> np.ndarray:
        """One row block: ``(rows, width)`` float32 probability 0-1 (NaN no data), its input rows read once.

        ``values``: the block's input rows (:meth:`input_rows`) already read (a Dask dependency), else they are read
        from the source.
        """
        window = _Window(self.source, (*self.input_rows(row_start, row_stop), 0, self.source.width), values=values)
        return predict_rows(window, self.runner(), self.plan, row_start, row_stop)

    def block_probability(self, block: tuple[int, int, int, int], values: np.ndarray | None = None) -> np.ndarray:
        """The probability (float32 0-1, NaN no data) of a block widened by its column of halo within the scene.

        ``values``: the block's input window (:meth:`input_window`) already read, else it is read from the source.
        Turn it into the block's layers with :meth:`block_layers`.
        """
        window = _Window(self.source, self.input_window(block), values=values)
        return predict_rows(window, self.runner(), self.plan, *self._with_halo(block))

    def block_layers(self, probability: np.ndarray, block: tuple[int, int, int, int]) -> np.ndarray:
        """The product's ``(5, rows, cols)`` uint8 layers of a block from its :meth:`block_probability`.

        The layers are derived over the widened block and its halo dropped: the slope (DEM) of a column needs the
        columns beside it, so a block's edge columns get the values of a whole-width run.
        """
        _, _, col_start, col_stop = block
        widened = self._with_halo(block)[2]
        layers = self.product.layers(probability, self.threshold, block[0], widened)
        return layers[:, :, col_start - widened : col_stop - widened]

    def layers(self, probability: np.ndarray, row_start: int) -> np.ndarray:
        """The product's ``(5, rows, width)`` uint8 layers of probability rows starting at ``row_start``."""
        return self.product.layers(probability, self.threshold, row_start)

    def encoded_rows(self, row_start: int, row_stop: int) -> tuple[int, np.ndarray]:
        """One row block as the COG's layers: ``(row_start, (5, rows, width) uint8)``."""
        return row_start, self.layers(self.probability_rows(row_start, row_stop), row_start)

    def tags(self) -> dict[str, str]:
        """The flood map's metadata tags (names, not local paths: the map is shared, uploaded, sent)."""
        return flood_map_tags(
            checkpoint=checkpoint_names(self.models),
            role=", ".join(dict.fromkeys(model.card.role for model in self.models)),
            threshold=self.threshold,
            source=self.source.name,
            tile=self.plan.tile,
            overlap=self.plan.overlap,
            product=self.product,
        )


def checkpoint_names(models: Sequence[FloodModel]) -> str:
    """The ``checkpoint`` tag: the checkpoint's file name, or an ensemble's names joined by ``", "``."""
    return ", ".join(Path(model.checkpoint).name for model in models)


def ensemble_threshold(models: Sequence[FloodModel]) -> float:
    """The water threshold of a model, or of an ensemble: the mean of its cards' thresholds."""
    return float(np.mean([model.threshold for model in models]))


def _whole_blocks(pixels: int) -> int:
    """``pixels`` rounded up to whole COG blocks (:data:`~gee_flood.inference.output.BLOCK`), at least one."""
    return max(BLOCK, math.ceil(pixels / BLOCK) * BLOCK)


def flood_map_tags(
    *,
    checkpoint: str,
    role: str,
    threshold: float,
    source: str,
    tile: int | str,
    overlap: int | str,
    product: ProductInputs | dict[str, str] | None = None,
) -> dict[str, str]:
    """Metadata tags of a flood map COG (the CLI's and :func:`gee_flood.write_cog`'s): file names, not paths.

    ``product`` adds the product's thresholds and auxiliary inputs (``product_*`` tags).
    """
    tags = {
        "gee_flood_version": __version__,
        "checkpoint": Path(checkpoint).name,
        "checkpoint_role": role,
        "threshold": f"{threshold:g}",
        "source": Path(source).name,
        "tile": str(tile),
        "overlap": str(overlap),
    }
    tags.update(product_tags(product) if isinstance(product, ProductInputs) else (product or {}))
    return tags


def product_tags(product: ProductInputs) -> dict[str, str]:
    """The product's settings and auxiliary inputs as ``product_*`` tags (names, not paths)."""
    settings = product.settings
    values = settings.model_dump()
    values["reference_threshold"] = settings.reference_cutoff
    tags = {
        f"product_{name}": f"{value:g}" if isinstance(value, float) else str(value) for name, value in values.items()
    }
    tags.update({f"product_input_{name}": value for name, value in product.sources.items()})
    return tags


def plan_prediction(
    model: FloodModel,
    source: SceneSource,
    *,
    threshold: float | None = None,
    tile: int = 512,
    overlap: int = 128,
    window: WindowName = "hann",
    device: str | None = None,
    batch_size: int = 8,
    runtime: RuntimeName = "auto",
    product: ProductInputs | None = None,
    ensemble: Sequence[FloodModel] = (),
) -> ScenePrediction:
    """Check a prediction (SAR-only model and scene bands, threshold, tiling, runtime) before any heavy work.

    ``product`` (default: no auxiliary data, default thresholds) is put on the scene's grid here. ``ensemble``:
    further models whose probabilities are averaged with ``model``'s; the default threshold is then the mean of
    their cards' thresholds (:func:`ensemble_threshold`).

    Raises:
        InputError: A teacher (optical) checkpoint, a threshold outside (0, 1), bad tiling or runtime.
        DataError: The scene lacks the bands a model needs.
    """
    models = (model, *ensemble)
    for member in models:
        check_sar_only(member.card, member.checkpoint, source.modalities)
    cutoff = ensemble_threshold(models) if threshold is None else float(threshold)
    if not 0.0 < cutoff < 1.0:
        raise InputError(f"--threshold {cutoff}: expected a probability strictly between 0 and 1")
    plan = TilePlan(source.height, source.width, tile, overlap, window)
    check_runtime(runtime)
    product = (product or ProductInputs()).attach(Grid(source.crs, source.transform, source.width, source.height))
    return ScenePrediction(model, source, plan, cutoff, device, batch_size, runtime, product, tuple(ensemble))


@contextlib.contextmanager
def _dask_client(scheduler: Any, workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not isinstance(scheduler, str) or not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise InputError(
            f"--scheduler {scheduler!r}: expected 'local' or a Dask scheduler address like tcp://host:8786"
        )
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise RemoteError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error})") from None
    with client:
        yield client


@contextlib.contextmanager
def flood_map_cog(
    out: Path,
    *,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    tags: dict[str, str],
    empty_message: str,
    bands: Sequence[str | BandSpec] = LAYERS,
    min_mapping_unit: int = 0,
    border_px: int = 0,
    dtype: str = "uint8",
    nodata: float = NODATA,
) -> Iterator[FloodMapWriter]:
    """Yield a :class:`FloodMapWriter` of a temporary tiled GeoTIFF beside ``out``; then make ``out`` a COG.

    ``bands``, ``dtype`` and ``nodata`` describe the bands (:class:`FloodMapWriter`; default: the product's layers).
    The caller writes every row inside the block. On success the map is checked (at least one valid pixel), cleaned
    when it holds the product's layers (:func:`gee_flood.product.cleanup.clean_product`: border noise, minimum
    mapping unit; streamed, on the temporary file) and converted to a validated COG at ``out`` atomically; on any
    error (Ctrl-C included) nothing is left behind. The writer's ``cleanup`` then says what the cleanup changed.

    Raises:
        DataError: ``empty_message`` when no pixel is valid; or the COG does not validate.
    """
    with (
        temporary_directory(out) as workdir,
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
    ):
        tiled = Path(workdir) / "prediction.tif"
        writer = FloodMapWriter(
            tiled,
            crs=crs,
            transform=transform,
            width=width,
            height=height,
            bands=bands,
            tags=tags,
            dtype=dtype,
            nodata=nodata,
        )
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()
        if writer.valid_pixels == 0:
            raise DataError(empty_message)
        if set(LAYERS) <= set(writer.names) and (min_mapping_unit > 1 or border_px > 0):
            with rasterio.open(tiled, "r+") as dataset:
                writer.cleanup = clean_product(dataset, min_mapping_unit=min_mapping_unit, border_px=border_px)
            writer.flood_pixels = writer.cleanup.flood_pixels
        to_cog(tiled, out)


def predict_scene(
    checkpoint: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    source: SceneSource,
    out: str | os.PathLike[str],
    *,
    options: PredictOptions | None = None,
    polygons: str | os.PathLike[str] | None = None,
    product: ProductInputs | None = None,
    client: Any = None,
    console: Console | None = None,
) -> PredictionSummary:
    """Map water over ``source`` with a SAR-only checkpoint and write a Cloud-Optimized GeoTIFF.

    Args:
        checkpoint: A SAR-only student (or baseline) checkpoint; its card gives inputs, normalisation, threshold.
            Several: an ensemble, whose ``likelihood`` is the mean of their calibrated probabilities and whose
            default threshold is the mean of their cards' thresholds.
        source: The Sentinel-1 scene (VV, VH dB). The output has its CRS, transform and size.
        out: The COG to write (atomically; nothing is left there on failure).
        options: Tiling, batching, device, threshold and Dask settings.
        polygons: Also write water (flood) polygons as GeoJSON in EPSG:4326 here.
        product: Auxiliary rasters (reference water, DEM, HAND, land cover) and thresholds of the product's
            layers and cleanup (default: none, default thresholds).
        client: A ``distributed.Client`` to run on (overrides ``options.scheduler``).
        console: Where progress and warnings go (stderr by default).

    Returns:
        A summary of what was written.

    Raises:
        InputError: A teacher (optical) checkpoint, bad options, or unreadable files.
        DataError: The scene lacks the bands the checkpoint needs, or has no valid pixel.
    """
    from gee_flood.inference.model import open_model

    options = options or PredictOptions()
    console = console or Console(stderr=True)
    started = time.perf_counter()
    out = Path(out)
    paths = [checkpoint] if isinstance(checkpoint, str | os.PathLike) else list(checkpoint)
    models = [open_model(path) for path in paths]
    prediction = plan_prediction(
        models[0],
        source,
        threshold=options.threshold,
        tile=options.tile,
        overlap=options.overlap,
        window=options.window,
        device=options.device,
        batch_size=options.batch_size,
        runtime=options.runtime,
        product=product,
        ensemble=models[1:],
    )
    plan, threshold = prediction.plan, prediction.threshold
    settings = prediction.product.settings
    for pixel_size_m in dict.fromkeys(model.card.pixel_size_m for model in models):
        _warn_resolution(source, pixel_size_m, console)
    scheduler = client if client is not None else options.scheduler
    with flood_map_cog(
        out,
        crs=source.crs,
        transform=source.transform,
        width=source.width,
        height=source.height,
        tags=prediction.tags(),
        empty_message=f"{source.name}: no valid Sentinel-1 pixel to predict (all no data)",
        min_mapping_unit=settings.min_mapping_unit,
        border_px=settings.border_px,
    ) as writer:
        if scheduler is None:
            runner = prediction.runner()
            device = f"{runner.device} ({runner.runtime})"
            with _progress(plan.tile_count, options.progress, console, "predicting tiles") as advance:
                for rows in iter_probability_rows(source, runner, plan, on_tile_row=advance):
                    writer.write_any(rows.row_start, prediction.layers(rows.probability, rows.row_start))
        else:
            device = options.device or "auto"
            _run_on_dask(scheduler, options, prediction, writer, console)
    return _summary(out, polygons, source, writer, tiles=plan.tile_count, threshold=threshold, device=device,
                    scheduler=_describe_scheduler(scheduler), started=started)  # fmt: skip


def _summary(
    out: Path,
    polygons: str | os.PathLike[str] | None,
    grid: Any,
    writer: Any,
    *,
    tiles: int,
    threshold: float,
    device: str,
    scheduler: str,
    started: float,
) -> PredictionSummary:
    """Write the polygons (if asked), measure the written map's areas on the ground and sum the run up.

    ``grid`` is the scene source whose grid the map has; ``writer`` the map's finished writer.
    """
    from gee_flood.product.stats import flood_areas

    polygon_count = write_flood_polygons(out, polygons) if polygons is not None else None
    areas = flood_areas(out)
    return PredictionSummary(
        output=str(out),
        polygons=str(polygons) if polygons is not None else None,
        width=grid.width,
        height=grid.height,
        crs=describe_crs(grid.crs),
        transform=list(grid.transform)[:6],
        tiles=tiles,
        threshold=threshold,
        valid_pixels=writer.valid_pixels,
        water_pixels=writer.water_pixels,
        water_fraction=writer.water_pixels / writer.valid_pixels,
        flood_pixels=writer.flood_pixels,
        removed_pixels=writer.cleanup.removed_pixels,
        border_pixels=writer.cleanup.border_pixels,
        flooded_km2=round(areas.flooded_km2, 6),
        excluded_km2=round(areas.excluded_km2, 6),
        polygon_count=polygon_count,
        device=device,
        scheduler=scheduler,
        seconds=round(time.perf_counter() - started, 3),
    )


def _describe_scheduler(scheduler: Any) -> str:
    if scheduler is None:
        return "in-process"
    if isinstance(scheduler, str):
        return scheduler
    return f"dask {getattr(scheduler, 'scheduler', None) and scheduler.scheduler.address}"


def _run_on_dask(
    scheduler: Any, options: PredictOptions, prediction: ScenePrediction, writer: FloodMapWriter, console: Console
) -> None:
    from distributed import as_completed

    blocks = prediction.row_blocks(options.block_rows)
    with _dask_client(scheduler, options.workers) as client:
        futures = [
            client.submit(
                prediction.encoded_rows,
                start,
                stop,
                key=f"gee-flood-predict-{start}-{stop}-{os.getpid()}-{id(writer)}",
                pure=False,
            )
            for start, stop in blocks
        ]
        with _progress(len(blocks), options.progress, console, "predicting row blocks") as advance:
            for future in as_completed(futures):
                row_start, encoded = future.result()
                writer.write_block_rows(row_start, encoded)
                future.release()
                advance(1)


def predict_change_scene(
    pre: SceneSource,
    post: SceneSource,
    out: str | os.PathLike[str],
    *,
    product: ProductInputs | None = None,
    polygons: str | os.PathLike[str] | None = None,
    options: PredictOptions | None = None,
) -> PredictionSummary:
    """Map floods without a checkpoint: UN-SPIDER's change detection of ``post`` against ``pre``, as the product.

    VH of both scenes, each smoothed by a 50 m circular focal mean, flood where ``after / before`` (dB) > 1.25
    (:mod:`gee_flood.product.change`); then the product's layers (reference water, exclusions) and cleanup (minimum
    mapping unit, border noise) as for a model's map. ``likelihood`` is 100 where the test says flood, else 0.
    Streamed in 512-row blocks, each read with a halo of the focal radius, so any split gives the same pixels.

    Raises:
        DataError: The two scenes are not on one grid, or no pixel is valid in both.
    """
    from gee_flood.product.change import FOCAL_RADIUS_M, change_flood

    started = time.perf_counter()
    out = Path(out)
    same_grid = (pre.crs == post.crs and pre.transform.almost_equals(post.transform)
                 and (pre.width, pre.height) == (post.width, post.height))  # fmt: skip
    if not same_grid:
        raise DataError(
            f"--pre {pre.name}: not on the grid of --input {post.name} ({pre.width} x {pre.height} px vs "
            f"{post.width} x {post.height} px, or another CRS/transform); resample it onto --input's grid first"
        )
    grid = Grid(post.crs, post.transform, post.width, post.height)
    product = (product or ProductInputs()).attach(grid)
    dx, dy = grid.pixel_m(0, 1)
    pixel_m = float(np.mean(dx)) if isinstance(dx, np.ndarray) else float(dx)
    halo = math.ceil(FOCAL_RADIUS_M / min(pixel_m, dy))
    threshold = 0.5  # the change test gives 0 or 1
    tags = flood_map_tags(checkpoint="", role="change-unspider", threshold=threshold, source=post.name,
                          tile="", overlap="", product=product)  # fmt: skip
    tags["pre_source"] = Path(pre.name).name
    with flood_map_cog(
        out,
        crs=post.crs,
        transform=post.transform,
        width=post.width,
        height=post.height,
        tags=tags,
        empty_message=f"{post.name}: no pixel valid in both Sentinel-1 scenes (all no data)",
        min_mapping_unit=product.settings.min_mapping_unit,
        border_px=product.settings.border_px,
    ) as writer:
        for start in range(0, post.height, BLOCK):
            stop = min(start + BLOCK, post.height)
            lo, hi = max(0, start - halo), min(post.height, stop + halo)
            before, after = pre.read_rows(lo, hi)[1], post.read_rows(lo, hi)[1]  # VH, dB
            flood = change_flood(before, after, pixel_m=pixel_m)[start - lo : stop - lo]
            writer.write_block_rows(start, product.layers(flood, threshold, start))
    return _summary(out, polygons, post, writer, tiles=0, threshold=threshold, device="cpu (change detection)",
                    scheduler="in-process", started=started)  # fmt: skip

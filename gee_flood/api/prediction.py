"""Flood maps as lazy ``xarray.Dataset`` s from an xarray scene, an ``ee.Image`` or a GeoTIFF.

Each block of the result (rows and columns) is one Dask task that streams its window through the same code as
``gee-flood predict`` (:class:`gee_flood.inference.predict.ScenePrediction`: the global overlapping tile grid, Hann
blending, the card's preprocessing) and turns it into the product's layers as predict does (:mod:`gee_flood.product`),
so the numbers are the CLI's, memory stays bounded by the block (``block_rows`` x ``block_cols``) whatever the scene
size, and a small window of the result (``.isel``) computes the blocks under it only.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_flood.api._grid import georeferenced
from gee_flood.api._words import python_words
from gee_flood.errors import GeeFloodWarning, InputError, InputTypeError
from gee_flood.inference.model import FloodModel, open_model
from gee_flood.inference.source import is_ee_object
from gee_flood.service_requests import RuntimeName, WindowName

if TYPE_CHECKING:
    import ee
    import xarray as xr
    from shapely.geometry.base import BaseGeometry

    from gee_flood.geo import AreaOfInterest
    from gee_flood.inference.predict import ScenePrediction
    from gee_flood.inference.source import SceneSource
    from gee_flood.product.layers import ProductSettings  # noqa: TC004 - imported again where used

#: Rows of one Dask task of a prediction (rounded up to whole output blocks of 512 rows).
BLOCK_ROWS = 2048
#: Columns of one Dask task of a prediction (rounded up to whole output blocks of 512 columns): a task's memory (its
#: input window with the tiles' halo, float32 layers) is the same whatever the scene's size, and a small ``isel``
#: window computes a few blocks. Tiles on a block's edge are predicted by both blocks beside it (the compute a smaller
#: block adds; docs/benchmarks.md).
BLOCK_COLS = 2048


def _ee_region(region: Any) -> Any:
    """A ``region=`` in the AOI forms :func:`gee_flood.geo.as_area_of_interest` takes.

    An ``ee.Geometry`` (or ``ee.Feature``) becomes its GeoJSON (EPSG:4326); anything else is passed on.
    """
    if is_ee_object(region, "Feature"):
        region = region.geometry()
    if is_ee_object(region, "Geometry"):
        try:
            return region.toGeoJSON()  # client-side for a constructed geometry
        except Exception:  # a computed geometry (e.g. collection.geometry()) is only known to the server
            return region.getInfo()
    return region


def _scene_source(
    scene: Any,
    *,
    region: Any,
    scale_m: float,
    crs: str | None,
    project: str | None,
    ee_url: str | None,
) -> SceneSource:
    """The streaming source of any supported scene (the same sources the CLI reads)."""
    import xarray as xr

    from gee_flood.inference.source import GeoTiffSceneSource, XarraySceneSource, s1_of_dataset

    if isinstance(scene, str | os.PathLike):
        return GeoTiffSceneSource(Path(scene))
    if isinstance(scene, xr.Dataset):
        scene = s1_of_dataset(scene)
    if isinstance(scene, xr.DataArray):
        return XarraySceneSource(scene, name=str(scene.name or "xarray scene"))
    if is_ee_object(scene, "ImageCollection"):
        # As predict mosaics the scenes of a date (queries.s1_mosaic): last on top, VV and VH.
        scene = scene.mosaic()
    if is_ee_object(scene, "Image"):
        if region is None:
            raise InputError(
                "an ee.Image needs region= (an ee.Geometry, a GeoJSON path, geometry dict or shapely polygon, "
                "EPSG:4326)"
            )
        return XarraySceneSource(
            open_ee_image(scene, region=region, scale_m=scale_m, crs=crs, project=project, ee_url=ee_url),
            name="ee.Image",
        )
    raise InputTypeError(
        f"scene of type {type(scene).__name__}: expected an xarray DataArray/Dataset, an ee.Image or "
        "ee.ImageCollection, or a GeoTIFF path"
    )


@python_words
def open_ee_image(
    image: ee.Image,
    *,
    region: ee.Geometry | str | os.PathLike[str] | dict[str, Any] | BaseGeometry | AreaOfInterest,
    scale_m: float = 10.0,
    crs: str | None = None,
    project: str | None = None,
    ee_url: str | None = None,
    io_threads: int = 4,
) -> xr.DataArray:
    """Open the ``VV``/``VH`` bands of an ``ee.Image`` over a region, lazily, through xee (in request-sized tiles).

    Args:
        image: A Sentinel-1 image (or mosaic) with ``VV`` and ``VH`` bands in dB.
        region: Area to read, EPSG:4326 (GeoJSON path, geometry dict or shapely polygon; the AOI rules of
            :func:`gee_flood.geo.read_aoi`).
        scale_m: Pixel size in metres.
        crs: Grid CRS (default: the UTM zone of the region).
        project: Earth Engine Cloud project to initialise with (default: the credentials').
        ee_url: An Earth Engine-compatible endpoint such as the emulator (default: Earth Engine).
        io_threads: Concurrent ``computePixels`` requests.

    Returns:
        A Dask-backed ``(band, y, x)`` float32 DataArray, NaN where masked, with rioxarray CRS and transform.

    Example:
        >>> s1 = ee.ImageCollection("COPERNICUS/S1_GRD").filterDate("2019-03-05", "2019-03-06")  # doctest: +SKIP
        >>> s1 = s1.mosaic()  # doctest: +SKIP
        >>> scene = gee_flood.open_ee_image(s1, region="aoi.geojson", scale_m=10)  # doctest: +SKIP
    """
    import rioxarray  # noqa: F401  - the .rio accessor
    from affine import Affine
    from xee import helpers

    from gee_flood.earthengine import queries
    from gee_flood.earthengine.grid import pixel_size, resolve_crs
    from gee_flood.earthengine.reads import S1_MASK_VALUE, StackReader, StackSpec
    from gee_flood.earthengine.session import EESettings
    from gee_flood.geo import PixelGrid, as_area_of_interest

    geometry = as_area_of_interest(_ee_region(region)).geometry
    grid_crs = resolve_crs(crs or "utm", geometry)
    px = pixel_size(grid_crs, scale_m)
    params = helpers.fit_geometry(geometry, geometry_crs="EPSG:4326", grid_crs=grid_crs, grid_scale=(px, -px))
    width, height = params["shape_2d"]
    grid = PixelGrid(grid_crs, Affine(*params["crs_transform"]), int(width), int(height))
    settings = EESettings(project=project, endpoint="standard", url=ee_url)
    digest = hashlib.sha256(image.serialize().encode()).hexdigest()[:20]
    spec = StackSpec(
        key=f"image|{digest}",
        bands=queries.S1_BANDS,
        itemsize=4,
        mask_value=S1_MASK_VALUE,
        build=lambda: image.select(list(queries.S1_BANDS)).toFloat(),
    )
    array = StackReader(settings, io_threads=io_threads).open(spec, grid, what="the ee.Image", dask_chunks=True)
    array = array.drop_vars([c for c in array.coords if c not in array.dims])
    array = array.assign_coords(band=list(queries.S1_BANDS)).assign_attrs(units="dB")
    return georeferenced(array, grid.crs, grid.transform)


@python_words
def predict(
    model: FloodModel | str | os.PathLike[str] | Sequence[FloodModel | str | os.PathLike[str]],
    scene: xr.DataArray | xr.Dataset | ee.Image | ee.ImageCollection | str | os.PathLike[str],
    *,
    region: ee.Geometry | str | os.PathLike[str] | dict[str, Any] | BaseGeometry | AreaOfInterest | None = None,
    scale_m: float = 10.0,
    crs: str | None = None,
    reference_water: str | os.PathLike[str] | xr.DataArray | None = None,
    dem: str | os.PathLike[str] | xr.DataArray | None = None,
    hand: str | os.PathLike[str] | xr.DataArray | None = None,
    worldcover: str | os.PathLike[str] | xr.DataArray | None = None,
    settings: ProductSettings | None = None,
    threshold: float | None = None,
    tile: int = 512,
    overlap: int = 128,
    window: WindowName = "hann",
    batch_size: int = 8,
    device: str | None = None,
    runtime: RuntimeName = "auto",
    block_rows: int | None = None,
    block_cols: int | None = None,
    project: str | None = None,
    ee_url: str | None = None,
) -> xr.Dataset:
    """Map water over a Sentinel-1 scene: a lazy, georeferenced ``xarray.Dataset`` computed block by block.

    Args:
        model: A :class:`FloodModel` (:func:`open_model`) or a checkpoint path; SAR-only (student or baseline).
            A list of them: an ensemble, whose ``likelihood`` is the mean of their calibrated probabilities and
            whose default threshold is the mean of their cards' thresholds.
        scene: VV, VH backscatter in dB as an ``xarray.DataArray`` ``(band, y, x)`` with a rioxarray CRS, a Dataset
            (an :func:`open_pairs` pair, ``pairs.isel(pair=0)``, or ``VV``/``VH`` variables), an ``ee.Image``
            (with ``region`` and ``scale_m``; read through xee in tiles) or a GeoTIFF path.
        region: For an ``ee.Image``: the area to read (EPSG:4326 GeoJSON path, dict or shapely polygon).
        scale_m: For an ``ee.Image``: pixel size in metres.
        crs: For an ``ee.Image``: grid CRS (default: the UTM zone of the region).
        reference_water: JRC Global Surface Water seasonality (months) or occurrence (percent, say so in
            ``settings.reference_kind``): a GeoTIFF path (any CRS, resampled nearest as ``predict
            --reference-water`` does) or a georeferenced DataArray (such as ``pairs.occurrence``).
        dem: Elevation (m) for the slope and radar shadow/layover exclusions (path or DataArray).
        hand: Height above nearest drainage (m; MERIT Hydro ``hnd``) for the HAND exclusion.
        worldcover: ESA WorldCover classes for the urban exclusion (built-up, 50).
        settings: The product's thresholds, viewing geometry and cleanup (default: :class:`ProductSettings`'s).
        threshold: Water probability threshold (default: the card's; an ensemble's: the mean of its cards').
        tile: Tile side in pixels (a multiple of 32).
        overlap: Pixels shared by neighbouring tiles.
        window: Blending window (``"hann"``; ``"uniform"`` for comparisons only).
        batch_size: Tiles per forward pass.
        device: ``None``/``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        runtime: ``"auto"`` (ONNX Runtime on a CPU, torch on CUDA), ``"torch"`` or ``"onnxruntime"``.
        block_rows: Scene rows per Dask task (rounded up to a multiple of 512); default :data:`BLOCK_ROWS`.
        block_cols: Scene columns per Dask task (rounded up to a multiple of 512); default :data:`BLOCK_COLS`.
        project: For an ``ee.Image``: Earth Engine Cloud project.
        ee_url: For an ``ee.Image``: an Earth Engine-compatible endpoint (the emulator).

    Returns:
        A Dask-backed Dataset on the scene's grid (``.rio.crs``, ``.rio.transform()``; an xarray scene's own
        ``x``/``y`` coordinates, exactly) with the product's layers, each (y, x) float32, decoded: ``likelihood``
        (percent, 0-100), ``water``, ``flood``, ``reference_water`` (1/0) and ``exclusion`` (bit flags, never no
        data; docs/flood-product.md); NaN where there is no data. Each carries its stored form as its encoding
        (uint8, ``_FillValue`` 255), which :func:`write_cog`, ``rio.to_raster`` and ``to_netcdf`` apply. ``flood`` is
        before the cleanup (minimum mapping unit, border noise), which needs the whole map: :func:`write_cog`
        applies it as ``gee-flood predict`` does. Nothing is read or predicted until it is computed
        (``.compute()``, ``.values``, a plot, a writer).

    Raises:
        InputError: A teacher (optical) checkpoint, a scene that is not VV/VH dB, bad options.

    Example:
        >>> model = gee_flood.open_model("student.ckpt")  # doctest: +SKIP
        >>> flood = gee_flood.predict(model, "s1_scene.tif")  # doctest: +SKIP
        >>> float(flood.flood.mean())  # flood fraction of the valid pixels, computed here  # doctest: +SKIP
    """
    import dask
    import dask.array
    import rioxarray  # noqa: F401  - the .rio accessor
    import xarray as xr

    from gee_flood.inference.encoding import LAYER_ENCODING
    from gee_flood.inference.predict import checkpoint_names, plan_prediction, product_tags, resolution_warning
    from gee_flood.inference.source import XarraySceneSource
    from gee_flood.product.inputs import AuxRaster, ProductInputs
    from gee_flood.product.layers import LAYER_MEANINGS, LAYERS, ProductSettings

    members = [model] if isinstance(model, FloodModel | str | os.PathLike) else list(model)
    if not members:
        raise InputError("predict: model is an empty list; give a checkpoint (or several: an ensemble)")
    models = [member if isinstance(member, FloodModel) else open_model(member) for member in members]
    loaded = models[0]
    source = _scene_source(scene, region=region, scale_m=scale_m, crs=crs, project=project, ee_url=ee_url)
    rasters = {"reference": (reference_water, "reference_water", "nearest"), "dem": (dem, "dem", "bilinear"),
               "hand": (hand, "hand", "bilinear"), "worldcover": (worldcover, "worldcover", "nearest")}  # fmt: skip
    inputs = ProductInputs(
        settings=settings or ProductSettings(),
        **{name: AuxRaster(value, what, kind) for name, (value, what, kind) in rasters.items() if value is not None},  # type: ignore[arg-type]
    )
    prediction = plan_prediction(
        loaded,
        source,
        threshold=threshold,
        tile=tile,
        overlap=overlap,
        window=window,
        device=device,
        batch_size=batch_size,
        runtime=runtime,
        product=inputs,
        ensemble=models[1:],
    )
    prediction.runner()  # fail now on a bad device or card
    for pixel_size_m in dict.fromkeys(member.card.pixel_size_m for member in models):
        warning = resolution_warning(source, pixel_size_m)
        if warning:  # the CLI prints the same words
            warnings.warn(warning, GeeFloodWarning, stacklevel=2)
    # One graph key each (not embedded in every block's task): a distributed scheduler ships the scene (and the
    # auxiliary rasters) to a worker once, not once per row block.
    lazy = source.lazy if isinstance(source, XarraySceneSource) else None
    store = _BlockStore(lazy)
    shared = (dask.delayed(prediction, traverse=False), dask.delayed(store, traverse=False))
    grid = []
    for row in prediction.blocks(block_rows or BLOCK_ROWS, block_cols or BLOCK_COLS):
        blocks = []
        for block in row:
            task = dask.delayed(_predict_block, pure=False)(*shared, block)
            shape = (len(LAYERS), block[1] - block[0], block[3] - block[2])
            blocks.append(dask.array.from_delayed(task, shape=shape, dtype=np.float32))
        grid.append(blocks)
    stack = dask.array.block(grid)
    dataset = xr.Dataset()
    for index, name in enumerate(LAYERS):
        meaning = LAYER_MEANINGS[name].replace("; 255 no data", "; NaN no data (255 when stored)")
        attrs = {"long_name": name.replace("_", " "), "meaning": meaning}
        if name == "likelihood":
            attrs["units"] = "percent"
        dataset[name] = xr.Variable(("y", "x"), stack[index], attrs)
        dataset[name].encoding.update(LAYER_ENCODING)
    dataset.attrs.update(product_tags(prediction.product))
    dataset.attrs.update(
        threshold=prediction.threshold,
        checkpoint=str(loaded.checkpoint) if len(models) == 1 else checkpoint_names(models),
        checkpoint_role=", ".join(dict.fromkeys(member.card.role for member in models)),
        source=source.name,
        tile=prediction.plan.tile,
        overlap=prediction.plan.overlap,
    )
    coords = getattr(source, "coords", None)
    if coords is not None:  # the input's own x/y, exactly (no recomputation from the transform, no drift)
        dataset = dataset.assign_coords(x=coords["x"], y=coords["y"])
        return dataset.rio.write_crs(source.crs.to_wkt()).rio.write_transform(source.transform)
    return georeferenced(dataset, source.crs.to_wkt(), source.transform)


class _BlockStore:
    """What one :func:`predict` result has read and computed, kept on disk: each read and each inference once.

    ``flood.water.compute()`` then ``flood.likelihood.compute()``, or ``write_cog`` then ``write_polygons`` then
    ``export_asset``, run the same Dask tasks again; each finds its block's probability here instead of reading the
    scene and running the model again. A lazy (Dask, e.g. xee) scene is read one chunk at a time, each once
    (neighbouring blocks share the pixels their overlapping tiles read), kept as ``.npy`` files and read back in the
    window a block needs, so memory stays bounded whatever the scene. The folder goes with the result (when it is
    garbage-collected) or at exit. A copy sent to another process (a distributed worker) keeps nothing and reads
    directly.

    Args:
        lazy: The scene's ``(2, height, width)`` Dask array, or ``None`` (a block then reads its own window).
    """

    def __init__(self, lazy: Any = None) -> None:
        import tempfile
        import threading
        import weakref

        self.lazy = lazy
        self.folder: Path | None = Path(tempfile.mkdtemp(prefix="gee-flood-blocks-"))
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._guard = threading.Lock()
        weakref.finalize(self, _remove_tree, self.folder)

    def __getstate__(self) -> dict[str, Any]:
        return {"lazy": self.lazy}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import threading

        self.lazy = state["lazy"]
        self.folder = None
        self._locks, self._guard = {}, threading.Lock()

    def _path(self, name: str) -> Path | None:
        return None if self.folder is None or not self.folder.is_dir() else self.folder / f"{name}.npy"

    def _save(self, path: Path, values: np.ndarray) -> None:
        partial = path.with_suffix(f".{os.getpid()}.{id(values)}.partial.npy")  # renamed: never seen half-written
        np.save(partial, values)
        partial.replace(path)

    def get(self, block: tuple[int, int, int, int]) -> np.ndarray | None:
        """The probability of a block computed before, or ``None``."""
        path = self._path("p{}-{}-{}-{}".format(*block))
        return np.load(path) if path is not None and path.is_file() else None

    def put(self, block: tuple[int, int, int, int], probability: np.ndarray) -> None:
        """Keep a block's probability."""
        path = self._path("p{}-{}-{}-{}".format(*block))
        if path is not None:
            self._save(path, probability)

    def window(self, row_start: int, row_stop: int, col_start: int, col_stop: int) -> np.ndarray | None:
        """A window of the lazy scene, each chunk read once (``None``: not lazy)."""
        if self.lazy is None:
            return None
        if self.folder is None:
            return np.array(self.lazy[:, row_start:row_stop, col_start:col_stop].compute(), dtype=np.float32)
        out = np.empty((self.lazy.shape[0], row_stop - row_start, col_stop - col_start), np.float32)
        for (row, top, height), (column, left, width) in itertools.product(
            _spans(self.lazy.chunks[1], row_start, row_stop), _spans(self.lazy.chunks[2], col_start, col_stop)
        ):
            first, last = max(row_start, top), min(row_stop, top + height)
            lo, hi = max(col_start, left), min(col_stop, left + width)
            target = out[:, first - row_start : last - row_start, lo - col_start : hi - col_start]
            _read_window(self._chunk(row, column), target, first - top, height, lo - left, width)
        return out

    def _chunk(self, row: int, column: int) -> Path:
        """The file of chunk (``row``, ``column``), read once by whichever block needs it first."""
        import threading

        with self._guard:
            lock = self._locks.setdefault((row, column), threading.Lock())
        assert self.folder is not None
        path = self.folder / f"in{row}-{column}.npy"
        with lock:  # two blocks needing the same chunk: one reads it, the other waits and reads the file
            if not path.is_file():
                top, left = sum(self.lazy.chunks[1][:row]), sum(self.lazy.chunks[2][:column])
                rows, cols = self.lazy.chunks[1][row], self.lazy.chunks[2][column]
                chunk = self.lazy[:, top : top + rows, left : left + cols].compute()
                self._save(path, np.asarray(chunk, dtype=np.float32))  # one chunk in memory at a time
        return path


def _spans(sizes: tuple[int, ...], start: int, stop: int) -> Iterator[tuple[int, int, int]]:
    """``(index, first pixel, size)`` of the chunks along one axis that overlap ``[start, stop)``."""
    first = 0
    for index, size in enumerate(sizes):
        if first < stop and first + size > start:
            yield index, first, size
        first += size


def _read_window(path: Path, target: np.ndarray, top: int, rows: int, left: int, width: int) -> None:
    """Read the window at (``top``, ``left``) of a ``(bands, rows, width)`` float32 ``.npy`` into ``target``.

    Plain reads of the window's rows, no memory map: mapped pages would count as the process's memory.
    """
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(handle)
        else:
            np.lib.format.read_array_header_2_0(handle)
        data_start = handle.tell()
        count, cols = target.shape[1], target.shape[2]
        for band in range(target.shape[0]):
            handle.seek(data_start + (band * rows + top) * width * 4)
            values = np.fromfile(handle, dtype=np.float32, count=count * width).reshape(count, width)
            target[band] = values[:, left : left + cols]


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _predict_block(prediction: ScenePrediction, store: _BlockStore, block: tuple[int, int, int, int]) -> np.ndarray:
    """One Dask task: the ``(5, rows, cols)`` float32 layers of its block (the CLI's bytes, decoded: NaN no data).

    The probability (the model's work) is computed once per result and kept (:class:`_BlockStore`); the layers
    derived from it (:meth:`~gee_flood.inference.predict.ScenePrediction.block_layers`) are derived again, cheaply.
    """
    from gee_flood.product.layers import EXCLUSION, LAYERS, NODATA

    probability = store.get(block)
    if probability is None:
        values = None
        window = store.window(*prediction.input_window(block))
        if window is not None:
            source: Any = prediction.source
            values = source.clean(window, copy=False)  # a fresh array already
        probability = prediction.block_probability(block, values)
        store.put(block, probability)
    encoded = prediction.block_layers(probability, block)
    del probability
    out = np.empty(encoded.shape, np.float32)
    for index, name in enumerate(LAYERS):
        out[index] = encoded[index]
        if name != EXCLUSION:  # bit flags: no data is its own bit, never 255
            out[index][encoded[index] == NODATA] = np.nan
    return out

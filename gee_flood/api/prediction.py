"""Flood maps as lazy ``xarray.Dataset`` s from an xarray scene, an ``ee.Image`` or a GeoTIFF.

Each row block of the result is one Dask task that streams its rows through the same code as ``gee-flood predict``
(:class:`gee_flood.inference.predict.ScenePrediction`: the global overlapping tile grid, Hann blending, the card's
preprocessing) and turns them into the product's layers as predict does (:mod:`gee_flood.product`), so the numbers
are the CLI's and memory stays bounded by the block (``block_rows`` x width) whatever the scene size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gee_flood.api._grid import georeferenced
from gee_flood.api.model import FloodModel, open_model
from gee_flood.errors import InputError
from gee_flood.service_requests import RuntimeName, WindowName

if TYPE_CHECKING:
    import xarray as xr
    from shapely.geometry.base import BaseGeometry

    from gee_flood.geo import AreaOfInterest
    from gee_flood.inference.predict import ScenePrediction
    from gee_flood.inference.source import SceneSource
    from gee_flood.product.layers import ProductSettings  # noqa: TC004 - imported again where used

#: Rows of one Dask task of a prediction (rounded up to whole output blocks of 512 rows).
BLOCK_ROWS = 2048


def _is_ee_image(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("ee") and type(value).__name__ == "Image"


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

    from gee_flood.inference.source import GeoTiffSceneSource, XarraySceneSource

    if isinstance(scene, str | os.PathLike):
        return GeoTiffSceneSource(Path(scene))
    if isinstance(scene, xr.Dataset):
        scene = _s1_of_dataset(scene)
    if isinstance(scene, xr.DataArray):
        return XarraySceneSource(scene, name=str(scene.name or "xarray scene"))
    if _is_ee_image(scene):
        if region is None:
            raise InputError("an ee.Image needs region= (a GeoJSON path, geometry dict or shapely polygon, EPSG:4326)")
        return XarraySceneSource(
            open_ee_image(scene, region=region, scale_m=scale_m, crs=crs, project=project, ee_url=ee_url),
            name="ee.Image",
        )
    raise InputError(
        f"scene of type {type(scene).__name__}: expected an xarray DataArray/Dataset, an ee.Image or a GeoTIFF path"
    )


def _s1_of_dataset(dataset: xr.Dataset) -> xr.DataArray:
    """The VV, VH ``(band, y, x)`` array of a Dataset: its ``s1`` variable (one pair) or ``VV``/``VH`` variables."""
    if "s1" in dataset:
        array = dataset["s1"]
        if "pair" in array.dims:
            if array.sizes["pair"] != 1:
                raise InputError(
                    f"the dataset has {array.sizes['pair']} pairs; select one first, e.g. pairs.isel(pair=0)"
                )
            array = array.isel(pair=0)
        array = array.rename(s1_band="band") if "s1_band" in array.dims else array
        return array.drop_vars([c for c in array.coords if c not in array.dims and c != "spatial_ref"])
    if "VV" in dataset and "VH" in dataset:
        return dataset[["VV", "VH"]].to_dataarray("band")
    raise InputError(f"the dataset has no 's1' variable nor 'VV' and 'VH' variables (has {list(dataset.data_vars)})")


def open_ee_image(
    image: Any,
    *,
    region: str | os.PathLike[str] | dict[str, Any] | BaseGeometry | AreaOfInterest,
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

    geometry = as_area_of_interest(region).geometry
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


def predict(
    model: FloodModel | str | os.PathLike[str],
    scene: Any,
    *,
    region: Any = None,
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
    block_rows: int = BLOCK_ROWS,
    project: str | None = None,
    ee_url: str | None = None,
) -> xr.Dataset:
    """Map water over a Sentinel-1 scene: a lazy, georeferenced ``xarray.Dataset`` computed block by block.

    Args:
        model: A :class:`FloodModel` (:func:`open_model`) or a checkpoint path; SAR-only (student or baseline).
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
        threshold: Water probability threshold (default: the card's).
        tile: Tile side in pixels (a multiple of 32).
        overlap: Pixels shared by neighbouring tiles.
        window: Blending window (``"hann"``; ``"uniform"`` for comparisons only).
        batch_size: Tiles per forward pass.
        device: ``None``/``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        runtime: ``"auto"`` (ONNX Runtime on a CPU, torch on CUDA), ``"torch"`` or ``"onnxruntime"``.
        block_rows: Scene rows per Dask task (rounded up to a multiple of 512).
        project: For an ``ee.Image``: Earth Engine Cloud project.
        ee_url: For an ``ee.Image``: an Earth Engine-compatible endpoint (the emulator).

    Returns:
        A Dask-backed Dataset on the scene's grid (``.rio.crs``, ``.rio.transform()``) with the product's layers,
        each (y, x) uint8: ``likelihood`` (percent), ``water``, ``flood``, ``reference_water`` (0/1, 255 no data)
        and ``exclusion`` (bit flags; docs/flood-product.md). ``flood`` is before the cleanup (minimum mapping unit,
        border noise), which needs the whole map: :func:`write_cog` applies it as ``gee-flood predict`` does.
        Nothing is read or predicted until it is computed (``.compute()``, ``.values``, a plot, a writer).

    Raises:
        InputError: A teacher (optical) checkpoint, a scene that is not VV/VH dB, bad options.

    Example:
        >>> model = gee_flood.open_model("student.ckpt")  # doctest: +SKIP
        >>> flood = gee_flood.predict(model, "s1_scene.tif")  # doctest: +SKIP
        >>> float(flood.flood.where(flood.flood < 255).mean())  # flood fraction, computed here  # doctest: +SKIP
    """
    import dask
    import dask.array
    import rioxarray  # noqa: F401  - the .rio accessor
    import xarray as xr

    from gee_flood.inference.predict import plan_prediction, product_tags
    from gee_flood.product.inputs import AuxRaster, ProductInputs
    from gee_flood.product.layers import LAYER_MEANINGS, LAYERS, ProductSettings

    loaded = model if isinstance(model, FloodModel) else open_model(model)
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
    )
    prediction.runner()  # fail now on a bad device or card
    # One graph key (not embedded in every block's task): a distributed scheduler ships the scene (and the
    # auxiliary rasters) to a worker once, not once per row block.
    shared = dask.delayed(prediction, traverse=False)
    blocks = []
    for start, stop in prediction.row_blocks(block_rows):
        task = dask.delayed(_predict_block, pure=False)(shared, start, stop)
        shape = (len(LAYERS), stop - start, source.width)
        blocks.append(dask.array.from_delayed(task, shape=shape, dtype=np.uint8))
    stack = dask.array.concatenate(blocks, axis=1)
    variables = {
        name: (("y", "x"), stack[index], {"meaning": LAYER_MEANINGS[name]}) for index, name in enumerate(LAYERS)
    }
    variables["likelihood"][2]["units"] = "percent"
    dataset = xr.Dataset(variables)
    dataset.attrs.update(product_tags(prediction.product))
    dataset.attrs.update(
        threshold=prediction.threshold,
        checkpoint=str(loaded.checkpoint),
        checkpoint_role=loaded.card.role,
        source=source.name,
        tile=prediction.plan.tile,
        overlap=prediction.plan.overlap,
    )
    return georeferenced(dataset, source.crs.to_wkt(), source.transform)


def _predict_block(prediction: ScenePrediction, row_start: int, row_stop: int) -> np.ndarray:
    """One Dask task: the ``(5, rows, width)`` uint8 layers of its rows (the CLI's code)."""
    return prediction.encoded_rows(row_start, row_stop)[1]

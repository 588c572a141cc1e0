"""The flood product's auxiliary datasets read from Earth Engine onto a scene's grid (``predict --aoi --date``).

Each dataset is read under its real id and band name (docs/flood-product.md) through the same xee reader as the
scene (:class:`gee_flood.earthengine.reads.StackReader`: ``computePixels`` in request-sized tiles), on the Sentinel-1
scene's own grid, and written as a float32 GeoTIFF (NaN no data) beside the output, so predict then streams it like
a local auxiliary file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio

if TYPE_CHECKING:
    from gee_flood.earthengine.session import EESettings


@dataclass(frozen=True)
class EEDataset:
    """One auxiliary dataset in Earth Engine.

    Attributes:
        dataset_id: Its Earth Engine id.
        band: The band read.
        build: Builds the one-band ``ee.Image`` from the ``ee`` module and the band.
    """

    dataset_id: str
    band: str
    build: Callable[[Any, str], Any]


def _image(dataset_id: str) -> Callable[[Any, str], Any]:
    return lambda ee, band: ee.Image(dataset_id).select([band])


def _first_of(collection_id: str) -> Callable[[Any, str], Any]:
    return lambda ee, band: ee.ImageCollection(collection_id).first().select([band])


def _build_float(ee: Any, dataset: EEDataset) -> Any:
    """The dataset's band as float32 (the reader's pixel type)."""
    return dataset.build(ee, dataset.band).toFloat()


def ee_datasets(reference_kind: str = "seasonality") -> dict[str, EEDataset]:
    """The auxiliary datasets by :class:`~gee_flood.product.inputs.ProductInputs` field."""
    return {
        "reference": EEDataset(
            "JRC/GSW1_4/GlobalSurfaceWater", reference_kind, _image("JRC/GSW1_4/GlobalSurfaceWater")
        ),
        "dem": EEDataset("USGS/SRTMGL1_003", "elevation", _image("USGS/SRTMGL1_003")),
        "hand": EEDataset("MERIT/Hydro/v1_0_1", "hnd", _image("MERIT/Hydro/v1_0_1")),
        "worldcover": EEDataset("ESA/WorldCover/v200", "Map", _first_of("ESA/WorldCover/v200")),
    }


def check_auxiliary(settings: EESettings, *, names: tuple[str, ...], reference_kind: str = "seasonality") -> None:
    """Ask Earth Engine for each dataset's bands before any pixel is read: a missing one fails fast, in one line.

    Raises:
        RemoteError: The dataset is missing (or refused), naming it.
        DataError: The dataset lacks the band the product reads.
    """
    import ee

    from gee_flood.earthengine.session import initialize, with_retries
    from gee_flood.errors import DataError

    initialize(settings)
    for name in names:
        dataset = ee_datasets(reference_kind)[name]
        image = (
            _first_of(dataset.dataset_id)(ee, dataset.band) if name == "worldcover" else ee.Image(dataset.dataset_id)
        )
        bands = with_retries(
            image.bandNames().getInfo, policy=settings.retry, what=f"the auxiliary dataset {dataset.dataset_id}"
        )
        if dataset.band not in bands:
            raise DataError(f"{dataset.dataset_id}: has no band {dataset.band!r} (bands {bands})")


def fetch_auxiliary(
    scene: Path, dest: Path, settings: EESettings, *, names: tuple[str, ...], reference_kind: str = "seasonality"
) -> dict[str, Path]:
    """Read the named auxiliary datasets from Earth Engine on the grid of ``scene``; write them into ``dest``.

    Args:
        scene: The Sentinel-1 GeoTIFF whose grid (CRS, transform, size) the datasets are read on.
        dest: Folder for the GeoTIFFs (``<name>.tif``).
        settings: Earth Engine project and endpoint.
        names: Which of :func:`ee_datasets` to read.
        reference_kind: The JRC Global Surface Water band of the reference (``seasonality`` or ``occurrence``).

    Returns:
        ``name -> GeoTIFF``.

    Raises:
        RemoteError: A dataset missing on the server (or another refusal), in one line naming it.
    """
    import ee

    from gee_flood.earthengine.reads import S1_MASK_VALUE, StackReader, StackSpec
    from gee_flood.geo import PixelGrid

    with rasterio.open(scene) as src:
        grid = PixelGrid(src.crs.to_string(), src.transform, src.width, src.height)
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="float32", crs=src.crs,
                       transform=src.transform, nodata=float("nan"), tiled=True, compress="deflate")  # fmt: skip
    reader = StackReader(settings)
    written: dict[str, Path] = {}
    for name in names:
        dataset = ee_datasets(reference_kind)[name]
        spec = StackSpec(
            key=f"auxiliary|{dataset.dataset_id}|{dataset.band}",
            bands=(dataset.band,),
            itemsize=4,
            mask_value=S1_MASK_VALUE,
            build=functools.partial(_build_float, ee, dataset),
        )
        values = reader.open(spec, grid, what=f"{dataset.dataset_id} ({dataset.band})").values[0]
        path = dest / f"{name}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.asarray(values, np.float32), 1)
            dst.set_band_description(1, f"{dataset.dataset_id}/{dataset.band}")
        written[name] = path
    return written

"""How flood map layers are stored: CF encodings (``dtype``, ``scale_factor``, ``_FillValue``), one place.

In memory (xarray) a layer is *decoded*: float, NaN where there is no data, so ``.plot()``, ``.mean()`` and
``.where()`` mean what they say. On disk (COG, NetCDF, ``rio.to_raster``) it is *encoded* by xarray's own CF coder
(:func:`xarray.conventions.encode_cf_variable`) with the encoding the layer carries: the COG's uint8 bands with 255
for no data. ``gee-flood predict`` encodes its rows with the same encodings, so both write the same pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Value of every uint8 band where there is no data.
NODATA = 255
#: Water probability 0-1 stored as uint8 percent (0-100).
PROBABILITY_ENCODING: dict[str, Any] = {"dtype": "uint8", "scale_factor": 0.01, "_FillValue": NODATA}
#: A categorical layer (water 0/1, flood class 0/1/2) stored as uint8.
CLASS_ENCODING: dict[str, Any] = {"dtype": "uint8", "_FillValue": NODATA}


#: The stored form of each layer of a flood map, by variable name: what a variable edited by the user (xarray
#: drops the encoding of a new variable) is stored as unless it says otherwise.
LAYER_ENCODINGS: dict[str, dict[str, Any]] = {
    "probability": PROBABILITY_ENCODING,
    "water": CLASS_ENCODING,
    "flood_class": CLASS_ENCODING,
}


def encode_values(values: np.ndarray, encoding: dict[str, Any], dims: tuple[str, ...] = ("y", "x")) -> np.ndarray:
    """Encode decoded ``values`` (NaN no data) as stored: xarray's CF encoding with ``encoding``."""
    import xarray as xr
    from xarray.conventions import encode_cf_variable

    variable = xr.Variable(dims, values, encoding=dict(encoding))
    return np.asarray(encode_cf_variable(variable).values)


def stored_encoding(variable: Any, name: str = "") -> dict[str, Any]:
    """The CF keys of a variable's encoding (``dtype``, ``scale_factor``, ``add_offset``, ``_FillValue``).

    For a flood map layer without any (a variable the user replaced), its :data:`LAYER_ENCODINGS` entry.
    """
    keys = ("dtype", "scale_factor", "add_offset", "_FillValue")
    encoding = {key: variable.encoding[key] for key in keys if key in variable.encoding}
    if not encoding and "_FillValue" not in variable.attrs and variable.dtype.kind == "f":
        encoding = dict(LAYER_ENCODINGS.get(name, {}))
    return encoding

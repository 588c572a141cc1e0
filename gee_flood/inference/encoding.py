"""How flood map layers are stored: CF encodings (``dtype``, ``scale_factor``, ``_FillValue``), one place.

In memory (xarray) a layer is *decoded*: float, NaN where there is no data, so ``.plot()``, ``.mean()`` and
``.where()`` mean what they say. On disk (COG, NetCDF, ``rio.to_raster``) it is *encoded* by xarray's own CF coder
(:func:`xarray.conventions.encode_cf_variable`) with the encoding the layer carries: the COG's uint8 bands with 255
for no data. ``gee-flood predict`` writes the same bytes, so both write the same pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gee_flood.product.layers import LAYERS, NODATA

#: Every layer of the flood product (:mod:`gee_flood.product.layers`) as stored: uint8, 255 no data; ``likelihood``
#: in percent (0-100, also in memory), ``water``/``flood``/``reference_water`` 0/1, ``exclusion`` bit flags (never
#: 255: its own bit 1 says "no data").
LAYER_ENCODING: dict[str, Any] = {"dtype": "uint8", "_FillValue": NODATA}


#: The stored form of each layer of a flood map, by variable name: what a variable edited by the user (xarray
#: drops the encoding of a new variable) is stored as unless it says otherwise.
LAYER_ENCODINGS: dict[str, dict[str, Any]] = {name: LAYER_ENCODING for name in LAYERS}


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

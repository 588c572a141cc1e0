"""Earth Engine pixel types: ``int`` with a value range, ``float`` (32-bit) or ``double`` (64-bit).

Earth Engine reports a band's type as ``{"type": "PixelType", "precision": "int", "min": 0, "max": 255}`` and stores
an ``int`` band in the smallest numpy integer type that holds its range (that is the dtype a ``computePixels`` NPY
answer carries). Arithmetic gives "the union of the input types"; comparisons give booleans (``int`` 0..1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Precision = Literal["int", "float", "double"]

# Smallest-first integer dtypes Earth Engine maps an int range onto.
_INT_DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)


@dataclass(frozen=True)
class PixelType:
    """An Earth Engine pixel type.

    Attributes:
        precision: ``"int"``, ``"float"`` or ``"double"``.
        min: Smallest value of an ``int`` type (None for floating types).
        max: Largest value of an ``int`` type (None for floating types).
    """

    precision: Precision
    min: int | None = None
    max: int | None = None

    @classmethod
    def int_range(cls, low: float, high: float) -> PixelType:
        """An integer type holding ``[low, high]``."""
        return cls("int", int(np.floor(low)), int(np.ceil(high)))

    @classmethod
    def from_dtype(cls, dtype: Any) -> PixelType:
        """The Earth Engine type of a numpy dtype (e.g. ``uint16`` -> ``int[0, 65535]``)."""
        dtype = np.dtype(dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            return cls("int", int(info.min), int(info.max))
        if dtype.kind == "b":
            return cls("int", 0, 1)
        if dtype == np.float64:
            return cls("double")
        return cls("float")

    @classmethod
    def of_value(cls, value: float) -> PixelType:
        """The type of a constant (an int constant is ``int[v, v]``, a float one is ``float``)."""
        if isinstance(value, bool | np.bool_):
            return cls("int", int(value), int(value))
        if isinstance(value, int | np.integer) or (float(value).is_integer() and abs(float(value)) < 2**53):
            number = int(value)
            return cls("int", number, number)
        return cls("float")

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype pixels of this type are stored in (and sent back as, in NPY answers)."""
        if self.precision == "double":
            return np.dtype(np.float64)
        if self.precision == "float":
            return np.dtype(np.float32)
        low, high = self.min or 0, self.max or 0
        for candidate in _INT_DTYPES:
            info = np.iinfo(candidate)
            if info.min <= low and high <= info.max:
                return np.dtype(candidate)
        return np.dtype(np.int64)

    def union(self, other: PixelType) -> PixelType:
        """The union of two types (what Earth Engine's arithmetic returns)."""
        if self.precision == "double" or other.precision == "double":
            return PixelType("double")
        if self.precision == "float" or other.precision == "float":
            return PixelType("float")
        return PixelType("int", min(self.min or 0, other.min or 0), max(self.max or 0, other.max or 0))

    def to_info(self) -> dict[str, Any]:
        """The ``data_type`` dict of a band in ``getInfo`` answers."""
        info: dict[str, Any] = {"type": "PixelType", "precision": self.precision}
        if self.precision == "int":
            info["min"] = self.min
            info["max"] = self.max
        return info

    def cast(self, values: np.ndarray) -> np.ndarray:
        """Convert float64 working values to this type's dtype (ints truncate toward zero and clamp to range)."""
        dtype = self.dtype
        if dtype.kind == "f":
            return values.astype(dtype)
        clean = np.nan_to_num(np.trunc(values), nan=0.0, posinf=float(self.max or 0), neginf=float(self.min or 0))
        return np.clip(clean, self.min, self.max).astype(dtype)


BOOLEAN = PixelType("int", 0, 1)
FLOAT = PixelType("float")
DOUBLE = PixelType("double")

#: Earth Engine's cast algorithms (``Image.toX`` and their short aliases) -> the type they produce.
CASTS: dict[str, PixelType] = {
    "toFloat": FLOAT,
    "float": FLOAT,
    "toDouble": DOUBLE,
    "double": DOUBLE,
    "toByte": PixelType.from_dtype(np.uint8),
    "byte": PixelType.from_dtype(np.uint8),
    "toUint8": PixelType.from_dtype(np.uint8),
    "uint8": PixelType.from_dtype(np.uint8),
    "toInt8": PixelType.from_dtype(np.int8),
    "int8": PixelType.from_dtype(np.int8),
    "toUint16": PixelType.from_dtype(np.uint16),
    "uint16": PixelType.from_dtype(np.uint16),
    "toInt16": PixelType.from_dtype(np.int16),
    "int16": PixelType.from_dtype(np.int16),
    "toUint32": PixelType.from_dtype(np.uint32),
    "uint32": PixelType.from_dtype(np.uint32),
    "toInt32": PixelType.from_dtype(np.int32),
    "int32": PixelType.from_dtype(np.int32),
    "toInt": PixelType.from_dtype(np.int32),
    "int": PixelType.from_dtype(np.int32),
    "toInt64": PixelType.from_dtype(np.int64),
    "int64": PixelType.from_dtype(np.int64),
    "toLong": PixelType.from_dtype(np.int64),
    "long": PixelType.from_dtype(np.int64),
    "toShort": PixelType.from_dtype(np.int16),
    "short": PixelType.from_dtype(np.int16),
}

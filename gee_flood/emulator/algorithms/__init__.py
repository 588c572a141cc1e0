"""Emulated Earth Engine algorithms, one module per domain. Importing this package registers them all."""

# Image.visualize lives with the picture endpoints it serves (gee_flood.emulator.tiles).
from gee_flood.emulator import tiles  # noqa: F401
from gee_flood.emulator.algorithms import (  # noqa: F401 - imported for their @algorithm registrations
    collections,
    dates,
    elements,
    filters,
    geometry,
    images,
    joins,
    reducers,
    scalars,
)

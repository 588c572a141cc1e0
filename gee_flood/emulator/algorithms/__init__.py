"""Emulated Earth Engine algorithms, one module per domain. Importing this package registers them all."""

from gee_flood.emulator.algorithms import (  # noqa: F401 - imported for their @algorithm registrations
    collections,
    dates,
    elements,
    filters,
    geometry,
    images,
    reducers,
    scalars,
)

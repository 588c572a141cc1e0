"""Emulated Earth Engine algorithms, one module per domain. Importing this package registers them all.

Each module registers its functions with :func:`ee_emulator.registry.algorithm`; :mod:`ee_emulator.evaluator` imports
this package once, which fills the registry.
"""

from ee_emulator.algorithms import (  # noqa: F401 - imported for their @algorithm registrations
    areas,
    collections,
    dates,
    elements,
    filters,
    geometry,
    images,
    joins,
    reducers,
    scalars,
    visualize,
)

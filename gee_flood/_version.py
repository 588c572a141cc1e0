"""The package version.

In a module of its own, so that any module can read it without importing :mod:`gee_flood` (whose ``__init__``
exports the notebook API, which would make an import cycle).
"""

__version__ = "0.1.0"

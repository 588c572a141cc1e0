"""The notebook's map: :func:`add_flood_layers` of the mapping layer (:mod:`gee_flood.mapping.layers`).

The map is assembled by the mapping layer, which ``gee-flood map --view``'s page (:mod:`gee_flood.mapping.page`)
builds on too; the API adds its errors in Python words.
"""

from __future__ import annotations

from gee_flood.api._words import python_words
from gee_flood.mapping.layers import Backend
from gee_flood.mapping.layers import add_flood_layers as _add_flood_layers

#: :func:`gee_flood.mapping.layers.add_flood_layers`, its errors in Python words.
add_flood_layers = python_words(_add_flood_layers)

__all__ = ["Backend", "add_flood_layers"]

"""Tiled, streamed inference of a SAR-only student over a scene; COG output."""

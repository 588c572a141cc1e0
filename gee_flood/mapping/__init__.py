"""Looking at flood maps: a self-contained HTML map (geemap / folium) of a predicted flood map."""

from gee_flood.mapping.page import write_map_html
from gee_flood.mapping.view import render_flood_overlay, render_s1_overlay

__all__ = ["render_flood_overlay", "render_s1_overlay", "write_map_html"]

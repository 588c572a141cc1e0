"""gee_flood.add_flood_layers: a geemap.Map of either backend receives the flood, the SAR under it and a legend."""

from __future__ import annotations

from typing import Any

import folium
import ipyleaflet
import pytest

import gee_flood
from gee_flood.errors import InputError
from gee_flood.mapping.view import geemap_backend
from tests.api.conftest import as_dataarray
from tests.inference.maps import write_flood_map


def layer_names(m: Any) -> list[str]:
    """Names of the layers a geemap map of either backend holds."""
    if isinstance(m, folium.Map):
        return [child.layer_name for child in m._children.values() if getattr(child, "layer_name", "")]
    return [layer.name for layer in m.layers]


def legend_titles(m: Any) -> list[str]:
    """Titles of the legends on a geemap map (folium: in the page; ipyleaflet: Legend widget controls)."""
    if isinstance(m, folium.Map):
        page = m.get_root().render()
        return [title for title in ("test flood", "gee-flood") if f">{title}<" in page or f"'{title}'" in page]
    return [
        control.widget.title for control in m.controls if type(getattr(control, "widget", None)).__name__ == "Legend"
    ]


@pytest.fixture(scope="module")
def flood(s1_db, student_ckpt):
    return gee_flood.predict(student_ckpt, as_dataarray(s1_db), tile=128, overlap=32)


@pytest.mark.parametrize("backend", ["ipyleaflet", "folium"])
def test_a_new_map_of_each_backend_gets_sar_flood_and_legend(flood, s1_db, backend):
    m = gee_flood.add_flood_layers(flood, scene=as_dataarray(s1_db), backend=backend, title="test flood")
    expected = {"ipyleaflet": "geemap.geemap", "folium": "geemap.foliumap"}[backend]
    assert type(m).__module__ == expected
    names = layer_names(m)
    assert names.index("Sentinel-1 VV (dB)") < names.index("flood map")  # the SAR underneath
    assert legend_titles(m) == ["test flood"]
    overlay = next(layer for layer in (m.layers if backend == "ipyleaflet" else m._children.values())
                   if getattr(layer, "name", getattr(layer, "layer_name", "")) == "flood map")  # fmt: skip
    assert str(overlay.url).startswith("data:image/png;base64,")


@pytest.mark.parametrize("backend", ["folium", "ipyleaflet"])
def test_an_existing_map_receives_a_cog_file(backend, tmp_path):
    import numpy as np

    water = np.zeros((64, 80), np.uint8)
    water[:, :30] = 1
    cog = write_flood_map(tmp_path / "flood.tif", water)
    m = geemap_backend(backend).Map(ee_initialize=False)
    before = len(layer_names(m))
    assert gee_flood.add_flood_layers(cog, m) is m
    assert len(layer_names(m)) == before + 3  # flood map, excluded, reference water: each toggleable
    assert {"flood map", "excluded", "reference water"} <= set(layer_names(m))


def test_not_a_map_is_a_one_line_error(flood):
    with pytest.raises(InputError, match="geemap.Map"):
        gee_flood.add_flood_layers(flood, object())
    with pytest.raises(InputError, match="backend"):
        gee_flood.add_flood_layers(flood, backend="matplotlib")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected a gee_flood.predict result"):
        gee_flood.add_flood_layers(flood.water, backend="folium")  # a variable, not the result
    with pytest.raises(InputError, match="scene of type int"):
        gee_flood.add_flood_layers(flood, scene=42, backend="folium")  # type: ignore[arg-type]


def test_ipyleaflet_overlay_class(flood):
    m = gee_flood.add_flood_layers(flood)
    assert any(isinstance(layer, ipyleaflet.ImageOverlay) for layer in m.layers)


def test_an_ipyleaflet_map_is_centred_on_the_flood_map(flood):
    m = gee_flood.add_flood_layers(flood)
    lat, lon = m.center
    west, south, east, north = flood.rio.transform_bounds("EPSG:4326")
    assert south < lat < north and west < lon < east
    assert 12 <= m.zoom <= 18  # a 3 km map


def test_a_cog_under_a_folder_called_projects_is_a_file_not_an_asset(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    water = np.zeros((64, 80), np.uint8)
    water[:, :30] = 1
    (tmp_path / "projects").mkdir()
    write_flood_map(tmp_path / "projects" / "flood.tif", water)
    m = gee_flood.add_flood_layers("projects/flood.tif", backend="folium")
    assert "flood map" in layer_names(m)

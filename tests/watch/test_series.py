"""Time-series layers: the Earth Engine route (server-side reductions of the collection) and the local route
(xarray over the kept maps) agree with a direct numpy computation on the per-acquisition maps."""

from __future__ import annotations

import datetime as dt
import warnings

import ee
import numpy as np
import pytest
import rasterio

from gee_flood.errors import InputError
from gee_flood.watch.series import LAYERS, days_since_epoch, series_from_maps, series_image, write_series_cogs
from tests.watch.catalog import FIRST_THREE, when

SINCE, UNTIL = dt.date(2019, 3, 1), dt.date(2019, 3, 31)
REFERENCE = "projects/emulator/assets/watch/reference"  # the world fixture's collection


@pytest.fixture
def watched(world):
    """Acquisition time -> the reference run's kept map; Earth Engine pointed at the shared emulator."""
    world["init"](world["server"])
    assert len(world["maps"]) == len(FIRST_THREE)
    return world["maps"]


def direct(maps, since=SINCE, until=UNTIL):
    """The layers computed by hand with numpy from the maps' flood and exclusion layers."""
    kept = sorted((t, p) for t, p in maps.items() if since <= t.date() <= until)
    floods, exclusions = [], []
    for _, path in kept:
        with rasterio.open(path) as src:
            assert src.descriptions[2::2] == ("flood", "exclusion")
            floods.append(src.read(3))
            exclusions.append(src.read(5))
            grid = (src.crs, src.transform, src.width, src.height)
    observed = np.stack(exclusions) == 0
    days = np.array([days_since_epoch(t) for t, _ in kept])[:, None, None]
    flooded = (np.stack(floods) == 1) & observed
    observations = observed.sum(0)
    count = flooded.sum(0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: never flooded
        first = np.nanmin(np.where(flooded, days, np.nan), 0)
        last = np.nanmax(np.where(flooded, days, np.nan), 0)
    extent = np.where(observations == 0, 255, count > 0)
    return {"max_extent": extent, "observations": observations, "flooded_observations": count,
            "first_flooded": first, "last_flooded": last, "flood_duration_days": last - first}, grid  # fmt: skip


def check_local_route(watched, tmp_path):
    expected, _ = direct(watched)
    assert expected["flooded_observations"].max() >= 2 and (expected["flood_duration_days"] > 0).any()
    dataset = series_from_maps(watched, SINCE, UNTIL)
    for layer in LAYERS:
        np.testing.assert_allclose(dataset[layer].values, expected[layer], rtol=0, atol=1e-3, err_msg=layer)
    written = write_series_cogs(dataset, tmp_path / "series")
    from rio_cogeo.cogeo import cog_validate

    for layer, path in written.items():
        assert cog_validate(path, quiet=True)[0], layer
        with rasterio.open(path) as src:
            values = src.read(1).astype(float)  # nodata as stored: 255, or NaN
        np.testing.assert_allclose(values, np.asarray(expected[layer], float), atol=1e-3, err_msg=layer)
    # a sub-period: only the first two acquisitions
    until = when(FIRST_THREE[1][0]).date()
    part = series_from_maps(watched, SINCE, until)
    np.testing.assert_array_equal(part["observations"].values, direct(watched, SINCE, until)[0]["observations"])
    with pytest.raises(InputError, match="no per-acquisition map"):
        series_from_maps(watched, dt.date(2020, 1, 1), dt.date(2020, 2, 1))


def check_earth_engine_route(watched):
    expected, (crs, transform, width, height) = direct(watched)
    image = series_image(REFERENCE, SINCE, UNTIL)
    pixels = ee.data.computePixels({
        "expression": image.unmask(-1),
        "fileFormat": "NUMPY_NDARRAY",
        "grid": {"dimensions": {"width": width, "height": height},
                 "affineTransform": {"scaleX": transform.a, "shearX": transform.b, "translateX": transform.c,
                                     "shearY": transform.d, "scaleY": transform.e, "translateY": transform.f},
                 "crsCode": crs.to_string()},
    })  # fmt: skip
    for layer in LAYERS:
        got = pixels[layer].astype(float)
        want = np.asarray(expected[layer], float)
        if layer == "max_extent":
            want = np.where(want == 255, -1, want)
        want = np.where(np.isnan(want), -1, want)
        np.testing.assert_allclose(got, want, atol=1e-3, err_msg=layer)


def test_both_routes_equal_the_direct_computation_and_the_page_shows_them(watched, tmp_path):
    check_local_route(watched, tmp_path)
    check_earth_engine_route(watched)
    check_page(watched, tmp_path)


def check_page(watched, tmp_path):
    """The HTML page shows the series and one layer per acquisition date."""
    from gee_flood.watch.view import write_watch_html

    page = write_watch_html(tmp_path / "event.html", series=series_from_maps(watched), maps=watched)
    text = page.read_text()
    for acquired in watched:
        assert f"flood map {acquired:%Y-%m-%d %H:%M}" in text
    assert "maximum flood extent" in text and "flood duration (days)" in text
    assert text.count("data:image/png;base64,") == len(watched) + 2
    assert "https://unpkg.com" not in text and "cdn.jsdelivr" not in text  # opens offline (Leaflet inlined)

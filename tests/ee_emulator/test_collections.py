"""getInfo of filtered, mapped, sorted and joined collections with the real ee client."""

from __future__ import annotations

import pytest

from tests.ee_emulator.conftest import CS_PLUS, JRC, S1, S2, S2_CLOUD, S2_INDEX_1, S2_INDEX_2


def indices(ee, collection) -> list[str]:  # noqa: ANN001
    return collection.aggregate_array("system:index").getInfo()


def test_date_filter_selects_images_in_half_open_range(ee_client) -> None:
    ee = ee_client
    s1 = ee.ImageCollection(S1)
    assert indices(ee, s1) == ["S1_A", "S1_B", "S1_C"]
    assert indices(ee, s1.filterDate("2020-01-01", "2020-01-17T05:30:00")) == ["S1_A"]
    assert indices(ee, s1.filterDate("2020-01-01", "2020-01-18")) == ["S1_A", "S1_B"]
    assert indices(ee, s1.filter(ee.Filter.date(ee.Date("2020-02-01"), ee.Date("2020-02-01").advance(1, "month")))) == [
        "S1_C"
    ]


def test_bounds_filter_uses_geotiff_footprints(ee_client) -> None:
    ee = ee_client
    s1 = ee.ImageCollection(S1)
    # A point near the catalog origin (UTM 33N x=500100 m, y=5000540 m) in lon/lat: only S1_A covers it.
    inside_a = ee.Geometry.Point([15.0, 45.0]).buffer(1).transform()  # sanity: constructors work
    assert inside_a.type().getInfo() == "Polygon"
    origin = ee.Geometry.Point([500_100, 5_000_540], "EPSG:32633")
    assert indices(ee, s1.filterBounds(origin)) == ["S1_A"]
    east = ee.Geometry.Rectangle([500_700, 5_000_100, 500_800, 5_000_200], "EPSG:32633", False)
    assert indices(ee, s1.filterBounds(east)) == ["S1_B"]
    overlap = ee.Geometry.Rectangle([500_400, 5_000_100, 500_500, 5_000_200], "EPSG:32633", False)
    assert indices(ee, s1.filterBounds(overlap)) == ["S1_A", "S1_B"]


def test_property_filters(ee_client) -> None:
    ee = ee_client
    s1 = ee.ImageCollection(S1)
    iw_vv = s1.filter(ee.Filter.eq("instrumentMode", "IW")).filter(
        ee.Filter.listContains("transmitterReceiverPolarisation", "VV")
    )
    assert indices(ee, iw_vv) == ["S1_A", "S1_B"]
    assert indices(ee, s1.filter(ee.Filter.eq("orbitProperties_pass", "DESCENDING"))) == ["S1_B"]
    assert indices(ee, s1.filter(ee.Filter.inList("system:index", ["S1_C", "S1_A"]))) == ["S1_A", "S1_C"]
    assert indices(ee, s1.filter(ee.Filter.gt("relativeOrbitNumber_start", 50))) == ["S1_A"]
    # The client builds lte as not(greaterThan); like Earth Engine, an image lacking the property then matches.
    assert indices(ee, s1.filter(ee.Filter.lte("relativeOrbitNumber_start", 22))) == ["S1_B", "S1_C"]
    either = ee.Filter.Or(ee.Filter.eq("instrumentMode", "EW"), ee.Filter.lt("relativeOrbitNumber_start", 30))
    assert indices(ee, s1.filter(either)) == ["S1_B", "S1_C"]
    assert indices(ee, s1.filter(ee.Filter.neq("instrumentMode", "IW"))) == ["S1_C"]
    s2 = ee.ImageCollection(S2)
    assert indices(ee, s2.filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", 20))) == [S2_INDEX_1]
    assert indices(ee, s2.filterMetadata("CLOUDY_PIXEL_PERCENTAGE", "greater_than", 20)) == [S2_INDEX_2]


def test_map_sort_limit_size_first_and_properties(ee_client) -> None:
    ee = ee_client
    s1 = ee.ImageCollection(S1).filter(ee.Filter.eq("instrumentMode", "IW"))
    mapped = s1.map(
        lambda image: image.select("VV").set("doubled", ee.Number(image.get("relativeOrbitNumber_start")).multiply(2))
    )
    info = mapped.getInfo()
    assert info["type"] == "ImageCollection"
    assert [[b["id"] for b in f["bands"]] for f in info["features"]] == [["VV"], ["VV"]]
    assert [f["properties"]["doubled"] for f in info["features"]] == [234, 44]
    newest_first = s1.sort("system:time_start", False)
    assert newest_first.first().get("system:index").getInfo() == "S1_B"
    assert s1.limit(1, "relativeOrbitNumber_start").aggregate_array("system:index").getInfo() == ["S1_B"]
    assert s1.size().getInfo() == 2
    as_list = s1.toList(5)
    assert ee.Image(as_list.get(1)).get("system:index").getInfo() == "S1_B"
    first = ee.Image(s1.first())
    assert first.date().millis().getInfo() == 1578202200000  # 2020-01-05T05:30Z
    assert first.bandNames().getInfo() == ["VV", "VH"]
    names = first.setMulti({"a": 1}).set("b", "two").propertyNames().getInfo()
    assert {"a", "b", "system:index", "system:time_start", "instrumentMode"} <= set(names)
    assert ee.ImageCollection(S1).filterDate("2030-01-01", "2031-01-01").first().getInfo() is None
    empty_info = ee.ImageCollection(S1).filterDate("2030-01-01", "2031-01-01").getInfo()
    assert empty_info["features"] == [] and empty_info["id"] == S1


def test_image_info_is_earth_engine_shaped(ee_client) -> None:
    ee = ee_client
    info = ee.Image(f"{S2}/{S2_INDEX_1}").getInfo()
    assert info["type"] == "Image" and info["id"] == f"{S2}/{S2_INDEX_1}" and isinstance(info["version"], int)
    band = info["bands"][0]
    assert band == {
        "id": "B3",
        "data_type": {"type": "PixelType", "precision": "int", "min": 0, "max": 65535},
        "dimensions": [64, 64],
        "crs": "EPSG:32633",
        "crs_transform": [10.0, 0.0, 500000.0, 0.0, -10.0, 5000640.0],
    }
    assert info["properties"]["system:index"] == S2_INDEX_1
    assert info["properties"]["system:footprint"]["type"] == "LinearRing"
    assert ee.Image(JRC).select("occurrence").gt(50).getInfo()["bands"][0]["data_type"] == {
        "type": "PixelType", "precision": "int", "min": 0, "max": 1}  # fmt: skip
    projection = ee.Image(JRC).projection().getInfo()
    assert projection == {"type": "Projection", "crs": "EPSG:32633", "transform": [10, 0, 500000, 0, -10, 5000640]}
    assert ee.Image(JRC).projection().nominalScale().getInfo() == pytest.approx(10.0)


def test_join_cloud_probability_by_system_index_and_link_collection(ee_client) -> None:
    ee = ee_client
    s2 = ee.ImageCollection(S2)
    probability = ee.ImageCollection(S2_CLOUD)

    def add_cloud(image):  # noqa: ANN001, ANN202
        match = probability.filter(ee.Filter.eq("system:index", image.get("system:index"))).first()
        return image.addBands(ee.Image(match).select("probability"))

    joined = s2.map(add_cloud).getInfo()
    assert [[b["id"] for b in f["bands"]] for f in joined["features"]] == [["B3", "B8", "B11", "probability"]] * 2
    linked = s2.linkCollection(ee.ImageCollection(CS_PLUS), ["cs"]).getInfo()
    assert [[b["id"] for b in f["bands"]] for f in linked["features"]] == [["B3", "B8", "B11", "cs"]] * 2


def test_collection_level_reads(ee_client) -> None:
    ee = ee_client
    s1 = ee.ImageCollection(S1)
    ids, times = (
        s1.reduceColumns(ee.Reducer.toList().repeat(2), ["system:id", "system:time_start"]).get("list").getInfo()
    )
    assert ids == [f"{S1}/S1_A", f"{S1}/S1_B", f"{S1}/S1_C"]
    assert times[0] == 1578202200000
    assert s1.aggregate_array("relativeOrbitNumber_start").getInfo() == [117, 22]
    assert ee.Algorithms.If(s1.size().gt(2), "many", "few").getInfo() == "many"
    assert ee.Date("2020-01-31").advance(1, "month").format("YYYY-MM-dd").getInfo() == "2020-02-29"
    area = ee.Geometry.Rectangle([500_000, 5_000_000, 501_000, 5_001_000], "EPSG:32633", False).area(1).getInfo()
    assert area == pytest.approx(1e6, rel=1e-6)
    wgs_area = ee.Geometry.Rectangle([15.0, 45.0, 15.01, 45.01]).area().getInfo()
    assert wgs_area == pytest.approx(787.9 * 1111.9, rel=0.01)


def test_joins_on_system_index(ee_client) -> None:
    ee = ee_client
    on_index = ee.Filter.equals(leftField="system:index", rightField="system:index")
    s2 = ee.ImageCollection(S2)
    saved = ee.Join.saveFirst("cloud").apply(s2, ee.ImageCollection(S2_CLOUD), on_index)
    first = ee.Image(saved.first())
    assert ee.Image(first.get("cloud")).get("system:index").getInfo() == S2_INDEX_1
    assert first.addBands(ee.Image(first.get("cloud"))).bandNames().getInfo() == ["B3", "B8", "B11", "probability"]
    only_cs = ee.Join.simple().apply(s2, ee.ImageCollection(CS_PLUS), on_index)
    assert only_cs.aggregate_array("system:index").getInfo() == [S2_INDEX_1]
    without_cs = ee.Join.inverted().apply(s2, ee.ImageCollection(CS_PLUS), on_index)
    assert without_cs.aggregate_array("system:index").getInfo() == [S2_INDEX_2]
    pairs = ee.Join.inner().apply(s2, ee.ImageCollection(S2_CLOUD), on_index)
    assert pairs.size().getInfo() == 2
    later = ee.Filter.greaterThan(leftField="system:time_start", rightField="system:time_start")
    all_earlier = ee.Join.saveAll("earlier").apply(ee.ImageCollection(S1), ee.ImageCollection(S1), later)
    assert all_earlier.aggregate_array("system:index").getInfo() == ["S1_B", "S1_C"]
    assert ee.List(ee.Image(all_earlier.first()).get("earlier")).size().getInfo() == 1


def test_feature_select_keeps_renames_and_drops_the_geometry(ee_client) -> None:
    ee = ee_client
    square = ee.Geometry.Rectangle([15.0, 45.0, 15.1, 45.1])
    features = ee.FeatureCollection([ee.Feature(square, {"zone": "a", "flooded": 2.0, "excluded": 1.0})])
    kept = features.select(["f.*", "zone"], ["flood_m2", "name"], False).getInfo()["features"][0]
    assert kept["geometry"] is None and kept["properties"] == {"flood_m2": 2.0, "name": "a"}
    whole = features.select([".*"], None, True).getInfo()["features"][0]
    assert whole["geometry"]["type"] == "Polygon" and set(whole["properties"]) == {"zone", "flooded", "excluded"}
    with pytest.raises(ee.EEException, match="did not match any properties"):
        features.select(["people"]).getInfo()
    with pytest.raises(ee.EEException, match=r"Number of new names \(1\)"):
        features.select(["zone", "flooded"], ["one"]).getInfo()

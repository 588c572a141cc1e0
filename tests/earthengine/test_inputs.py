import datetime as dt
import json

import pytest

from gee_flood.earthengine.inputs import event_name, load_chip_list
from gee_flood.errors import InputError
from gee_flood.geo import DateRange

SQUARE = [[[10.0, 45.0], [10.02, 45.0], [10.02, 45.02], [10.0, 45.02], [10.0, 45.0]]]


def write(tmp_path, payload, name="aoi.geojson"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def feature(props, coords=SQUARE):
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": coords}, "properties": props}


def test_chip_list_ids_events_and_dates(tmp_path):
    payload = {
        "type": "FeatureCollection",
        "features": [
            feature({"chip_id": "Ghana_103272", "s1_date": "2018-09-18", "s2_date": "2018-09-19"}),
            feature({"chip_id": "7", "event": "rio grande", "date": "2019-03-05"}),
            feature({"S1 Date": "2019-03-05", "S2 Date": "2019-03-06"}),
        ],
    }
    chips = load_chip_list(write(tmp_path, payload, "sen1floods11_weak.geojson"), max_days=2)
    assert [chip.chip_id for chip in chips] == ["Ghana_103272", "RioGrande_7", "Sen1floods11Weak_000002"]
    assert chips[0].event == "Ghana"
    assert chips[0].s1_dates == DateRange(dt.date(2018, 9, 18), dt.date(2018, 9, 18))
    assert chips[0].s2_dates == DateRange(dt.date(2018, 9, 19), dt.date(2018, 9, 19))
    assert chips[1].s1_dates == DateRange(dt.date(2019, 3, 3), dt.date(2019, 3, 7))
    assert chips[2].s2_dates.start == dt.date(2019, 3, 6)


@pytest.mark.parametrize(
    ("features", "fragment"),
    [
        ([feature({"chip_id": "A_1"})], "has no date"),
        ([feature({"chip_id": "A_1", "date": "2019-02-30"})], "not a date"),
        (
            [feature({"chip_id": "A_1", "date": "2019-03-01"}), feature({"chip_id": "A_1", "date": "2019-03-01"})],
            "repeats chip id",
        ),
        (
            [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                    "properties": {"date": "2019-03-01"},
                }
            ],
            "is a Point",
        ),
    ],
)
def test_bad_chip_list(tmp_path, features, fragment):
    with pytest.raises(InputError, match=fragment):
        load_chip_list(write(tmp_path, {"type": "FeatureCollection", "features": features}, "chips.geojson"))


def test_chip_list_must_be_a_feature_collection(tmp_path):
    with pytest.raises(InputError, match="FeatureCollection"):
        load_chip_list(write(tmp_path, {"type": "Polygon", "coordinates": SQUARE}, "chips.geojson"))


def test_event_name_strips_underscores():
    assert event_name("my_flood-2019") == "MyFlood2019"
    with pytest.raises(InputError):
        event_name("__")

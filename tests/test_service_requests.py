"""Frozen, keyword-only requests of fetch and predict: documented once, checked in one line."""

import dataclasses
from pathlib import Path

import pytest

from gee_flood.errors import InputError
from gee_flood.service_requests import FetchRequest, PredictOptions, PredictRequest, field_doc, request_fields


@pytest.mark.parametrize("request_type", [FetchRequest, PredictRequest, PredictOptions])
def test_requests_are_frozen_keyword_only_and_document_every_field_once(request_type):
    params = request_type.__dataclass_params__
    assert params.frozen
    assert all(item.kw_only for item in dataclasses.fields(request_type))
    for name, item in request_fields(request_type).items():
        doc = field_doc(request_type, name)
        assert doc and doc == item.metadata["doc"] and "\n" not in doc
        assert request_type.__doc__.count(f"        {name}: {doc}") == 1  # in the Attributes section, once
    with pytest.raises(KeyError, match="no field 'nope'"):
        field_doc(request_type, "nope")


def test_requests_refuse_positional_arguments_and_changes():
    with pytest.raises(TypeError):
        FetchRequest(Path("corpus"))  # type: ignore[misc]
    request = PredictRequest(checkpoint=Path("s.ckpt"), out=Path("o.tif"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.out = Path("other.tif")  # type: ignore[misc]
    assert request.options == PredictOptions() and request.options.device == "auto"
    assert dataclasses.replace(request, scale_m=20.0).scale_m == 20.0  # a changed copy, not a change


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aoi": None}, "give either --aoi with --dates, or --chips"),
        ({"dates": None}, "--aoi needs --dates"),
        ({"chips": Path("c.geojson")}, "give either --aoi with --dates, or --chips"),
        ({"orbit_pass": "sideways"}, "--orbit-pass: 'sideways' is not one of ASCENDING, DESCENDING, any"),
        ({"cloud_mask": "sen2cor"}, "--cloud-mask: 'sen2cor' is not one of cloudscore, probability"),
        ({"endpoint": "fast"}, "--endpoint: 'fast' is not one of highvolume, standard"),
        ({"max_days": -1}, "--max-days: -1 must be >= 0"),
        ({"max_cloud": 1.5}, "--max-cloud: 1.5 must be a fraction between 0 and 1"),
        ({"chip_size": 4}, "--chip-size: 4 must be 8-8192 pixels"),
        ({"scale": float("nan")}, "--scale: nan must be a number from 1 to 10000 metres"),
        ({"scale": 0.000001}, "--scale: 1e-06 must be a number from 1 to 10000 metres"),
        ({"block_px": 0}, "--block-size: 0 must be 1-32768 pixels"),
        ({"byte_limit": 0}, "byte_limit: 0 must be >= 1"),
        ({"cloud_threshold": 2.0}, "--cloud-threshold: 2.0 must be 0-1 for --cloud-mask cloudscore"),
        ({"scheduler": "slurm"}, "--scheduler: 'slurm' must be threads, local or tcp://host:port"),
    ],
)
def test_fetch_request_values_are_checked_in_one_line(changes, message):
    request = FetchRequest(out=Path("corpus"), aoi=Path("aoi.geojson"), dates="2019-03-01/2019-03-20")
    request.validate_values()
    with pytest.raises(InputError) as info:
        dataclasses.replace(request, **changes).validate_values()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)

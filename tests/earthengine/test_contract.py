"""The Earth Engine contract: what the project sends is checked against earthengine-api's own ground truth.

``tests/conftest.py`` checks every request of every test (outside ``tests/ee_emulator``); these tests prove the
checker refuses what Earth Engine would refuse, and that a real fetch is recorded in full and passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import ee
import pytest

from ee_emulator import EmulatorServer
from ee_emulator.contract import ALGORITHMS_PATH, DISCOVERY_PATH, EarthEngineContract, RequestRecorder, recording
from gee_flood.earthengine import FetchRequest, RetryPolicy, run_fetch
from tests.earthengine.synthetic_catalog import CHIP, aoi_geojson, build_catalog

REPO = Path(__file__).resolve().parents[2]


def graph(function_name: str, arguments: dict) -> dict:
    """A one-invocation expression graph; ``arguments`` values are constants."""
    values = {name: {"constantValue": value} for name, value in arguments.items()}
    return {"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": function_name,
                                                                         "arguments": values}}}}  # fmt: skip


def test_the_ground_truth_is_read_from_the_installed_client_never_copied():
    package = Path(ee.__file__).resolve().parent
    assert ALGORITHMS_PATH.is_file() and ALGORITHMS_PATH.parent == package / "tests"
    assert DISCOVERY_PATH.is_file() and DISCOVERY_PATH.parent == package / "tests"
    copies = [
        path
        for name in (ALGORITHMS_PATH.name, DISCOVERY_PATH.name)
        for path in REPO.rglob(name)
        if ".venv" not in path.parts and ".git" not in path.parts
    ]
    assert copies == []
    contract = EarthEngineContract.installed()
    assert len(contract.algorithms) > 900 and "Image.load" in contract.algorithms


def test_a_valid_graph_passes():
    contract = EarthEngineContract.installed()
    assert contract.check_expression(graph("Image.load", {"id": "COPERNICUS/S2_HARMONIZED/x"})) == []
    # optional arguments may be left out, or given
    assert contract.check_expression(graph("Image.select", {"input": 1, "bandSelectors": ["B2"]})) == []
    with_optional = graph("Image.select", {"input": 1, "bandSelectors": ["B2"], "newNames": ["b"]})
    assert contract.check_expression(with_optional) == []


def test_an_unknown_algorithm_fails():
    problems = EarthEngineContract.installed().check_expression(graph("Image.frobnicate", {"input": 1}))
    assert problems == ["Image.frobnicate: no such algorithm in Earth Engine"]


def test_an_unknown_argument_and_a_missing_required_argument_fail():
    contract = EarthEngineContract.installed()
    unknown = contract.check_expression(graph("Image.select", {"input": 1, "bandSelectors": ["B2"], "bands": ["x"]}))
    assert len(unknown) == 1 and "Image.select: unknown argument 'bands'" in unknown[0]
    missing = contract.check_expression(graph("Image.select", {"input": 1}))
    assert missing == ["Image.select: required argument 'bandSelectors' is missing"]


def test_invocations_nested_in_lambdas_dictionaries_and_arrays_are_checked():
    inner = {"functionInvocationValue": {"functionName": "Image.nope", "arguments": {}}}
    expression = {
        "result": "0",
        "values": {
            "0": {"functionInvocationValue": {"functionName": "Dictionary", "arguments": {
                "input": {"dictionaryValue": {"values": {"a": {"arrayValue": {"values": [inner]}}}}}}}},
            "1": {"functionDefinitionValue": {"argumentNames": ["x"], "body": "2"}},
            "2": {"functionInvocationValue": {"functionName": "Image.missing", "arguments": {}}},
        },
    }  # fmt: skip
    problems = EarthEngineContract.installed().check_expression(expression)
    assert sorted(problems) == [
        "Image.missing: no such algorithm in Earth Engine",
        "Image.nope: no such algorithm in Earth Engine",
    ]


@pytest.mark.parametrize(
    ("method", "path", "known"),
    [
        ("POST", "/v1/projects/my-project/value:compute", True),
        ("POST", "/highvolume/v1/projects/my-project/image:computePixels", True),
        ("GET", "/v1/projects/my-project/assets/folder/sub/image", True),
        ("POST", "/v1/projects/my-project/assets", True),
        ("GET", "/v1/projects/my-project/maps/m1/tiles/3/4/5", True),
        ("POST", "/v1/projects/my-project/image:importExternal", True),
        ("GET", "/$discovery/rest", True),
        ("GET", "/v1/projects/my-project/image:computePixels", False),  # wrong HTTP method
        ("POST", "/v1/projects/my-project/image:frobnicate", False),
        ("GET", "/v1/projects/my-project/things/x", False),
        ("GET", "/v2/projects/my-project/assets/x", False),
    ],
)
def test_rest_requests_are_checked_against_the_discovery_document(method, path, known):
    problems = EarthEngineContract.installed().check_request(method, path)
    assert (problems == []) is known, problems


def test_a_recorder_with_a_bad_request_reports_it():
    recorder = RequestRecorder()
    body = json.dumps({"expression": graph("Image.frobnicate", {})}).encode()
    recorder.record("POST", "/v1/projects/p/value:compute", {}, body)
    recorder.record("POST", "/v1/projects/p/image:frobnicate", {}, b"")
    assert recorder.problems() == [
        "Image.frobnicate: no such algorithm in Earth Engine",
        "POST /v1/projects/p/image:frobnicate: no such method in Earth Engine's discovery document",
    ]


def test_a_fetch_is_recorded_in_full_and_keeps_the_contract(tmp_path):
    """Every graph of a fetch with all its reads (both cloud masks' paths, labels, JRC) is valid Earth Engine."""
    build_catalog(tmp_path / "catalog")
    aoi = aoi_geojson(tmp_path / "aoi.geojson")
    with EmulatorServer(tmp_path / "catalog") as server, recording() as recorder:
        for mask in ("cloudscore", "probability"):
            request = FetchRequest(
                out=tmp_path / mask, aoi=aoi, dates="2019-03-01/2019-03-20", chip_size=CHIP, orbit_pass="DESCENDING",
                ee_url=server.url, retry=RetryPolicy.fast(), progress=False, scheduler="threads", workers=1,
                cloud_mask=mask, weak_labels=True, permanent_water=True,
            )  # fmt: skip
            assert run_fetch(request).written == 9
    requests = recorder.requests
    computed = [request for request in requests if request.path.endswith("image:computePixels")]
    assert computed and all(request.expression is not None for request in computed)
    assert any(request.path.endswith("value:compute") and request.expression is not None for request in requests)
    names = {
        invocation
        for request in requests
        if request.expression is not None
        for invocation in _function_names(request.expression)
    }
    assert {"ImageCollection.mosaic", "Image.linkCollection", "Collection.filter"} <= names
    assert recorder.problems() == []


def _function_names(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["functionName"]} if isinstance(node.get("functionName"), str) else set()
        return found.union(*(_function_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_function_names(item) for item in node))
    return set()

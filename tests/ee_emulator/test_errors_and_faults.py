"""Earth Engine-shaped errors, the request size limit, and fault injection survived by the client's retries."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import requests

from ee_emulator import QUOTA_MESSAGE, EmulatorServer, FaultConfig, FaultRule, initialize_ee
from tests.ee_emulator.conftest import S1, utm_grid
from tests.ee_emulator.test_pixels import grid_dict


def post(server: EmulatorServer, method: str, body: dict) -> requests.Response:
    return requests.post(f"{server.url}/v1/projects/emulator/{method}", data=json.dumps(body), timeout=10)


def test_unknown_algorithm_is_a_400_naming_it(ee_client, server) -> None:
    ee = ee_client
    with pytest.raises(ee.EEException, match=r"Image\.entropy is not implemented by the gee-flood emulator"):
        ee.ApiFunction.call_("Image.entropy", ee.Image(1), ee.Image(1)).getInfo()
    expression = {"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Image.entropy",
                                                                             "arguments": {}}}}}  # fmt: skip
    response = post(server, "value:compute", {"expression": expression})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "Earth Engine algorithm Image.entropy is not implemented by the gee-flood emulator",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_algorithm_errors_read_like_earth_engine(ee_client) -> None:
    ee = ee_client
    with pytest.raises(ee.EEException, match="Image asset 'NOPE/x' not found"):
        ee.Image("NOPE/x").getInfo()
    with pytest.raises(ee.EEException, match="Pattern 'B99' did not match any bands"):
        ee.Image(f"{S1}/S1_A").select("B99").getInfo()
    with pytest.raises(ee.EEException, match=r"Image.select: Parameter 'input' is required"):
        ee.ImageCollection(S1).filterDate("2030-01-01", "2030-02-01").first().select("VV").getInfo()


def test_oversized_request_is_refused_with_earth_engines_message(ee_client, server) -> None:
    ee = ee_client
    grid = utm_grid(size=2600)  # 2600 x 2600 x (4 + 1) x 2 bands = 67,600,000 bytes
    message = "Total request size (67600000 bytes) must be less than or equal to 50331648 bytes."
    with pytest.raises(ee.EEException, match=message.replace("(", r"\(").replace(")", r"\)")):
        ee.data.computePixels({"expression": ee.Image(f"{S1}/S1_A"), "fileFormat": "NUMPY_NDARRAY",
                               "grid": grid_dict(grid)})  # fmt: skip
    requests_before = server.stats.snapshot()["requests"].get("image:computePixels", 0)
    body = {"expression": ee.serializer.encode(ee.Image(f"{S1}/S1_A")), "fileFormat": "NPY", "grid": grid_dict(grid)}
    response = post(server, "image:computePixels", body)
    assert response.status_code == 400 and response.json()["error"]["message"] == message
    assert server.stats.snapshot()["requests"]["image:computePixels"] == requests_before + 1


def test_request_bytes_are_counted_like_xee() -> None:
    from ee_emulator.objects import Band
    from ee_emulator.pixels import REQUEST_BYTE_LIMIT, check_request_size, request_bytes
    from ee_emulator.pixeltypes import PixelType
    from ee_emulator.raster import Constant
    from gee_flood.geo import PixelGrid as GeoReference

    uint8 = Band("a", PixelType("int", 0, 255), Constant(1))
    at_limit = GeoReference("EPSG:32633", utm_grid().transform, 4096, 6144)  # 4096 * 6144 * (1 + 1) bytes
    assert request_bytes([uint8], at_limit) == REQUEST_BYTE_LIMIT
    check_request_size([uint8], at_limit)  # equal to the limit is allowed
    over = GeoReference("EPSG:32633", utm_grid().transform, 4097, 6144)
    from ee_emulator.errors import EEError

    with pytest.raises(EEError, match=r"Total request size \(50343936 bytes\)"):
        check_request_size([uint8], over)
    float32 = Band("b", PixelType("float"), Constant(1.5))
    assert request_bytes([uint8, float32], utm_grid(size=10)) == 100 * (2 + 5)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch):
    """Shrink googleapiclient's random backoff (rand() * 2**n seconds) so retries take milliseconds."""
    import googleapiclient.http

    monkeypatch.setattr(googleapiclient.http, "random", types.SimpleNamespace(random=lambda: 0.001))
    # This test relies on the client's own retries (EE's default: 5); another test may have lowered them globally.
    import ee

    previous = ee.data._get_state().max_retries
    ee.data.setMaxRetries(5)
    yield
    ee.data.setMaxRetries(previous)


def test_quota_storm_is_survived_by_the_clients_retries(catalog, fast_retries) -> None:
    import ee

    faults = FaultConfig([FaultRule("value:compute", "quota", count=3),
                          FaultRule("image:computePixels", "unavailable", count=2)])  # fmt: skip
    with EmulatorServer(catalog.root, faults=faults) as server:
        initialize_ee(server)
        assert ee.ImageCollection(S1).size().getInfo() == 3
        stats = server.stats.snapshot()
        assert stats["requests"]["value:compute"] == 4 and stats["responses"]["429"] == 3
        assert stats["faults"] == {"quota": 3}
        request = {"expression": ee.Image(f"{S1}/S1_A").select("VH"), "fileFormat": "NUMPY_NDARRAY"}
        pixels = ee.data.computePixels({**request, "grid": grid_dict(utm_grid(size=4))})
        np.testing.assert_array_equal(pixels["VH"], -25.0)
        assert server.stats.snapshot()["requests"]["image:computePixels"] == 3
        raw = requests.post(f"{server.url}/v1/projects/emulator/value:compute", data="{}", timeout=5)
        assert raw.status_code == 400  # the storms are over: a bad request is answered normally


def test_quota_error_body_and_seeded_probability(catalog) -> None:
    def run() -> list[int]:
        faults = FaultConfig([FaultRule("*", "quota", probability=0.5)], seed=7)
        with EmulatorServer(catalog.root, faults=faults) as server:
            codes = [requests.get(f"{server.url}/v1/projects/emulator/algorithms", timeout=5) for _ in range(20)]
        return [c.status_code for c in codes], codes

    first, responses = run()
    second, _ = run()
    assert first == second and 429 in first and 200 in first
    body = next(r for r in responses if r.status_code == 429).json()
    assert body == {"error": {"code": 429, "message": QUOTA_MESSAGE, "status": "RESOURCE_EXHAUSTED"}}


def test_slow_faults_delay_but_answer(catalog) -> None:
    faults = FaultConfig([FaultRule("algorithms", "slow", delay_s=0.3, count=1, after=1)])
    with EmulatorServer(catalog.root, faults=faults) as server:
        delays: list[float] = []
        server._sleep = delays.append  # record instead of waiting
        codes = [requests.get(f"{server.url}/v1/projects/emulator/algorithms", timeout=5).status_code for _ in "abc"]
        assert codes == [200, 200, 200]
        assert delays == [0.3]  # only the second request (after=1, count=1) was slowed
        assert server.stats.snapshot()["faults"] == {"slow": 1}


def test_every_implemented_algorithm_is_a_real_earth_engine_algorithm() -> None:
    from ee_emulator import implemented_algorithms
    from ee_emulator.discovery import ALGORITHMS_PATH

    known = {entry["name"].split("/", 1)[1] for entry in json.loads(ALGORITHMS_PATH.read_text())["algorithms"]}
    implemented = implemented_algorithms()
    assert len(implemented) > 250
    assert [name for name in implemented if name not in known] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/projects/emulator/image:frobnicate"),  # no such method
        ("GET", "/v1/projects/emulator/value:compute"),  # a real path, the wrong HTTP method
        ("GET", "/v1/projects/emulator/widgets/w1"),
        ("GET", "/highvolume/v2/projects/emulator/assets/x"),
    ],
)
def test_routes_earth_engine_lacks_are_refused_as_earth_engine_refuses_them(server, method, path) -> None:
    before = server.stats.snapshot()["requests"].get("unknown", 0)
    response = requests.request(method, server.url + path, data=b"{}", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}}
    assert server.stats.snapshot()["requests"]["unknown"] == before + 1


def test_a_real_method_the_emulator_lacks_is_a_501_naming_it(server) -> None:
    response = requests.post(f"{server.url}/v1/projects/emulator/table:computeFeatures", data=b"{}", timeout=10)
    assert response.status_code == 501
    assert response.json()["error"] == {
        "code": 501,
        "message": "POST /v1/projects/emulator/table:computeFeatures is not implemented by the gee-flood emulator",
        "status": "UNIMPLEMENTED",
    }


def test_a_servers_own_recorder_keeps_each_request_and_its_expression(ee_client, server) -> None:
    from ee_emulator import RequestRecorder

    ee = ee_client
    server.recorder = RequestRecorder()
    try:
        assert ee.Image(f"{S1}/S1_A").bandNames().getInfo() == ["VV", "VH"]
        requests.get(f"{server.url}/v1/projects/emulator/widgets", timeout=10)
    finally:
        recorded, server.recorder = server.recorder, None
    (compute, unknown) = recorded.requests
    assert compute.method == "POST" and compute.path == "/v1/projects/emulator/value:compute"
    names = json.dumps(compute.expression)
    assert '"functionName": "Image.load"' in names and '"functionName": "Image.bandNames"' in names
    assert unknown.method == "GET" and unknown.expression is None
    assert recorded.problems() == [
        "GET /v1/projects/emulator/widgets: no such method in Earth Engine's discovery document"
    ]

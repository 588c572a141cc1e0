"""Earth Engine initialisation is one path for every endpoint: Google's with credentials, any other without."""

from __future__ import annotations

from typing import Any

import ee
import pytest

from gee_flood.earthengine import session
from gee_flood.earthengine.session import CUSTOM_ENDPOINT_PROJECT, EESettings, RetryPolicy, initialize
from gee_flood.errors import RemoteError


@pytest.mark.parametrize(
    ("url", "google"),
    [
        (None, True),
        ("https://earthengine.googleapis.com", True),
        ("https://earthengine-highvolume.googleapis.com/", True),
        ("http://127.0.0.1:8765", False),
        ("http://localhost:9000/base", False),
        ("https://ee.example.org", False),
        ("https://googleapis.com.example.org", False),
    ],
)
def test_only_googleapis_hosts_are_google(url, google):
    assert EESettings(url=url).is_google is google


def test_api_url_per_endpoint():
    assert EESettings(endpoint="highvolume").api_url() == ee.data.HIGH_VOLUME_API_BASE_URL
    assert EESettings(endpoint="standard").api_url() is None  # the client's default: Earth Engine
    assert (
        EESettings(url="http://127.0.0.1:8765/", endpoint="highvolume").api_url() == "http://127.0.0.1:8765/highvolume"
    )
    assert EESettings(url="http://127.0.0.1:8765", endpoint="standard").api_url() == "http://127.0.0.1:8765"
    google = "https://earthengine.googleapis.com"
    assert EESettings(url=google, endpoint="highvolume").api_url() == google


@pytest.fixture
def recorded_initialize(monkeypatch) -> list[dict[str, Any]]:
    """Replace ``ee.Initialize`` by a recorder that also notes what the data-catalog lookup would answer."""
    calls: list[dict[str, Any]] = []

    def fake_initialize(credentials: Any = "persistent", url: str | None = None, project: str | None = None) -> None:
        catalog = ee.deprecation._FetchDataCatalogStac
        calls.append({"credentials": credentials, "url": url, "project": project, "catalog": catalog})

    monkeypatch.setattr(ee, "Initialize", fake_initialize)
    # The real setDeadline rebuilds the client's API resource, which needs the session a real ee.Initialize makes.
    monkeypatch.setattr(ee.data, "setDeadline", lambda milliseconds: None)
    monkeypatch.setattr(session, "_initialised_with", None)
    for name in session.PROJECT_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return calls


def test_a_non_google_endpoint_gets_no_credentials_and_no_google_lookup(recorded_initialize):
    original_lookup = ee.deprecation._FetchDataCatalogStac
    initialize(EESettings(url="http://127.0.0.1:8765", endpoint="highvolume"), force=True)
    (call,) = recorded_initialize
    assert call["credentials"] is None and call["project"] == CUSTOM_ENDPOINT_PROJECT
    assert call["url"] == "http://127.0.0.1:8765/highvolume"
    assert call["catalog"] is not original_lookup and call["catalog"]() == {}  # nothing fetched from Google
    assert ee.deprecation._FetchDataCatalogStac is original_lookup  # restored afterwards
    initialize(EESettings(project="my-project", url="https://ee.example.org", endpoint="standard"), force=True)
    assert recorded_initialize[1]["project"] == "my-project" and recorded_initialize[1]["credentials"] is None


def test_google_gets_the_persistent_credentials_and_the_project_from_the_environment(recorded_initialize, monkeypatch):
    monkeypatch.setenv("EE_PROJECT", "from-env")
    original_lookup = ee.deprecation._FetchDataCatalogStac
    initialize(EESettings(endpoint="standard"), force=True)
    (call,) = recorded_initialize
    assert call == {"credentials": "persistent", "url": None, "project": "from-env", "catalog": original_lookup}


def test_the_http_deadline_of_one_request_is_half_the_retry_timeout(recorded_initialize, monkeypatch):
    deadlines: list[float] = []
    monkeypatch.setattr(ee.data, "setDeadline", deadlines.append)
    initialize(EESettings(url="http://127.0.0.1:8765", retry=RetryPolicy(timeout_s=7.5)), force=True)
    assert deadlines == [3750.0]  # milliseconds: a hung request fails, and the retry loop has time to retry it


def test_an_unreachable_endpoint_is_one_line_naming_the_option(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("connection refused\n  (port 1)")

    monkeypatch.setattr(ee, "Initialize", refuse)
    monkeypatch.setattr(session, "_initialised_with", None)
    with pytest.raises(RemoteError) as raised:
        initialize(EESettings(url="http://127.0.0.1:1"), force=True)
    message = str(raised.value)
    assert "\n" not in message and "http://127.0.0.1:1" in message and "--ee-url" in message
    assert "earthengine authenticate" not in message  # credentials are not the problem there


def test_a_session_the_user_initialised_is_reused_not_replaced(recorded_initialize, monkeypatch):
    """After the user's own ``ee.Initialize`` (or ``ee_emulator.initialize_ee``), settings that ask for nothing in
    particular reuse that session: no second initialisation (which would look for credentials)."""
    monkeypatch.setattr(ee.data, "is_initialized", lambda: True)
    initialize(EESettings(endpoint="standard"))
    assert recorded_initialize == []
    initialize(EESettings(url="http://127.0.0.1:8765", endpoint="standard"))  # asked for another endpoint: honoured
    assert [call["url"] for call in recorded_initialize] == ["http://127.0.0.1:8765"]
    monkeypatch.setattr(ee.data, "is_initialized", lambda: False)
    initialize(EESettings(endpoint="standard"))  # nothing initialised: initialise
    assert len(recorded_initialize) == 2

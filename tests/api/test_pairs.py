"""fetch_corpus is `gee-flood fetch`'s function; write_corpus runs it with the request its pairs were opened with."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

import gee_flood
from gee_flood.api import pairs as api_pairs
from gee_flood.earthengine import fetch
from gee_flood.errors import InputError


def test_write_corpus_runs_fetch_corpus_with_the_request_of_its_pairs(tmp_path, monkeypatch):
    opened = gee_flood.FetchRequest(out=Path("unused"), aoi=tmp_path / "po.geojson", dates="2019-03-01/2019-03-20",
                                    max_days=3)  # fmt: skip
    pairs = xr.Dataset(attrs={api_pairs.REQUEST_ATTR: api_pairs._request_attrs(opened)})
    requests = []
    monkeypatch.setattr(api_pairs, "fetch_corpus", lambda request: requests.append(request) or "summary")
    assert gee_flood.write_corpus(pairs, tmp_path / "corpus", weak_labels=True) == "summary"
    (request,) = requests
    assert request.out == tmp_path / "corpus" and request.aoi == opened.aoi and request.max_days == 3
    assert request.weak_labels and request.dates == opened.dates


def test_fetch_corpus_is_the_cli_fetch(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(fetch, "_fetch", lambda request: seen.append(request) or "summary")
    request = gee_flood.FetchRequest(
        out=tmp_path / "corpus", aoi=tmp_path / "po.geojson", dates="2019-03-01/2019-03-20"
    )
    assert gee_flood.fetch_corpus(request) == "summary" and seen == [request]
    with pytest.raises(InputError, match="aoi= needs dates="):
        gee_flood.fetch_corpus(gee_flood.FetchRequest(out=tmp_path / "other", aoi=tmp_path / "po.geojson"))
    assert not (tmp_path / "other").exists()

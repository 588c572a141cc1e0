"""Suite-wide: every request the project sends to an Earth Engine emulator is checked against Earth Engine's contract.

All emulator servers of the test process record what they receive (:func:`ee_emulator.contract.recording`). After
each test outside ``tests/ee_emulator`` (whose tests send invalid graphs and routes on purpose), the requests
recorded since the previous test are checked against the installed earthengine-api's ``algorithms.json`` and
discovery document; a violation fails that test (at teardown) naming the algorithm, argument or route.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ee_emulator.contract import EarthEngineContract, RequestRecorder, recording

# A shell without job control starts a background command (``pytest &``, ``nohup ... &``) with SIGINT ignored, and
# the CLIs the tests start would inherit that and ignore the Ctrl-C some tests send them. A handler (unlike SIG_IGN)
# is reset to the default in an exec'd child, so the children get the default action: what a terminal gives them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_EMULATOR_TESTS = Path(__file__).resolve().parent / "ee_emulator"


@pytest.fixture(scope="session", autouse=True)
def _earth_engine_requests() -> Iterator[RequestRecorder]:
    with recording() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _earth_engine_contract(request: pytest.FixtureRequest, _earth_engine_requests: RequestRecorder) -> Iterator[None]:
    yield
    sent = RequestRecorder(_earth_engine_requests.drain())
    if Path(str(request.node.path)).resolve().is_relative_to(_EMULATOR_TESTS):
        return
    problems = sent.problems(EarthEngineContract.installed())
    if problems:
        pytest.fail("requests Earth Engine would refuse: " + "; ".join(problems), pytrace=False)

"""Earth Engine calls of a watch run, retried on transient errors (429, 5xx, network) like every gee-flood read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retried(call: Callable[[], T], *, what: str) -> T:
    """Run ``call`` under gee-flood's retry policy (:func:`gee_flood.earthengine.session.with_retries`).

    Transient errors are retried with backoff; any other error is raised as it is (not wrapped), so callers can
    still tell "asset not found" from the rest.
    """
    from gee_flood.earthengine.session import RetryPolicy, is_transient, with_retries

    permanent: list[BaseException] = []

    def attempt() -> T | None:
        try:
            return call()
        except Exception as error:  # EE, googleapiclient and transport errors of many types
            if is_transient(error):
                raise
            permanent.append(error)
            return None

    result = with_retries(attempt, policy=RetryPolicy(), what=what)
    if permanent:
        raise permanent[0]
    return result  # type: ignore[return-value]

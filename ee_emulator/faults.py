"""Fault injection: bursts of 429 quota errors, 5xx errors, slow responses and lost responses, per endpoint, seeded.

A :class:`FaultConfig` holds :class:`FaultRule` objects. For every request, rules are tried in order; the first whose
endpoint pattern matches, whose ``after`` requests have passed, whose ``count`` is not used up and whose
``probability`` draw succeeds fires. Draws come from one ``random.Random(seed)``, so a sequential client sees the
same faults on every run.

Example: the first three computePixels calls answer 429 (the client retries them)::

    FaultConfig([FaultRule("image:computePixels", "quota", count=3)])

A ``"response_lost"`` fault lets the request do its work (an ingestion starts, an asset is created) and then answers
503 as if the response had been lost on the way back, so a client that retries sends the same request twice: the
fault file ``{"rules": [{"endpoint": "image:import", "kind": "response_lost", "count": 1}]}`` is "ingestion
accepted, response lost".
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from typing import Literal

from ee_emulator.errors import InputError

FaultKind = Literal[
    "quota",
    "server_error",
    "unavailable",
    "permission_denied",
    "slow",
    "response_lost",
    "connection_reset",
    "truncated_body",
    "zeroed_body",
]
#: Faults that answer the request's own response, damaged on the way (a proxy or a flaky link).
BODY_FAULTS = ("truncated_body", "zeroed_body")

#: Earth Engine's answer when a project exceeds its request rate or concurrency quota.
QUOTA_MESSAGE = "Too Many Requests: Request was rejected because the request rate or concurrency limit was exceeded."

_KINDS: dict[str, tuple[int, str, str]] = {
    "quota": (429, QUOTA_MESSAGE, "RESOURCE_EXHAUSTED"),
    "server_error": (500, "An internal error has occurred (injected by the gee-flood emulator).", "INTERNAL"),
    "unavailable": (503, "The service is currently unavailable (injected by the gee-flood emulator).", "UNAVAILABLE"),
    # Earth Engine's wording when the caller may not use the project (REST reference, google.rpc PERMISSION_DENIED).
    "permission_denied": (
        403,
        "Caller does not have required permission to use project emulator. Grant the caller the "
        "roles/serviceusage.serviceUsageConsumer role, or a custom role with the serviceusage.services.use "
        "permission (injected by the gee-flood emulator).",
        "PERMISSION_DENIED",
    ),
    "response_lost": (
        503,
        "The service is currently unavailable (the request was done; its response was lost, injected by the "
        "gee-flood emulator).",
        "UNAVAILABLE",
    ),
}


@dataclass(frozen=True)
class FaultRule:
    """One kind of fault on matching requests.

    Attributes:
        endpoint: Endpoint label or glob (``"image:computePixels"``, ``"value:compute"``, ``"*"``). Labels are
            listed in :data:`ee_emulator.server.ENDPOINTS`.
        kind: ``"quota"`` (429 with Earth Engine's quota message), ``"server_error"`` (500), ``"unavailable"``
            (503), ``"permission_denied"`` (403), ``"slow"`` (answer normally after ``delay_s``),
            ``"connection_reset"`` (drop the connection with a TCP reset before answering; the request is not
            done), ``"response_lost"`` (do the request, then answer 503 instead of its result),
            ``"truncated_body"`` (answer 200 with the full Content-Length but only half the body, then close) or
            ``"zeroed_body"`` (answer 200 with as many zero bytes as the body has).
        probability: Chance that a matching request is hit (0-1).
        count: Most times the rule fires (None: unlimited).
        after: Matching requests to let through before the rule may fire.
        delay_s: Delay of a ``"slow"`` fault, in seconds.
    """

    endpoint: str = "*"
    kind: FaultKind = "quota"
    probability: float = 1.0
    count: int | None = None
    after: int = 0
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        kinds = (*_KINDS, "slow", "connection_reset", *BODY_FAULTS)
        if self.kind not in kinds:
            raise InputError(f"fault kind {self.kind!r}: expected one of {', '.join(kinds)}")
        if not 0.0 <= self.probability <= 1.0:
            raise InputError(f"fault probability {self.probability}: expected a number in [0, 1]")
        if self.count is not None and self.count < 0:
            raise InputError(f"fault count {self.count}: expected >= 0")
        if self.delay_s < 0:
            raise InputError(f"fault delay {self.delay_s}: expected >= 0 seconds")


@dataclass(frozen=True)
class FaultConfig:
    """Which faults the emulator injects (none by default).

    Attributes:
        rules: Rules tried in order for every request.
        seed: Seed of the random draws (probability < 1).
    """

    rules: tuple[FaultRule, ...] | list[FaultRule] = ()
    seed: int = 0

    @classmethod
    def quota_storm(cls, endpoint: str = "image:computePixels", count: int = 3, seed: int = 0) -> FaultConfig:
        """The next ``count`` matching requests answer 429."""
        return cls((FaultRule(endpoint, "quota", count=count),), seed)


@dataclass(frozen=True)
class Fault:
    """A fault decided for one request: an error status and body, or a delay."""

    kind: str
    status: int | None
    message: str
    status_name: str
    delay_s: float = 0.0


@dataclass
class FaultInjector:
    """Applies a :class:`FaultConfig` (thread-safe) and counts what it injected."""

    config: FaultConfig = field(default_factory=FaultConfig)
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._seen = [0] * len(self.config.rules)
        self._fired = [0] * len(self.config.rules)

    def decide(self, endpoint: str) -> Fault | None:
        """The fault for a request to ``endpoint``, or None."""
        with self._lock:
            for index, rule in enumerate(self.config.rules):
                if not fnmatch.fnmatchcase(endpoint, rule.endpoint):
                    continue
                self._seen[index] += 1
                if self._seen[index] <= rule.after:
                    continue
                if rule.count is not None and self._fired[index] >= rule.count:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                self._fired[index] += 1
                self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
                if rule.kind in ("slow", "connection_reset", *BODY_FAULTS):
                    return Fault(rule.kind, None, "", "", rule.delay_s)
                status, message, status_name = _KINDS[rule.kind]
                return Fault(rule.kind, status, message, status_name)
        return None

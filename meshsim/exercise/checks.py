"""How each exercise is judged: why it passed, not only that it did.

A check has two halves. `written` reads the learner's scenario before
anything runs: the fault the task keeps is still there, the policy is of the
kind the lesson teaches (a weight, not a replica count; a workload exception,
not a mesh-wide PERMISSIVE). A scenario that fails there is not run: it would
pass for the wrong reason. `observed` reads the run: the numbers the lesson
predicts (retries > 0 because the fault is retried away; ejections ≥ 1) and
the answers of probe requests sent as workloads. Each finding says, in
words, what was right or what was not and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from meshsim.exercise.evidence import Evidence, Finding
from meshsim.exercise.judges_resilience import (
    outlier_observed,
    outlier_written,
    retries_observed,
    retries_written,
    timeout_observed,
    timeout_written,
)
from meshsim.exercise.judges_security import (
    authz_observed,
    authz_written,
    mtls_observed,
    mtls_written,
)
from meshsim.exercise.judges_traffic import (
    canary_observed,
    canary_written,
    gateway_written,
    header_observed,
    header_written,
)

Judge = Callable[[Evidence, str], list[Finding]]
PRODUCTS = "http://product/products"


@dataclass(frozen=True)
class ProbeSpec:
    who: str
    method: str = "GET"
    url: str = PRODUCTS


@dataclass(frozen=True)
class Check:
    written: Judge
    observed: Judge
    probes: list[ProbeSpec] = field(default_factory=list)


CHECKS: dict[str, Check] = {
    "canary-weights": Check(canary_written, canary_observed),
    "header-beta": Check(header_written, header_observed),
    "retries-vs-faults": Check(retries_written, retries_observed),
    "timeout-budget": Check(timeout_written, timeout_observed),
    "outlier-detection": Check(outlier_written, outlier_observed),
    "mtls-legacy": Check(mtls_written, mtls_observed),
    "gateway-api-canary": Check(gateway_written, canary_observed),
    "authz-lockdown": Check(authz_written, authz_observed, [ProbeSpec("user"), ProbeSpec("order")]),
}

"""Istio's task YAML, unmodified (Bookinfo's hosts, subsets, `end-user: jason`
match, bookinfo-gateway on 8080 routing to productpage:9080), on Bookinfo's
call graph run as own services (examples/bookinfo).

What no other test proves: Istio's files compile and route as they are on a
mesh of one's own services, and the outcomes Istio's docs describe, which
come from the apps' own timeouts and not from the mesh alone, hold: under
the 7 s delay jason's page comes back after about 6 s (productpage gives up
on reviews first), and under the 0.5 s timeout after about 1 s (productpage
tries reviews twice), both still HTTP 200. (The same tasks with the shop's
hosts: test_istio_tasks.py.) Fault delays are not time-scaled, so
fault-injection runs as written (30 s of phases); request-timeouts is
shortened as far as its settles still outlast a 2 s call in flight.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.helpers import run_to_pass

pytestmark = pytest.mark.slow

BOOKINFO = Path(__file__).parents[2] / "examples" / "bookinfo"


def test_fault_injection(tmp_path: Path) -> None:
    report = run_to_pass(BOOKINFO / "fault-injection.yaml", tmp_path / "run", 1.0)
    # bookinfo-gateway carried the page: its route, not the mesh's own
    delay = next(p for p in report["phases"] if p["name"] == "ratings-delay")
    assert any(e["source"] == "istio-ingressgateway" for e in delay["edges"]), delay["edges"]


def test_request_timeouts(tmp_path: Path) -> None:
    run_to_pass(BOOKINFO / "request-timeouts.yaml", tmp_path / "run", 0.8)

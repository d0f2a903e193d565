"""The Grafana dashboard shipped for the golden signals per edge."""

from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).parents[2] / "compose" / "grafana" / "meshsim-golden-signals.json"
SOURCE = re.compile(r"(istio-ingressgateway|[a-z0-9]+?)(-v[^-]+-[0-9]+)?(:[0-9]+)?")


def test_dashboard_reads_envoys_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "meshsim-edge-golden-signals"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(dashboard["panels"]) >= 6
    for metric in ("upstream_rq_completed", "upstream_rq_xx", "upstream_rq_time_bucket"):
        assert any(f"envoy_cluster_{metric}" in e for e in exprs), metric
    assert all(e.count("(") == e.count(")") for e in exprs)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_callers_from_instance_labels() -> None:
    """The dashboard's label_replace regex (RE2, anchored) on the instance names
    of docs/observability.md's scrape config and of compose's."""
    for instance, caller in (
        ("order-v1-0", "order"),
        ("product-v2-1:15000", "product"),
        ("istio-ingressgateway", "istio-ingressgateway"),
        ("istio-ingressgateway:15000", "istio-ingressgateway"),
    ):
        m = SOURCE.fullmatch(instance)
        assert m is not None and m.group(1) == caller
    assert SOURCE.pattern in DASHBOARD.read_text().replace("\\\\", "\\")

"""Tracing and access logs in the compiled configuration (meshsim.control.observe)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshsim.control import envoy as e
from meshsim.control.observe import (
    ACCESS_LOG_FORMAT,
    COLLECTOR_CLUSTER,
    Observability,
    bootstrap_fields,
    collector_cluster,
)
from meshsim.control.plan import build_plan
from meshsim.control.security import INBOUND_LOG_FORMAT, T_FILE_LOG
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.control.xds import Paths, ProxyConfig
from meshsim.runtime.commands import envoy_binary

PLAN = build_plan({"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1}}, 0)
PATHS = Paths("/run/x/xds")
OBS = Observability(collector=("127.0.0.1", 9411), sampling=25.0)


def _compile(obs: Observability | None) -> dict[str, ProxyConfig]:
    return compile_mesh(PLAN, PolicyState.initial(), PATHS, observability=obs)


def _hcms(cfg: ProxyConfig) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lst["name"], f["typed_config"])
        for lst in cfg.listeners
        for chain in lst["filter_chains"]
        for f in chain["filters"]
        if f["typed_config"].get("@type") == e.T_HCM
    ]


def _logs(hcm: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a["typed_config"]
        for a in hcm.get("access_log", [])
        if a["typed_config"]["@type"] == T_FILE_LOG
    ]


def test_off_changes_nothing() -> None:
    assert json.dumps(
        {k: (c.listeners, c.clusters) for k, c in _compile(None).items()}
    ) == json.dumps(
        {
            k: (c.listeners, c.clusters)
            for k, c in compile_mesh(PLAN, PolicyState.initial(), PATHS).items()
        }
    )
    for cfg in _compile(None).values():
        assert all("tracing" not in hcm for _, hcm in _hcms(cfg))


def test_every_connection_manager_traces_to_the_collector() -> None:
    for name, cfg in _compile(OBS).items():
        (collector,) = [c for c in cfg.clusters if c["name"] == COLLECTOR_CLUSTER]
        addr = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert addr["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9411}
        hcms = _hcms(cfg)
        assert hcms
        for listener, hcm in hcms:
            tracing = hcm["tracing"]
            zipkin = tracing["provider"]["typed_config"]
            assert zipkin["collector_cluster"] == COLLECTOR_CLUSTER
            assert zipkin["collector_endpoint"] == "/api/v2/spans"
            assert zipkin["collector_endpoint_version"] == "HTTP_JSON"
            assert zipkin["shared_span_context"] is False
            assert tracing["random_sampling"] == {"value": 25.0}
            tags = {t["tag"]: t["literal"]["value"] for t in tracing["custom_tags"]}
            expected = "ingress" if name == PLAN.ingress.name else (
                "inbound" if listener == "virtualInbound" else "outbound"
            )  # fmt: skip
            assert tags == {"meshsim.proxy": name, "meshsim.direction": expected}
        directions = {lst["name"]: lst.get("traffic_direction") for lst in cfg.listeners}
        if name != PLAN.ingress.name:
            assert directions == {"outbound_http_proxy": "OUTBOUND", "virtualInbound": "INBOUND"}


def test_access_logs_everywhere_and_authz_keeps_its_keys() -> None:
    cfgs = _compile(Observability(collector=None))
    order = cfgs["order-v1-0"]
    by_listener: dict[str, list[dict[str, Any]]] = {}
    for listener, hcm in _hcms(order):
        assert "tracing" not in hcm
        by_listener.setdefault(listener, []).extend(_logs(hcm))
    inbound = by_listener["virtualInbound"]
    # one log per filter chain (mTLS, plaintext), the one security asked for, widened
    assert {log["path"] for log in inbound} == {"/run/x/logs/order-v1-0.inbound.jsonl"}
    for log in inbound:
        fmt = log["log_format"]["json_format"]
        assert fmt == ACCESS_LOG_FORMAT and INBOUND_LOG_FORMAT.items() <= fmt.items()
    (outbound,) = by_listener["outbound_http_proxy"]
    assert outbound["path"] == "/run/x/logs/order-v1-0.outbound.jsonl"
    (ingress,) = [log for _, hcm in _hcms(cfgs[PLAN.ingress.name]) for log in _logs(hcm)]
    assert ingress["path"] == "/run/x/logs/istio-ingressgateway.ingress.jsonl"
    assert {"flags", "trace_id", "upstream_host", "duration_ms"} <= set(ACCESS_LOG_FORMAT)
    assert all(c["name"] != COLLECTOR_CLUSTER for c in order.clusters)


def test_bootstrap_fields() -> None:
    fields = bootstrap_fields(OBS)
    (setting,) = fields["stats_config"]["histogram_bucket_settings"]
    assert setting["match"] == {"suffix": "upstream_rq_time"} and 50 in setting["buckets"]
    layer = fields["layered_runtime"]["layers"][0]["static_layer"]
    assert layer["tracing.zipkin.flush_interval_ms"] == 1000
    assert "layered_runtime" not in bootstrap_fields(Observability(collector=None))


def test_a_collector_reached_by_name_is_resolved_by_envoy() -> None:
    """Docker Desktop's containers reach the host as host.docker.internal."""
    by_ip = collector_cluster("172.18.0.1", 9411)
    assert by_ip["type"] == "STATIC" and "dns_lookup_family" not in by_ip
    by_name = collector_cluster("host.docker.internal", 9411)
    assert by_name["type"] == "LOGICAL_DNS"
    (endpoint,) = by_name["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "host.docker.internal",
        "port_value": 9411,
    }


@pytest.mark.parametrize("collector", [("127.0.0.1", 9411), ("host.docker.internal", 9411)])
def test_envoy_accepts_it(tmp_path: Path, collector: tuple[str, int]) -> None:
    obs = Observability(collector=collector, sampling=25.0)
    cfgs = _compile(obs)
    for name in (PLAN.ingress.name, "order-v1-0"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(static_bootstrap(cfgs[name]) | bootstrap_fields(obs)))
        proc = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error",
             "--disable-hot-restart"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr

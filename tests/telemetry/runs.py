"""Synthetic telemetry shaped like what Envoy 1.40 really sends and writes
(spans, access log lines, /stats/prometheus), and a run directory holding it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.control.plan import build_plan

T0 = 1_795_713_853.0  # epoch seconds of the run's start
TRACE = "332f41f9a23bf1870af7a0685a41118c"
PEER_ORDER = "spiffe://cluster.local/ns/default/sa/order"
PEER_INGRESS = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


def zipkin_span(
    span_id: str,
    parent: str | None,
    service: str,
    direction: str,
    start_ms: float,
    duration_ms: float,
    *,
    url: str = "http://order/orders",
    method: str = "GET",
    status: int = 200,
    upstream: str = "-",
    downstream: str = "-",
    trace_id: str = TRACE,
    proxy: str | None = None,
) -> dict[str, Any]:
    """One span as Envoy's Zipkin tracer posts it (JSON v2)."""
    span: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id,
        "name": "127.0.0.1:38731",
        "kind": "CLIENT" if direction == "outbound" else "SERVER",
        "timestamp": int((T0 + 1) * 1e6 + start_ms * 1000),
        "duration": int(duration_ms * 1000),
        "localEndpoint": {"serviceName": service, "ipv4": "192.0.2.2", "port": 0},
        "tags": {
            "http.method": method,
            "http.url": url,
            "http.status_code": str(status),
            "response_flags": "-",
            "upstream_cluster": upstream,
            "downstream_cluster": downstream,
            "meshsim.proxy": proxy
            or (service if service.startswith("istio") else f"{service}-v1-0"),
            "meshsim.direction": direction,
            "guid:x-request-id": "aba9eac1-8864-9d68-a297-6535a9b93c5b",
            "component": "proxy",
        },
    }
    if parent:
        span["parentId"] = parent
    return span


def order_trace(trace_id: str = TRACE, offset_ms: float = 0.0) -> list[dict[str, Any]]:
    """POST /orders: ingress → order → (user ∥ product) then shipping, 40 ms in all."""
    o = offset_ms

    def cluster(service: str) -> str:
        return f"outbound|80||{service}.default.svc.cluster.local"

    kw: dict[str, Any] = {"trace_id": trace_id}
    return [
        zipkin_span("a1", None, "istio-ingressgateway", "ingress", o + 0, 40, method="POST",
                    url="http://127.0.0.1:8080/orders", status=201, upstream=cluster("order"), **kw),
        zipkin_span("b1", "a1", "order", "inbound", o + 1, 38, method="POST", status=201,
                    url="http://127.0.0.1:8080/orders", downstream="istio-ingressgateway", **kw),
        zipkin_span("c1", "b1", "order", "outbound", o + 2, 4, url="http://user/users/1",
                    upstream=cluster("user"), **kw),
        zipkin_span("c2", "c1", "user", "inbound", o + 3, 2, url="http://user/users/1",
                    downstream="order", **kw),
        zipkin_span("d1", "b1", "order", "outbound", o + 2, 6, url="http://product/products/1/stock",
                    upstream=cluster("product"), **kw),
        zipkin_span("d2", "d1", "product", "inbound", o + 3, 4,
                    url="http://product/products/1/stock", downstream="order", **kw),
        zipkin_span("e1", "b1", "order", "outbound", o + 10, 26, url="http://shipping/quote?items=1",
                    upstream=cluster("shipping"), **kw),
        zipkin_span("e2", "e1", "shipping", "inbound", o + 11, 24,
                    url="http://shipping/quote?items=1", downstream="order", **kw),
    ]  # fmt: skip


def access_line(t: float, code: int = 200, **fields: Any) -> dict[str, Any]:
    """One line of meshsim.control.observe.ACCESS_LOG_FORMAT as Envoy writes it."""
    return {
        "t": f"{t:.6f}",
        "peer": None,
        "tls": None,
        "method": "GET",
        "path": "/products/1/stock",
        "code": code,
        "details": "via_upstream",
        "authority": "product",
        "flags": "-",
        "duration_ms": 3,
        "upstream_ms": "2",
        "upstream_cluster": "outbound_80__product",
        "upstream_host": "-",
        "attempts": 1,
        "source": "order",
        "served_by": "product-v1-0",
        "request_id": "aba9eac1-8864-9d68-a297-6535a9b93c5b",
        "trace_id": TRACE,
        **fields,
    }


EDGE = {
    "source": "order",
    "destination": "product",
    "destination_version": "v1",
    "requests": 100,
    "errors": 20,
    "retries": 0,
    "rps": 10.0,
    "latency_histogram": {"buckets": {"2": 50, "5": 40, "10": 10}, "sum_ms": 350.0},
}


def make_run(root: Path, *, spans: list[dict[str, Any]] | None = None) -> Path:
    """A finished run with two phases (1 s–11 s, 11 s–21 s), a plan, edges,
    spans and access logs."""
    run_dir = root / "run"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "records").mkdir()
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r1", "scenario": "t"}))
    events = [
        {"event": "run_start", "t": T0},
        {"event": "phase_start", "t": T0 + 1, "phase": "one", "index": 0},
        {"event": "phase_end", "t": T0 + 11, "phase": "one", "index": 0, "status": "completed"},
        {"event": "phase_start", "t": T0 + 11, "phase": "two", "index": 1},
        {"event": "phase_end", "t": T0 + 21, "phase": "two", "index": 1, "status": "completed"},
        {"event": "run_end", "t": T0 + 22, "status": "completed"},
    ]
    (run_dir / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    plan = build_plan({"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1},
                       "shipping": {"v1": 1}}, 0)  # fmt: skip
    (run_dir / "plan.json").write_text(json.dumps(plan.to_dict()))
    edges = (
        [
            {**EDGE, "source": "istio-ingressgateway", "destination": d, "errors": 0}
            for d in ("order", "product", "user")
        ]
        + [{**EDGE, "destination": d, "errors": 0} for d in ("user", "shipping")]
        + [EDGE]
    )
    (run_dir / "edges.json").write_text(
        json.dumps({"phases": {"one": edges, "two": [e for e in edges if e["source"] != "order"]}})
    )
    spans = order_trace() if spans is None else spans
    (run_dir / "traces.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans))
    product = next(i for i in plan.instances if i.service == "product")
    host = f"{product.host}:{product.inbound_port}"
    outbound = [
        access_line(T0 + 2, upstream_host=host),
        access_line(T0 + 12, 503, flags="FI", upstream_cluster="-", upstream_host="-",
                    served_by="-", duration_ms=0),
    ]  # fmt: skip
    (run_dir / "logs" / "order-v1-0.outbound.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in outbound) + '{"t": "17957'  # a cut last line
    )
    inbound = [access_line(T0 + 2.001, peer=PEER_ORDER, tls="TLSv1.2",
                           upstream_cluster="inbound_80__product")]  # fmt: skip
    (run_dir / "logs" / "product-v1-0.inbound.jsonl").write_text(json.dumps(inbound[0]) + "\n")
    ingress = [access_line(T0 + 1.5, path="/products", upstream_host=host,
                           source="istio-ingressgateway")]  # fmt: skip
    (run_dir / "logs" / "istio-ingressgateway.ingress.jsonl").write_text(
        json.dumps(ingress[0]) + "\n"
    )
    return run_dir

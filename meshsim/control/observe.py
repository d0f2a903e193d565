"""What the data plane reports beyond its counters: spans and access logs. Pure.

`compile_mesh(..., observability=Observability(...))` hands it to the
listener and cluster builders (meshsim.control.listeners, clusters), which
build every HTTP connection manager (of every filter chain, mTLS and
plaintext) and every proxy's clusters with

- **tracing** on every HTTP connection manager: Envoy's Zipkin tracer,
  JSON v2 to `/api/v2/spans` on the collector meshsim embeds
  (`meshsim.telemetry.collector`), through a cluster added to every proxy;
  spans are not shared between client and server (`shared_span_context:
  false`) so each hop is its own span with its parent one hop up; every span
  carries the proxy (`meshsim.proxy`) and its direction (`meshsim.direction`:
  inbound, outbound, ingress) as tags;
- **access logs** as JSON lines in the run's `logs/` directory:
  `<proxy>.inbound.jsonl` (the log `meshsim.control.security` already asks
  for, with more fields), `<proxy>.outbound.jsonl` and, for the gateway,
  `istio-ingressgateway.ingress.jsonl`. `meshsim.telemetry.accesslog`
  reads them.

`bootstrap_fields` is what each bootstrap needs on top: finer latency
buckets for `upstream_rq_time`, a histogram merge every second (what
`/stats/prometheus` shows lags by at most that), and Zipkin flushing every
second instead of five.

Nothing here runs when observability is off (`observability=None`): the
configuration is then exactly what it was without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshsim.control import envoy as e
from meshsim.control.security import INBOUND_LOG_FORMAT, T_FILE_LOG
from meshsim.rundir import RunDir

COLLECTOR_CLUSTER = "meshsim_zipkin"
COLLECTOR_PATH = "/api/v2/spans"
T_ZIPKIN = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"
INBOUND, OUTBOUND, INGRESS = "inbound", "outbound", "ingress"
ZIPKIN_FLUSH_S = 1.0

# Envoy's upstream_rq_time is whole milliseconds; its default buckets jump
# 25 → 50 → 100 ms, too coarse for "p99 < 50ms". These keep a percentile
# estimate within ~20 % of the true value up to 1 s.
LATENCY_BUCKETS_MS = (
    0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125, 150,
    200, 250, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000,
)  # fmt: skip

# One JSON line per request. The first keys are those meshsim.telemetry.authz
# reads from the inbound log; the rest say what happened to the request.
ACCESS_LOG_FORMAT: dict[str, str] = {
    **INBOUND_LOG_FORMAT,
    "authority": "%REQ(:AUTHORITY)%",
    "flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "upstream_ms": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "source": "%REQ(X-ENVOY-DOWNSTREAM-SERVICE-CLUSTER)%",
    "served_by": "%RESP(X-SERVED-BY)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
}


@dataclass(frozen=True)
class Observability:
    """What the data plane reports on top of its counters.

    `collector` is the Zipkin collector's (host, port) as the proxies reach
    it; None turns tracing off. `sampling` is the percentage of requests the
    ingress (and a sidecar called without a decision) traces.
    """

    collector: tuple[str, int] | None = None
    sampling: float = 100.0
    access_logs: bool = True


def access_log_path(paths_root: str, proxy: str, direction: str) -> str:
    """`logs/<proxy>.<direction>.jsonl` beside the run's xds directory."""
    return str(RunDir(Path(paths_root).parent).access_log(proxy, direction))


def collector_cluster(host: str, port: int) -> dict[str, Any]:
    """The cluster the proxies send spans to. `host` is an IP address (the
    local runtime's 127.0.0.1, a Linux engine's network gateway) or a name
    such as Docker Desktop's host.docker.internal, which Envoy resolves."""
    resolved = {} if e.is_ip(host) else {"dns_lookup_family": "V4_PREFERRED"}
    return {
        "@type": e.T_CLUSTER,
        "name": COLLECTOR_CLUSTER,
        "type": "STATIC" if e.is_ip(host) else "LOGICAL_DNS",
        **resolved,
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": COLLECTOR_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": e.socket_address(host, port)}}]}
            ],
        },
    }


def tracing(proxy: str, direction: str, sampling: float) -> dict[str, Any]:
    """The HTTP connection manager's `tracing`: Zipkin to meshsim's collector."""
    return {
        "random_sampling": {"value": sampling},
        "custom_tags": [
            {"tag": "meshsim.proxy", "literal": {"value": proxy}},
            {"tag": "meshsim.direction", "literal": {"value": direction}},
        ],
        "provider": {
            "name": "envoy.tracers.zipkin",
            "typed_config": {
                "@type": T_ZIPKIN,
                "collector_cluster": COLLECTOR_CLUSTER,
                "collector_endpoint": COLLECTOR_PATH,
                "collector_endpoint_version": "HTTP_JSON",
                "shared_span_context": False,
                "trace_id_128bit": True,
            },
        },
    }


def file_access_log(path: str) -> dict[str, Any]:
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": T_FILE_LOG,
            "path": path,
            "log_format": {"json_format": dict(ACCESS_LOG_FORMAT)},
        },
    }


def bootstrap_fields(observability: Observability) -> dict[str, Any]:
    """Bootstrap keys every proxy gets when observability is on."""
    fields: dict[str, Any] = {
        "stats_flush_interval": "1s",
        "stats_config": {
            "histogram_bucket_settings": [
                {"match": {"suffix": "upstream_rq_time"}, "buckets": list(LATENCY_BUCKETS_MS)}
            ]
        },
    }
    if observability.collector is not None:
        fields["layered_runtime"] = {
            "layers": [
                {
                    "name": "meshsim",
                    "static_layer": {
                        "tracing.zipkin.flush_interval_ms": int(ZIPKIN_FLUSH_S * 1000),
                        "tracing.zipkin.min_flush_spans": 20,
                    },
                },
                {"name": "admin", "admin_layer": {}},
            ]
        }
    return fields


def access_logs(
    logs: list[dict[str, Any]], proxy: str, direction: str, obs: Observability, root: str
) -> list[dict[str, Any]]:
    """An HTTP connection manager's access logs with this direction's JSON log:
    the inbound log security asks for (same file) gets every field, or the log
    is added."""
    path = access_log_path(root, proxy, direction)
    for i, log in enumerate(logs):
        config = log.get("typed_config", {})
        if config.get("@type") == T_FILE_LOG and config.get("path") == path:
            return logs[:i] + [file_access_log(path)] + logs[i + 1 :]
    return logs + [file_access_log(path)]

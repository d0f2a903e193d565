"""The pod's probe port, served by the sidecar's own Envoy: how meshsim (its
readiness checks, `meshsim status`, the chaos checks) reaches an app whose
port refuses everyone outside its pod, as a kubelet reaches an Istio pod's
app through the proxy's health port.

A static listener on 15020 and a static cluster to the app on the pod's
loopback, added to the sidecar's bootstrap by the Docker runtime (the
control plane's ADS configuration is the same as on the local runtime):

- `GET <health path>` is proxied to the app, whose own status and body come
  back; any other path gets 404, so the published port is no way around the
  sidecar's policies.
- An app without a health path (a TCP service) is checked by Envoy's active
  TCP health check every 200 ms: `GET /` answers 200 while the app's port
  accepts connections, 503 when not.
- An app that refuses (killed) gets Envoy's 503 marked `x-meshsim-probe:
  refused`, so a caller tells "nothing listens" from the app's own 503
  (`meshsim.chaos`, the readiness message). A frozen app answers nothing
  within a caller's timeout, as at its own port.
"""

from __future__ import annotations

from typing import Any

from meshsim.chaos import REFUSED_HEADER
from meshsim.control import envoy as e

PROBE_PORT = 15020  # Istio's pilot-agent port
PROBE_CLUSTER = "probe_app"
# Longer than any caller's probe (readiness 1 s, chaos 0.5 s): a frozen app
# leaves the caller without an answer until the caller gives up, as it would.
PROBE_TIMEOUT_S = 5.0
T_HEALTH_CHECK = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
# Envoy's response flags for "could not connect to the upstream" (refused,
# reset before any byte, or no healthy host).
REFUSED_FLAGS = ["UF", "URX", "UH"]


def probe_cluster(app_port: int, tcp_check: bool) -> dict[str, Any]:
    endpoint = {"endpoint": {"address": e.socket_address("127.0.0.1", app_port)}}
    cluster: dict[str, Any] = {
        "name": PROBE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": PROBE_CLUSTER,
            "endpoints": [{"lb_endpoints": [endpoint]}],
        },
    }
    if tcp_check:
        cluster["health_checks"] = [
            {
                "timeout": "0.5s",
                "interval": "0.2s",
                "no_traffic_interval": "0.2s",
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "tcp_health_check": {},
            }
        ]
    return cluster


def probe_listener(health: str | None) -> dict[str, Any]:
    """The listener on 15020: the app's health path proxied, or (no health
    path) Envoy's own verdict on the app's port for `GET /`."""
    filters: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    if health is None:
        filters.append(
            {
                "name": "envoy.filters.http.health_check",
                "typed_config": {
                    "@type": T_HEALTH_CHECK,
                    "pass_through_mode": False,
                    "headers": [{"name": ":path", "string_match": {"exact": "/"}}],
                    "cluster_min_healthy_percentages": {PROBE_CLUSTER: {"value": 100}},
                },
            }
        )
    else:
        timeout = e.duration(PROBE_TIMEOUT_S)
        routes.append(
            {
                "match": {"path": health},
                "route": {"cluster": PROBE_CLUSTER, "timeout": timeout},
            }
        )
    routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 404,
                "body": {"inline_string": "the probe answers the app's health path only\n"},
            },
        }
    )
    hcm = e.http_connection_manager("probe", "probe", filters)
    config = hcm["typed_config"]
    del config["rds"]
    config["route_config"] = {
        "name": "probe",
        "virtual_hosts": [{"name": "probe", "domains": ["*"], "routes": routes}],
    }
    config["local_reply_config"] = {
        "mappers": [
            {
                "filter": {"response_flag_filter": {"flags": REFUSED_FLAGS}},
                "headers_to_add": [
                    {"header": {"key": REFUSED_HEADER, "value": "refused"}, "append": False}
                ],
            }
        ]
    }
    listener = e.listener("probe", "0.0.0.0", PROBE_PORT, [hcm])
    listener.pop("@type")
    return listener


def with_probe(bootstrap: dict[str, Any], health: str | None, app_port: int) -> dict[str, Any]:
    """`bootstrap` with the probe's listener and cluster among its static resources."""
    out = dict(bootstrap)
    static = dict(out.get("static_resources", {}))
    static["listeners"] = [*static.get("listeners", []), probe_listener(health)]
    static["clusters"] = [*static.get("clusters", []), probe_cluster(app_port, health is None)]
    out["static_resources"] = static
    return out

"""Small builders for Envoy v3 resources as plain dicts (JSON-ready).

Names follow Istio's conventions so what learners see here matches
`istioctl proxy-config` on a cluster: clusters are
`outbound|80|<subset>|<host fqdn>` and `inbound|80||<host fqdn>`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from meshsim.shop import SERVICE_PORT, fqdn

T_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
T_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
T_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
T_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
T_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
T_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

UNLIMITED = 4294967295  # Istio's "no limit" for circuit breaker thresholds


def outbound_cluster_name(service: str, subset: str = "") -> str:
    return f"outbound|{SERVICE_PORT}|{subset}|{fqdn(service)}"


def inbound_cluster_name(service: str) -> str:
    return f"inbound|{SERVICE_PORT}||{fqdn(service)}"


def stat_name(cluster: str) -> str:
    """A stats-friendly cluster name: Envoy's tag extraction splits on dots."""
    direction, port, subset, host = cluster.split("|")
    return f"{direction}_{port}_{subset}_{host.split('.', 1)[0]}"


def is_ip(host: str) -> bool:
    """True for an IP address; False for a name Envoy would have to resolve
    (a STATIC cluster or a socket address accepts only IPs)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def walk_dicts(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    """Call `visit` on every mapping inside a config tree, outermost first."""
    if isinstance(node, dict):
        visit(node)
        for value in list(node.values()):
            walk_dicts(value, visit)
    elif isinstance(node, list):
        for value in node:
            walk_dicts(value, visit)


def socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def duration(seconds: float) -> str:
    return f"{seconds:.3f}s".replace(".000s", "s")


def percent(value: float) -> dict[str, Any]:
    """Envoy's FractionalPercent for a 0..100 percentage, at per-million precision."""
    return {"numerator": round(value * 10_000), "denominator": "MILLION"}


def static_cluster(name: str, endpoints: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "@type": T_CLUSTER,
        "name": name,
        "alt_stat_name": stat_name(name),
        "type": "STATIC",
        "connect_timeout": "10s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": socket_address(h, p)}} for h, p in endpoints
                    ]
                }
            ],
        },
    }
    cluster.update(extra)
    return cluster


def http_connection_manager(
    stat_prefix: str,
    route_config_name: str,
    http_filters: list[dict[str, Any]],
    *,
    use_remote_address: bool = False,
) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": T_HCM,
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            "use_remote_address": use_remote_address,
            "generate_request_id": True,
            "server_name": "istio-envoy",
            "rds": {
                "route_config_name": route_config_name,
                "config_source": ads_source(),
            },
            "http_filters": http_filters
            + [{"name": "envoy.filters.http.router", "typed_config": {"@type": T_ROUTER}}],
        },
    }


def fault_filter() -> dict[str, Any]:
    # Empty by default; routes switch it on through typed_per_filter_config.
    return {"name": "envoy.filters.http.fault", "typed_config": {"@type": T_FAULT}}


def listener(name: str, host: str, port: int, filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@type": T_LISTENER,
        "name": name,
        "address": socket_address(host, port),
        "filter_chains": [{"filters": filters}],
    }


def path_source(path: str, watch_dir: str) -> dict[str, Any]:
    return {
        "path_config_source": {"path": path, "watched_directory": {"path": watch_dir}},
        "resource_api_version": "V3",
    }


def ads_source() -> dict[str, Any]:
    """A ConfigSource that is the proxy's one ADS stream (meshsim.control.ads)."""
    return {"ads": {}, "resource_api_version": "V3"}


def discovery_response(version: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version_info": version, "resources": resources}

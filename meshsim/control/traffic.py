"""Istio's traffic policy (VirtualService, DestinationRule) as Envoy fragments.

Pure functions, each mirroring what istiod generates for the same field
(pilot/pkg/networking/core/route/route.go, route/retry/retry.go and
cluster_traffic_policy.go), with Istio's defaults where a field is absent.
`translate.py` assembles them into listeners, clusters and routes.
docs/istio-support.md lists every field with the Envoy construct it becomes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meshsim.control import envoy as e
from meshsim.control.plan import Instance
from meshsim.control.state import PolicyState
from meshsim.scenario.gateway_api import FROM_ANNOTATION
from meshsim.scenario.istio import (
    Destination,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    Percent,
    StringMatch,
    TrafficPolicy,
    VirtualService,
    fault_at,
    short_host,
)
from meshsim.scenario.model import parse_duration
from meshsim.shop import SERVICE_PORT

# Istio's default retry policy for HTTP routes (retry.DefaultPolicy): two
# retries on these conditions, 503 retriable, a different host on each try.
ISTIO_DEFAULT_RETRY_ON = (
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
)
ISTIO_DEFAULT_ATTEMPTS = 2
ISTIO_DEFAULT_RETRIABLE_CODES = (503,)

# The apps (aiohttp) close an idle keep-alive connection after 75 s; Envoy
# keeps upstream connections idle for an hour by default, so it would now and
# then send a request on a connection the app is closing (a sporadic 503 UC).
# Closing first, on Envoy's side, avoids the race.
INBOUND_IDLE_TIMEOUT_S = 60.0

# Set on every request a sidecar sends, naming the calling service. Envoy's
# fault filter counts injected faults per value of this header
# (`http.<prefix>.fault.<service>.aborts_injected`), which is how a fault at
# the destination's sidecar is attributed to the edge it hit.
SOURCE_HEADER = "x-envoy-downstream-service-cluster"

_PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
        ".PreviousHostsPredicate"
    },
}


def duration(text: str) -> str:
    """An Istio duration ("500ms", "1m") as Envoy's JSON duration ("0.500s")."""
    return e.duration(parse_duration(text))


# ------------------------------------------------------------------ clusters


def at_port(policy: TrafficPolicy | None, port: int) -> TrafficPolicy | None:
    """A policy for one port: a `portLevelSettings` entry for it replaces the
    four fields it can set, whether it sets them or not (Istio: "port level
    policies do not inherit")."""
    if policy is None:
        return None
    for pls in policy.portLevelSettings:
        if pls.port is not None and pls.port.number == port:
            return TrafficPolicy(
                loadBalancer=pls.loadBalancer,
                connectionPool=pls.connectionPool,
                outlierDetection=pls.outlierDetection,
                tls=pls.tls,
            )
    return policy.model_copy(update={"portLevelSettings": []})


def merge_policy(
    host: TrafficPolicy | None, subset: TrafficPolicy | None, port: int = SERVICE_PORT
) -> TrafficPolicy | None:
    """Istio's MergeTrafficPolicy: the host-level policy at `port`, overridden
    field by field by the subset's, then by the subset's settings for `port`."""
    host = at_port(host, port)
    if subset is None:
        return host
    merged = TrafficPolicy(
        loadBalancer=subset.loadBalancer or (host.loadBalancer if host else None),
        connectionPool=subset.connectionPool or (host.connectionPool if host else None),
        outlierDetection=subset.outlierDetection or (host.outlierDetection if host else None),
        tls=subset.tls or (host.tls if host else None),
    )
    if any(p.port is not None and p.port.number == port for p in subset.portLevelSettings):
        return at_port(subset, port)
    return merged


def default_thresholds() -> dict[str, Any]:
    """Istio's circuit breaker defaults: no limits (Envoy's own are 1024 and 3 retries)."""
    return {
        "max_connections": e.UNLIMITED,
        "max_pending_requests": e.UNLIMITED,
        "max_requests": e.UNLIMITED,
        "max_retries": e.UNLIMITED,
        "track_remaining": True,
    }


def http_protocol_options(common: dict[str, Any]) -> dict[str, Any]:
    """A cluster's `typed_extension_protocol_options` for HTTP/1.1 upstreams."""
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": e.T_HTTP_OPTIONS,
            "common_http_protocol_options": common,
            "explicit_http_config": {"http_protocol_options": {}},
        }
    }


def cluster_options(policy: TrafficPolicy | None) -> dict[str, Any]:
    """A DestinationRule traffic policy as Envoy cluster fields, Istio's defaults otherwise.

    >>> cluster_options(None)["lb_policy"]
    'LEAST_REQUEST'
    """
    opts: dict[str, Any] = {"lb_policy": "LEAST_REQUEST", "connect_timeout": "10s"}
    limits = default_thresholds()
    common: dict[str, Any] = {}
    pool = policy.connectionPool if policy else None
    if pool and pool.tcp:
        if pool.tcp.maxConnections:
            limits["max_connections"] = pool.tcp.maxConnections
        if pool.tcp.connectTimeout:
            opts["connect_timeout"] = duration(pool.tcp.connectTimeout)
    if pool and pool.http:
        h = pool.http
        if h.http1MaxPendingRequests:
            limits["max_pending_requests"] = h.http1MaxPendingRequests
        if h.http2MaxRequests:
            limits["max_requests"] = h.http2MaxRequests
        if h.maxRetries:  # Istio: 0 cannot be told from unset, so it keeps the default
            limits["max_retries"] = h.maxRetries
        if h.idleTimeout:
            common["idle_timeout"] = duration(h.idleTimeout)
        if h.maxRequestsPerConnection:
            common["max_requests_per_connection"] = h.maxRequestsPerConnection
    opts["circuit_breakers"] = {"thresholds": [limits]}
    if common:
        opts["typed_extension_protocol_options"] = http_protocol_options(common)
    if policy and policy.loadBalancer:
        opts["lb_policy"] = {"ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM"}.get(
            policy.loadBalancer.simple, "LEAST_REQUEST"
        )
    od = policy.outlierDetection if policy else None
    if od is not None:
        # Istio sets only what is given; Envoy's defaults fill the rest
        # (consecutive_5xx 5, interval 10s, base_ejection_time 30s,
        # max_ejection_percent 10: with fewer than 10 hosts, none; see advice.py).
        detection: dict[str, Any] = {"enforcing_success_rate": 0}
        if od.consecutive5xxErrors is not None:
            detection["consecutive_5xx"] = od.consecutive5xxErrors
            detection["enforcing_consecutive_5xx"] = 100 if od.consecutive5xxErrors else 0
        if od.consecutiveGatewayErrors is not None:
            detection["consecutive_gateway_failure"] = od.consecutiveGatewayErrors
            detection["enforcing_consecutive_gateway_failure"] = (
                100 if od.consecutiveGatewayErrors else 0
            )
        if od.consecutiveErrors:
            # Istio's reading of the deprecated field: gateway errors only,
            # 5xx ejection off (istio/api#617)
            detection["consecutive_gateway_failure"] = od.consecutiveErrors
            detection["enforcing_consecutive_gateway_failure"] = 100
            detection["enforcing_consecutive_5xx"] = 0
        if od.interval:
            detection["interval"] = duration(od.interval)
        if od.baseEjectionTime:
            detection["base_ejection_time"] = duration(od.baseEjectionTime)
        if od.maxEjectionPercent:
            detection["max_ejection_percent"] = od.maxEjectionPercent
        opts["outlier_detection"] = detection
        # minHealthPercent is Envoy's panic threshold; Istio's default 0 turns it off.
        opts["common_lb_config"] = {
            "healthy_panic_threshold": {"value": float(od.minHealthPercent or 0)}
        }
    return opts


def inbound_cluster_options() -> dict[str, Any]:
    """The sidecar → app cluster: no limits, and idle connections closed before the app does."""
    return {
        "connect_timeout": "10s",
        "circuit_breakers": {"thresholds": [default_thresholds()]},
        "typed_extension_protocol_options": http_protocol_options(
            {"idle_timeout": e.duration(INBOUND_IDLE_TIMEOUT_S)}
        ),
    }


# -------------------------------------------------------------------- routes


def parse_retry_on(retry_on: str) -> tuple[str, list[int]]:
    """Istio's parseRetryOn: integers are status codes, the rest Envoy conditions."""
    conditions: list[str] = []
    codes: list[int] = []
    for part in (p.strip() for p in retry_on.split(",")):
        if part.isdigit():
            codes.append(int(part))
        elif part:
            conditions.append(part)
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    return ",".join(conditions), codes


def retry_policy(retries: HTTPRetry | None) -> dict[str, Any] | None:
    """Istio's retry.ConvertPolicy: the default policy when `retries` is absent,
    none when `attempts` is 0, else the default with the given fields."""
    policy: dict[str, Any] = {
        "retry_on": ISTIO_DEFAULT_RETRY_ON,
        "num_retries": ISTIO_DEFAULT_ATTEMPTS,
        "retry_host_predicate": [_PREVIOUS_HOSTS],
        "host_selection_retry_max_attempts": 5,
        "retriable_status_codes": list(ISTIO_DEFAULT_RETRIABLE_CODES),
    }
    if retries is None:
        return policy
    if retries.attempts <= 0:
        return None
    policy["num_retries"] = retries.attempts
    if retries.retryOn:
        policy["retry_on"], codes = parse_retry_on(retries.retryOn)
        policy["retriable_status_codes"] = codes
        if not codes:
            del policy["retriable_status_codes"]
    if retries.perTryTimeout:
        policy["per_try_timeout"] = duration(retries.perTryTimeout)
    return policy


def string_match(m: StringMatch) -> dict[str, Any]:
    if m.exact is not None:
        return {"exact": m.exact}
    if m.prefix is not None:
        return {"prefix": m.prefix}
    return {"safe_regex": {"regex": m.regex}}


def _header(name: str, m: StringMatch) -> dict[str, Any]:
    if m.is_presence:
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": string_match(m)}


def route_match(
    m: HTTPMatchRequest | None, ports: Collection[int] = (SERVICE_PORT,)
) -> dict[str, Any] | None:
    """Istio's TranslateRouteMatch; None when the match can never apply here:
    a `port` none of `ports` (where the route is served: a service's port 80
    and its own Service port at the sidecars, the bound Gateway's server
    ports at the ingress)."""
    if m is None:
        return {"prefix": "/"}
    if m.port is not None and m.port not in ports:
        return None
    out: dict[str, Any] = {"prefix": "/"}
    if m.uri is not None:
        if m.uri.exact is not None:
            out = {"path": m.uri.exact}
        elif m.uri.prefix is not None:
            out = {"prefix": m.uri.prefix}
        else:
            out = {"safe_regex": {"regex": m.uri.regex}}
    out["case_sensitive"] = not m.ignoreUriCase
    headers = [_header(k, v) for k, v in m.headers.items()]
    for k, v in m.withoutHeaders.items():
        h = _header(k, v) | {"invert_match": True}
        if not v.is_presence:
            # without it, a request lacking the header would not match either
            h["treat_missing_header_as_empty"] = True
        headers.append(h)
    headers.sort(key=lambda h: str(h["name"]))
    if m.method is not None:
        headers.append(_header(":method", m.method))
    if headers:
        out["headers"] = headers
    if m.queryParams:
        out["query_parameters"] = [
            {"name": k, "present_match": True}
            if v.is_presence
            else {"name": k, "string_match": string_match(v)}
            for k, v in m.queryParams.items()
        ]
    return out


def _is_authority(key: str) -> bool:
    return key.lower() in (":authority", "host")


def header_ops(h: Headers | None) -> tuple[dict[str, Any], str | None]:
    """Istio's TranslateHeadersOperations: (route fields, authority rewrite or None)."""
    if h is None:
        return {}, None
    out: dict[str, Any] = {}
    authority: str | None = None
    for side, ops in (("request", h.request), ("response", h.response)):
        if ops is None:
            continue
        add = []
        for values, action in (
            (ops.set, "OVERWRITE_IF_EXISTS_OR_ADD"),
            (ops.add, "APPEND_IF_EXISTS_OR_ADD"),
        ):
            for key, value in sorted(values.items()):
                if side == "request" and _is_authority(key):
                    if authority is None or action.startswith("OVERWRITE"):
                        authority = value
                if key.startswith(":") or key.lower() == "host":
                    continue
                add.append({"header": {"key": key, "value": value}, "append_action": action})
        if add:
            out[f"{side}_headers_to_add"] = add
        remove = [k for k in ops.remove if not k.startswith(":") and k.lower() != "host"]
        if remove:
            out[f"{side}_headers_to_remove"] = remove
    return out, authority


def _fraction(percentage: Percent | None, percent: int | None) -> dict[str, Any]:
    if percentage is not None:
        return e.percent(percentage.value)
    # the deprecated integer, or nothing (Istio: no request is affected)
    return {"numerator": percent or 0, "denominator": "HUNDRED"}


def fault_config(fault: HTTPFaultInjection | None) -> dict[str, Any] | None:
    """Istio's TranslateFault: the fault filter's per-route config, or None."""
    if fault is None or (fault.delay is None and fault.abort is None):
        return None
    cfg: dict[str, Any] = {"@type": e.T_FAULT}
    if fault.delay:
        cfg["delay"] = {
            "fixed_delay": duration(fault.delay.fixedDelay),
            "percentage": _fraction(fault.delay.percentage, fault.delay.percent),
        }
    if fault.abort:
        cfg["abort"] = {
            "http_status": fault.abort.httpStatus,
            "percentage": _fraction(fault.abort.percentage, fault.abort.percent),
        }
    return cfg


def mirror_targets(http: HTTPRoute) -> list[tuple[Destination, dict[str, Any]]]:
    """Where a route mirrors to and how much: `mirror` (with `mirrorPercentage`
    or the deprecated `mirrorPercent`) or `mirrors[]` (each 100 % unless its
    `percentage` says otherwise; 0 mirrors nothing)."""
    out: list[tuple[Destination, dict[str, Any]]] = []
    fraction = mirror_fraction(http)
    if http.mirror is not None and fraction is not None:
        out.append((http.mirror, fraction))
    for m in http.mirrors:
        share = 100.0 if m.percentage is None else m.percentage.value
        if share > 0:
            out.append((m.destination, {"default_value": e.percent(share)}))
    return out


def rewrite_action(rw: HTTPRewrite | None) -> dict[str, Any]:
    """Istio's `rewrite` as RouteAction fields (`authority` is applied by the caller)."""
    if rw is None:
        return {}
    if rw.uriRegexRewrite is not None:
        return {
            "regex_rewrite": {
                "pattern": {"regex": rw.uriRegexRewrite.match},
                "substitution": rw.uriRegexRewrite.rewrite,
            }
        }
    if rw.uri:
        return {"prefix_rewrite": rw.uri}
    return {}


def mirror_fraction(http: HTTPRoute) -> dict[str, Any] | None:
    """Istio's MirrorPercent: 100 % when unset, nothing when explicitly 0.
    `mirrorPercentage` wins over the deprecated integer `mirrorPercent`."""
    share = http.mirrorPercentage.value if http.mirrorPercentage is not None else None
    if share is None and http.mirrorPercent is not None:
        share = float(http.mirrorPercent)
    if share is None:
        return {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    if share <= 0:
        return None
    return {"default_value": e.percent(share)}


# ------------------------------------------------ faults at the destination


def selects(dest: Destination, inst: Instance, state: PolicyState) -> bool:
    """Whether a route destination (host and optional subset) includes `inst`."""
    if short_host(dest.host) != inst.service:
        return False
    if not dest.subset:
        return True
    dr = state.destination_rule(inst.service)
    for subset in dr.spec.subsets if dr else []:
        if subset.name == dest.subset:
            return all(inst.labels.get(k) == v for k, v in subset.labels.items())
    return False


def destination_fault_routes(
    inst: Instance, state: PolicyState, inbound_cluster: str
) -> list[dict[str, Any]]:
    """Inbound routes that inject faults at this instance's sidecar (meshsim's
    `meshsim.io/fault-at: destination`): one per match of every http route
    whose destinations include the instance. They go before the default route."""
    routes: list[dict[str, Any]] = []
    for vs in state.virtual_services():
        if fault_at(vs) != "destination":
            continue
        for i, http in enumerate(vs.spec.http):
            cfg = fault_config(http.fault)
            if cfg is None or not any(selects(d.destination, inst, state) for d in http.route):
                continue
            for j, m in enumerate(http.match or [None]):
                match = route_match(m)
                if match is None:
                    continue
                routes.append(
                    {
                        "name": f"{http.name or vs.metadata.name}.{i}.{j}.fault-at-destination",
                        "match": match,
                        "route": {"cluster": inbound_cluster, "timeout": "0s"},
                        "typed_per_filter_config": {"envoy.filters.http.fault": cfg},
                    }
                )
    return routes


def caller_fault(vs: VirtualService, http: HTTPRoute) -> dict[str, Any] | None:
    """The fault config for the caller's route, unless it moved to the destination."""
    return fault_config(http.fault) if fault_at(vs) == "caller" else None


def source_header(service: str) -> list[dict[str, Any]]:
    """RouteConfiguration-level header naming the calling service (see SOURCE_HEADER)."""
    return [
        {
            "header": {"key": SOURCE_HEADER, "value": service},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]


# ------------------------------------------------- redirects, direct answers

_REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}


def terminal_action(http: HTTPRoute) -> dict[str, Any]:
    """Istio's `redirect` or `directResponse` as the Envoy route's action
    (route.go translateRedirect / DirectResponse); `%PREFIX()%` in a redirect's
    uri (how Istio writes a Gateway API ReplacePrefixMatch) rewrites the
    matched prefix only."""
    if http.directResponse is not None:
        out: dict[str, Any] = {"status": http.directResponse.status}
        if http.directResponse.body is not None:
            out["body"] = {"inline_string": http.directResponse.body.string}
        return {"direct_response": out}
    rd = http.redirect
    assert rd is not None, "a route without destinations redirects or answers itself"
    redirect: dict[str, Any] = {"response_code": _REDIRECT_CODES.get(rd.redirectCode, "FOUND")}
    if rd.authority:
        redirect["host_redirect"] = rd.authority
    if rd.uri is not None and rd.uri.startswith("%PREFIX()%"):
        redirect["prefix_rewrite"] = rd.uri.removeprefix("%PREFIX()%")
    elif rd.uri is not None:
        redirect["path_redirect"] = rd.uri
    if rd.scheme:
        redirect["scheme_redirect"] = rd.scheme
    if rd.port is not None:
        redirect["port_redirect"] = rd.port
    elif rd.derivePort == "FROM_PROTOCOL_DEFAULT" and rd.scheme in ("http", "https"):
        redirect["port_redirect"] = 443 if rd.scheme == "https" else 80
    return {"redirect": redirect}


def where(vs: VirtualService, i: int, http: HTTPRoute) -> str:
    """How a warning names an http route: `VirtualService/product http[0]`, or
    for one an HTTPRoute made, `HTTPRoute/product rule product.0`."""
    made_by = vs.metadata.annotations.get(FROM_ANNOTATION)
    if made_by:
        return f"{made_by} rule {http.name}"
    return f"VirtualService/{vs.metadata.name} http[{i}]"

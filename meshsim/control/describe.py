"""Envoy configuration in words a learner can follow. Pure: dicts in, strings out.

Each function reads one compiled Envoy fragment (a route, a cluster, an RBAC
policy, a listener) as `compile_mesh` produced it and says what Envoy will do
with it. `meshsim.explain` assembles the sentences per phase and proxy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from meshsim.control import envoy as e
from meshsim.control.security import CHAIN_MTLS, CHAIN_PLAINTEXT, TLS_MODE_KEY
from meshsim.control.traffic import ISTIO_DEFAULT_ATTEMPTS, ISTIO_DEFAULT_RETRY_ON

FAULT_FILTER = "envoy.filters.http.fault"
RBAC_FILTERS = {
    "envoy.filters.http.rbac.audit": "AUDIT",
    "envoy.filters.http.rbac.deny": "DENY",
    "envoy.filters.http.rbac.allow": "ALLOW",
}
_POLICY_NAME = re.compile(
    r"^ns\[(?P<ns>[^\]]*)\]-policy\[(?P<name>[^\]]*)\]-rule\[(?P<rule>\d+)\]$"
)
_NAMESPACE_REGEX = re.compile(r"^spiffe://\[\^/\]\+/ns/(?P<ns>.+)/\.\*$")

Endpoints = dict[tuple[str, int], str]  # (address, port) → instance name


# ------------------------------------------------------------------ numbers


def fraction_percent(fraction: dict[str, Any]) -> float:
    """Envoy's FractionalPercent as a percentage (0..100)."""
    denominator = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
    scale = denominator.get(str(fraction.get("denominator", "HUNDRED")), 100)
    return float(fraction.get("numerator", 0)) * 100 / scale


def pct(value: float) -> str:
    return f"{value:g} %"


def seconds(text: str) -> str:
    """Envoy's "0.200s" as "200ms", "60s" as "60s"."""
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        return text
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


# ------------------------------------------------------------------- routes


def string_match(m: dict[str, Any]) -> str:
    if "exact" in m:
        return f"= {m['exact']!r}"
    if "prefix" in m:
        return f"starting with {m['prefix']!r}"
    if "suffix" in m:
        return f"ending with {m['suffix']!r}"
    if "safe_regex" in m:
        return f"matching /{m['safe_regex'].get('regex', '')}/"
    return "present"


def header_condition(h: dict[str, Any]) -> str:
    name = h.get("name", "?")
    if name == ":method" and "exact" in h.get("string_match", {}):
        text = f"method {h['string_match']['exact']}"
    elif h.get("present_match"):
        text = f"header {name} present"
    else:
        text = f"header {name} {string_match(h.get('string_match', {}))}"
    if h.get("invert_match"):
        text = f"not ({text})"
    return text


def route_match(match: dict[str, Any]) -> str:
    """A route's match: "every request", "path starting with '/products'", ..."""
    parts = []
    if "path" in match:
        parts.append(f"path = {match['path']!r}")
    elif "safe_regex" in match:
        parts.append(f"path matching /{match['safe_regex'].get('regex', '')}/")
    elif match.get("prefix", "/") != "/":
        parts.append(f"path starting with {match['prefix']!r}")
    elif "path_separated_prefix" in match:  # an HTTPRoute's PathPrefix
        parts.append(f"path {match['path_separated_prefix']!r} or below it")
    if match.get("case_sensitive") is False:
        parts.append("in any case")
    parts += [header_condition(h) for h in match.get("headers", [])]
    for q in match.get("query_parameters", []):
        if q.get("present_match"):
            parts.append(f"query parameter {q['name']} present")
        else:
            parts.append(f"query parameter {q['name']} {string_match(q.get('string_match', {}))}")
    return "requests with " + " and ".join(parts) if parts else "every request"


def destination(cluster: str, endpoints: dict[str, list[str]]) -> str:
    members = endpoints.get(cluster)
    if members is None:
        return f"cluster {cluster} (no such cluster: Envoy answers 503)"
    who = ", ".join(members) if members else "none: Envoy answers 503 no healthy upstream"
    return f"cluster {cluster} (instances {who})"


def retry_policy(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "no retries"
    n = policy.get("num_retries", 1)
    on = str(policy.get("retry_on", ""))
    codes = policy.get("retriable_status_codes", [])
    default = (
        n == ISTIO_DEFAULT_ATTEMPTS and on == ISTIO_DEFAULT_RETRY_ON and codes == [503]
    ) and "per_try_timeout" not in policy
    text = f"up to {n} retr{'y' if n == 1 else 'ies'} on {on.replace(',', ', ')}"
    if codes:
        text += f" (status {', '.join(str(c) for c in codes)})"
    if "per_try_timeout" in policy:
        text += f", each try cut off after {seconds(policy['per_try_timeout'])}"
    if any("previous_hosts" in str(p.get("name")) for p in policy.get("retry_host_predicate", [])):
        text += ", each retry on another instance"
    return text + (" — Istio's default" if default else "")


def fault(cfg: dict[str, Any], where: str) -> str:
    parts = []
    if "abort" in cfg:
        a = cfg["abort"]
        share = pct(fraction_percent(a.get("percentage", {})))
        parts.append(f"answers HTTP {a.get('http_status')} itself to {share} of them")
    if "delay" in cfg:
        d = cfg["delay"]
        share = pct(fraction_percent(d.get("percentage", {})))
        parts.append(f"holds {share} of them for {seconds(d.get('fixed_delay', '?'))}")
    return f"fault injected {where}: " + " and ".join(parts)


_REDIRECT_STATUS = {
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}


def _redirect(r: dict[str, Any]) -> str:
    """A redirect route (Istio's `redirect`, the Gateway API's RequestRedirect)."""
    status = _REDIRECT_STATUS.get(r.get("response_code", "MOVED_PERMANENTLY"), 301)
    parts = []
    if "scheme_redirect" in r:
        parts.append(f"scheme {r['scheme_redirect']}")
    if "host_redirect" in r:
        parts.append(f"host {r['host_redirect']}")
    if "port_redirect" in r:
        parts.append(f"port {r['port_redirect']}")
    if "path_redirect" in r:
        parts.append(f"path {r['path_redirect']}")
    if "prefix_rewrite" in r:
        parts.append(f"the matched prefix replaced by {r['prefix_rewrite']!r}")
    where = ", ".join(parts) or "the same URL"
    return f"answered by the proxy itself: redirect {status} to {where}"


def route_action(route: dict[str, Any], endpoints: dict[str, list[str]]) -> list[str]:
    """What happens to a matched request: where it goes, timeout, retries, faults, mirror."""
    if "direct_response" in route:
        r = route["direct_response"]
        body = r.get("body", {}).get("inline_string", "").strip()
        return [
            f"answered by the proxy itself: HTTP {r.get('status')}" + (f" ({body})" if body else "")
        ]
    if "redirect" in route:
        return [_redirect(route["redirect"])]
    action = route.get("route", {})
    out = []
    if "weighted_clusters" in action:
        weighted = action["weighted_clusters"].get("clusters", [])
        total = sum(c.get("weight", 0) for c in weighted) or 1
        parts = [
            f"{pct(round(c.get('weight', 0) * 100 / total, 2))} to {destination(c['name'], endpoints)}"
            for c in weighted
        ]
        out.append("sends " + " and ".join(parts))
    elif "cluster" in action:
        out.append(f"sends them to {destination(action['cluster'], endpoints)}")
    timeout = action.get("timeout", "15s")
    out.append("no timeout" if timeout in ("0s", "0") else f"timeout {seconds(timeout)} (then 504)")
    out.append(retry_policy(action.get("retry_policy")))
    for mirror in action.get("request_mirror_policies", []):
        share = fraction_percent(mirror.get("runtime_fraction", {}).get("default_value", {}))
        out.append(
            f"copies {pct(share)} of them to {destination(mirror['cluster'], endpoints)}; "
            "the copies' answers are dropped"
        )
    if action.get("host_rewrite_literal"):
        out.append(f"rewrites Host to {action['host_rewrite_literal']}")
    for side in ("request", "response"):
        added = [h["header"]["key"] for h in route.get(f"{side}_headers_to_add", [])]
        removed = route.get(f"{side}_headers_to_remove", [])
        if added:
            out.append(f"sets {side} headers {', '.join(added)}")
        if removed:
            out.append(f"removes {side} headers {', '.join(removed)}")
    cfg = route.get("typed_per_filter_config", {}).get(FAULT_FILTER)
    if cfg:
        out.append(
            fault(cfg, "here, before the router")
            + ": the answer never left this sidecar, so its retries do not see it"
        )
    return out


# ----------------------------------------------------------------- clusters


def cluster_members(cluster: dict[str, Any], endpoints: Endpoints) -> list[str]:
    names = []
    for group in cluster.get("load_assignment", {}).get("endpoints", []):
        for lb in group.get("lb_endpoints", []):
            sock = lb["endpoint"]["address"]["socket_address"]
            key = (sock["address"], sock["port_value"])
            names.append(endpoints.get(key, f"{key[0]}:{key[1]}"))
    return names


def _mtls_members(cluster: dict[str, Any], endpoints: Endpoints) -> tuple[list[str], list[str]]:
    tls: list[str] = []
    plain: list[str] = []
    for group in cluster.get("load_assignment", {}).get("endpoints", []):
        for lb in group.get("lb_endpoints", []):
            sock = lb["endpoint"]["address"]["socket_address"]
            name = endpoints.get((sock["address"], sock["port_value"]), sock["address"])
            meta = lb.get("metadata", {}).get("filter_metadata", {}).get(TLS_MODE_KEY, {})
            (tls if meta.get("tlsMode") == "istio" else plain).append(name)
    return tls, plain


def _peer_identity(cluster: dict[str, Any]) -> str | None:
    for match in cluster.get("transport_socket_matches", []):
        ctx = match.get("transport_socket", {}).get("typed_config", {})
        sans = (
            ctx.get("common_tls_context", {})
            .get("combined_validation_context", {})
            .get("default_validation_context", {})
            .get("match_typed_subject_alt_names", [])
        )
        for san in sans:
            return str(san.get("matcher", {}).get("exact"))
    return None


def cluster(cluster: dict[str, Any], endpoints: Endpoints) -> list[str]:
    """A cluster's behaviour: balancing, limits (circuit breakers), outlier detection, mTLS."""
    lb = {"LEAST_REQUEST": "least-request", "ROUND_ROBIN": "round-robin", "RANDOM": "random"}
    out = [
        f"{lb.get(str(cluster.get('lb_policy', 'ROUND_ROBIN')), cluster.get('lb_policy'))} "
        f"balancing, connect timeout {seconds(cluster.get('connect_timeout', '5s'))}"
    ]
    limits = []
    words = {
        "max_connections": "connection(s)",
        "max_pending_requests": "pending request(s), then 503 at once",
        "max_requests": "request(s) in flight",
        "max_retries": "retry(ies) in flight",
    }
    for t in cluster.get("circuit_breakers", {}).get("thresholds", []):
        for key, word in words.items():
            if key in t and t[key] != e.UNLIMITED:
                limits.append(f"at most {t[key]} {word}")
    out.append(
        "circuit breaker: " + ", ".join(limits)
        if limits
        else "no connection limits (Istio's default)"
    )
    od = cluster.get("outlier_detection")
    if od is not None:
        parts = []
        if od.get("enforcing_consecutive_5xx", 100):
            parts.append(f"after {od.get('consecutive_5xx', 5)} consecutive 5xx")
        if "consecutive_gateway_failure" in od:
            parts.append(f"after {od['consecutive_gateway_failure']} consecutive 502/503/504")
        out.append(
            "outlier detection: ejects an instance "
            + " or ".join(parts or ["never"])
            + f" for {seconds(od.get('base_ejection_time', '30s'))} and longer each time, "
            f"checked every {seconds(od.get('interval', '10s'))}, "
            f"at most {od.get('max_ejection_percent', 10)} % of the instances at once"
        )
    else:
        out.append("no outlier detection")
    options = cluster.get("typed_extension_protocol_options", {})
    for opt in options.values():
        common = opt.get("common_http_protocol_options", {})
        if "max_requests_per_connection" in common:
            out.append(f"at most {common['max_requests_per_connection']} requests per connection")
    if "transport_socket_matches" in cluster:
        tls, plain = _mtls_members(cluster, endpoints)
        peer = _peer_identity(cluster)
        if tls:
            out.append(
                f"mTLS to {', '.join(tls)} (auto mTLS: presents this proxy's certificate and "
                f"accepts only {peer})"
            )
        if plain:
            out.append(f"plaintext to {', '.join(plain)} (their sidecars do not accept mTLS)")
    return out


# --------------------------------------------------------------------- RBAC


def _principal(p: dict[str, Any]) -> str:
    if p.get("any"):
        return "any caller"
    if "authenticated" in p:
        m = p["authenticated"].get("principal_name", {})
        if "exact" in m:
            return str(m["exact"])
        if "prefix" in m:
            return f"any identity starting with {m['prefix']}"
        if "suffix" in m:
            return f"any identity ending with {m['suffix']}"
        regex = str(m.get("safe_regex", {}).get("regex", ""))
        ns = _NAMESPACE_REGEX.match(regex)
        if ns:
            return f"any identity in namespace {ns.group('ns').replace(chr(92), '')}"
        return f"any identity matching /{regex}/"
    return _combine(p, _principal, "ids", "not_id")


def _permission(p: dict[str, Any]) -> str:
    if p.get("any"):
        return "any request"
    if "header" in p:
        return header_condition(p["header"])
    if "url_path" in p:
        path = p["url_path"].get("path", {})
        return "any path" if path == {"prefix": "/"} else f"path {string_match(path)}"
    return _combine(p, _permission, "rules", "not_rule")


def _combine(p: dict[str, Any], each: Callable[[dict[str, Any]], str], kind: str, neg: str) -> str:
    if f"and_{kind}" in p:
        return " and ".join(each(x) for x in p[f"and_{kind}"][kind])
    if f"or_{kind}" in p:
        return "(" + " or ".join(each(x) for x in p[f"or_{kind}"][kind]) + ")"
    if neg in p:
        return f"not {each(p[neg])}"
    return str(p)


def rbac_policy(name: str, policy: dict[str, Any]) -> str:
    """One Envoy RBAC policy (one Istio rule): "GET from spiffe://.../sa/order"."""
    perms = [_permission(p) for p in policy.get("permissions", [])]
    who = [_principal(p) for p in policy.get("principals", [])]
    what = " or ".join(perms) or "nothing"
    source = " or ".join(who) or "nobody"
    m = _POLICY_NAME.match(name)
    label = f"{m['ns']}/{m['name']} rule {m['rule']}" if m else name
    if source == "any caller":
        return f"{label}: {what}, from any caller"
    return f"{label}: {what}, from {source}"


def rbac(per_filter: dict[str, Any]) -> list[str]:
    """The RBAC rules on a route configuration, AUDIT → DENY → ALLOW, in words."""
    out = []
    for filter_name, action in RBAC_FILTERS.items():
        cfg = per_filter.get(filter_name)
        if not cfg:
            continue
        policies = cfg.get("rbac", {}).get("rules", {}).get("policies", {})
        rules = [rbac_policy(n, p) for n, p in policies.items()]
        if action == "ALLOW":
            head = (
                "RBAC ALLOW: only requests matching one of these rules get in; "
                "every other gets 403 'RBAC: access denied'"
            )
            if not rules:
                head = "RBAC ALLOW with no rules: every request is denied (403)"
        elif action == "DENY":
            head = "RBAC DENY: requests matching one of these rules get 403"
        else:
            head = "RBAC AUDIT: requests matching these rules are logged"
        out.append(head + ("" if not rules else ":"))
        out += [f"  - {r}" for r in rules]
    return out


# --------------------------------------------------------------- listeners


def inbound_transport(listener: dict[str, Any]) -> str:
    """What a sidecar's inbound listener accepts: mTLS, plaintext or both."""
    chains = {c.get("name") for c in listener.get("filter_chains", [])}
    if chains == {CHAIN_MTLS}:
        return "requires mTLS: only callers presenting a mesh certificate get in (STRICT)"
    if chains == {CHAIN_MTLS, CHAIN_PLAINTEXT}:
        return "accepts mTLS and plaintext (PERMISSIVE)"
    if chains == {CHAIN_PLAINTEXT}:
        return "accepts plaintext only (DISABLE): callers reach it without certificates"
    return "accepts plaintext"

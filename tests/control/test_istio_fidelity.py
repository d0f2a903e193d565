"""DestinationRule `tls` and `portLevelSettings`, VirtualService `rewrite` and
`mirrors`, with Istio's semantics (istiod's MergeTrafficPolicy and
translateRoute), and what stays refused by name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from meshsim.control.validate import static_bootstrap
from meshsim.runtime.commands import envoy_binary
from meshsim.scenario.istio import check_resource
from tests.control.test_security import compiled as secured
from tests.control.test_security import pa
from tests.control.test_traffic_translate import (
    PRODUCT,
    PRODUCT_V1,
    PRODUCT_V2,
    SUBSETS,
    cluster,
    compiled,
    dr,
    routes,
    vs,
)

TO_V1 = [{"destination": {"host": "product", "subset": "v1"}}]


def _tls_endpoints(c: dict[str, Any]) -> list[bool]:
    """Per endpoint of a cluster: does it get the mTLS transport socket?"""
    return [
        bool(ep.get("metadata"))
        for group in c["load_assignment"]["endpoints"]
        for ep in group["lb_endpoints"]
    ]


def _dr(policy: dict[str, Any], subsets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"trafficPolicy": policy}
    if subsets is not None:
        spec["subsets"] = subsets
    return dr(spec)


# ------------------------------------------------------------------ tls


def test_istio_mutual_sends_mtls_even_to_a_plaintext_only_server() -> None:
    # product v2 accepts plaintext only; auto mTLS would send it plaintext
    disable_v2 = pa("p2", mode="DISABLE", labels={"app": "product", "version": "v2"})
    auto = cluster(secured(disable_v2), PRODUCT)
    assert sorted(_tls_endpoints(auto)) == [False, True]
    forced = secured(disable_v2, _dr({"tls": {"mode": "ISTIO_MUTUAL"}}))
    assert _tls_endpoints(cluster(forced, PRODUCT)) == [True, True]
    assert _tls_endpoints(cluster(forced, PRODUCT, "istio-ingressgateway")) == [True, True]


def test_disable_sends_plaintext_even_to_a_strict_server() -> None:
    strict = pa("mesh", namespace="istio-system", mode="STRICT")
    cfg = secured(strict, _dr({"tls": {"mode": "DISABLE"}}))
    assert _tls_endpoints(cluster(cfg, PRODUCT)) == [False, False]
    # other services keep auto mTLS
    user = "outbound|80||user.default.svc.cluster.local"
    assert _tls_endpoints(cluster(cfg, user)) == [True]


def test_subset_and_port_level_tls_override_the_host_level() -> None:
    subsets = [
        {"name": "v1", "labels": {"version": "v1"}},
        {"name": "v2", "labels": {"version": "v2"},
         "trafficPolicy": {"portLevelSettings": [{"port": {"number": 80},
                                                  "tls": {"mode": "DISABLE"}}]}},
    ]  # fmt: skip
    cfg = secured(_dr({"tls": {"mode": "ISTIO_MUTUAL"}}, subsets))
    assert _tls_endpoints(cluster(cfg, PRODUCT_V1)) == [True]
    assert _tls_endpoints(cluster(cfg, PRODUCT_V2)) == [False]


def test_simple_and_mutual_are_refused_by_name() -> None:
    for mode in ("SIMPLE", "MUTUAL"):
        problems = dict(check_resource(_dr({"tls": {"mode": mode}})))
        message = problems["spec.trafficPolicy.tls.mode"]
        assert f"{mode} is not supported by meshsim" in message and "ISTIO_MUTUAL" in message
    raw = _dr({"tls": {"mode": "ISTIO_MUTUAL", "credentialName": "x"}})
    assert dict(check_resource(raw)) == {
        "spec.trafficPolicy.tls.credentialName": "not supported by meshsim"
    }


# ------------------------------------------------------- portLevelSettings


def test_port_level_settings_for_port_80_replace_the_host_level_fields() -> None:
    policy = {
        "connectionPool": {"tcp": {"maxConnections": 7}},
        "outlierDetection": {"consecutive5xxErrors": 3},
        "portLevelSettings": [
            {"port": {"number": 80}, "connectionPool": {"tcp": {"maxConnections": 2}}}
        ],
    }
    c = cluster(compiled(_dr(policy)), PRODUCT)
    assert c["circuit_breakers"]["thresholds"][0]["max_connections"] == 2
    # Istio: port-level settings do not inherit, so no outlier detection
    assert "outlier_detection" not in c
    # settings for a port the shop does not serve change nothing
    policy["portLevelSettings"][0]["port"]["number"] = 9080  # type: ignore[index]
    c = cluster(compiled(_dr(policy)), PRODUCT)
    assert c["circuit_breakers"]["thresholds"][0]["max_connections"] == 7
    assert c["outlier_detection"]["consecutive_5xx"] == 3
    missing = dict(check_resource(_dr({"portLevelSettings": [{"tls": {"mode": "DISABLE"}}]})))
    assert missing == {"spec.trafficPolicy.portLevelSettings[0].port": "required field is missing"}


# ------------------------------------------------------- rewrite, mirrors


def test_rewrite_uri_and_authority_as_istiod() -> None:
    http = {"match": [{"uri": {"prefix": "/catalog"}}], "route": TO_V1,
            "rewrite": {"uri": "/products", "authority": "product.internal"},
            "headers": {"request": {"set": {"host": "ignored"}}}}  # fmt: skip
    (route,) = [r for r in routes(compiled(SUBSETS, vs([http]))) if r["route"].get("cluster")]
    assert route["match"]["prefix"] == "/catalog"
    assert route["route"]["prefix_rewrite"] == "/products"
    assert route["route"]["host_rewrite_literal"] == "product.internal"  # rewrite wins
    regex = {**http, "rewrite": {"uriRegexRewrite": {"match": "^/catalog/(.*)", "rewrite": "/\\1"}}}
    (route,) = routes(compiled(SUBSETS, vs([regex])))
    assert route["route"]["regex_rewrite"] == {
        "pattern": {"regex": "^/catalog/(.*)"},
        "substitution": "/\\1",
    }
    assert "prefix_rewrite" not in route["route"]
    both = {
        "route": TO_V1,
        "rewrite": {"uri": "/a", "uriRegexRewrite": {"match": "a", "rewrite": "b"}},
    }
    assert "exclude each other" in dict(check_resource(vs([both])))["spec.http[0].rewrite"]


def test_mirrors_each_with_its_percentage() -> None:
    http = {"route": TO_V1, "mirrors": [
        {"destination": {"host": "product", "subset": "v2"}},
        {"destination": {"host": "product", "subset": "v1"}, "percentage": {"value": 10}},
        {"destination": {"host": "user"}, "percentage": {"value": 0}},
    ]}  # fmt: skip
    (route,) = routes(compiled(SUBSETS, vs([http])))
    policies = route["route"]["request_mirror_policies"]
    assert [p["cluster"] for p in policies] == [PRODUCT_V2, PRODUCT_V1]
    assert policies[0]["runtime_fraction"]["default_value"]["numerator"] == 1_000_000
    assert policies[1]["runtime_fraction"]["default_value"]["numerator"] == 100_000
    both = {**http, "mirror": {"host": "product"}}
    assert "exclude each other" in dict(check_resource(vs([both])))["spec.http[0].mirrors"]


def test_envoy_accepts_tls_port_settings_rewrite_and_mirrors(tmp_path: Path) -> None:
    subsets = [{"name": "v1", "labels": {"version": "v1"}},
               {"name": "v2", "labels": {"version": "v2"},
                "trafficPolicy": {"tls": {"mode": "DISABLE"}}}]  # fmt: skip
    rule = _dr({"tls": {"mode": "ISTIO_MUTUAL"}, "portLevelSettings": [
        {"port": {"number": 80}, "connectionPool": {"http": {"http1MaxPendingRequests": 3}},
         "tls": {"mode": "ISTIO_MUTUAL"}}]}, subsets)  # fmt: skip
    http = [
        {"match": [{"uri": {"prefix": "/a"}}], "route": TO_V1,
         "rewrite": {"uri": "/products", "authority": "product"}},
        {"match": [{"uri": {"regex": "/b/.*"}}], "route": TO_V1,
         "rewrite": {"uriRegexRewrite": {"match": "^/b/(.*)", "rewrite": "/\\1"}}},
        {"route": TO_V1, "mirrors": [{"destination": {"host": "product", "subset": "v2"},
                                      "percentage": {"value": 50}}]},
    ]  # fmt: skip
    cfg = secured(rule, vs(http))
    for name in ("order-v1-0", "istio-ingressgateway"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(static_bootstrap(cfg[name])))
        proc = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart",
             "--log-level", "error"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_request_authentication_is_accepted_and_its_target_refs_refused_by_name() -> None:
    raw: dict[str, Any] = {
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt-example"},
        "spec": {"jwtRules": [{"issuer": "testing@secure.istio.io"}]},
    }
    assert check_resource(raw) == []
    raw["spec"]["targetRefs"] = [{"kind": "Gateway", "name": "gw"}]
    assert check_resource(raw) == [("spec.targetRefs", "not supported by meshsim")]

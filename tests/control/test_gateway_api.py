"""HTTPRoute → VirtualService → Envoy, as Istio's conversion.go does it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths, ProxyConfig
from meshsim.scenario.gateway_routes import route_conflicts, to_virtual_services, weights
from meshsim.scenario.istio import check_resource, parse_resource

MESH = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
V1 = "outbound|80|v1|product.default.svc.cluster.local"
V2 = "outbound|80|v2|product.default.svc.cluster.local"


def route(rules: list[dict[str, Any]], parent: str = "product", **spec: Any) -> dict[str, Any]:
    parents = (
        [{"group": "", "kind": "Service", "name": parent, "port": 80}]
        if parent != "meshsim-gateway"
        else [{"name": "meshsim-gateway"}]
    )
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": spec.pop("name", "product")},
        "spec": {"parentRefs": parents, "rules": rules, **spec},
    }


PLAN = build_plan(MESH, 0)


def compiled(*raws: dict[str, Any], remove: tuple[str, ...] = ()) -> dict[str, ProxyConfig]:
    state = PolicyState.initial()
    state.enter(list(raws), list(remove))
    return compile_mesh(PLAN, state, Paths("/xds"))


def product_routes(cfgs: dict[str, ProxyConfig]) -> list[dict[str, Any]]:
    vhosts = cfgs["order-v1-0"].routes["outbound"]["virtual_hosts"]
    return next(v["routes"] for v in vhosts if v["name"].startswith("product."))


def test_request_routing_as_istios_task_headers_then_default() -> None:
    """Istio's request-routing task, Gateway API tab: jason → v2, the rest v1."""
    cfgs = compiled(
        route(
            [
                {
                    "matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
                    "backendRefs": [{"name": "product-v2", "port": 80}],
                },
                {"backendRefs": [{"name": "product-v1", "port": 80}]},
            ]
        )
    )
    routes = product_routes(cfgs)
    assert [r["route"]["cluster"] for r in routes] == [V2, V1]
    assert routes[0]["match"]["headers"] == [
        {"name": "end-user", "string_match": {"exact": "jason"}}
    ]
    assert routes[1]["match"] == {"prefix": "/"}
    # the version Services are clusters of their version's instances only
    clusters = {c["name"]: c for c in cfgs["order-v1-0"].clusters}
    eps = clusters[V2]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [ep["endpoint"]["address"]["socket_address"]["port_value"] for ep in eps] == [
        PLAN.instance("product-v2-0").inbound_port
    ]
    assert cfgs["order-v1-0"].warnings[:1] == [
        "HTTPRoute/product routes calls to product made by sidecars (e.g. order → product) "
        "only: the ingress gateway's calls to product follow VirtualService/shop, bound to "
        "meshsim-gateway. To split or fault those too, bind a VirtualService to meshsim-gateway"
    ]


def test_traffic_shifting_weights_are_relative_and_a_single_backend_takes_all() -> None:
    cfgs = compiled(
        route(
            [
                {
                    "backendRefs": [
                        {"name": "product-v1", "port": 80, "weight": 50},
                        {"name": "product-v2", "port": 80, "weight": 50},
                    ]
                }
            ]
        )
    )
    action = product_routes(cfgs)[0]["route"]
    assert action["weighted_clusters"]["clusters"] == [
        {"name": V1, "weight": 50},
        {"name": V2, "weight": 50},
    ]
    assert weights([1]) == [0]
    assert weights([1, 3]) == [1, 3]
    assert weights([1000, 3000]) == [25, 75]
    assert weights([1, 999_999]) == [1, 100]


def test_rules_sort_by_gateway_api_precedence_not_by_order() -> None:
    """Exact beats prefix, a longer prefix beats a shorter, then method,
    headers, query parameters; a rule without matches comes last."""
    cfgs = compiled(
        route(
            [
                {"backendRefs": [{"name": "product", "port": 80}]},
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/products"}}],
                    "backendRefs": [{"name": "product-v1", "port": 80}],
                },
                {
                    "matches": [
                        {"path": {"type": "PathPrefix", "value": "/products"}, "method": "POST"},
                        {"path": {"type": "Exact", "value": "/products/1"}},
                    ],
                    "backendRefs": [{"name": "product-v2", "port": 80}],
                },
            ]
        )
    )
    routes = product_routes(cfgs)
    assert [
        (r["name"], r["match"].get("path") or r["match"].get("path_separated_prefix"))
        for r in routes
    ] == [
        ("product.2", "/products/1"),
        ("product.2", "/products"),
        ("product.1", "/products"),
        ("product.0", None),
    ]
    # PathPrefix is a path-element prefix: /products matches /products/7, not /productsx
    assert routes[1]["match"]["path_separated_prefix"] == "/products"
    assert routes[1]["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "POST"}}]


def test_filters_become_istios_fields() -> None:
    cfgs = compiled(
        route(
            [
                {
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {
                                "set": [{"name": "X-Canary", "value": "yes"}],
                                "remove": ["x-drop"],
                            },
                        },
                        {
                            "type": "ResponseHeaderModifier",
                            "responseHeaderModifier": {"add": [{"name": "x-via", "value": "gw"}]},
                        },
                        {
                            "type": "RequestMirror",
                            "requestMirror": {
                                "backendRef": {"name": "product-v2", "port": 80},
                                "fraction": {"numerator": 1, "denominator": 4},
                            },
                        },
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "hostname": "product.internal",
                                "path": {
                                    "type": "ReplacePrefixMatch",
                                    "replacePrefixMatch": "/v2/",
                                },
                            },
                        },
                    ],
                    "backendRefs": [{"name": "product-v1", "port": 80}],
                    "timeouts": {"request": "3s"},
                }
            ]
        )
    )
    r = product_routes(cfgs)[0]
    assert r["request_headers_to_add"] == [
        {
            "header": {"key": "x-canary", "value": "yes"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]
    assert r["request_headers_to_remove"] == ["x-drop"]
    assert r["response_headers_to_add"] == [
        {"header": {"key": "x-via", "value": "gw"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
    ]
    action = r["route"]
    assert action["timeout"] == "3s"
    assert action["prefix_rewrite"] == "/v2"
    assert action["host_rewrite_literal"] == "product.internal"
    [mirror] = action["request_mirror_policies"]
    assert mirror["cluster"] == V2
    assert mirror["runtime_fraction"]["default_value"] == {
        "numerator": 250000,
        "denominator": "MILLION",
    }


def test_backend_request_is_the_per_try_timeout_when_there_is_a_retry() -> None:
    """Istio: backendRequest is the per-try timeout with `retry`, else the route's timeout."""
    [vs] = to_virtual_services(
        [
            parse_resource(  # type: ignore[list-item]
                route(
                    [
                        {
                            "backendRefs": [{"name": "product", "port": 80}],
                            "timeouts": {"request": "10s", "backendRequest": "2s"},
                            "retry": {"attempts": 3, "codes": [503]},
                        },
                        {
                            "matches": [{"path": {"value": "/slow"}}],
                            "backendRefs": [{"name": "product", "port": 80}],
                            "timeouts": {"request": "10s", "backendRequest": "2s"},
                        },
                    ]
                )
            )
        ]
    )
    slow, default = vs.spec.http
    assert default.timeout == "10s"
    assert default.retries is not None and default.retries.perTryTimeout == "2s"
    assert default.retries.attempts == 3
    assert default.retries.retryOn == "connect-failure,refused-stream,unavailable,cancelled,503"
    assert slow.timeout == "2s" and slow.retries is None


def test_redirect_and_zero_weights_answer_without_a_backend() -> None:
    cfgs = compiled(
        route(
            [
                {
                    "matches": [{"path": {"value": "/old"}}],
                    "filters": [
                        {
                            "type": "RequestRedirect",
                            "requestRedirect": {
                                "path": {
                                    "type": "ReplacePrefixMatch",
                                    "replacePrefixMatch": "/new",
                                },
                                "statusCode": 301,
                            },
                        }
                    ],
                },
                {"backendRefs": [{"name": "product-v2", "port": 80, "weight": 0}]},
            ]
        )
    )
    old, rest = product_routes(cfgs)
    assert old["redirect"] == {
        "response_code": "MOVED_PERMANENTLY",
        "prefix_rewrite": "/new",
    }
    assert rest["direct_response"] == {"status": 500}


def test_an_ingress_route_binds_to_the_gateway_with_its_hostnames() -> None:
    cfgs = compiled(
        route(
            [
                {
                    "matches": [{"path": {"value": "/products"}}],
                    "backendRefs": [
                        {"name": "product-v1", "port": 80, "weight": 90},
                        {"name": "product-v2", "port": 80, "weight": 10},
                    ],
                }
            ],
            parent="meshsim-gateway",
            name="shop-products",
        ),
        remove=("VirtualService/shop",),
    )
    vhosts = cfgs["istio-ingressgateway"].routes["ingress"]["virtual_hosts"]
    assert vhosts[0]["domains"] == ["*"]
    [r] = vhosts[0]["routes"]
    assert r["match"]["path_separated_prefix"] == "/products"
    assert [c["weight"] for c in r["route"]["weighted_clusters"]["clusters"]] == [90, 10]


def test_routes_for_one_service_merge_older_first_among_equals() -> None:
    a = route([{"backendRefs": [{"name": "product-v1", "port": 80}]}], name="a")
    b = route(
        [
            {
                "matches": [{"headers": [{"name": "x-b", "value": "1"}]}],
                "backendRefs": [{"name": "product-v2", "port": 80}],
            }
        ],
        name="b",
    )
    [vs] = to_virtual_services([parse_resource(a), parse_resource(b)])  # type: ignore[list-item]
    assert [h.name for h in vs.spec.http] == ["b.0", "a.0"]
    assert vs.metadata.annotations["meshsim.io/from"] == "HTTPRoute/a,HTTPRoute/b"


def test_an_httproute_and_a_virtualservice_for_one_host_are_refused_naming_both() -> None:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "product"},
        "spec": {"hosts": ["product"], "http": [{"route": [{"destination": {"host": "product"}}]}]},
    }
    hr = route([{"backendRefs": [{"name": "product", "port": 80}]}], name="canary")
    [(later, why)] = route_conflicts([parse_resource(vs), parse_resource(hr)])
    assert later.key == "HTTPRoute/canary"
    assert "HTTPRoute/canary and VirtualService/product both route host 'product'" in why
    # a route for another service, or at the ingress with the gateway's VirtualService gone: fine
    other = route([{"backendRefs": [{"name": "user", "port": 80}]}], parent="user", name="u")
    assert route_conflicts([parse_resource(vs), parse_resource(other)]) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"parentRefs": [{"name": "product", "kind": "Service", "group": ""}],
          "rules": [{"backendRefs": [{"name": "product"}]}]},
         [("spec.rules[0].backendRefs[0]",
           "port: required for a Service backend (the Gateway API's rule)")]),
        ({"parentRefs": [{"name": "p", "kind": "Service", "group": ""}],
          "rules": [{"sessionPersistence": {}}]},
         [("spec.rules[0].sessionPersistence", "not supported by meshsim")]),
        ({"parentRefs": [{"name": "p", "kind": "Service", "group": ""}],
          "rules": [{"backendRef": []}]},
         [("spec.rules[0].backendRef", "unknown field 'backendRef'; did you mean 'backendRefs'?")]),
        ({"parentRefs": [{"name": "p", "kind": "Service", "group": ""}],
          "rules": [{"filters": [{"type": "CORS", "cors": {}}]}]},
         [("spec.rules[0].filters[0].type", "CORS is not supported by meshsim; it supports "
           "RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, "
           "URLRewrite"),
          ("spec.rules[0].filters[0].cors", "not supported by meshsim")]),
        ({"parentRefs": [{"name": "p", "kind": "Service", "group": ""}],
          "rules": [{"filters": [{"type": "Rewrite"}]}]},
         [("spec.rules[0].filters[0].type", "unknown filter type 'Rewrite'; expected one of "
           "RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, "
           "URLRewrite")]),
        ({"parentRefs": [{"name": "p", "kind": "Service", "group": ""}],
          "rules": [{"filters": [{"type": "URLRewrite"}]}]},
         [("spec.rules[0].filters[0]", "urlRewrite: required when type is URLRewrite")]),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    raw = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "HTTPRoute",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    assert check_resource(raw) == expected


def test_section_and_namespaces_name_the_one_port_and_the_service() -> None:
    raw = route([{"backendRefs": [{"name": "product-v2", "port": 80, "namespace": "shop"}]}])
    raw["spec"]["parentRefs"][0] |= {"sectionName": "http", "namespace": "shop"}
    assert check_resource(raw) == []
    [vs] = to_virtual_services([parse_resource(raw)])  # type: ignore[list-item]
    assert (
        vs.spec.hosts == ["product"] and vs.spec.http[0].route[0].destination.host == "product-v2"
    )
    raw["spec"]["parentRefs"][0]["sectionName"] = "grpc"
    assert check_resource(raw) == [
        (
            "spec.parentRefs[0]",
            "sectionName: 'grpc': meshsim's services and its gateway have one port each, named http",
        )
    ]


def test_the_api_version_is_checked() -> None:
    raw = route([])
    raw["apiVersion"] = "gateway.networking.k8s.io/v1alpha2"
    assert check_resource(raw) == [
        (
            "apiVersion",
            "expected one of gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1 "
            "for HTTPRoute",
        )
    ]


def test_envoy_accepts_what_httproutes_compile_to(tmp_path: Path) -> None:
    """The real Envoy validates the compiled config of every proxy."""
    from meshsim.control.validate import static_bootstrap
    from meshsim.runtime.local import envoy_binary

    cfgs = compiled(
        route(
            [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/products/"}}],
                    "filters": [
                        {
                            "type": "RequestRedirect",
                            "requestRedirect": {"scheme": "https", "hostname": "shop.example"},
                        }
                    ],
                },
                {
                    "matches": [{"queryParams": [{"name": "v", "value": "2"}], "method": "GET"}],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "path": {"type": "ReplaceFullPath", "replaceFullPath": "/products"}
                            },
                        }
                    ],
                    "backendRefs": [{"name": "product-v2", "port": 80}],
                },
                {"backendRefs": [{"name": "product-v1", "port": 80, "weight": 0}]},
            ]
        )
    )
    for name in ("order-v1-0", "istio-ingressgateway"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(static_bootstrap(cfgs[name])))
        done = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_explain_says_what_an_httproute_became(tmp_path: Path) -> None:
    from meshsim.explain import explain

    path = tmp_path / "s.yaml"
    path.write_text(
        json.dumps(
            {
                "name": "s",
                "phases": [
                    {
                        "name": "a",
                        "duration": "5s",
                        "remove": ["VirtualService/shop"],
                        "apply": [
                            route(
                                [
                                    {
                                        "matches": [{"path": {"value": "/old"}}],
                                        "filters": [
                                            {
                                                "type": "RequestRedirect",
                                                "requestRedirect": {
                                                    "scheme": "https",
                                                    "statusCode": 301,
                                                },
                                            }
                                        ],
                                    },
                                    {"backendRefs": [{"name": "product", "port": 80}]},
                                ],
                                parent="meshsim-gateway",
                                name="shop",
                            )
                        ],
                    }
                ],
            }
        )
    )
    text = explain(path, phase="a", instance="istio-ingressgateway").text()
    assert "HTTPRoute/shop (bound to meshsim-gateway), hosts *:" in text
    assert "route shop.0: requests with path '/old' or below it" in text
    assert "redirect 301 to scheme https, port 443" in text

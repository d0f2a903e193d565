"""VirtualService and DestinationRule → Envoy, field by field, with Istio's defaults.

Pure and fast: nothing here starts a process except `envoy --mode validate`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshsim.control.advice import scenario_warnings
from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.control.xds import Paths, ProxyConfig
from meshsim.runtime.commands import envoy_binary
from meshsim.scenario import load_scenario_text
from meshsim.scenario.istio import check_resource, parse_resource, resource_warnings

SHOP = {"user": {"v1": 1}, "product": {"v1": 2, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
PRODUCT = "outbound|80||product.default.svc.cluster.local"
PRODUCT_V1 = "outbound|80|v1|product.default.svc.cluster.local"
PRODUCT_V2 = "outbound|80|v2|product.default.svc.cluster.local"
FAULT = "envoy.filters.http.fault"


def vs(http: list[dict[str, Any]], name: str = "product", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, **meta},
        "spec": {"hosts": [name], "http": http},
    }


def dr(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "product"},
        "spec": {"host": "product.default.svc.cluster.local", **spec},
    }


SUBSETS = dr(
    {
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ]
    }
)
TO_PRODUCT = [{"destination": {"host": "product"}}]
AT_DESTINATION = {"annotations": {"meshsim.io/fault-at": "destination"}}


def compiled(*resources: dict[str, Any]) -> dict[str, ProxyConfig]:
    state = PolicyState.initial()
    state.apply([parse_resource(r) for r in resources])
    return compile_mesh(build_plan(SHOP, ingress_port=0), state, Paths("/tmp/meshsim-test"))


def routes(
    cfg: dict[str, ProxyConfig], proxy: str = "order-v1-0", host: str = "product"
) -> list[Any]:
    name = "ingress" if proxy == "istio-ingressgateway" else "outbound"
    rc = cfg[proxy].routes[name]
    return next(v["routes"] for v in rc["virtual_hosts"] if host in v["domains"])


def cluster(cfg: dict[str, ProxyConfig], name: str, proxy: str = "order-v1-0") -> dict[str, Any]:
    return next(c for c in cfg[proxy].clusters if c["name"] == name)


def problems(raw: dict[str, Any]) -> dict[str, str]:
    return dict(check_resource(raw))


# ------------------------------------------------------------------ defaults


def test_a_service_without_virtualservice_gets_istios_default_route() -> None:
    (route,) = routes(compiled())
    assert route["match"] == {"prefix": "/"}
    action = route["route"]
    assert action["cluster"] == PRODUCT
    assert action["timeout"] == "0s"  # Istio: no timeout
    assert action["retry_policy"] == {
        "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                    ".PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
        "retriable_status_codes": [503],
    }


def test_clusters_get_istios_defaults_without_destinationrule() -> None:
    c = cluster(compiled(), PRODUCT)
    assert c["lb_policy"] == "LEAST_REQUEST"
    assert c["connect_timeout"] == "10s"
    (limits,) = c["circuit_breakers"]["thresholds"]
    assert limits["max_connections"] == limits["max_pending_requests"] == 4294967295
    assert limits["max_retries"] == limits["max_requests"] == 4294967295
    assert "outlier_detection" not in c


def test_inbound_cluster_closes_idle_app_connections_before_the_app_does() -> None:
    c = cluster(compiled(), "inbound|80||product.default.svc.cluster.local", "product-v1-0")
    options = c["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["common_http_protocol_options"]["idle_timeout"] == "60s"  # apps: 75 s


def test_every_request_a_proxy_sends_names_its_service() -> None:
    cfg = compiled()
    header = {"key": "x-envoy-downstream-service-cluster", "value": "order"}
    assert cfg["order-v1-0"].routes["outbound"]["request_headers_to_add"][0]["header"] == header
    ingress = cfg["istio-ingressgateway"].routes["ingress"]["request_headers_to_add"][0]
    assert ingress["header"]["value"] == "istio-ingressgateway"


# ------------------------------------------------------------------- retries


def test_retries_attempts_zero_disables_retries() -> None:
    (route,) = routes(compiled(vs([{"retries": {"attempts": 0}, "route": TO_PRODUCT}])))
    assert "retry_policy" not in route["route"]


def test_retries_override_the_default_field_by_field() -> None:
    retries = {"attempts": 3, "perTryTimeout": "100ms", "retryOn": "5xx,503, gateway-error"}
    (route,) = routes(compiled(vs([{"retries": retries, "route": TO_PRODUCT}])))
    policy = route["route"]["retry_policy"]
    assert policy["num_retries"] == 3
    assert policy["per_try_timeout"] == "0.100s"
    assert policy["retry_on"] == "5xx,gateway-error,retriable-status-codes"
    assert policy["retriable_status_codes"] == [503]
    assert policy["host_selection_retry_max_attempts"] == 5


def test_retries_without_retry_on_keep_the_default_conditions() -> None:
    (route,) = routes(compiled(vs([{"retries": {"attempts": 4}, "route": TO_PRODUCT}])))
    policy = route["route"]["retry_policy"]
    assert policy["num_retries"] == 4
    assert policy["retriable_status_codes"] == [503]
    assert policy["retry_on"].startswith("connect-failure")


def test_unknown_retry_condition_is_an_error() -> None:
    raw = vs([{"retries": {"attempts": 1, "retryOn": "5xx,sometimes"}, "route": TO_PRODUCT}])
    assert "sometimes" in problems(raw)["spec.http[0].retries.retryOn"]


def test_retries_without_attempts_warn_that_istio_disables_them() -> None:
    res = parse_resource(vs([{"retries": {"perTryTimeout": "1s"}, "route": TO_PRODUCT}]))
    (path, message), *_ = resource_warnings(res)
    assert path == "spec.http[0].retries.attempts"
    assert "disables retries" in message


# --------------------------------------------------------- timeouts, routing


def test_timeout_is_an_envoy_duration() -> None:
    (route,) = routes(compiled(vs([{"timeout": "200ms", "route": TO_PRODUCT}])))
    assert route["route"]["timeout"] == "0.200s"


def test_weights_become_weighted_clusters_and_zero_weights_are_dropped() -> None:
    split = [
        {"destination": {"host": "product", "subset": "v1"}, "weight": 90},
        {"destination": {"host": "product", "subset": "v2"}, "weight": 10},
    ]
    (route,) = routes(compiled(SUBSETS, vs([{"route": split}])))
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": PRODUCT_V1, "weight": 90},
        {"name": PRODUCT_V2, "weight": 10},
    ]
    split[0]["weight"], split[1]["weight"] = 100, 0
    (route,) = routes(compiled(SUBSETS, vs([{"route": split}])))
    assert route["route"]["weighted_clusters"]["clusters"] == [{"name": PRODUCT_V1, "weight": 100}]


def test_weights_are_relative_as_in_istio() -> None:
    # Since Istio 1.15 weights need not add up to 100: 60 and 20 split 75/25
    split = [
        {"destination": {"host": "product", "subset": "v1"}, "weight": 60},
        {"destination": {"host": "product", "subset": "v2"}, "weight": 20},
    ]
    assert problems(vs([{"route": split}])) == {}
    (route,) = routes(compiled(SUBSETS, vs([{"route": split}])))
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": PRODUCT_V1, "weight": 60},
        {"name": PRODUCT_V2, "weight": 20},
    ]
    ((path, message),) = resource_warnings(parse_resource(vs([{"route": split}])))
    assert path == "spec.http[0].route"
    assert "add up to 80" in message and "relative" in message and "75% / 25%" in message
    # all zero is still an error; a single destination takes everything
    split[0]["weight"] = split[1]["weight"] = 0
    assert "every weight is 0" in problems(vs([{"route": split}]))["spec.http[0].route"]
    single = [{"destination": {"host": "product"}, "weight": 30}]
    assert problems(vs([{"route": single}])) == {}


def test_matches_translate_like_istiod() -> None:
    match = {
        "uri": {"regex": "/products/[0-9]+"},
        "ignoreUriCase": True,
        "method": {"exact": "GET"},
        "headers": {
            "x-beta": {"exact": "true"},
            "cookie": {"regex": ".*user=jason.*"},
            "x-any": {},
        },
        "withoutHeaders": {"x-canary": {"prefix": "no"}},
        "queryParams": {"debug": {"exact": "1"}},
    }
    (route, fallback) = routes(
        compiled(vs([{"match": [match], "route": TO_PRODUCT}, {"route": TO_PRODUCT}]))
    )
    m = route["match"]
    assert m["safe_regex"] == {"regex": "/products/[0-9]+"}
    assert m["case_sensitive"] is False
    assert m["headers"] == [
        {"name": "cookie", "string_match": {"safe_regex": {"regex": ".*user=jason.*"}}},
        {"name": "x-any", "present_match": True},
        {"name": "x-beta", "string_match": {"exact": "true"}},
        {
            "name": "x-canary",
            "string_match": {"prefix": "no"},
            "invert_match": True,
            "treat_missing_header_as_empty": True,
        },
        {"name": ":method", "string_match": {"exact": "GET"}},
    ]
    assert m["query_parameters"] == [{"name": "debug", "string_match": {"exact": "1"}}]
    assert fallback["match"] == {"prefix": "/"}


def test_uri_exact_and_prefix_and_a_foreign_port() -> None:
    http = [
        {"match": [{"uri": {"exact": "/healthz"}}, {"uri": {"prefix": "/p"}}], "route": TO_PRODUCT},
        {"match": [{"port": 9080}], "route": TO_PRODUCT},  # never applies: services listen on 80
    ]
    got = routes(compiled(vs(http)))
    assert [r["match"] for r in got] == [
        {"path": "/healthz", "case_sensitive": True},
        {"prefix": "/p", "case_sensitive": True},
    ]


def test_match_header_names_must_be_lowercase() -> None:
    raw = vs([{"match": [{"headers": {"X-Beta": {"exact": "1"}}}], "route": TO_PRODUCT}])
    assert "lowercase" in problems(raw)["spec.http[0].match[0]"]


def test_header_operations_and_authority_rewrite() -> None:
    headers = {
        "request": {
            "set": {"x-a": "1", "host": "shop.example"},
            "add": {"x-b": "2"},
            "remove": ["x-c"],
        },
        "response": {"set": {"x-served-through": "mesh"}, "remove": ["server"]},
    }
    dest = {"destination": {"host": "product"}, "headers": {"request": {"add": {"x-d": "4"}}}}
    (route,) = routes(compiled(vs([{"headers": headers, "route": [dest]}])))
    assert route["request_headers_to_add"] == [
        {"header": {"key": "x-a", "value": "1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
        {"header": {"key": "x-b", "value": "2"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"},
        {"header": {"key": "x-d", "value": "4"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"},
    ]
    assert route["request_headers_to_remove"] == ["x-c"]
    assert route["response_headers_to_add"][0]["header"] == {
        "key": "x-served-through",
        "value": "mesh",
    }
    assert route["response_headers_to_remove"] == ["server"]
    assert route["route"]["host_rewrite_literal"] == "shop.example"


def test_mirror_defaults_to_100_percent_and_zero_means_off() -> None:
    http = {"route": [{"destination": {"host": "product", "subset": "v1"}}]}
    mirror = {"host": "product", "subset": "v2"}
    (route,) = routes(compiled(SUBSETS, vs([{**http, "mirror": mirror}])))
    assert route["route"]["request_mirror_policies"] == [
        {
            "cluster": PRODUCT_V2,
            "runtime_fraction": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "trace_sampled": False,
        }
    ]
    (route,) = routes(
        compiled(SUBSETS, vs([{**http, "mirror": mirror, "mirrorPercentage": {"value": 25.5}}]))
    )
    fraction = route["route"]["request_mirror_policies"][0]["runtime_fraction"]
    assert fraction == {"default_value": {"numerator": 255000, "denominator": "MILLION"}}
    (route,) = routes(
        compiled(SUBSETS, vs([{**http, "mirror": mirror, "mirrorPercentage": {"value": 0}}]))
    )
    assert "request_mirror_policies" not in route["route"]


def test_unsupported_fields_are_errors_naming_them() -> None:
    raw = vs([{"route": TO_PRODUCT, "corsPolicy": {"allowOrigins": [{"exact": "*"}]}}])
    assert problems(raw) == {"spec.http[0].corsPolicy": "not supported by meshsim"}
    raw = dr({"trafficPolicy": {"tunnel": {"protocol": "CONNECT"}}})
    assert problems(raw) == {"spec.trafficPolicy.tunnel": "not supported by meshsim"}
    raw = dr({"trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL", "sni": "x"}}})
    assert problems(raw) == {"spec.trafficPolicy.tls.sni": "not supported by meshsim"}
    raw = vs([{"route": TO_PRODUCT, "match": [{"sourceLabels": {"app": "order"}}]}])
    assert problems(raw) == {"spec.http[0].match[0].sourceLabels": "not supported by meshsim"}


# -------------------------------------------------------------------- faults


def test_caller_side_fault_goes_to_the_callers_route() -> None:
    fault = {
        "abort": {"httpStatus": 503, "percentage": {"value": 20}},
        "delay": {"fixedDelay": "1.5s", "percentage": {"value": 0.1}},
    }
    cfg = compiled(vs([{"fault": fault, "route": TO_PRODUCT}]))
    (route,) = routes(cfg)
    assert route["typed_per_filter_config"][FAULT] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "delay": {
            "fixed_delay": "1.500s",
            "percentage": {"numerator": 1000, "denominator": "MILLION"},
        },
        "abort": {
            "http_status": 503,
            "percentage": {"numerator": 200000, "denominator": "MILLION"},
        },
    }
    # product's own sidecar knows nothing of it
    inbound = cfg["product-v1-0"].routes["inbound"]["virtual_hosts"][0]["routes"]
    assert [r["name"] for r in inbound] == ["default"]


def test_fault_without_percentage_affects_no_request_as_in_istio() -> None:
    raw = vs([{"fault": {"abort": {"httpStatus": 500}}, "route": TO_PRODUCT}])
    (route,) = routes(compiled(raw))
    assert route["typed_per_filter_config"][FAULT]["abort"]["percentage"]["numerator"] == 0
    ((path, message),) = resource_warnings(parse_resource(raw))
    assert path == "spec.http[0].fault.abort" and "no request" in message


def test_deprecated_integer_percent_is_accepted_with_a_scenario_warning() -> None:
    raw = vs([{"fault": {"delay": {"fixedDelay": "1s", "percent": 30}}, "route": TO_PRODUCT}])
    (route,) = routes(compiled(raw))
    percentage = route["typed_per_filter_config"][FAULT]["delay"]["percentage"]
    assert percentage == {"numerator": 30, "denominator": "HUNDRED"}
    text = "name: x\nphases:\n  - name: a\n    duration: 1s\n    apply:\n      - " + json.dumps(raw)
    (warning,) = scenario_warnings(load_scenario_text(text))
    assert warning.startswith("<string>:6: phases[0].apply[0].spec.http[0].fault.delay.percent")
    assert "percentage: {value: 30}" in warning


def test_fault_at_destination_moves_to_the_destinations_inbound_route() -> None:
    fault = {"abort": {"httpStatus": 503, "percentage": {"value": 20}}}
    match = [{"uri": {"prefix": "/products"}}]
    cfg = compiled(vs([{"match": match, "fault": fault, "route": TO_PRODUCT}], **AT_DESTINATION))
    (route,) = routes(cfg)
    assert "typed_per_filter_config" not in route  # not in the caller
    for proxy in ("product-v1-0", "product-v1-1", "product-v2-0"):
        inbound = cfg[proxy].routes["inbound"]["virtual_hosts"][0]["routes"]
        assert [r["name"] for r in inbound] == ["product.0.0.fault-at-destination", "default"]
        assert inbound[0]["match"] == {"prefix": "/products", "case_sensitive": True}
        assert inbound[0]["route"]["cluster"] == "inbound|80||product.default.svc.cluster.local"
        assert inbound[0]["typed_per_filter_config"][FAULT]["abort"]["http_status"] == 503
    user = cfg["user-v1-0"].routes["inbound"]["virtual_hosts"][0]["routes"]
    assert [r["name"] for r in user] == ["default"]


def test_fault_at_destination_lands_only_on_the_routed_subset() -> None:
    fault = {"delay": {"fixedDelay": "100ms", "percentage": {"value": 100}}}
    http = [{"fault": fault, "route": [{"destination": {"host": "product", "subset": "v2"}}]}]
    cfg = compiled(SUBSETS, vs(http, **AT_DESTINATION))

    def names(proxy: str) -> list[str]:
        return [r["name"] for r in cfg[proxy].routes["inbound"]["virtual_hosts"][0]["routes"]]

    assert names("product-v2-0") == ["product.0.0.fault-at-destination", "default"]
    assert names("product-v1-0") == names("product-v1-1") == ["default"]


def test_fault_location_annotation_is_checked() -> None:
    raw = vs([{"route": TO_PRODUCT}], annotations={"meshsim.io/fault-at": "server"})
    assert "caller" in problems(raw)["metadata.annotations.meshsim.io/fault-at"]
    res = parse_resource(vs([{"route": TO_PRODUCT}], **AT_DESTINATION))
    assert "no effect" in resource_warnings(res)[0][1]


# ----------------------------------------------------------- DestinationRule


def test_destination_rule_traffic_policy() -> None:
    policy = {
        "loadBalancer": {"simple": "ROUND_ROBIN"},
        "connectionPool": {
            "tcp": {"maxConnections": 1, "connectTimeout": "250ms"},
            "http": {
                "http1MaxPendingRequests": 1,
                "http2MaxRequests": 7,
                "maxRequestsPerConnection": 10,
                "maxRetries": 3,
                "idleTimeout": "30s",
            },
        },
        "outlierDetection": {
            "consecutive5xxErrors": 3,
            "interval": "1s",
            "baseEjectionTime": "1m",
            "maxEjectionPercent": 50,
            "minHealthPercent": 20,
        },
    }
    c = cluster(compiled(dr({"trafficPolicy": policy})), PRODUCT)
    assert c["lb_policy"] == "ROUND_ROBIN"
    assert c["connect_timeout"] == "0.250s"
    (limits,) = c["circuit_breakers"]["thresholds"]
    assert (limits["max_connections"], limits["max_pending_requests"]) == (1, 1)
    assert (limits["max_requests"], limits["max_retries"]) == (7, 3)
    common = c["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]["common_http_protocol_options"]
    assert common == {"idle_timeout": "30s", "max_requests_per_connection": 10}
    assert c["outlier_detection"] == {
        "enforcing_success_rate": 0,
        "consecutive_5xx": 3,
        "enforcing_consecutive_5xx": 100,
        "interval": "1s",
        "base_ejection_time": "60s",
        "max_ejection_percent": 50,
    }
    assert c["common_lb_config"] == {"healthy_panic_threshold": {"value": 20.0}}


def test_outlier_detection_leaves_envoys_defaults_where_istio_does() -> None:
    c = cluster(compiled(dr({"trafficPolicy": {"outlierDetection": {}}})), PRODUCT)
    # Envoy's own defaults apply: 5 consecutive 5xx, 10 s, 30 s, 10 %
    assert c["outlier_detection"] == {"enforcing_success_rate": 0}
    assert c["common_lb_config"] == {"healthy_panic_threshold": {"value": 0.0}}
    off = {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 2}
    c = cluster(compiled(dr({"trafficPolicy": {"outlierDetection": off}})), PRODUCT)
    assert c["outlier_detection"]["enforcing_consecutive_5xx"] == 0
    assert c["outlier_detection"]["consecutive_gateway_failure"] == 2
    assert c["outlier_detection"]["enforcing_consecutive_gateway_failure"] == 100


def test_subset_policy_overrides_the_host_policy_field_by_field() -> None:
    spec = {
        "trafficPolicy": {
            "loadBalancer": {"simple": "RANDOM"},
            "connectionPool": {"tcp": {"maxConnections": 5}},
        },
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {
                "name": "v2",
                "labels": {"version": "v2"},
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}},
            },
        ],
    }
    cfg = compiled(dr(spec))
    v1, v2 = cluster(cfg, PRODUCT_V1), cluster(cfg, PRODUCT_V2)
    assert v1["circuit_breakers"]["thresholds"][0]["max_connections"] == 5
    assert v2["circuit_breakers"]["thresholds"][0]["max_connections"] == 1
    assert v1["lb_policy"] == v2["lb_policy"] == "RANDOM"
    assert len(v2["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 1


# ------------------------------------------------------------------- gotchas


def test_warns_that_a_mesh_virtualservice_does_not_steer_the_ingress() -> None:
    cfg = compiled(vs([{"route": TO_PRODUCT}]))
    (warning,) = [w for w in cfg["order-v1-0"].warnings if "VirtualService/product" in w]
    assert "ingress gateway's calls to product follow VirtualService/shop" in warning


def test_no_such_warning_once_the_gateway_route_is_split_too() -> None:
    from meshsim.control.state import DEFAULT_RESOURCES

    shop = json.loads(
        json.dumps(next(r for r in DEFAULT_RESOURCES if r["kind"] == "VirtualService"))
    )
    split = [
        {"destination": {"host": "product", "subset": "v1"}, "weight": 90},
        {"destination": {"host": "product", "subset": "v2"}, "weight": 10},
    ]
    for http in shop["spec"]["http"]:
        if http["route"][0]["destination"]["host"] == "product":
            http["route"] = split
    cfg = compiled(SUBSETS, vs([{"route": split}]), shop)
    assert not [w for w in cfg["order-v1-0"].warnings if "made by sidecars" in w]


def test_warns_when_outlier_detection_can_eject_nobody() -> None:
    cfg = compiled(dr({"trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 3}}}))
    assert any(
        "ejects none" in w and "3 instance(s) of product" in w for w in cfg["order-v1-0"].warnings
    )
    spec = {"trafficPolicy": {"outlierDetection": {"maxEjectionPercent": 50}}}
    assert not any("ejects none" in w for w in compiled(dr(spec))["order-v1-0"].warnings)


# ----------------------------------------------------------------- validate


def test_envoy_accepts_every_traffic_feature(tmp_path: Path) -> None:
    """`envoy --mode validate` on a static bootstrap of a config using it all."""
    everything = dr(
        {
            "trafficPolicy": {
                "connectionPool": {
                    "tcp": {"maxConnections": 1, "connectTimeout": "1s"},
                    "http": {
                        "http1MaxPendingRequests": 1,
                        "maxRequestsPerConnection": 5,
                        "idleTimeout": "5s",
                    },
                },
                "outlierDetection": {
                    "consecutive5xxErrors": 2,
                    "interval": "500ms",
                    "maxEjectionPercent": 100,
                },
            },
            "subsets": SUBSETS["spec"]["subsets"],
        }
    )
    http = [
        {
            "match": [{"headers": {"x-beta": {"exact": "true"}}, "withoutHeaders": {"x-x": {}}}],
            "route": [{"destination": {"host": "product", "subset": "v2"}}],
            "fault": {"delay": {"fixedDelay": "50ms", "percent": 10}},
            "retries": {"attempts": 3, "perTryTimeout": "200ms", "retryOn": "5xx,429"},
            "timeout": "1s",
        },
        {
            "route": [
                {"destination": {"host": "product", "subset": "v1"}, "weight": 90},
                {
                    "destination": {"host": "product", "subset": "v2"},
                    "weight": 10,
                    "headers": {"response": {"set": {"x-v": "2"}}},
                },
            ],
            "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 1.5}}},
            "mirror": {"host": "product", "subset": "v2"},
            "mirrorPercentage": {"value": 5},
            "headers": {"request": {"set": {"x-a": "b", ":authority": "product"}}},
        },
    ]
    cfg = compiled(everything, vs(http, **AT_DESTINATION))
    for name in ("order-v1-0", "product-v2-0", "istio-ingressgateway"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(static_bootstrap(cfg[name])))
        proc = subprocess.run(
            [
                envoy_binary(),
                "--mode",
                "validate",
                "-c",
                str(path),
                "--disable-hot-restart",
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("version", ["networking.istio.io/v1alpha3", "networking.istio.io/v1beta1"])
def test_older_api_versions_are_accepted(version: str) -> None:
    assert problems({**vs([{"route": TO_PRODUCT}]), "apiVersion": version}) == {}

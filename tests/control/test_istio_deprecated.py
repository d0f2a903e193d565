"""Deprecated fields istio/api still carries: accepted with Istio's meaning and
a deprecation warning, as istioctl does."""

from __future__ import annotations

from typing import Any

from meshsim.control.envoy import percent
from meshsim.scenario.istio import check_resource, parse_resource, resource_warnings
from tests.control.test_traffic_translate import PRODUCT, SUBSETS, cluster, compiled, dr, routes, vs


def _mirror(**fields: Any) -> dict[str, Any]:
    return vs([{"route": [{"destination": {"host": "product", "subset": "v1"}}],
                "mirror": {"host": "product", "subset": "v2"}, **fields}])  # fmt: skip


def test_mirror_percent_is_mirror_percentage() -> None:
    raw = _mirror(mirrorPercent=30)
    assert check_resource(raw) == []
    (route,) = routes(compiled(SUBSETS, raw))
    (policy,) = route["route"]["request_mirror_policies"]
    assert policy["runtime_fraction"]["default_value"] == percent(30)
    ((path, message),) = resource_warnings(parse_resource(raw))
    assert path == "spec.http[0].mirrorPercent" and "deprecated" in message
    assert "mirrorPercentage: {value: 30}" in message
    # mirrorPercentage wins; 0 turns mirroring off
    (route,) = routes(compiled(SUBSETS, _mirror(mirrorPercent=30, mirrorPercentage={"value": 5})))
    (policy,) = route["route"]["request_mirror_policies"]
    assert policy["runtime_fraction"]["default_value"] == percent(5)
    (route,) = routes(compiled(SUBSETS, _mirror(mirrorPercent=0)))
    assert "request_mirror_policies" not in route["route"]
    assert check_resource(_mirror(mirrorPercent=101))


def test_consecutive_errors_counts_gateway_errors_only() -> None:
    raw = dr({"host": "product", "trafficPolicy": {"outlierDetection": {
        "consecutiveErrors": 7, "interval": "1s", "baseEjectionTime": "30s"}}})  # fmt: skip
    assert check_resource(raw) == []
    detection = cluster(compiled(raw), PRODUCT)["outlier_detection"]
    assert detection["consecutive_gateway_failure"] == 7
    assert detection["enforcing_consecutive_gateway_failure"] == 100
    assert detection["enforcing_consecutive_5xx"] == 0
    ((path, message),) = resource_warnings(parse_resource(raw))
    assert path == "spec.trafficPolicy.outlierDetection.consecutiveErrors"
    assert "deprecated" in message and "502, 503, 504" in message

"""`meshsim explain`: pure, so every test here compiles a scenario and reads words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.errors import UsageError
from meshsim.explain import SECTION_CLUSTERS, SECTION_INBOUND, SECTION_ROUTES, explain

SCENARIOS = Path(__file__).parents[1] / "scenarios"
V1 = "outbound|80|v1|product.default.svc.cluster.local"
V2 = "outbound|80|v2|product.default.svc.cluster.local"
ORDER = "spiffe://cluster.local/ns/default/sa/order"


def test_canary_shows_the_weighted_clusters_and_their_instances() -> None:
    text = explain(SCENARIOS / "canary.yaml", phase="canary-10", instance="order-v1-0").text()
    assert "Phase 2: canary-10" in text
    assert "order's sidecar (order-v1-0): the calls order's app makes" in text
    assert (
        f"sends 90 % to cluster {V1} (instances product-v1-0) "
        f"and 10 % to cluster {V2} (instances product-v2-0)"
    ) in text
    assert (
        f"{V2}: subset v2 of DestinationRule/product (version=v2): instances product-v2-0" in text
    )


def test_canary_every_phase_shows_only_what_changed() -> None:
    result = explain(SCENARIOS / "canary.yaml")
    assert [p.phase for p in result.phases] == ["all-v1", "canary-10", "canary-50", "all-v2"]
    first, ten, fifty, last = result.phases
    assert [s.title for s in first.sections] == [SECTION_ROUTES, SECTION_CLUSTERS, SECTION_INBOUND]
    assert [s.title for s in ten.sections] == [SECTION_ROUTES]  # only the split moved
    lines = [line for g in ten.sections[0].groups for line in g.lines]
    assert any("90 %" in line for line in lines)
    assert not any("calls for user" in line for line in lines)  # unchanged, left out
    assert ten.unchanged_from == "all-v1"
    # the sidecars' calls and the ingress gateway's, split alike
    assert ten.changed == ["VirtualService/product", "VirtualService/shop"]
    ingress_ten = next(g for g in ten.sections[0].groups if g.proxies == ["istio-ingressgateway"])
    assert any("90 %" in line and V2 in line for line in ingress_ten.lines)
    assert "50 % to cluster" in "\n".join(
        line for s in fifty.sections for g in s.groups for line in g.lines
    )
    ingress = [g for s in last.sections for g in s.groups if g.proxies == ["istio-ingressgateway"]]
    assert ingress and any("VirtualService/shop" in line for line in ingress[0].lines)
    # the ingress is split too, so no "sidecars only" warning
    assert not any("made by sidecars" in w for p in result.phases for w in p.warnings)


def test_authz_lockdown_shows_the_rbac_rules() -> None:
    result = explain(SCENARIOS / "authz-lockdown.yaml", phase="lockdown")
    text = result.text()
    assert "changes: AuthorizationPolicy/product-readers" in text
    product = [
        g
        for s in result.phases[0].sections
        if s.title == SECTION_INBOUND
        for g in s.groups
        if g.proxies == ["product-v1-0"]
    ][0]
    assert product.title == "product's sidecar (product-v1-0)"
    assert any(line.startswith("RBAC ALLOW: only requests matching") for line in product.lines)
    assert f"default/product-readers rule 0: method GET, from {ORDER}" in "\n".join(product.lines)
    others = [g for s in result.phases[0].sections for g in s.groups if "user-v1-0" in g.proxies]
    inbound = [g for g in others if "every caller that gets in is allowed" in "\n".join(g.lines)]
    assert inbound, "services without a policy say so"
    allowed = explain(SCENARIOS / "authz-lockdown.yaml", phase="gateway-allowed").text()
    assert "(method GET or method HEAD)" in allowed
    assert (
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account" in allowed
    )


def test_mtls_migration_names_the_mode_and_the_policy_deciding_it() -> None:
    text = explain(SCENARIOS / "mtls-migration.yaml", phase="strict").text()
    assert "requires mTLS" in text and "[PeerAuthentication/istio-system/default]" in text


def test_faults_say_where_they_are_injected() -> None:
    caller = explain(SCENARIOS / "retries.yaml", phase="fault-at-caller", instance="order-v1-0")
    assert "its retries do not see it" in caller.text()
    assert "answers HTTP 503 itself to 20 % of them" in caller.text()
    dest = explain(
        SCENARIOS / "retries.yaml", phase="fault-at-destination", instance="product-v1-0"
    )
    assert "at the destination" in dest.text() and "retries and outlier detection see it" in (
        dest.text()
    )


def test_circuit_breaker_limits_and_outlier_detection() -> None:
    text = explain(SCENARIOS / "circuit-breaker.yaml", instance="order-v1-0").text()
    assert "outlier detection: ejects an instance after 3 consecutive 5xx" in text
    assert "at most 1 connection(s), at most 1 pending request(s), then 503 at once" in text


def test_raw_is_the_compiled_envoy_config() -> None:
    raw = explain(SCENARIOS / "canary.yaml", phase="canary-10", instance="order-v1-0").raw()
    routes = raw["canary-10"]["order-v1-0"]["routes"]["outbound"]
    vhost = next(v for v in routes["virtual_hosts"] if v["name"].startswith("product."))
    weighted = vhost["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weighted] == [(V1, 90), (V2, 10)]


def test_unknown_phase_or_instance_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="expected one of all-v1"):
        explain(SCENARIOS / "canary.yaml", phase="nope")
    with pytest.raises(UsageError, match="istio-ingressgateway"):
        explain(SCENARIOS / "canary.yaml", instance="nope")
    with pytest.raises(UsageError, match=r"expected a service \(user, product, shipping, order\)"):
        explain(SCENARIOS / "canary.yaml", instance="product:v3")


def test_instance_may_name_a_service_or_a_version_as_exec_as_does() -> None:
    canary = SCENARIOS / "canary.yaml"
    service = explain(canary, phase="canary-10", instance="product").phases[0]
    assert set(service.raw) == {"product-v1-0", "product-v2-0"}
    (routes,) = [s for s in service.sections if s.title == SECTION_ROUTES]
    (group,) = routes.groups  # both read the same: explained once
    assert group.title == (
        "product's sidecars (product-v1-0, product-v2-0): the calls product's app makes, "
        "through its HTTP_PROXY"
    )
    version = explain(canary, phase="canary-10", instance="product:v2").phases[0]
    assert set(version.raw) == {"product-v2-0"}
    ingress = explain(canary, phase="canary-10", instance="istio-ingressgateway").phases[0]
    assert set(ingress.raw) == {"istio-ingressgateway"}


def test_every_scenario_can_be_explained() -> None:
    for path in sorted(SCENARIOS.glob("*.yaml")):
        assert explain(path).text().startswith("Phase 1: "), path


def test_cli_explain_and_raw() -> None:
    runner = CliRunner()
    args = ["explain", str(SCENARIOS / "authz-lockdown.yaml"), "--phase", "lockdown"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"method GET, from {ORDER}" in result.output
    raw = runner.invoke(app, [*args, "--instance", "product-v1-0", "--raw"])
    assert raw.exit_code == 0
    config = json.loads(raw.output)["lockdown"]["product-v1-0"]
    per_filter = config["routes"]["inbound"]["virtual_hosts"][0]["typed_per_filter_config"]
    policies = per_filter["envoy.filters.http.rbac.allow"]["rbac"]["rules"]["policies"]
    assert list(policies) == ["ns[default]-policy[product-readers]-rule[0]"]


def test_a_warning_names_the_file_and_line_of_the_resource_it_is_about(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "name: typo\n"
        "phases:\n"
        "  - name: warm\n"
        "    duration: 5\n"
        "  - name: v3\n"
        "    duration: 5\n"
        "    apply:\n"
        "      - apiVersion: networking.istio.io/v1\n"
        "        kind: VirtualService\n"
        "        metadata: {name: product}\n"
        "        spec:\n"
        "          hosts: [product]\n"
        "          http:\n"
        "            - route:\n"
        "                - destination: {host: product, subset: v3}\n"
    )
    (phase,) = explain(path, phase="v3").phases
    subset = [w for w in phase.warnings if "subset 'v3'" in w]
    # the line of the http[0] entry, as `meshsim validate` places it
    assert subset == [
        f"{path}:14: phases[1].apply[0].spec.http[0]: VirtualService/product http[0]: "
        "subset 'v3' of product is not defined by any DestinationRule; "
        "Istio answers 503 (no cluster) for these requests"
    ]

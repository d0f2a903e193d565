"""The control plane is pure: plan + policies in, Envoy config out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState, version_subsets
from meshsim.control.translate import compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.control.writer import ConfigWriter
from meshsim.control.xds import Paths
from meshsim.runtime.commands import envoy_binary
from meshsim.scenario.istio import check_resource, parse_resource

SHOP = {"user": {"v1": 1}, "product": {"v1": 2, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}

DR = version_subsets("product")
CANARY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "product"},
    "spec": {
        "hosts": ["product"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "product", "subset": "v1"}, "weight": 90},
                    {"destination": {"host": "product", "subset": "v2"}, "weight": 10},
                ]
            }
        ],
    },
}


def compiled(*resources: dict[str, Any]) -> dict[str, Any]:
    plan = build_plan(SHOP, ingress_port=0)
    state = PolicyState.initial()
    state.apply([parse_resource(r) for r in resources])
    return compile_mesh(plan, state, Paths("/tmp/meshsim-test"))


def vhost(route_config: dict[str, Any], domain: str) -> dict[str, Any]:
    return next(v for v in route_config["virtual_hosts"] if domain in v["domains"])


def test_every_proxy_gets_listeners_clusters_and_routes() -> None:
    cfg = compiled()
    assert sorted(cfg) == sorted(
        [
            "istio-ingressgateway",
            "user-v1-0",
            "product-v1-0",
            "product-v1-1",
            "product-v2-0",
            "order-v1-0",
            "shipping-v1-0",
        ]
    )
    order = cfg["order-v1-0"]
    assert [lst["name"] for lst in order.listeners] == ["outbound_http_proxy", "virtualInbound"]
    names = {c["name"] for c in order.clusters}
    assert "outbound|80||product.default.svc.cluster.local" in names
    assert "inbound|80||order.default.svc.cluster.local" in names
    assert set(order.routes) == {"outbound", "inbound"}


def test_unsubsetted_cluster_holds_every_instance_of_the_service() -> None:
    cfg = compiled()
    cluster = next(
        c
        for c in cfg["order-v1-0"].clusters
        if c["name"] == "outbound|80||product.default.svc.cluster.local"
    )
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert len(endpoints) == 3  # two v1 and one v2


def test_default_routes_use_istio_default_retry_policy() -> None:
    route = vhost(compiled()["order-v1-0"].routes["outbound"], "product")["routes"][0]
    retry = route["route"]["retry_policy"]
    assert retry["num_retries"] == 2
    assert "connect-failure" in retry["retry_on"] and retry["retriable_status_codes"] == [503]
    assert route["route"]["timeout"] == "0s"  # Istio: no timeout unless a VirtualService sets one


def test_ingress_follows_the_gateway_virtual_service() -> None:
    ingress = compiled()["istio-ingressgateway"].routes["ingress"]
    prefixes = {r["match"]["prefix"]: r["route"]["cluster"] for r in vhost(ingress, "*")["routes"]}
    assert prefixes == {
        "/products": "outbound|80||product.default.svc.cluster.local",
        "/users": "outbound|80||user.default.svc.cluster.local",
        "/orders": "outbound|80||order.default.svc.cluster.local",
    }


def test_canary_splits_sidecar_calls_but_not_the_ingress() -> None:
    cfg = compiled(DR, CANARY)
    action = vhost(cfg["order-v1-0"].routes["outbound"], "product")["routes"][0]["route"]
    weights = {c["name"]: c["weight"] for c in action["weighted_clusters"]["clusters"]}
    assert weights == {
        "outbound|80|v1|product.default.svc.cluster.local": 90,
        "outbound|80|v2|product.default.svc.cluster.local": 10,
    }
    ingress = vhost(cfg["istio-ingressgateway"].routes["ingress"], "*")["routes"][0]["route"]
    assert "weighted_clusters" not in ingress  # a mesh VirtualService does not bind to the gateway
    subset = next(
        c
        for c in cfg["order-v1-0"].clusters
        if c["name"] == "outbound|80|v2|product.default.svc.cluster.local"
    )
    assert len(subset["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 1


def test_missing_subset_is_a_warning_not_a_crash() -> None:
    cfg = compiled(CANARY)  # no DestinationRule defines the subsets
    assert any("not defined by any DestinationRule" in w for w in cfg["order-v1-0"].warnings)


def test_unsupported_field_is_named() -> None:
    bad = json.loads(json.dumps(CANARY))
    bad["spec"]["http"][0]["corsPolicy"] = {"allowOrigins": []}
    assert check_resource(bad) == [("spec.http[0].corsPolicy", "not supported by meshsim")]


def test_kubectl_apply_semantics() -> None:
    state = PolicyState.initial()
    state.apply([parse_resource(DR), parse_resource(CANARY)])
    assert "VirtualService/product" in state.resources
    replaced = json.loads(json.dumps(CANARY))
    replaced["spec"]["http"][0]["route"] = [{"destination": {"host": "product", "subset": "v2"}}]
    state.apply([parse_resource(replaced)])
    assert state.mesh_virtual_service("product") is not None
    vs = state.mesh_virtual_service("product")
    assert vs is not None and vs.spec.http[0].route[0].destination.subset == "v2"
    assert state.remove(["VirtualService/product", "VirtualService/nope"]) == [
        "VirtualService/nope"
    ]
    assert state.mesh_virtual_service("product") is None


def test_entering_a_phase_applies_then_removes() -> None:
    state = PolicyState.initial()
    applied, missing = state.enter([DR, CANARY], ["VirtualService/product", "Gateway/nope"])
    assert [r.key for r in applied] == ["DestinationRule/product", "VirtualService/product"]
    assert missing == ["Gateway/nope"]  # removing what a phase applies happens after it
    assert "DestinationRule/product" in state.resources
    assert state.mesh_virtual_service("product") is None


def test_plan_ports_come_from_below_the_ephemeral_range() -> None:
    """bind(0) ports are ephemeral: an outgoing connection can take one before
    the app binds it. Planned ports must not be."""
    from meshsim.control import plan as plan_module

    ports = plan_module.free_ports(50)
    assert len(set(ports)) == 50
    ephemeral = plan_module._ephemeral_start()
    assert all(plan_module.PLAN_PORTS.start <= p < min(ephemeral, 32768) for p in ports)


def test_a_port_in_use_is_never_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from meshsim.control import plan as plan_module

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        # a pool of that port and the next seven: the taken one is skipped
        monkeypatch.setattr(plan_module, "PLAN_PORTS", range(port, port + 8))
        monkeypatch.setattr(plan_module, "_ephemeral_start", lambda: 65536)
        chosen = plan_module.free_ports(2)
    assert port not in chosen and len(set(chosen)) == 2


def test_plan_ports_are_distinct() -> None:
    plan = build_plan(SHOP, ingress_port=0)
    ports = [plan.ingress.port, plan.ingress.admin_port] + [
        p
        for i in plan.instances
        for p in (i.app_port, i.inbound_port, i.outbound_port, i.admin_port)
    ]
    assert len(ports) == len(set(ports))


def test_writer_skips_unchanged_files(tmp_path: Path) -> None:
    writer = ConfigWriter(tmp_path)
    cfg = compiled()["order-v1-0"]
    assert writer.write_clusters(cfg) is True
    assert writer.write_clusters(cfg) is False
    assert writer.write_routes(cfg) == ["outbound", "inbound"]
    assert writer.write_routes(cfg) == []
    doc = json.loads((tmp_path / "order-v1-0" / "cds.json").read_text())
    assert doc["resources"][0]["@type"].endswith("envoy.config.cluster.v3.Cluster")
    assert not list(tmp_path.glob("order-v1-0/*.tmp"))


@pytest.mark.parametrize("resources", [(), (DR, CANARY)], ids=["default", "canary"])
def test_envoy_accepts_the_generated_config(
    tmp_path: Path, resources: tuple[dict[str, Any], ...]
) -> None:
    """`envoy --mode validate` on every proxy's configuration, inlined."""
    cfg = compiled(*resources)
    for name in ("istio-ingressgateway", "order-v1-0"):
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


def test_every_inbound_sidecar_names_its_instance_on_each_answer() -> None:
    """The served version of any app, from Envoy's own data: the inbound
    route adds `x-meshsim-served-by: <instance>;<response flags>`."""
    plan = build_plan({"product": {"v1": 1, "v2": 1}}, 0)
    configs = compile_mesh(plan, PolicyState.initial(), Paths("/tmp/meshsim-test"))
    for inst in plan.instances:
        added = configs[inst.name].routes["inbound"]["response_headers_to_add"]
        assert added == [
            {
                "header": {"key": "x-meshsim-served-by", "value": f"{inst.name};%RESPONSE_FLAGS%"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ]

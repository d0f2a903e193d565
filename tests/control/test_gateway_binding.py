"""Which routes the ingress serves: VirtualServices bound to a Gateway that
selects it (Istio's task YAML binds to `bookinfo-gateway`), and a warning for
routes bound to a Gateway that does not exist or selects no proxy, which
Istio accepts and which route nothing (found by the hardening fuzz work)."""

from __future__ import annotations

from typing import Any

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths, ProxyConfig

PLAN = build_plan({"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1}}, 0)


def gateway(name: str, selector: dict[str, str], hosts: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {
            "selector": selector,
            "servers": [
                {"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": hosts}
            ],
        },
    }


def vs(name: str, gateways: list[str], hosts: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": hosts or ["*"],
            "gateways": gateways,
            "http": [
                {"match": [{"uri": {"exact": "/x"}}], "route": [{"destination": {"host": "user"}}]}
            ],
        },
    }


def compiled(*raws: dict[str, Any], remove: tuple[str, ...] = ()) -> ProxyConfig:
    state = PolicyState.initial()
    state.enter(list(raws), list(remove))
    return compile_mesh(PLAN, state, Paths("/xds"))["istio-ingressgateway"]


def vhost_names(cfg: ProxyConfig) -> list[str]:
    return [v["name"] for v in cfg.routes["ingress"]["virtual_hosts"]]


def test_a_gateway_selecting_the_ingress_carries_its_routes() -> None:
    """Istio's bookinfo-gateway (`selector: {istio: ingressgateway}`)."""
    cfg = compiled(
        gateway("bookinfo-gateway", {"istio": "ingressgateway"}, ["*"]),
        vs("bookinfo", ["bookinfo-gateway"]),
        remove=("VirtualService/shop",),
    )
    assert vhost_names(cfg) == ["gateway:bookinfo"]
    assert not cfg.warnings


def test_a_host_no_server_accepts_is_dropped_with_a_warning() -> None:
    cfg = compiled(
        gateway("shop-gw", {"app": "istio-ingressgateway"}, ["shop.example.com"]),
        vs("a", ["default/shop-gw"], ["shop.example.com", "other.example.com"]),
        vs("b", ["shop-gw"], ["nope.example.com"]),
    )
    vhosts = cfg.routes["ingress"]["virtual_hosts"]
    assert [v["domains"] for v in vhosts if v["name"] == "gateway:a"] == [["shop.example.com"]]
    assert any(
        "VirtualService/b: no host of ['nope.example.com']" in w and "Istio drops" in w
        for w in cfg.warnings
    ), cfg.warnings


def test_a_second_route_for_the_same_host_names_the_first() -> None:
    cfg = compiled(
        gateway("bookinfo-gateway", {"istio": "ingressgateway"}, ["*"]),
        vs("bookinfo", ["bookinfo-gateway"]),
    )
    assert (
        "VirtualService/bookinfo: hosts ['*'] already bound to the gateway by "
        "VirtualService/shop, applied first; its routes are not used (remove "
        "VirtualService/shop in the same phase" in "\n".join(cfg.warnings)
    )


def test_a_missing_gateway_is_a_warning_not_silence() -> None:
    cfg = compiled(vs("user", ["bogus-gw"], ["user"]))
    assert (
        "VirtualService/user: gateway 'bogus-gw' does not exist (the mesh's is "
        "meshsim-gateway); its routes apply nowhere" in cfg.warnings
    )


def test_a_gateway_selecting_another_workload_is_a_warning() -> None:
    cfg = compiled(
        gateway("egress", {"istio": "egressgateway"}, ["*"]),
        vs("out", ["egress"], ["user"]),
    )
    assert vhost_names(cfg)[0] == "gateway:shop"
    assert any(
        "VirtualService/out: gateway 'egress' selects no proxy of this mesh" in w
        for w in cfg.warnings
    ), cfg.warnings


def test_an_httproute_to_another_gateway_is_a_warning_naming_it() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "product"},
        "spec": {
            "parentRefs": [{"name": "bookinfo-gateway"}],
            "rules": [{"backendRefs": [{"name": "product", "port": 80}]}],
        },
    }
    cfg = compiled(route)
    assert (
        "HTTPRoute/product: parent Gateway 'bookinfo-gateway' does not exist (the mesh's "
        "is meshsim-gateway); its routes apply nowhere" in cfg.warnings
    )
    assert vhost_names(cfg)[0] == "gateway:shop"


def _with_port_match(port: int) -> dict[str, Any]:
    raw = vs("bookinfo", ["bookinfo-gateway"])
    raw["spec"]["http"][0]["match"][0]["port"] = port
    return raw


def test_a_match_on_the_gateway_servers_port_applies_at_the_ingress() -> None:
    """Istio compares an ingress route's `match[].port` with the port of the
    bound Gateway's server (bookinfo-gateway's 8080), not with the port
    services listen on: 8080 matches, 80 never does there."""
    routes: dict[int, list[str]] = {}
    for port in (8080, 80):
        cfg = compiled(
            gateway("bookinfo-gateway", {"istio": "ingressgateway"}, ["*"]),
            _with_port_match(port),
            remove=("VirtualService/shop",),
        )
        vhost = next(v for v in cfg.routes["ingress"]["virtual_hosts"] if "bookinfo" in v["name"])
        routes[port] = [r["match"].get("path", "") for r in vhost["routes"]]
    assert routes == {8080: ["/x"], 80: []}


def test_a_sidecar_match_on_a_services_own_port_applies() -> None:
    """A team's service called on its own Service port (Bookinfo's 9080) is
    routed like port 80 by the sidecars, so a `match[].port: 9080` applies;
    another port still never matches."""
    from meshsim.scenario import load_scenario_text

    paths: dict[int, list[str]] = {}
    for port in (9080, 9999):
        scenario = load_scenario_text(
            f"""
name: own
mesh:
  services:
    reviews: {{command: [x], service_port: 9080, expose: true}}
    ratings: {{command: [x], service_port: 9080}}
load: {{requests: [{{name: r, path: /}}]}}
phases:
  - name: p
    duration: 5s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: ratings}}
        spec:
          hosts: [ratings]
          http:
            - match: [{{port: {port}, uri: {{prefix: /r}}}}]
              route: [{{destination: {{host: ratings}}}}]
"""
        )
        from meshsim.control.phases import iter_phases
        from meshsim.scenario.application import resolve_application

        app = resolve_application(scenario)
        plan = build_plan({s: {"v1": 1} for s in app.services}, 0, app=app)
        step = next(iter(iter_phases(scenario, plan.app)))
        cfg = compile_mesh(plan, step.state, Paths("/xds"))["reviews-v1-0"]
        vhost = next(
            v for v in cfg.routes["outbound"]["virtual_hosts"] if v["name"].startswith("ratings")
        )
        paths[port] = [r["match"].get("prefix", "") for r in vhost["routes"]]
    assert paths == {9080: ["/r"], 9999: []}

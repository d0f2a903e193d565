"""Every compile is a consistent snapshot: each name one resource gives, another defines."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState, version_subsets
from meshsim.control.translate import SERVED_SECRETS, compile_snapshot
from meshsim.control.xds import (
    ROUTE_INBOUND,
    InconsistentSnapshot,
    Paths,
    Snapshot,
    route_clusters,
    route_config_names,
)
from meshsim.scenario.istio import parse_resource

SHOP = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
PROXY = "order-v1-0"


def vs(destinations: list[dict[str, Any]], mirror: dict[str, Any] | None = None) -> dict[str, Any]:
    http: dict[str, Any] = {"route": destinations}
    if mirror is not None:
        http["mirror"] = mirror
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "product"},
        "spec": {"hosts": ["product"], "http": [http]},
    }


def snapshot(*resources: dict[str, Any]) -> Snapshot:
    state = PolicyState.initial()
    state.apply([parse_resource(r) for r in resources])
    return compile_snapshot(build_plan(SHOP, ingress_port=0), state, Paths("/tmp/x"))


def test_a_compile_is_consistent_and_names_what_it_uses() -> None:
    snap = snapshot(
        version_subsets("product"),
        vs(
            [
                {"destination": {"host": "product", "subset": "v1"}, "weight": 50},
                {"destination": {"host": "product", "subset": "v2"}, "weight": 50},
            ],
            mirror={"host": "user"},
        ),
    )
    assert snap.problems() == [] and snap.unresolved == frozenset()
    order = snap.proxies[PROXY]
    assert sorted(route_config_names(order.listeners)) == ["inbound", "inbound", "outbound"]
    named = route_clusters(order.routes["outbound"])
    assert {
        "outbound|80|v1|product.default.svc.cluster.local",
        "outbound|80|v2|product.default.svc.cluster.local",
        "outbound|80||user.default.svc.cluster.local",
    } <= set(named)


def test_a_destination_the_mesh_lacks_is_unresolved_and_warned_not_an_error() -> None:
    # valid Istio: Envoy has no cluster and answers 503; the compiler says so
    snap = snapshot(vs([{"destination": {"host": "product", "subset": "v3"}}]))
    assert snap.unresolved == {"outbound|80|v3|product.default.svc.cluster.local"}
    assert any("subset 'v3'" in w for w in snap.proxies[PROXY].warnings)


def test_a_route_configuration_no_proxy_has_is_a_bug() -> None:
    snap = snapshot()
    del snap.proxies[PROXY].routes[ROUTE_INBOUND]
    with pytest.raises(InconsistentSnapshot, match="order-v1-0: a listener names route"):
        snap.consistent()


def test_a_cluster_a_route_names_and_no_one_defines_is_a_bug() -> None:
    snap = snapshot()
    cfg = snap.proxies[PROXY]
    cfg.clusters = [c for c in cfg.clusters if "|user." not in c["name"]]
    with pytest.raises(
        InconsistentSnapshot, match=re.escape("names 'outbound|80||user.default.svc.cluster.local'")
    ):
        snap.consistent()
    # the same name, known to be missing (a warned destination), is fine
    Snapshot(
        snap.proxies, SERVED_SECRETS, frozenset(["outbound|80||user.default.svc.cluster.local"])
    ).consistent()


def test_a_secret_sds_does_not_serve_is_a_bug() -> None:
    snap = snapshot()
    broken = copy.deepcopy(snap.proxies)
    for cluster in broken[PROXY].clusters:
        for match in cluster.get("transport_socket_matches", []):
            common = match["transport_socket"].get("typed_config", {}).get("common_tls_context")
            if common:
                common["tls_certificate_sds_secret_configs"][0]["name"] = "spiffe-default"
    with pytest.raises(InconsistentSnapshot, match="secret 'spiffe-default'"):
        Snapshot(broken, SERVED_SECRETS).consistent()

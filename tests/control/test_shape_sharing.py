"""A push compiles and serializes each distinct resource once: replicas of a
workload share their outbound clusters and routes (the same dicts, the same
packed protobuf), their own parts (inbound cluster, listeners, certificate)
still differ, and a change reaches only the proxies and types it changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.control.ads import AdsServer
from meshsim.control.ca import CertificateAuthority, workload_identity
from meshsim.control.encode import Encoded, compact
from meshsim.control.plan import build_plan
from meshsim.control.push import STEPS, ControlPlane
from meshsim.control.sds import SECRET_CERT, CertRotator
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.writer import ConfigWriter
from meshsim.control.xds import ROUTE_INBOUND, ROUTE_OUTBOUND, Paths
from meshsim.control.xds_proto import T_CLUSTER, T_LISTENER, T_ROUTE, T_SECRET
from meshsim.scenario.istio import parse_resource

SERVICES = {"user": {"v1": 1}, "product": {"v1": 3}, "order": {"v1": 1}, "shipping": {"v1": 1}}
PLAN = build_plan(SERVICES, ingress_port=0)  # compiling only: the ports are never bound
A, B = "product-v1-0", "product-v1-1"


def order_policy() -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "order-from-user", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "order"}},
            "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/user"]}}]}],
        },
    }


def test_replicas_share_compiled_resources_and_keep_their_own() -> None:
    configs = compile_mesh(PLAN, PolicyState.initial(PLAN.app), Paths("/tmp/meshsim-test/xds"))
    a, b = configs[A], configs[B]
    inbound = {c["name"] for c in a.clusters if c["name"].startswith("inbound|")}
    shared = [c for c in a.clusters if c["name"] not in inbound]
    assert shared and all(any(c is d for d in b.clusters) for c in shared)
    # the outbound routes: one dict per calling service; another service has its own
    assert a.routes[ROUTE_OUTBOUND] is b.routes[ROUTE_OUTBOUND]
    assert a.routes[ROUTE_OUTBOUND] is not configs["order-v1-0"].routes[ROUTE_OUTBOUND]
    # each replica's own: its inbound cluster (its app's port), listeners, inbound routes
    own = [c for c in a.clusters if c["name"] in inbound]
    theirs = [c for c in b.clusters if c["name"] in inbound]
    assert compact(own) != compact(theirs)
    assert compact(a.listeners) != compact(b.listeners)
    assert compact(a.routes[ROUTE_INBOUND]) != compact(b.routes[ROUTE_INBOUND])
    # the proxies' lists are their own: adding to one leaves the others alone
    a.clusters.append({"name": "extra"})
    assert all(c["name"] != "extra" for c in b.clusters)


def test_replicas_share_packed_protobuf_and_differ_in_their_certificate(
    tmp_path: Path,
) -> None:
    configs = compile_mesh(PLAN, PolicyState.initial(PLAN.app), Paths(str(tmp_path)))
    ads = AdsServer([A, B])
    encoded = Encoded()
    for name in (A, B):
        for type_url, resources in STEPS:
            assert ads.set_resources(name, type_url, resources(configs[name]), encoded)
    pa, pb = ads.proxies[A].resources, ads.proxies[B].resources
    outbound = next(n for n in pa[T_CLUSTER] if n.startswith("outbound|"))
    assert pa[T_CLUSTER][outbound] is pb[T_CLUSTER][outbound]
    assert pa[T_ROUTE][ROUTE_OUTBOUND] is pb[T_ROUTE][ROUTE_OUTBOUND]
    assert pa[T_LISTENER] != pb[T_LISTENER]
    identities = {p: workload_identity("product") for p in (A, B)}
    CertRotator(CertificateAuthority.generate(), ads, identities, tmp_path).issue_all()
    secrets = ads.proxies[A].resources[T_SECRET], ads.proxies[B].resources[T_SECRET]
    assert secrets[0][SECRET_CERT].value != secrets[1][SECRET_CERT].value


async def test_a_change_to_one_service_moves_only_its_proxies_routes(tmp_path: Path) -> None:
    cp = ControlPlane(PLAN, ConfigWriter(tmp_path / "xds"))
    await cp.serve("127.0.0.1", "127.0.0.1")
    try:
        cp.write_initial()
        await cp.recorded()
        files = sorted((tmp_path / "xds").glob("*/[clr]ds*.json"))
        written = {f: f.read_text() for f in files}
        before = {p: {t: cp.ads.version(p, t) for t, _ in STEPS} for p in PLAN.proxies}
        unchanged = await cp.push()
        assert unchanged.changed == []  # nothing new: nobody gets anything
        cp.state.apply([parse_resource(order_policy())])
        result = await cp.push()
        after = {p: {t: cp.ads.version(p, t) for t, _ in STEPS} for p in PLAN.proxies}
    finally:
        await cp.close()
    assert result.changed == ["order-v1-0"]
    moved = {(p, t) for p in PLAN.proxies for t, _ in STEPS if after[p][t] != before[p][t]}
    assert moved == {("order-v1-0", T_ROUTE)}  # its inbound RBAC: no CDS, no LDS
    # the record for `meshsim config`: only that file rewritten, with what was served
    rewritten = [f for f in files if f.read_text() != written[f]]
    assert [f.relative_to(tmp_path / "xds").as_posix() for f in rewritten] == [
        "order-v1-0/rds_inbound.json"
    ]
    record = json.loads(rewritten[0].read_text())
    assert record["resources"] == [cp.configs["order-v1-0"].routes[ROUTE_INBOUND]]

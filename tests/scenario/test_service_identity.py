"""A service's port, Service port, namespace and service account: what a
Kubernetes manifest says of a workload, carried to the pods and the control plane."""

from __future__ import annotations

from pathlib import Path

from meshsim.control.plan import MeshPlan, build_plan
from meshsim.control.security import identities, workloads
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.xds import Paths
from meshsim.runtime import pods
from meshsim.scenario import load_scenario_text, resolve_application, resolve_mesh

SCENARIO = """\
name: ids
mesh:
  services:
    users:
      image: acme/users:1
      port: 8000
      service_port: 8080
      service_account: users-sa
      namespace: shop
      versions: {v1: {}}
    front:
      image: acme/front:1
      expose: true
load: {users: 1, requests: [{name: home, path: /}]}
phases: [{name: a, duration: 5s}]
"""


def _plan() -> MeshPlan:
    scenario = load_scenario_text(SCENARIO)
    return build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))


def test_identity_and_namespace_follow_the_service_account() -> None:
    plan = _plan()
    ids = identities(plan)
    assert ids["users-v1-0"] == "spiffe://cluster.local/ns/shop/sa/users-sa"
    assert ids["front-v1-0"] == "spiffe://cluster.local/ns/default/sa/front"
    assert workloads(plan)["users-v1-0"].namespace == "shop"
    again = MeshPlan.from_dict(plan.to_dict())
    assert again.app == plan.app


def test_the_pod_runs_the_app_on_its_own_port() -> None:
    plan = _plan()
    docker = pods.pod_plan(
        plan, {i.name: pods.PodAddress("172.18.0.9", {}) for i in plan.instances}
    )
    assert docker.instance("users-v1-0").app_port == 8000
    assert docker.instance("front-v1-0").app_port == pods.APP_PORT


def test_callers_may_name_the_service_port_and_namespace(tmp_path: Path) -> None:
    plan = _plan()
    configs = compile_mesh(plan, PolicyState.initial(plan.app), Paths(str(tmp_path)))
    routes = configs["front-v1-0"].routes
    domains = [
        d for rc in routes.values() for vh in rc.get("virtual_hosts", []) for d in vh["domains"]
    ]
    assert "users:8080" in domains and "users:80" in domains
    assert "users.shop.svc.cluster.local:8080" in domains
    # Auto mTLS checks the callee's identity from its service account.
    text = str(configs["front-v1-0"].clusters)
    assert "spiffe://cluster.local/ns/shop/sa/users-sa" in text

"""What the library's security and fault scenarios mean for the dashboard's edges."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from meshsim.control.plan import MeshPlan
from meshsim.dashboard.policies import phase_policies
from meshsim.scenario.loader import load_scenario, load_scenario_text

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> MeshPlan:
    """The shop's plan of a real run (the report's instance-crash fixture)."""
    where = tmp_path_factory.mktemp("run")
    fixture = Path(__file__).parents[1] / "report" / "fixtures" / "instance-crash.tar.xz"
    shutil.unpack_archive(fixture, where)
    return MeshPlan.from_dict(json.loads((where / "instance-crash" / "plan.json").read_text()))


def test_authorization_policies_guard_their_service(plan: MeshPlan) -> None:
    phases = phase_policies(load_scenario(SCENARIOS / "authz-lockdown.yaml"), plan)
    assert phases[0].authz["product"] == 0  # open
    assert phases[1].authz["product"] == 1  # lockdown: product-readers
    assert phases[1].authz["order"] == 0


def test_mtls_follows_peer_authentication_and_destination_rules(plan: MeshPlan) -> None:
    phases = phase_policies(load_scenario(SCENARIOS / "mtls-migration.yaml"), plan)
    # auto mTLS: every sidecar accepts mTLS unless its mode is DISABLE
    assert all(p.mtls["product"] for p in phases.values())


def test_a_virtual_service_fault_is_a_caller_side_abort(plan: MeshPlan) -> None:
    phases = phase_policies(load_scenario(SCENARIOS / "fault-abort.yaml"), plan)
    assert phases[0].faults == {}
    assert phases[1].faults == {"product": 503}
    assert phases[2].faults == {}


def test_plaintext_where_a_destination_rule_or_peer_authentication_disables_mtls(
    plan: MeshPlan,
) -> None:
    text = """name: plain
phases:
  - name: dr
    duration: 5s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: product}
        spec: {host: product, trafficPolicy: {tls: {mode: DISABLE}}}
  - name: pa
    duration: 5s
    remove: [DestinationRule/product]
    apply:
      - apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: user-plain}
        spec:
          selector: {matchLabels: {app: user}}
          mtls: {mode: DISABLE}
"""
    phases = phase_policies(load_scenario_text(text), plan)
    assert phases[0].mtls == {"order": True, "product": False, "shipping": True, "user": True}
    assert phases[1].mtls["product"] is True and phases[1].mtls["user"] is False

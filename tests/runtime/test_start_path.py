"""The start path's cheaper parts: the mesh record saved compactly reads back
the same, readiness polling slows with what is pending, and only the shop's
instances without an env of their own are forked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshsim.application import Application, AppService, ReadyRequest, VersionRun
from meshsim.control.plan import build_plan
from meshsim.mesh import POLL_MAX_S, POLL_S, poll_interval
from meshsim.runtime.local import LocalRuntime
from meshsim.runtime.registry import MeshRecord, ProcessRecord
from meshsim.shop import SHOP_APP


def test_a_saved_record_loads_back_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHSIM_HOME", str(tmp_path))
    record = MeshRecord("r1", str(tmp_path), "s", "local", os.getpid(), 1.5, 2.5, extra={"a": [1]})
    record.processes.append(
        ProcessRecord("product-v1-0/app", "app", 42, 3.25, "/l", "product-v1-0", {"admin": 9})
    )
    record.save()
    assert MeshRecord.load(record.path) == record


def test_readiness_is_polled_less_often_while_many_are_pending() -> None:
    assert poll_interval(0) == POLL_S
    assert poll_interval(1) < poll_interval(100) <= POLL_MAX_S
    assert poll_interval(10_000) == POLL_MAX_S


def test_only_the_shops_instances_without_their_own_env_are_forked(tmp_path: Path) -> None:
    record = MeshRecord("r", str(tmp_path), "s", "local", os.getpid(), 0.0, 0.0)
    runtime = LocalRuntime(tmp_path / "run", record)
    shop = build_plan({"product": {"v1": 1}, "user": {"v1": 1}}, ingress_port=0)
    runtime.app = shop.app
    assert {runtime._forkable(i) for i in shop.instances} == {
        "sample_services.product",
        "sample_services.user",
    }
    product = SHOP_APP.services["product"]
    own = Application(
        name="own",
        services={
            "product": AppService(
                "product",
                module=product.module,
                versions={"v1": VersionRun(env={"PYTHONHASHSEED": "0"})},
            ),
            "prices": AppService("prices", command=("python3", "prices.py")),
        },
        ready=ReadyRequest("GET", "/", None, 200),
    )
    runtime.app = own
    plan = build_plan({"product": {"v1": 1}, "prices": {"v1": 1}}, 0, own)
    assert [runtime._forkable(i) for i in plan.instances] == [None, None]

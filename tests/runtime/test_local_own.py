"""The local runtime's view of own services: command, working directory, environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshsim.control.plan import build_plan
from meshsim.errors import ScenarioError
from meshsim.runtime.local import LocalRuntime
from meshsim.runtime.registry import MeshRecord
from meshsim.scenario import load_scenario_text, resolve_application, resolve_mesh

SCENARIO = """\
name: own
mesh:
  services:
    prices:
      command: [python3, prices.py, --port, "{port}"]
      env: {LOG_LEVEL: info, PRICE_FACTOR: "1"}
      versions:
        v1: {}
        v2: {env: {PRICE_FACTOR: "2"}, command: [python3, prices_v2.py]}
load: {requests: [{name: r, path: /}]}
phases: [{name: a, duration: 1}]
"""


def _runtime(tmp_path: Path) -> LocalRuntime:
    record = MeshRecord("r", str(tmp_path), "own", "local", os.getpid(), 0.0, 0.0)
    return LocalRuntime(tmp_path / "run", record)


async def test_an_instance_gets_its_command_port_proxy_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corporate:3128")  # never passed on
    scenario = load_scenario_text(SCENARIO, base_dir=tmp_path)
    plan = build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))
    runtime = _runtime(tmp_path)
    await runtime.prepare(plan)
    v1, v2 = plan.instances
    service = plan.app.services["prices"]
    assert service.argv("v1", v1.app_port) == ["python3", "prices.py", "--port", str(v1.app_port)]
    assert service.argv("v2", v2.app_port) == ["python3", "prices_v2.py"]
    assert plan.app.workdir == str(tmp_path.resolve())
    env = runtime._app_env(v2)
    assert env["PORT"] == str(v2.app_port)
    assert env["HTTP_PROXY"] == env["http_proxy"] == f"http://127.0.0.1:{v2.outbound_port}"
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1"
    assert (env["SERVICE_NAME"], env["SERVICE_VERSION"], env["INSTANCE_NAME"]) == (
        "prices",
        "v2",
        "prices-v2-0",
    )
    assert (env["LOG_LEVEL"], env["PRICE_FACTOR"]) == ("info", "2")
    assert runtime._app_env(v1)["PRICE_FACTOR"] == "1"
    assert "HTTPS_PROXY" not in env


async def test_an_image_alone_is_bad_input_for_the_local_runtime(tmp_path: Path) -> None:
    text = SCENARIO.replace('      command: [python3, prices.py, --port, "{port}"]\n', "")
    text = text.replace(", command: [python3, prices_v2.py]", "").replace(
        "      env: {LOG", "      image: acme/prices:1\n      env: {LOG"
    )
    scenario = load_scenario_text(text)
    plan = build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))
    with pytest.raises(ScenarioError, match="prices v1 has no command.*--runtime docker"):
        await _runtime(tmp_path).prepare(plan)

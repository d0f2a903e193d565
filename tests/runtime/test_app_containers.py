"""App containers for a team's services on Docker: image, command, env, health
(pure specs; the live run is tests/live/test_docker_own.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from meshsim.control.plan import MeshPlan, build_plan
from meshsim.errors import ScenarioError
from meshsim.rundir import RunDir
from meshsim.runtime import apps, pods
from meshsim.runtime.pods import PodAddress, RunContext
from meshsim.runtime.probe import PROBE_CLUSTER
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh

OWN = """\
name: quotes
mesh:
  services:
    prices:
      image: acme/prices:1.4
      health: /ready
      env: {LOG_LEVEL: info}
      versions:
        v1: {env: {PRICES_VERSION: v1}}
        v2: {env: {PRICES_VERSION: v2}, image: acme/prices:1.5, command: ["node", "v2.js", "{port}"]}
    quotes:
      command: ["python3", "quotes.py", "--port", "{port}"]
      calls: [prices]
      expose: true
      health: null
load:
  users: 1
  requests: [{name: quote, path: /quotes/1}]
phases:
  - {name: a, duration: 5s}
"""


def _setup(tmp_path: Path, text: str = OWN) -> tuple[RunContext, MeshPlan]:
    (tmp_path / "own.yaml").write_text(text)
    scenario = load_scenario(tmp_path / "own.yaml")
    app = resolve_application(scenario)
    plan = build_plan(resolve_mesh(scenario), 0, app)
    addresses = {
        inst.name: PodAddress(f"172.18.0.{k + 2}", {"probe": 41000 + k})
        for k, inst in enumerate(plan.instances)
    }
    ctx = RunContext(
        run_id="r1",
        home="/h",
        app_image="meshsim-app:abc",
        sidecar_image="meshsim-sidecar:abc",
        files=RunDir(tmp_path),
        user=(1000, 1000),
        services=tuple(plan.services),
        app=app,
    )
    return ctx, pods.pod_plan(plan, addresses)


def test_an_image_runs_as_built_with_the_services_env(tmp_path: Path) -> None:
    ctx, plan = _setup(tmp_path)
    spec = apps.app_spec(ctx, plan.instance("prices-v1-0"))
    assert spec["image"] == "acme/prices:1.4"
    assert "command" not in spec and "entrypoint" not in spec  # the image's own
    assert "user" not in spec and "volumes" not in spec  # the image's user; logs followed
    env = spec["environment"]
    assert env["LOG_LEVEL"] == "info" and env["PRICES_VERSION"] == "v1"
    assert env["PORT"] == "8080" and env["SERVICE_NAME"] == "prices"
    assert env["HTTP_PROXY"] == f"http://{plan.instance('prices-v1-0').host}:15001"


def test_a_versions_image_replaces_the_services_and_its_command_is_for_local(
    tmp_path: Path,
) -> None:
    ctx, plan = _setup(tmp_path)
    spec = apps.app_spec(ctx, plan.instance("prices-v2-0"))
    assert spec["image"] == "acme/prices:1.5"
    # the command beside an image is the local runtime's: the image runs as built
    assert "command" not in spec and "entrypoint" not in spec
    assert spec["environment"]["PRICES_VERSION"] == "v2"


def test_entrypoint_and_args_replace_the_images_expanded_from_its_env(tmp_path: Path) -> None:
    """A Kubernetes container's `command` and `args` (mesh.manifests maps them
    here): Docker gets them as entrypoint and command, $(NAME) expanded from
    the container's environment, pod fields included, $$ kept as a $."""
    v3 = """        v3:
          image: acme/prices:2
          entrypoint: [/bin/prices, "--name=$(POD)"]
          args: [--ip, "$(IP)", --port, "$(PORT)", "$$(PORT)", "$(NOPE)"]
          env_fields: {POD: metadata.name, IP: status.podIP}
"""
    text = OWN.replace("    quotes:\n", v3 + "    quotes:\n")
    ctx, plan = _setup(tmp_path, text)
    inst = plan.instance("prices-v3-0")
    spec = apps.app_spec(ctx, inst)
    assert spec["image"] == "acme/prices:2"
    assert spec["entrypoint"] == ["/bin/prices", "--name=prices-v3-0"]
    assert spec["command"] == ["--ip", inst.host, "--port", "8080", "$(PORT)", "$(NOPE)"]
    assert spec["environment"]["POD"] == "prices-v3-0"
    assert spec["environment"]["IP"] == inst.host and inst.host.startswith("172.18.0.")  # the pod's


def test_a_command_runs_in_the_app_image_in_the_scenarios_directory(tmp_path: Path) -> None:
    ctx, plan = _setup(tmp_path)
    spec = apps.app_spec(ctx, plan.instance("quotes-v1-0"))
    workdir = str(tmp_path.resolve())
    assert spec["image"] == "meshsim-app:abc"
    assert spec["command"][-4:] == ["python3", "quotes.py", "--port", "8080"]
    assert spec["working_dir"] == workdir
    assert spec["volumes"][workdir] == {"bind": workdir, "mode": "rw"}
    assert spec["user"] == "1000:1000"
    assert spec["environment"]["MESHSIM_LOG"].endswith("quotes-v1-0.app.log")


def test_the_sidecars_probe_listener_checks_each_services_health_path(tmp_path: Path) -> None:
    ctx, plan = _setup(tmp_path)

    def probe(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        inst = plan.instance(name)
        cmd = pods.sidecar_spec(ctx, inst, {"static_resources": {}})["command"]
        boot = json.loads(cmd[cmd.index("--config-yaml") + 1])["static_resources"]
        (listener,) = [x for x in boot["listeners"] if x["name"] == "probe"]
        (cluster,) = [c for c in boot["clusters"] if c["name"] == PROBE_CLUSTER]
        return listener["filter_chains"][0]["filters"][0]["typed_config"], cluster

    hcm, cluster = probe("prices-v1-0")
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0]["match"] == {"path": "/ready"}
    assert routes[0]["route"]["cluster"] == PROBE_CLUSTER
    assert routes[-1]["direct_response"]["status"] == 404  # nothing else reaches the app
    assert "health_checks" not in cluster
    # the app on the pod's loopback, at its own port
    (ep,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert ep["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 8080,
    }
    hcm, cluster = probe("quotes-v1-0")  # no health path: Envoy checks the port
    assert "tcp_health_check" in cluster["health_checks"][0]
    (check,) = [f for f in hcm["http_filters"] if f["name"].endswith("health_check")]
    assert check["typed_config"]["cluster_min_healthy_percentages"] == {
        PROBE_CLUSTER: {"value": 100}
    }


def test_an_instance_with_neither_image_nor_command_is_bad_input(tmp_path: Path) -> None:
    ctx, plan = _setup(tmp_path)
    quotes = plan.app.services["quotes"]
    bare = replace(plan.app, services={**plan.app.services, "quotes": replace(quotes, command=())})
    with pytest.raises(ScenarioError, match="neither an image nor a command"):
        apps.check_runnable(replace(plan, app=bare))
    apps.check_runnable(plan)  # the scenario as written is fine


def test_shown_command_names_the_image() -> None:
    assert apps.shown_command("", "acme/p:1") == "image acme/p:1"
    assert apps.shown_command("python -m x", None) == "python -m x"

"""The Docker runtime's container specs and plan mapping: pure, no engine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from meshsim.control.envoy import socket_address
from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.writer import ads_bootstrap
from meshsim.control.xds import Paths
from meshsim.rundir import RunDir
from meshsim.runtime import apps, pods
from meshsim.runtime.pods import PodAddress, RunContext

# A bootstrap as the control plane writes it (meshsim.control.writer.ads_bootstrap).
BOOT = ads_bootstrap("p", "product", ("172.18.0.1", 4000), socket_address("0.0.0.0", 15000), "t")
SHOP = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}


def _ctx(tmp_path: Path) -> RunContext:
    return RunContext(
        run_id="r1",
        home="/home/x/.meshsim",
        app_image="meshsim-app:abc",
        sidecar_image="meshsim-sidecar:abc",
        files=RunDir(tmp_path / "run"),
        user=(1000, 1000),
    )


def _docker_plan() -> tuple:  # type: ignore[type-arg]
    plan = build_plan(SHOP, 0)
    pods_ = {
        inst.name: PodAddress(f"172.18.0.{k + 2}", {"probe": 40000 + 4 * k, "inbound": 40001 + 4 * k,
                                                   "outbound": 40002 + 4 * k, "admin": 40003 + 4 * k})
        for k, inst in enumerate(plan.instances)
    }  # fmt: skip
    return plan, pods.pod_plan(plan, pods_)


def _all_specs(tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    ctx = _ctx(tmp_path)
    _, plan = _docker_plan()
    specs = [pods.ingress_spec(ctx, plan.ingress, BOOT)]
    for inst in plan.instances:
        boot = BOOT
        specs += [
            pods.pod_spec(ctx, inst),
            pods.init_spec(ctx, inst.name, inst.host),
            apps.app_spec(ctx, inst),
            pods.sidecar_spec(ctx, inst, boot),
        ]
    return specs


def test_every_container_and_the_network_carry_the_run_and_home_labels(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    for spec in _all_specs(tmp_path) + [pods.network_spec(ctx)]:
        assert spec["labels"][pods.LABEL_RUN] == "r1"
        assert spec["labels"][pods.LABEL_HOME] == "/home/x/.meshsim"
        assert spec["labels"][pods.LABEL_ROLE] in {
            "network", "pod", "init", "app", "sidecar", "ingress"
        }  # fmt: skip


def test_published_ports_bind_loopback_only(tmp_path: Path) -> None:
    published = [spec["ports"] for spec in _all_specs(tmp_path) if "ports" in spec]
    assert published
    for ports in published:
        for host, _port in ports.values():
            assert host == "127.0.0.1"


def test_app_and_sidecar_share_the_pause_containers_namespace(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _, plan = _docker_plan()
    inst = plan.instance("product-v2-0")
    pod = pods.pod_spec(ctx, inst)
    app = apps.app_spec(ctx, inst)
    side = pods.sidecar_spec(ctx, inst, BOOT)
    assert pod["name"] == "meshsim-r1-product-v2-0-pod"
    assert pod["network"] == ctx.network == "meshsim-r1"
    assert pod["command"] == ["sleep", "infinity"]
    for spec in (app, side):
        assert spec["network_mode"] == f"container:{pod['name']}"
        assert "ports" not in spec and "network" not in spec
    # the app reaches the mesh through its sidecar, by the standard proxy variable
    assert app["environment"]["HTTP_PROXY"] == f"http://{inst.host}:15001"
    assert app["environment"]["HOST"] == "0.0.0.0" and app["environment"]["PORT"] == "8080"
    assert app["user"] == "1000:1000"


def test_sidecar_runs_envoy_alone_on_its_bootstrap_given_inline(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _, plan = _docker_plan()
    inst = plan.instance("product-v2-0")
    spec = pods.sidecar_spec(ctx, inst, BOOT)
    assert spec["entrypoint"] == ["/usr/local/bin/envoy"]  # no agent: Envoy is PID 1
    cmd = spec["command"]

    def opt(name: str) -> str:
        return str(cmd[cmd.index(name) + 1])

    boot = json.loads(opt("--config-yaml"))  # no file crosses into the container
    assert boot["node"] == BOOT["node"]
    assert boot["dynamic_resources"] == BOOT["dynamic_resources"]  # ADS only
    assert [x["name"] for x in boot["static_resources"]["listeners"]] == ["probe"]
    assert boot["static_resources"]["listeners"][0]["address"]["socket_address"] == {
        "address": "0.0.0.0",
        "port_value": 15020,
    }
    assert opt("--log-path") == str(ctx.files.envoy_log(inst.name))
    # Envoy runs as you, in the proxy group, which the capture rules exempt
    assert spec["user"] == "1000:1337"
    assert "environment" not in spec  # no token to hand over: the bootstrap has it
    # the run's logs are mounted at the same path, so Envoy's access logs land there
    logs = str(ctx.logs)
    assert spec["volumes"] == {logs: {"bind": logs, "mode": "rw"}}
    gateway = pods.ingress_spec(ctx, plan.ingress, BOOT)
    assert gateway["user"] == "1000:1000" and gateway["entrypoint"] == spec["entrypoint"]
    assert json.loads(gateway["command"][1]) == BOOT  # the ingress has no app to probe


def test_pod_plan_gives_fixed_pod_ports_and_keeps_names(tmp_path: Path) -> None:
    local, plan = _docker_plan()
    assert [i.name for i in plan.instances] == [i.name for i in local.instances]
    for k, inst in enumerate(plan.instances):
        assert (inst.app_port, inst.inbound_port, inst.outbound_port, inst.admin_port) == (
            8080,
            15006,
            15001,
            15000,
        )
        assert inst.host == f"172.18.0.{k + 2}"
        assert inst.admin_address == ("127.0.0.1", 40003 + 4 * k)
        assert inst.app_address == ("127.0.0.1", 40000 + 4 * k)
    g = plan.ingress
    assert (g.host, g.port, g.admin_port) == ("0.0.0.0", 8080, 15000)
    assert g.url == f"http://127.0.0.1:{local.ingress.port}"
    assert plan.admin_address(g.name) == ("127.0.0.1", local.ingress.admin_port)


def test_local_plans_are_unchanged_by_the_new_fields() -> None:
    plan = build_plan(SHOP, 0)
    inst = plan.instances[0]
    assert inst.admin_address == ("127.0.0.1", inst.admin_port)
    assert inst.app_address == (inst.host, inst.app_port)
    assert plan.ingress.url == f"http://127.0.0.1:{plan.ingress.port}"
    assert type(plan).from_dict(plan.to_dict()) == plan


def test_peers_are_addressed_by_pod_ip_and_listeners_bind_the_pod(tmp_path: Path) -> None:
    _, plan = _docker_plan()
    configs = compile_mesh(plan, PolicyState.initial(), Paths(str(tmp_path / "xds")))
    order = configs["order-v1-0"]
    product = next(c for c in order.clusters if c["name"].startswith("outbound|80||product"))
    endpoints = {
        (lb["endpoint"]["address"]["socket_address"]["address"],
         lb["endpoint"]["address"]["socket_address"]["port_value"])
        for group in product["load_assignment"]["endpoints"]
        for lb in group["lb_endpoints"]
    }  # fmt: skip
    wanted = {(i.host, 15006) for i in plan.of_service("product")}
    assert endpoints == wanted
    binds = {lst["name"]: lst["address"]["socket_address"] for lst in order.listeners}
    pod_ip = plan.instance("order-v1-0").host
    assert binds["virtualInbound"] == {"address": pod_ip, "port_value": 15006}
    ingress = configs[plan.ingress.name].listeners[0]["address"]["socket_address"]
    assert ingress == {"address": "0.0.0.0", "port_value": 8080}
    # the sidecar reaches its own app on loopback, inside the pod
    inbound = next(c for c in order.clusters if c["name"].startswith("inbound|"))
    lb = inbound["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert lb["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 8080,
    }


def test_pod_address_reads_docker_inspect() -> None:
    attrs = {
        "NetworkSettings": {
            "Networks": {"meshsim-r1": {"IPAddress": "172.18.0.9"}},
            "Ports": {
                "15020/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                "15000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49154"}],
                "15001/tcp": None,
            },
        }
    }
    addr = pods.pod_address(attrs, "meshsim-r1")
    assert addr == PodAddress("172.18.0.9", {"probe": 49153, "admin": 49154})


@pytest.mark.parametrize(
    "engine,env,expected",
    [
        ("Debian GNU/Linux 12 (bookworm)", {}, ("172.18.0.1", "172.18.0.1")),
        ("Docker Desktop", {}, ("127.0.0.1", "host.docker.internal")),
        (
            "Ubuntu",
            {pods.CONTROL_BIND_ENV: "0.0.0.0", pods.CONTROL_HOST_ENV: "h"},
            ("0.0.0.0", "h"),
        ),
    ],
)
def test_control_address(engine: str, env: dict[str, str], expected: tuple[str, str]) -> None:
    assert pods.control_address(engine, "172.18.0.1", env) == expected


def test_the_apps_port_is_not_published_the_probe_is(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _, plan = _docker_plan()
    pod = pods.pod_spec(ctx, plan.instance("product-v2-0"))
    assert "8080/tcp" not in pod["ports"]
    assert set(pod["ports"]) == {"15020/tcp", "15006/tcp", "15001/tcp", "15000/tcp"}


def test_every_service_name_resolves_in_every_pod(tmp_path: Path) -> None:
    ctx = replace(_ctx(tmp_path), services=("user", "product", "order", "shipping"))
    _, plan = _docker_plan()
    hosts = pods.pod_spec(ctx, plan.instance("order-v1-0"))["extra_hosts"]
    vips = {hosts[s] for s in ctx.services}
    assert len(vips) == 4  # one placeholder per service
    assert hosts["product"] == hosts["product.default.svc.cluster.local"]
    assert all(v.startswith("240.240.") for v in hosts.values())


def test_init_container_alone_has_net_admin_and_sets_the_pods_rules(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _, plan = _docker_plan()
    inst = plan.instance("product-v2-0")
    init = pods.init_spec(ctx, inst.name, inst.host)
    assert init["cap_add"] == ["NET_ADMIN"] and init["remove"] and not init["detach"]
    assert init["network_mode"] == "container:meshsim-r1-product-v2-0-pod"
    assert init["image"] == ctx.sidecar_image  # the image with iptables
    rules = init["environment"]["MESHSIM_RULES"]
    assert f"DNAT --to-destination {inst.host}:15001" in rules
    assert "--gid-owner 1337 -j RETURN" in rules
    assert "--dport 8080 -j REJECT --reject-with tcp-reset" in rules
    others = [s for s in _all_specs(tmp_path) if s["labels"][pods.LABEL_ROLE] != "init"]
    assert others and not any(s.get("cap_add") for s in others)

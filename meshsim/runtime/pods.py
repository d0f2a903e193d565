"""Pods on Docker, as data: pure functions from the mesh plan to the arguments
of the Docker API (`client.containers.run(**spec)`), and from the addresses
Docker gave the pods back to the plan. Nothing here talks to Docker.

A pod is three containers, as on Kubernetes:

- `<instance>-pod`: holds the pod's network namespace and does nothing else
  (`sleep infinity`, Kubernetes' pause container). It joins the run network,
  gets the pod's IP and publishes the pod's ports on 127.0.0.1.
- `<instance>-app`: the sample service, in the pod's namespace
  (`network_mode: container:<instance>-pod`).
- `<instance>-sidecar`: Envoy, in the same namespace (no agent: Envoy starts
  on its bootstrap, given on its command line, and takes everything else over
  ADS from the control plane on the host).

Why a pause container rather than the sidecar joining the app's namespace:
a network namespace belongs to the container that created it. Were it the
app's, a chaos `kill` would take the pod's IP away with the app (callers would
see connections time out instead of being refused), and a `restart` would give
the app a new namespace while the sidecar stayed in the old, empty one until it
was restarted too. With a pause container the app can be killed, paused and
restarted while the pod's IP and its sidecar stay, as on a cluster.

Inside every pod the ports are the same (Istio's): app 8080, inbound 15006,
outbound 15001, Envoy admin 15000, the probe 15020 (meshsim/runtime/probe.py). Peers
address each other by pod IP.

Before the app starts, a short-lived init container (the pod's only one with
NET_ADMIN) sets the pod's iptables rules (meshsim/runtime/capture.py): the
app's outbound TCP goes to the sidecar, and the app's port answers only from
inside the pod. So the app's port is not published; meshsim's readiness
checks reach the app's health path through the sidecar's probe port, as a
kubelet's probes reach an Istio pod through the proxy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from meshsim.application import Application
from meshsim.control.plan import Ingress, Instance, MeshPlan
from meshsim.rundir import RunDir
from meshsim.runtime import capture
from meshsim.runtime.commands import ENVOY_FLAGS
from meshsim.runtime.dockerhost import VM_ENGINES
from meshsim.runtime.probe import PROBE_PORT, with_probe
from meshsim.shop import SHOP_APP

APP_PORT = 8080
INBOUND_PORT = 15006
OUTBOUND_PORT = 15001
ADMIN_PORT = 15000
INGRESS_PORT = 8080

LABEL_RUN = "meshsim.run"
LABEL_HOME = "meshsim.home"
LABEL_ROLE = "meshsim.role"  # network | pod | init | app | sidecar | ingress
LABEL_INSTANCE = "meshsim.instance"

ENVOY = "/usr/local/bin/envoy"  # where the sidecar image has it
# Published on 127.0.0.1 for meshsim's own process. Not the app's port: the
# app is reached from outside the pod only through its sidecar.
POD_PORTS = {
    "probe": PROBE_PORT,
    "inbound": INBOUND_PORT,
    "outbound": OUTBOUND_PORT,
    "admin": ADMIN_PORT,
}

CONTROL_BIND_ENV = "MESHSIM_CONTROL_BIND"
CONTROL_HOST_ENV = "MESHSIM_CONTROL_HOST"


@dataclass(frozen=True)
class RunContext:
    """What every container of one run shares."""

    run_id: str
    home: str  # $MESHSIM_HOME: `down` and leftover cleanup touch only their own home's runs
    app_image: str
    sidecar_image: str
    files: RunDir  # the run directory (absolute); its logs/ is bind-mounted at the same path
    user: tuple[int, int] | None = None  # run apps and Envoy as this uid:gid
    services: tuple[str, ...] = ()  # every service: its names resolve in each pod
    app: Application = SHOP_APP  # how each service runs, and its health path

    @property
    def logs(self) -> Path:
        return self.files.logs

    @property
    def network(self) -> str:
        return f"meshsim-{self.run_id}"


@dataclass(frozen=True)
class PodAddress:
    """What Docker gave a pod: its IP on the run network and its published ports."""

    ip: str
    published: dict[str, int]  # probe | inbound | outbound | admin -> host port


def labels(ctx: RunContext, role: str, instance: str = "") -> dict[str, str]:
    out = {LABEL_RUN: ctx.run_id, LABEL_HOME: ctx.home, LABEL_ROLE: role}
    if instance:
        out[LABEL_INSTANCE] = instance
    return out


def container_name(ctx: RunContext, instance: str, role: str) -> str:
    return f"meshsim-{ctx.run_id}-{instance}-{role}"


def network_spec(ctx: RunContext) -> dict[str, Any]:
    return {
        "name": ctx.network,
        "driver": "bridge",
        "labels": labels(ctx, "network"),
        "check_duplicate": True,
    }


def logs_volume(ctx: RunContext) -> dict[str, dict[str, str]]:
    # Same path inside as outside: the access logs the control plane asks
    # Envoy to write (run_dir/logs/...) land where the report reads them.
    return {str(ctx.logs): {"bind": str(ctx.logs), "mode": "rw"}}


def user_spec(ctx: RunContext) -> str | None:
    return f"{ctx.user[0]}:{ctx.user[1]}" if ctx.user else None


def pod_spec(ctx: RunContext, inst: Instance) -> dict[str, Any]:
    """The pause container that owns the pod's network namespace."""
    return {
        "image": ctx.app_image,
        "command": ["sleep", "infinity"],
        "name": container_name(ctx, inst.name, "pod"),
        "hostname": inst.name,
        "detach": True,
        "network": ctx.network,
        "ports": {f"{port}/tcp": ("127.0.0.1", None) for port in POD_PORTS.values()},
        # `http://prices/` from an app that ignores the proxy variables: the
        # name resolves to a placeholder the pod's rules send to the sidecar.
        # (Containers joining this namespace share its /etc/hosts.)
        "extra_hosts": capture.service_hosts(ctx.services),
        "labels": labels(ctx, "pod", inst.name),
    }


def app_port(app: Application, service: str) -> int:
    """The port the service's app listens on in its pod: the service's `port`
    (a Deployment's containerPort), else 8080."""
    own = app.services.get(service)
    return own.port if own is not None and own.port else APP_PORT


def init_spec(ctx: RunContext, instance: str, pod_ip: str, port: int = APP_PORT) -> dict[str, Any]:
    """The pod's init container: sets the capture rules in the pod's namespace
    (the only container of the pod with NET_ADMIN) and is removed at once. It
    runs from the sidecar image, which has iptables, as Istio's istio-init
    runs from the proxy image."""
    rules = capture.rules(pod_ip, OUTBOUND_PORT, port, capture.proxy_gid(ctx.user))
    return {
        "image": ctx.sidecar_image,
        "entrypoint": ["sh", "-c", capture.RESTORE_SCRIPT],
        "command": [],
        "name": container_name(ctx, instance, "init"),
        "network_mode": f"container:{container_name(ctx, instance, 'pod')}",
        "cap_add": ["NET_ADMIN"],
        "user": "0:0",
        "environment": {"MESHSIM_RULES": rules},
        "labels": labels(ctx, "init", instance),
        "detach": False,
        "remove": True,
        "stdout": False,
        "stderr": True,
    }


def envoy_command(ctx: RunContext, proxy: str, bootstrap: dict[str, Any]) -> list[str]:
    """Envoy's arguments in a container: the bootstrap inline (`--config-yaml`
    takes JSON, a subset of YAML), so no file crosses into the container, and
    Envoy's own log in the run's logs directory (bind-mounted at its path)."""
    config = json.dumps(bootstrap, separators=(",", ":"))
    log = str(ctx.files.envoy_log(proxy))
    return ["--config-yaml", config, *ENVOY_FLAGS, "--log-path", log]


def _user(ctx: RunContext, gid: int) -> str:
    """Envoy runs as your uid (its logs are yours) in group `gid`."""
    return f"{ctx.user[0]}:{gid}" if ctx.user else f"0:{gid}"


def sidecar_spec(ctx: RunContext, inst: Instance, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """The sidecar container: Envoy on the proxy's bootstrap (ADS to the
    control plane) plus the pod's probe listener (meshsim/runtime/probe.py).

    The sidecar runs in the proxy group, which the capture rules exempt."""
    service = ctx.app.services.get(inst.service)
    health = service.health if service is not None else "/healthz"
    boot = with_probe(bootstrap, health, app_port(ctx.app, inst.service))
    return {
        "image": ctx.sidecar_image,
        "entrypoint": [ENVOY],
        "command": envoy_command(ctx, inst.name, boot),
        "name": container_name(ctx, inst.name, "sidecar"),
        "user": _user(ctx, capture.proxy_gid(ctx.user)),
        "detach": True,
        "network_mode": f"container:{container_name(ctx, inst.name, 'pod')}",
        "volumes": logs_volume(ctx),
        "labels": labels(ctx, "sidecar", inst.name),
    }


def ingress_spec(ctx: RunContext, ingress: Ingress, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """The ingress gateway: one Envoy in its own container (as Istio's
    istio-ingressgateway pod), published on 127.0.0.1 at the plan's port."""
    return {
        "image": ctx.sidecar_image,
        "entrypoint": [ENVOY],
        "command": envoy_command(ctx, ingress.name, bootstrap),
        "name": container_name(ctx, ingress.name, "ingress"),
        "hostname": ingress.name,
        "user": _user(ctx, ctx.user[1] if ctx.user else 0),
        "detach": True,
        "network": ctx.network,
        "ports": {
            f"{ingress.port}/tcp": ("127.0.0.1", ingress.published_port),
            f"{ingress.admin_port}/tcp": ("127.0.0.1", ingress.published_admin_port),
        },
        "volumes": logs_volume(ctx),
        "labels": labels(ctx, "ingress", ingress.name),
    }


def pod_address(attrs: dict[str, Any], network: str) -> PodAddress:
    """A started pause container's IP and published ports, from `docker inspect`."""
    settings = attrs["NetworkSettings"]
    ip = settings["Networks"][network]["IPAddress"]
    ports = settings.get("Ports") or {}
    published = {}
    for kind, port in POD_PORTS.items():
        bindings = ports.get(f"{port}/tcp") or []
        if bindings:
            published[kind] = int(bindings[0]["HostPort"])
    return PodAddress(ip, published)


def pod_plan(plan: MeshPlan, pods: dict[str, PodAddress]) -> MeshPlan:
    """The plan as it runs on Docker: each instance at its pod IP with the
    pod's fixed ports, reached from the host through its published ports; the
    ingress listening on 8080 in its container, published at the plan's ports.

    >>> from meshsim.control.plan import build_plan
    >>> p = build_plan({"user": {"v1": 1}}, 0)
    >>> pods = {"user-v1-0": PodAddress("172.18.0.2", {"probe": 32768, "admin": 32769})}
    >>> i = pod_plan(p, pods).instance("user-v1-0")
    >>> (i.host, i.app_port, i.admin_port, i.admin_address)
    ('172.18.0.2', 8080, 15000, ('127.0.0.1', 32769))
    """
    instances = []
    for inst in plan.instances:
        pod = pods[inst.name]
        instances.append(
            replace(
                inst,
                host=pod.ip,
                app_port=app_port(plan.app, inst.service),
                inbound_port=INBOUND_PORT,
                outbound_port=OUTBOUND_PORT,
                admin_port=ADMIN_PORT,
                app_host="127.0.0.1",  # the sidecar reaches its app inside the pod
                # the app's health path, proxied by the sidecar's probe listener
                published_app_port=pod.published.get("probe", 0),
                published_inbound_port=pod.published.get("inbound", 0),
                published_outbound_port=pod.published.get("outbound", 0),
                published_admin_port=pod.published.get("admin", 0),
            )
        )
    g = plan.ingress
    ingress = replace(
        g,
        host="0.0.0.0",
        port=INGRESS_PORT,
        admin_port=ADMIN_PORT,
        published_port=g.published_port or g.port,
        published_admin_port=g.published_admin_port or g.admin_port,
    )
    return MeshPlan(instances, ingress, dict(plan.services), plan.app)


def control_address(
    engine_os: str, gateway: str, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Where the control plane's ADS server (and span collector) listens, and
    the host name the proxies use to reach it: (bind, advertise).

    - A Linux engine on this machine: the run network's gateway, an address of
      this host that only containers (and the host) reach.
    - A VM engine (Docker Desktop, OrbStack, Colima: `dockerhost.vm_engine`):
      containers run in a VM and reach the
      host's loopback as host.docker.internal, so the server stays on 127.0.0.1.
    - `$MESHSIM_CONTROL_BIND` / `$MESHSIM_CONTROL_HOST` override either.

    >>> control_address("Debian GNU/Linux 12 (bookworm)", "172.18.0.1", {})
    ('172.18.0.1', '172.18.0.1')
    >>> control_address("Docker Desktop", "172.18.0.1", {})
    ('127.0.0.1', 'host.docker.internal')
    """
    given: Mapping[str, str] = os.environ if env is None else env
    if any(vm.lower() in engine_os.lower() for vm in VM_ENGINES):
        bind, advertise = "127.0.0.1", "host.docker.internal"
    else:
        bind, advertise = gateway, gateway
    return given.get(CONTROL_BIND_ENV) or bind, given.get(CONTROL_HOST_ENV) or advertise

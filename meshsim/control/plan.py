"""The mesh plan: every instance and proxy with its ports.

A plan is data: which instances exist (service, version, index), which local
ports each app and its sidecar use, and where the ingress gateway listens. The
control plane turns a plan plus the policies in force into Envoy config; the
runtime turns it into processes.
"""

from __future__ import annotations

import random
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from meshsim.application import Application
from meshsim.errors import MeshError
from meshsim.shop import SHOP_APP, application_from_dict

INGRESS_NAME = "istio-ingressgateway"
DEFAULT_INGRESS_PORT = 8080


@dataclass(frozen=True)
class Instance:
    """One app instance with its sidecar, like a Kubernetes pod."""

    service: str
    version: str
    index: int
    app_port: int
    inbound_port: int
    outbound_port: int
    admin_port: int
    host: str = "127.0.0.1"
    # Ports published on 127.0.0.1 for meshsim's own process (control plane,
    # readiness checks, load) when `host` is a pod address it may not reach,
    # as in the Docker runtime. 0: not published; use `host` and the port itself.
    published_app_port: int = 0
    published_inbound_port: int = 0
    published_outbound_port: int = 0
    published_admin_port: int = 0
    # Where the sidecar reaches its app, when not at `host`: the Docker runtime's
    # sidecars reach the app on loopback inside the pod, so an app listening on
    # 127.0.0.1 (or 0.0.0.0) is reached there as locally. "": at `host`.
    app_host: str = ""

    @property
    def name(self) -> str:
        return f"{self.service}-{self.version}-{self.index}"

    def _reach(self, port: int, published: int) -> tuple[str, int]:
        return ("127.0.0.1", published) if published else (self.host, port)

    @property
    def app_target(self) -> tuple[str, int]:
        """Where the instance's sidecar sends the requests it lets in (host, port)."""
        return (self.app_host or self.host, self.app_port)

    @property
    def app_address(self) -> tuple[str, int]:
        """Where meshsim's process reaches the app (host, port)."""
        return self._reach(self.app_port, self.published_app_port)

    @property
    def inbound_address(self) -> tuple[str, int]:
        return self._reach(self.inbound_port, self.published_inbound_port)

    @property
    def outbound_address(self) -> tuple[str, int]:
        return self._reach(self.outbound_port, self.published_outbound_port)

    @property
    def admin_address(self) -> tuple[str, int]:
        return self._reach(self.admin_port, self.published_admin_port)

    @property
    def labels(self) -> dict[str, str]:
        return {"app": self.service, "version": self.version}


@dataclass(frozen=True)
class Ingress:
    port: int
    admin_port: int
    host: str = "127.0.0.1"
    name: str = INGRESS_NAME
    # As for Instance: ports published on 127.0.0.1 (Docker); 0 = not published.
    published_port: int = 0
    published_admin_port: int = 0

    @property
    def url(self) -> str:
        """Where users and the load reach the gateway."""
        if self.published_port:
            return f"http://127.0.0.1:{self.published_port}"
        return f"http://{self.host}:{self.port}"

    @property
    def admin_address(self) -> tuple[str, int]:
        if self.published_admin_port:
            return ("127.0.0.1", self.published_admin_port)
        return (self.host, self.admin_port)


@dataclass
class MeshPlan:
    instances: list[Instance]
    ingress: Ingress
    services: dict[str, dict[str, int]] = field(default_factory=dict)
    # What runs: how each service starts, its readiness, calls and routes.
    app: Application = SHOP_APP

    def instance(self, name: str) -> Instance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)

    def of_service(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.service == service]

    def select(self, target: str) -> list[Instance]:
        """Instances addressed by `service`, `service:version` or an instance name."""
        if ":" in target:
            svc, ver = target.split(":", 1)
            return [i for i in self.instances if i.service == svc and i.version == ver]
        found = self.of_service(target)
        if found:
            return found
        return [i for i in self.instances if i.name == target]

    def admin_address(self, proxy: str) -> tuple[str, int]:
        """Where meshsim's process reaches `proxy`'s Envoy admin API (host, port)."""
        if proxy == self.ingress.name:
            return self.ingress.admin_address
        return self.instance(proxy).admin_address

    @property
    def proxies(self) -> list[str]:
        return [self.ingress.name] + [i.name for i in self.instances]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingress": asdict(self.ingress),
            "instances": [asdict(i) | {"name": i.name} for i in self.instances],
            "services": self.services,
            "app": self.app.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeshPlan:
        instances = []
        for raw in data["instances"]:
            raw = {k: v for k, v in raw.items() if k != "name"}
            instances.append(Instance(**raw))
        app = application_from_dict(data.get("app"))
        return cls(instances, Ingress(**data["ingress"]), data.get("services", {}), app)


# Where a plan's ports come from. A port the kernel hands out for bind(port 0)
# is in its ephemeral range, the same range it takes the source port of every
# outgoing connection from; between planning a port and the process binding it
# (a second or more, while Envoys and the control plane open connections), a
# connection can take it and the app fails with "address already in use" (seen
# in CI). So ports are picked below the ephemeral range: Linux's default starts
# at 32768, macOS's and Windows' at 49152 (the IANA range).
PLAN_PORTS = range(20000, 32768)
_LINUX_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_LINUX_EPHEMERAL.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports below the ephemeral range, in random order
    (so two meshes planned at once rarely try the same ones). Each is held
    bound until all are chosen, so none is handed out twice. Where that range
    is too small (an unusual ip_local_port_range), the kernel picks them."""
    pool = range(PLAN_PORTS.start, min(PLAN_PORTS.stop, _ephemeral_start()))
    socks: list[socket.socket] = []
    try:
        if len(pool) >= 4 * count:
            for port in random.sample(pool, len(pool)):
                if len(socks) == count:
                    break
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.bind((host, port))
                except OSError:
                    s.close()
                    continue
                socks.append(s)
        while len(socks) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on `port`. The bind keeps SO_REUSEADDR (a port left in
    TIME_WAIT by the last run is free); but macOS then lets 127.0.0.1:8080 bind
    over another server's *:8080, so a connect checks that nobody answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return not _answers(port, "127.0.0.1" if host == "0.0.0.0" else host)


def _answers(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def build_plan(
    services: dict[str, dict[str, int]],
    ingress_port: int | None = None,
    app: Application | None = None,
) -> MeshPlan:
    """Lay out instances and ports for `services` (service → version → replicas)
    of `app` (default: the sample shop).

    >>> plan = build_plan({"product": {"v1": 2}}, ingress_port=0)
    >>> [i.name for i in plan.instances]
    ['product-v1-0', 'product-v1-1']
    """
    layout = [
        (svc, ver, idx)
        for svc, versions in services.items()
        for ver, replicas in versions.items()
        for idx in range(replicas)
    ]
    ports = free_ports(4 * len(layout) + 2)
    it = iter(ports)
    instances = [
        Instance(svc, ver, idx, next(it), next(it), next(it), next(it)) for svc, ver, idx in layout
    ]
    admin = next(it)
    spare = next(it)
    if ingress_port is None:
        ingress_port = DEFAULT_INGRESS_PORT
    if ingress_port == 0:
        ingress_port = spare
    elif not port_is_free(ingress_port):
        raise MeshError(
            f"port {ingress_port} is already in use; stop what holds it, run `meshsim down`, "
            "or choose another with --ingress-port",
            component="ingress gateway",
        )
    return MeshPlan(instances, Ingress(ingress_port, admin), services, app or SHOP_APP)

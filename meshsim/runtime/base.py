"""The runtime interface: how instances become running things.

The local runtime starts processes; the Docker runtime starts containers.
The runner talks only to this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from meshsim.control.plan import Ingress, Instance, MeshPlan
from meshsim.events import RunEventHandler
from meshsim.scenario.model import Verb


@dataclass
class ComponentInfo:
    """One running thing: an app, a sidecar or the ingress gateway."""

    name: str  # e.g. "product-v1-0/app", "product-v1-0/sidecar", "istio-ingressgateway"
    kind: str  # app | sidecar | ingress
    instance: str
    pid: int | None
    log: Path
    state: str = "running"  # running | paused | killed | exited
    container: str | None = None  # the Docker runtime's container id (short)
    command: str | None = None  # an app's command line, as a person would type it


class Runtime(ABC):
    name = "abstract"
    # True when `Instance.app_address` is a probe that answers HTTP GET of the
    # service's health path on the app's behalf (Docker: the sidecar's probe listener,
    # the app's port being refused outside its pod), so a service without a
    # health path is probed with GET / rather than a bare connection.
    app_probe_http = False

    async def prepare(self, plan: MeshPlan, events: RunEventHandler | None = None) -> MeshPlan:
        """Give every instance and the ingress the addresses they run at, before
        any configuration is written. The Docker runtime builds its images if
        needed and creates the run network and each pod's network namespace
        here; the local runtime keeps the plan as it is."""
        return plan

    def callback_address(self) -> tuple[str, str]:
        """Where a server in meshsim's own process (the span collector) must
        listen for the proxies to reach it, and the address they use: (bind,
        reach). Loopback for local processes; the Docker runtime's differs."""
        return ("127.0.0.1", "127.0.0.1")

    def app_helpers(self) -> list[int]:
        """Pids of processes the runtime runs for the apps besides the
        components (the local fork server): their CPU is the apps' cost."""
        return []

    async def detach(self) -> None:
        """Let go of a mesh that stays running (`--keep`) without stopping it."""
        return None

    @abstractmethod
    async def start_instance(self, inst: Instance, bootstrap: Path) -> None:
        """Start an app instance and its sidecar (do not wait for readiness)."""

    @abstractmethod
    async def start_ingress(self, ingress: Ingress, bootstrap: Path) -> None: ...

    @abstractmethod
    async def kill(self, instance: str) -> None:
        """Kill an instance's app (it stays down until restarted)."""

    @abstractmethod
    async def pause(self, instance: str) -> None: ...

    @abstractmethod
    async def resume(self, instance: str) -> None: ...

    @abstractmethod
    async def restart(self, instance: str) -> None: ...

    async def app_identity(self, instance: str) -> str | None:
        """What tells one run of an instance's app from the next (its pid;
        the Docker runtime's container start time), so a restart can be seen
        to have happened. None when the app is not running."""
        for c in self.components():
            if c.instance == instance and c.kind == "app" and c.pid is not None:
                return str(c.pid)
        return None

    @abstractmethod
    async def stop_all(self, timeout: float = 5.0) -> None:
        """Stop everything this runtime started; never raises for a dead child."""

    @abstractmethod
    def components(self) -> list[ComponentInfo]: ...

    @abstractmethod
    def died(self) -> list[ComponentInfo]:
        """Components that exited on their own (not through a chaos action)."""


# Each chaos action a scenario may name (`actions: [{kill: ...}]`), as the
# runtime call that does it: a table rather than getattr(runtime, verb), so a
# verb without a runtime method is a type error, not an AttributeError mid-run.
CHAOS_ACTIONS: dict[Verb, Callable[[Runtime, str], Awaitable[None]]] = {
    "kill": lambda runtime, instance: runtime.kill(instance),
    "pause": lambda runtime, instance: runtime.pause(instance),
    "resume": lambda runtime, instance: runtime.resume(instance),
    "restart": lambda runtime, instance: runtime.restart(instance),
}

"""The local runtime: each app instance and each Envoy is a process on loopback.

The sample shop's instances are forked from a server that imported their
modules once (`meshsim.runtime.local_fork`): still one process each, with its
own pid, session and log. A team's own commands and every Envoy are exec'ed.

Every child starts in its own session, so a Ctrl-C in the terminal reaches
meshsim alone and meshsim decides the order of shutdown. Each child is
written to the mesh record (pid + start time) as soon as it starts (an
instance's sidecar and app in one save), so a run killed with SIGKILL can be
cleaned up by `meshsim down`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from meshsim.application import Application
from meshsim.control.plan import Ingress, Instance, MeshPlan
from meshsim.errors import MeshError, ScenarioError
from meshsim.events import RunEventHandler
from meshsim.rundir import RunDir
from meshsim.runtime.base import ComponentInfo, Runtime
from meshsim.runtime.commands import PROXY_ENV, envoy_argv, mesh_env

# Where Envoy's binary was found before commands.py existed: still importable from here.
from meshsim.runtime.commands import envoy_binary as envoy_binary
from meshsim.runtime.local_fork import ForkedProcess, ForkServer, fork_server_enabled
from meshsim.runtime.registry import MeshRecord, ProcessRecord, process_create_time, terminate
from meshsim.shop import SHOP_APP


@dataclass
class _Child:
    info: ComponentInfo
    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    proc: asyncio.subprocess.Process | ForkedProcess | None = None
    # The shop's module, when the fork server may start this child.
    module: str | None = None
    expected_exit: bool = False


class LocalRuntime(Runtime):
    name = "local"

    def __init__(self, run_dir: Path, record: MeshRecord) -> None:
        self.run_dir = run_dir
        self.files = RunDir(run_dir)
        self.logs = self.files.logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.record = record
        self._children: dict[str, _Child] = {}
        self.app: Application = SHOP_APP
        self._forks: ForkServer | None = None

    async def prepare(self, plan: MeshPlan, events: RunEventHandler | None = None) -> MeshPlan:
        """Every instance needs a command here (an `image` alone is for Docker)."""
        self.app = plan.app
        for inst in plan.instances:
            service = self.app.services.get(inst.service)
            if service is None or not service.argv(inst.version, inst.app_port):
                raise ScenarioError(
                    f"{inst.service} {inst.version} has no command; the local runtime runs "
                    "a command (an image alone needs --runtime docker)",
                    field=f"mesh.services.{inst.service}.command",
                )
        modules = sorted({m for i in plan.instances if (m := self._forkable(i)) is not None})
        if modules and fork_server_enabled():
            # It imports while the control plane issues certificates and compiles.
            self._forks = await ForkServer.start(
                modules, self._base_env(), self.logs / "fork-server.log"
            )
        return plan

    def _forkable(self, inst: Instance) -> str | None:
        """The shop's module of `inst` when a fork of the server is the same as
        `python -m module`: no env of its own (PYTHON* variables act at the
        interpreter's start only, so those instances are exec'ed)."""
        service = self.app.services.get(inst.service)
        if (
            service is None
            or service.module is None
            or service.instance_env(inst.version, inst.name, inst.host)
        ):
            return None
        return service.module

    @staticmethod
    def _base_env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in PROXY_ENV}

    # ------------------------------------------------------------ processes

    async def _spawn(self, child: _Child, save: bool = True) -> None:
        if child.module is not None and self._forks is not None and self._forks.alive:
            child.proc = await self._forks.spawn(child.module, child.env, child.cwd, child.info.log)
        else:
            child.proc = await self._exec(child)
        child.info.pid = child.proc.pid
        child.info.state = "running"
        child.expected_exit = False
        self._register(child, save)

    async def _exec(self, child: _Child) -> asyncio.subprocess.Process:
        log = open(child.info.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            return await asyncio.create_subprocess_exec(
                *child.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=child.env,
                cwd=child.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if isinstance(exc, FileNotFoundError) and child.cwd and not Path(child.cwd).is_dir():
                reason = f"no such directory {child.cwd}"
            elif isinstance(exc, FileNotFoundError):
                reason = f"command not found: {child.argv[0]!r} (is it installed and on PATH?)"
            shown = f" (command: {child.info.command}, run in {child.cwd or os.getcwd()})"
            raise MeshError(
                f"could not start: {reason}{shown if child.info.command else ''}",
                component=child.info.name,
                log=child.info.log,
            ) from exc
        finally:
            log.close()

    def _register(self, child: _Child, save: bool) -> None:
        assert child.proc is not None
        self.record.processes = [p for p in self.record.processes if p.name != child.info.name]
        self.record.processes.append(
            ProcessRecord(
                name=child.info.name,
                kind=child.info.kind,
                pid=child.proc.pid,
                create_time=process_create_time(child.proc.pid),
                log=str(child.info.log),
                instance=child.info.instance,
            )
        )
        if save:
            self.record.save()

    def _app_env(self, inst: Instance) -> dict[str, str]:
        """The parent's environment without its proxies, the service's own `env`
        (its version's on top), then what the mesh decides: the port, the names,
        and the sidecar as the HTTP proxy."""
        env = self._base_env()
        # The commands of meshsim's own environment (uvicorn beside this python)
        # are found after the user's PATH, even when it is not activated.
        here = str(Path(sys.executable).parent)
        path = env.get("PATH", os.defpath).split(os.pathsep)
        if here not in path:
            env["PATH"] = os.pathsep.join([*path, here])
        service = self.app.services.get(inst.service)
        if service is not None:
            env.update(service.instance_env(inst.version, inst.name, inst.host))
        env.update(mesh_env(inst, listen=inst.host))
        return env

    async def start_instance(self, inst: Instance, bootstrap: Path) -> None:
        service = self.app.services[inst.service]
        app = _Child(
            ComponentInfo(
                f"{inst.name}/app",
                "app",
                inst.name,
                None,
                self.files.app_log(inst.name),
                command=service.shown_command(inst.version),
            ),
            service.argv(inst.version, inst.app_port, sys.executable),
            self._app_env(inst),
            self.app.workdir,
            module=self._forkable(inst),
        )
        sidecar = _Child(
            ComponentInfo(
                f"{inst.name}/sidecar",
                "sidecar",
                inst.name,
                None,
                self.files.envoy_log(inst.name),
            ),
            envoy_argv(bootstrap),
            self._base_env(),
        )
        self._children[app.info.name] = app
        self._children[sidecar.info.name] = sidecar
        try:
            await self._spawn(sidecar, save=False)
            await self._spawn(app, save=False)
        finally:
            self.record.save()

    async def start_ingress(self, ingress: Ingress, bootstrap: Path) -> None:
        child = _Child(
            ComponentInfo(
                ingress.name, "ingress", ingress.name, None, self.files.envoy_log(ingress.name)
            ),
            envoy_argv(bootstrap),
            self._base_env(),
        )
        self._children[child.info.name] = child
        await self._spawn(child)

    # ---------------------------------------------------------------- chaos

    def _app(self, instance: str) -> _Child:
        child = self._children.get(f"{instance}/app")
        if child is None:
            raise MeshError(f"no such instance {instance!r}", component="runtime")
        return child

    async def kill(self, instance: str) -> None:
        child = self._app(instance)
        child.expected_exit = True
        if child.proc and child.proc.returncode is None:
            os.killpg(child.proc.pid, signal.SIGKILL)
            await child.proc.wait()
        child.info.state = "killed"

    async def pause(self, instance: str) -> None:
        child = self._app(instance)
        if child.proc and child.proc.returncode is None:
            os.killpg(child.proc.pid, signal.SIGSTOP)
            child.info.state = "paused"

    async def resume(self, instance: str) -> None:
        child = self._app(instance)
        if child.proc and child.proc.returncode is None:
            os.killpg(child.proc.pid, signal.SIGCONT)
            child.info.state = "running"

    async def restart(self, instance: str) -> None:
        child = self._app(instance)
        if child.proc and child.proc.returncode is None:
            await self.kill(instance)
        await self._spawn(child)

    async def app_identity(self, instance: str) -> str | None:
        child = self._app(instance)
        if child.proc is None or child.proc.returncode is not None:
            return None
        return str(child.proc.pid)

    # -------------------------------------------------------------- status

    def components(self) -> list[ComponentInfo]:
        for child in self._children.values():
            if child.proc and child.proc.returncode is not None and child.info.state == "running":
                child.info.state = "exited"
        return [c.info for c in self._children.values()]

    def died(self) -> list[ComponentInfo]:
        return [
            c.info
            for c in self._children.values()
            if c.proc is not None and c.proc.returncode is not None and not c.expected_exit
        ]

    async def stop_all(self, timeout: float = 5.0) -> None:
        for child in self._children.values():
            child.expected_exit = True
        records = list(self.record.processes)
        await asyncio.get_running_loop().run_in_executor(None, terminate, records, timeout)
        for child in self._children.values():
            if child.proc is not None and child.proc.returncode is None:
                try:
                    await asyncio.wait_for(child.proc.wait(), 1.0)
                except TimeoutError:
                    pass
            child.info.state = "exited"
        await self._close_forks()

    def app_helpers(self) -> list[int]:
        return [self._forks.pid] if self._forks is not None else []

    async def detach(self) -> None:
        await self._close_forks()

    async def _close_forks(self) -> None:
        if self._forks is not None:
            await self._forks.close()
            self._forks = None

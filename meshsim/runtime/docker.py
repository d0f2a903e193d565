"""The Docker runtime: each instance is a pod (a pause container holding the
network namespace, the app, and the Envoy sidecar), the ingress
gateway is a container of its own, and all of them sit on a network made for
the run. See meshsim/runtime/pods.py for the containers' specs and
docs/docker.md for the whole picture.

Config delivery: one way, as for the local runtime. Each Envoy starts on its
bootstrap (given inline on its command line, no file crosses into the
container) and opens one ADS stream to the control plane on this host, at the
address containers reach it by (`pods.control_address`: the run network's
gateway on Linux, host.docker.internal on a VM engine). No agent, no file
watched, no bind mount but the logs directory.

Nothing is left behind: every container and network carries the labels
`meshsim.run` and `meshsim.home`; `stop_all` removes the run's, and
`engine.remove_run` / `engine.sweep` (for `meshsim down` and the next `meshsim up`)
remove those of a run whose meshsim was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshsim.control.plan import Ingress, Instance, MeshPlan
from meshsim.control.writer import ConfigWriter
from meshsim.errors import MeshError
from meshsim.events import RunEventHandler
from meshsim.rundir import RunDir
from meshsim.runtime import apps, dockerhost, pods
from meshsim.runtime.base import ComponentInfo, Runtime
from meshsim.runtime.engine import connect, home_label, remove_run, sweep
from meshsim.runtime.registry import MeshRecord, all_meshes

STOP_GRACE_S = 2  # SIGTERM to the sidecars first, so Envoy flushes its access logs


@dataclass
class _Box:
    """One container this runtime started, and what it expects of it."""

    info: ComponentInfo
    container: Any = None
    expected_exit: bool = False
    # A team's image: meshsim copies its output from Docker into its log.
    follow_logs: bool = False
    follower: threading.Thread | None = None


class DockerRuntime(Runtime):
    name = "docker"
    app_probe_http = True  # the app is reached only through the sidecar's probe listener

    def __init__(
        self,
        run_dir: Path,
        record: MeshRecord,
        writer: ConfigWriter,
        base_image: str | None = None,
        client: Any | None = None,
    ) -> None:
        self.run_dir = run_dir.resolve()
        self.files = RunDir(self.run_dir)
        self.logs = self.files.logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.record = record
        self.writer = writer
        self.base_image = base_image
        self._client = client
        self._ctx: pods.RunContext | None = None
        self._boxes: dict[str, _Box] = {}  # by container name
        self._lock = threading.Lock()
        self._events: Any = None
        self._watcher: threading.Thread | None = None
        self._starting: list[asyncio.Future[None]] = []
        self._inits: dict[str, asyncio.Future[None]] = {}  # by instance
        self._callback = ("127.0.0.1", "127.0.0.1")

    # --------------------------------------------------------------- engine

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def _watch(self) -> None:
        """Follow the engine's events for this run's containers, so `died()`
        is a look-up rather than a call per container."""
        try:
            for ev in self._events:
                attrs = ev.get("Actor", {}).get("Attributes", {})
                with self._lock:
                    box = self._boxes.get(attrs.get("name", ""))
                    if box is None:
                        continue
                    action = ev.get("Action") or ev.get("status")
                    follower = box.follower if action == "die" else None
                if follower is not None:
                    follower.join(timeout=2)  # its last lines in the log before it is reported
                with self._lock:
                    if action == "die":
                        if not box.expected_exit:
                            box.info.state = "exited"
                    elif action == "start":
                        box.info.state = "running"
                        box.expected_exit = False
        except Exception:  # the stream ends with an error when it is closed
            return

    def _start_watching(self, run_id: str) -> None:
        self._events = self.client.events(
            decode=True,
            filters={"type": "container", "label": [f"{pods.LABEL_RUN}={run_id}"]},
        )
        self._watcher = threading.Thread(target=self._watch, name="docker-events", daemon=True)
        self._watcher.start()

    def _follow(self, box: _Box, since: int | None = None) -> None:
        box.follower = apps.follow_logs(box.container, box.info.log, box.info.name, since)

    def _box(
        self, spec: dict[str, Any], kind: str, instance: str, log: Path, command: str | None = None
    ) -> _Box:
        component = instance if kind == "ingress" else f"{instance}/{kind}"
        info = ComponentInfo(
            component, kind, instance, None, log, state="starting", command=command
        )
        box = _Box(info)
        with self._lock:
            self._boxes[spec["name"]] = box
        return box

    def _run(self, spec: dict[str, Any], box: _Box) -> Any:
        """Create and start one container (in a worker thread)."""
        import docker.errors

        try:
            container = self.client.containers.run(**spec)
        except docker.errors.APIError as exc:
            raise MeshError(
                f"Docker could not start {spec['name']}: {exc.explanation or exc}",
                component=box.info.name,
                log=box.info.log,
            ) from exc
        container.reload()
        if box.follow_logs:
            box.container = container
            self._follow(box)
        with self._lock:
            box.container = container
            box.info.container = container.short_id
            box.info.pid = container.attrs.get("State", {}).get("Pid") or None
            if box.info.state == "starting":
                box.info.state = "running"
        return container

    def _capture(
        self, ctx: pods.RunContext, instance: str, pod_ip: str, box: _Box, port: int
    ) -> None:
        """Run the pod's init container: the capture rules are in place before
        the app starts (meshsim/runtime/capture.py)."""
        import docker.errors

        spec = pods.init_spec(ctx, instance, pod_ip, port)
        try:
            self.client.containers.run(**spec)
        except docker.errors.ContainerError as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            raise MeshError(
                "could not set the pod's capture rules (iptables in the sidecar image, "
                f"NET_ADMIN for its init container): {err.strip() or exc}",
                component=f"{instance}/init",
                log=box.info.log,
            ) from exc
        except docker.errors.APIError as exc:
            raise MeshError(
                f"Docker could not start {spec['name']}: {exc.explanation or exc}",
                component=f"{instance}/init",
                log=box.info.log,
            ) from exc

    def _launch(
        self, spec: dict[str, Any], box: _Box, after: asyncio.Future[None] | None = None
    ) -> None:
        """Create and start a container in the background: `start_instance`
        returns at once, so the pods come up side by side. A container Docker
        refuses shows as a component that exited, the reason in its log.
        `after`: what must be done first (the pod's init container, for its app)."""

        async def start() -> None:
            try:
                if after is not None:
                    await after
                await asyncio.to_thread(self._run, spec, box)
            except MeshError as exc:
                with self._lock:
                    box.info.state = "exited"
                with contextlib.suppress(OSError), box.info.log.open("a", encoding="utf-8") as fh:
                    fh.write(f"meshsim: {exc}\n")

        self._starting.append(asyncio.ensure_future(start()))

    def _ctx_or_raise(self) -> pods.RunContext:
        if self._ctx is None:
            raise MeshError("the Docker runtime was not prepared", component="docker")
        return self._ctx

    # ------------------------------------------------------------- lifecycle

    async def prepare(self, plan: MeshPlan, events: RunEventHandler | None = None) -> MeshPlan:
        from meshsim.runtime.images import ensure_images

        events = events or RunEventHandler()
        client = await asyncio.to_thread(lambda: self.client)
        # Runs of this home without a record (their meshsim died before writing
        # one, or it was deleted) leave containers nobody else would remove.
        recorded = {m.run_id for m in all_meshes()} | {self.record.run_id}
        for name in await asyncio.to_thread(sweep, recorded, client):
            events.warning(f"removed a leftover of an earlier run: {name}")
        apps.check_runnable(plan)
        images = await asyncio.to_thread(ensure_images, client, self.base_image, say=events.step)
        await asyncio.to_thread(apps.ensure_own_images, client, plan, events)
        run_id = self.record.run_id
        uid_gid = (os.getuid(), os.getgid()) if hasattr(os, "getuid") else None
        ctx = pods.RunContext(
            run_id=run_id,
            home=home_label(),
            app_image=images.app,
            sidecar_image=images.sidecar,
            files=self.files,
            user=uid_gid,
            services=tuple(plan.services),
            app=plan.app,
        )
        self.record.extra["docker"] = {
            "network": ctx.network,
            "app_image": images.app,
            "sidecar_image": images.sidecar,
        }
        self.record.save()
        self._start_watching(run_id)
        network = await asyncio.to_thread(lambda: client.networks.create(**pods.network_spec(ctx)))
        await asyncio.to_thread(network.reload)
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
        info = await asyncio.to_thread(client.info)
        # a VM engine (Docker Desktop, OrbStack, Colima) by name, else the engine's OS
        engine_os = dockerhost.vm_engine(info, dockerhost.docker_host().url) or info.get(
            "OperatingSystem", ""
        )
        # The control plane's ADS server (push.ControlPlane.serve) and span
        # collector listen here, before any Envoy starts.
        self._callback = pods.control_address(engine_os, gateway)
        self.record.extra["docker"]["control_address"] = list(self._callback)
        self._ctx = ctx
        events.step(f"starting {len(plan.instances)} pods on network {ctx.network}")

        async def pod(inst: Instance) -> tuple[str, pods.PodAddress]:
            spec = pods.pod_spec(ctx, inst)
            box = self._box(spec, "pod", inst.name, self.files.app_log(inst.name))
            container = await asyncio.to_thread(self._run, spec, box)
            address = pods.pod_address(container.attrs, ctx.network)
            # The init container runs while configuration is written and the
            # sidecars start; only the app waits for it (start_instance).
            self._inits[inst.name] = asyncio.ensure_future(
                asyncio.to_thread(
                    self._capture,
                    ctx,
                    inst.name,
                    address.ip,
                    box,
                    pods.app_port(plan.app, inst.service),
                )
            )
            self._starting.append(self._inits[inst.name])
            return inst.name, address

        # Let every creation finish before failing, or one still in flight
        # would outlive the clean-up.
        results = await asyncio.gather(*(pod(i) for i in plan.instances), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        addresses = dict(r for r in results if not isinstance(r, BaseException))
        self.record.save()
        return pods.pod_plan(plan, addresses)

    async def start_instance(self, inst: Instance, bootstrap: Path) -> None:
        ctx = self._ctx_or_raise()
        sidecar = pods.sidecar_spec(ctx, inst, _read(bootstrap))
        app = apps.app_spec(ctx, inst)
        image = apps.own_image(ctx, inst)
        shown = ctx.app.services[inst.service].shown_command(inst.version)
        log = self.files.app_log(inst.name)
        app_box = self._box(app, "app", inst.name, log, apps.shown_command(shown, image))
        app_box.follow_logs = image is not None
        envoy_log = self.files.envoy_log(inst.name)
        self._launch(sidecar, self._box(sidecar, "sidecar", inst.name, envoy_log))
        self._launch(app, app_box, after=self._inits.get(inst.name))

    async def start_ingress(self, ingress: Ingress, bootstrap: Path) -> None:
        ctx = self._ctx_or_raise()
        spec = pods.ingress_spec(ctx, ingress, _read(bootstrap))
        box = self._box(spec, "ingress", ingress.name, self.files.envoy_log(ingress.name))
        self._launch(spec, box)

    def callback_address(self) -> tuple[str, str]:
        """The run network's gateway on a Linux engine (the address of this host
        that containers reach); set by `prepare`."""
        return self._callback

    # ---------------------------------------------------------------- chaos

    def _app(self, instance: str) -> _Box:
        ctx = self._ctx_or_raise()
        box = self._boxes.get(pods.container_name(ctx, instance, "app"))
        if box is None or box.container is None:
            raise MeshError(f"no such instance {instance!r}", component="runtime")
        return box

    async def kill(self, instance: str) -> None:
        """`docker kill` of the app container; the pod (its IP, its sidecar)
        stays, so callers are refused at once, as on a cluster."""
        box = self._app(instance)
        with self._lock:
            box.expected_exit = True
            box.info.state = "killed"
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):  # already down
            await asyncio.to_thread(box.container.kill)

    async def pause(self, instance: str) -> None:
        """`docker pause`: the app is frozen (cgroup freezer) and connections to
        it hang, like SIGSTOP for the local runtime."""
        box = self._app(instance)
        if box.info.state == "running":  # as locally: a killed app stays killed
            await asyncio.to_thread(box.container.pause)
            box.info.state = "paused"

    async def resume(self, instance: str) -> None:
        box = self._app(instance)
        if box.info.state == "paused":
            await asyncio.to_thread(box.container.unpause)
            box.info.state = "running"

    async def restart(self, instance: str) -> None:
        """`docker restart` of the app container, in the same pod namespace."""
        box = self._app(instance)
        with self._lock:
            box.expected_exit = True  # until the engine reports the new start
        if box.info.state == "paused":
            await asyncio.to_thread(box.container.unpause)
        restarted = int(time.time())
        await asyncio.to_thread(box.container.restart, timeout=0)
        if box.follow_logs:
            self._follow(box, since=restarted)
        with self._lock:
            box.info.state = "running"

    async def app_identity(self, instance: str) -> str | None:
        """The app container's start time: `docker restart` keeps the
        container (and may keep a pid number inside its namespace)."""
        box = self._app(instance)

        def started() -> str | None:
            box.container.reload()
            state = box.container.attrs.get("State", {})
            return str(state.get("StartedAt")) if state.get("Running") else None

        return await asyncio.to_thread(started)

    # -------------------------------------------------------------- status

    def components(self) -> list[ComponentInfo]:
        with self._lock:
            return [b.info for b in self._boxes.values() if b.info.kind != "pod"]

    def died(self) -> list[ComponentInfo]:
        with self._lock:
            return [
                b.info
                for b in self._boxes.values()
                if b.info.state == "exited" and not b.expected_exit
            ]

    # ---------------------------------------------------------------- stop

    async def detach(self) -> None:
        """Leave the containers running (`--keep`); stop watching. The Envoys
        keep their last configuration (and retry their ADS streams)."""
        await self._close()

    async def _close(self) -> None:
        if self._events is not None:
            with contextlib.suppress(Exception):
                self._events.close()
            self._events = None

    async def stop_all(self, timeout: float = 5.0) -> None:
        # Containers still being created would outlive a removal that ran first.
        await asyncio.gather(*self._starting, return_exceptions=True)
        with self._lock:
            boxes = list(self._boxes.values())
            for b in boxes:
                b.expected_exit = True
        envoys = [b.container for b in boxes if b.container is not None and b.info.kind != "app"]
        envoys = [c for c in envoys if c.labels.get(pods.LABEL_ROLE) in ("sidecar", "ingress")]

        def graceful(c: Any) -> None:
            with contextlib.suppress(Exception):
                c.stop(timeout=min(STOP_GRACE_S, int(timeout)))

        await asyncio.gather(*(asyncio.to_thread(graceful, c) for c in envoys))
        await self._close()
        if self._client is not None:
            await asyncio.to_thread(remove_run, self.record.run_id, self._client)
        for b in boxes:
            b.info.state = "exited"


def _read(bootstrap: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(bootstrap.read_text(encoding="utf-8"))
    return data

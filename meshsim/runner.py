"""The runner: owns the run's timeline (phases, settle points, chaos actions).

It starts the mesh, starts the load, walks the scenario's phases (applying
policies, firing chaos actions, sampling progress), then stops everything and
builds the report. Every step is written to the run directory as it happens
(`phases.jsonl`, `records/`), so an interrupted run keeps its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from meshsim import chaos
from meshsim.control.advice import scenario_warnings
from meshsim.control.phases import PhaseStep, iter_phases
from meshsim.control.plan import build_plan
from meshsim.control.push import PushRejected
from meshsim.control.writer import atomic_write
from meshsim.dashboard.process import DashboardProcess, start_dashboard
from meshsim.errors import MeshError, MeshsimError, UsageError, write_failure
from meshsim.events import EventBus, Progress, RunEventHandler, RunInfo
from meshsim.load.legacy import LegacyCaller
from meshsim.load.records import RecordTail, record_counts
from meshsim.load.runner import LocustRunner, check_locustfile
from meshsim.load.tokens import with_tokens
from meshsim.mesh import Mesh, new_run_id, run_id_of_dir
from meshsim.report import build_report, write_reports
from meshsim.report.model import RUN_ERROR
from meshsim.rundir import MANIFEST, RunDir
from meshsim.runtime.base import CHAOS_ACTIONS
from meshsim.runtime.cleanup import clean_leftovers
from meshsim.runtime.registry import (
    ProcessRecord,
    all_meshes,
    process_create_time,
)
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh
from meshsim.scenario.from_manifests import expanded_text
from meshsim.scenario.jwt import scenario_issuers
from meshsim.scenario.model import Action, Phase, Scenario
from meshsim.scenario.places import placed
from meshsim.telemetry.accesslog import compress_access_logs
from meshsim.telemetry.authz import write_authz
from meshsim.telemetry.logrotate import AccessLogRotator
from meshsim.telemetry.metrics import MetricsScraper
from meshsim.telemetry.recorder import EdgeRecorder
from meshsim.telemetry.settings import resolve_telemetry
from meshsim.timeline import RunStatus

PROGRESS_EVERY_S = 0.5
EXIT_INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class RunOptions:
    runtime: str = "local"
    run_dir: Path | None = None  # default: ./meshsim-runs/<run id>
    report_dir: Path | None = None  # default: the run directory
    keep: bool = False
    ingress_port: int | None = None  # default: the scenario's, else 8080
    time_scale: float = 1.0  # multiply every phase duration (0.2 = five times faster)
    telemetry: bool | None = None  # False: no metrics, traces, access logs (None: the scenario's)
    dashboard: bool = False  # serve the live dashboard (meshsim.dashboard) for the run
    dashboard_port: int | None = None  # None or 0: a free port


@dataclass
class RunResult:
    run_dir: Path
    status: RunStatus
    exit_code: int
    ready_s: float | None = None
    report: Any = None
    error: str | None = None
    report_files: list[Path] = field(default_factory=list)


class Timeline:
    """Appends run events to phases.jsonl, flushed line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", buffering=1, encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        self._fh.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


@dataclass
class _Run:
    """One run once prepared; what has started is added as it starts."""

    run_dir: Path
    mesh: Mesh
    info: RunInfo
    meta: dict[str, Any]  # run.json
    timeline: Timeline
    ready_s: float | None = None
    load: Any = None  # the LocustRunner
    legacy: list[Any] = field(default_factory=list)  # legacy clients: plaintext callers


class Runner:
    def __init__(self, scenario_path: Path, options: RunOptions, events: RunEventHandler) -> None:
        self.scenario_path = scenario_path
        self.options = options
        self.events = events if isinstance(events, EventBus) else EventBus([events])
        self.scenario: Scenario = load_scenario(scenario_path)
        self.interrupted_by: signal.Signals | None = None
        self.mesh: Mesh | None = None
        self.telemetry = resolve_telemetry(self.scenario.telemetry, cli=options.telemetry)
        self._metrics: MetricsScraper | None = None
        self._rotator: AccessLogRotator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[RunResult] | None = None
        self._dashboard: DashboardProcess | None = None

    def interrupt(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop the run as SIGINT/SIGTERM would (the report covers what ran).

        Safe to call from any thread: a notebook runs the mesh in a worker
        thread and calls this when its cell is interrupted."""
        loop, task = self._loop, self._task
        if loop is None or task is None or loop.is_closed():
            return

        def cancel() -> None:
            if self.interrupted_by is None:
                self.interrupted_by = sig
                task.cancel()

        loop.call_soon_threadsafe(cancel)

    def _locustfile(self) -> Path | None:
        """The team's own locustfile (`load.locustfile`, beside the scenario)."""
        name = self.scenario.load.locustfile
        return (self.scenario.base_dir / name).resolve() if name is not None else None

    def _run_dir(self) -> Path:
        if self.options.run_dir is not None:
            return self.options.run_dir
        return Path("meshsim-runs") / new_run_id(self.scenario.name)

    async def run(self) -> RunResult:
        """Prepare (nothing runs yet), start the mesh and walk the phases, tear
        down (always), then build the report."""
        try:
            run = await self.prepare()
            status: RunStatus = "completed"
            error: str | None = None
            try:
                await self._execute(run)
            except asyncio.CancelledError:
                status = "interrupted"
            except MeshsimError as exc:
                status, error = "error", str(exc)
            except OSError as exc:  # the disk filled up, a file could not be written
                status, error = "error", write_failure("the run", exc)
            finally:
                failures = await self._teardown(run, status, error)
            if failures:  # exit 3 naming what could not be written (130/143 stay)
                error = "; ".join(([error] if error else []) + failures)
                status = status if status == "interrupted" else "error"
            return self._finish(run.run_dir, run.info, status, error, run.ready_s)
        finally:
            # after the report: the page shows the run to its end. A mesh kept
            # with --keep keeps its dashboard (in its record: `meshsim down` stops it)
            dashboard, self._dashboard = self._dashboard, None
            kept = self.mesh is not None and self.mesh.record.keep
            if dashboard is not None and kept:
                dashboard.detach()
            elif dashboard is not None:
                await asyncio.get_running_loop().run_in_executor(None, dashboard.stop)

    async def prepare(self) -> _Run:
        """Everything before a process starts: leftovers of killed runs stopped,
        the locustfile checked, the plan (a port in use fails here), the run
        directory claimed, run.json and `run_start` written. A failure here
        leaves nothing to stop."""
        for leftover in clean_leftovers():
            self.events.warning(
                f"stopped leftovers of an earlier run that was killed: {leftover.run_id}"
            )
        locustfile = self._locustfile()
        if locustfile is not None and self.scenario.load.users > 0:
            # Before anything starts: a locustfile that cannot run is bad input (exit 2).
            await check_locustfile(locustfile)
        services = resolve_mesh(self.scenario)
        port = self.options.ingress_port
        if port is None:
            port = self.scenario.mesh.ingress_port
        if port is not None and not 0 <= port <= 65535:
            raise UsageError(f"ingress port {port}: expected 0 (any free port) to 65535")
        # Plan first: a port in use fails here, before a run directory exists.
        plan = build_plan(services, port, resolve_application(self.scenario))
        run_dir = self._run_dir().resolve()
        if prepare_run_dir(run_dir, self.options.report_dir):
            self.events.warning(f"replaced the earlier run in {run_dir}")
        rd = RunDir(run_dir)
        try:
            if self.scenario.mesh.manifests:  # kept as it ran: it reads back without them
                rd.scenario.write_text(expanded_text(self.scenario), encoding="utf-8")
            else:
                shutil.copyfile(self.scenario_path, rd.scenario)
        except OSError as exc:
            raise MeshError(write_failure("the run directory", exc)) from exc
        mesh = self.mesh = Mesh(
            plan,
            run_dir,
            scenario=self.scenario.name,
            runtime=self.options.runtime,
            cert_ttl=self.scenario.mesh.cert_ttl,
            telemetry=self.telemetry,
            # A directory meshsim named is unique already; one the user named may not be.
            run_id=None if self.options.run_dir is None else run_id_of_dir(run_dir),
        )
        info = RunInfo(
            mesh.run_id,
            run_dir,
            self.scenario.name,
            self.options.runtime,
            [i.name for i in plan.instances],
            mesh.ingress_url,
        )
        if self.options.dashboard:
            self._dashboard = await self._start_dashboard(rd, mesh)
        meta: dict[str, Any] = {
            "run_id": mesh.run_id,
            "scenario": self.scenario.name,
            "scenario_file": str(self.scenario_path),
            "runtime": self.options.runtime,
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "ready_s": None,
            "ingress_url": mesh.ingress_url,
            "time_scale": self.options.time_scale,
            "telemetry": self.telemetry.to_dict(),
        }
        if self._dashboard is not None:
            meta["dashboard_url"] = self._dashboard.url
        try:
            atomic_write(rd.run_json, json.dumps(meta, indent=1))
            timeline = Timeline(rd.phases)
            timeline.write("run_start")
        except OSError as exc:  # nothing runs yet: nothing to stop
            raise MeshError(write_failure("the run directory", exc)) from exc
        self.events.run_started(info)
        self._warned: set[str] = set()
        for w in scenario_warnings(self.scenario):
            self._warn(w, timeline)
        return _Run(run_dir, mesh, info, meta, timeline)

    async def _start_dashboard(self, rd: RunDir, mesh: Mesh) -> DashboardProcess:
        """The dashboard's own process on the run directory (meshsim/dashboard/process.py),
        in the mesh's record so that a killed run's clean-up stops it too."""
        dashboard = await asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                start_dashboard, rd.path, self.options.dashboard_port, rd.logs / "dashboard.log"
            ),
        )
        mesh.record.processes.append(dashboard.record())
        self.events.dashboard_started(dashboard.url)
        return dashboard

    async def _execute(self, run: _Run) -> None:
        """The mesh to ready, the load and legacy callers, then every phase.
        What has started is on `run`, for the teardown whatever happens."""
        mesh = run.mesh
        run.ready_s = await mesh.start(self.events)
        run.meta["ready_s"] = round(run.ready_s, 3)
        atomic_write(RunDir(run.run_dir).run_json, json.dumps(run.meta, indent=1))
        self.events.mesh_ready(run.info, run.ready_s)
        run.load = await self._start_load(mesh, run.run_dir)
        run.legacy = self._start_legacy(mesh, run.run_dir)
        await self._phases(mesh, run.timeline, run.load)

    async def _teardown(self, run: _Run, status: RunStatus, error: str | None) -> list[str]:
        """Stop everything, each step guarded on its own: a step that fails
        (a full disk, a dead process) never skips the next one, and the mesh
        is always stopped. Returns what failed to write (the run is then an
        error, exit 3); other failures of a step only warn."""
        failures: list[str] = []
        mesh, timeline, load, legacy = run.mesh, run.timeline, run.load, run.legacy
        rd = RunDir(mesh.run_dir)

        async def step(what: str, action: Any) -> None:
            try:
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            except OSError as exc:
                failures.append(write_failure(what, exc))
            except Exception as exc:  # teardown goes on whatever a step raised
                self.events.warning(f"stopping the run: {what} failed ({exc!r})")

        for caller in legacy:
            await step(f"legacy client {caller.client.name}", caller.stop)
        if load is not None:
            await step("the load (Locust)", load.stop)
        mesh.record.processes = [p for p in mesh.record.processes if p.kind != "load"]
        if not (self.options.keep and status == "completed"):  # stopped after the report
            mesh.record.processes = [p for p in mesh.record.processes if p.kind != "dashboard"]
        if self._metrics is not None:
            await step(f"metrics ({self._metrics.path})", self._metrics.stop)
        if self._rotator is not None:
            await step("access log rotation", self._rotator.stop)
        await step("chaos rollback", lambda: self._rollback(mesh, timeline))
        if failures and status != "interrupted":  # what failed so far, in the run's end
            status, error = "error", "; ".join(([error] if error else []) + failures)
        end: dict[str, Any] = {"status": status, **({"error": error} if error else {})}
        # what the records files hold now the load has stopped: a report can
        # then tell a file cut short later from a whole one
        with contextlib.suppress(OSError):  # only a check for later: never fails the run
            end["records"] = record_counts(rd.records)
        await step(f"the timeline ({timeline.path})", lambda: timeline.write("run_end", **end))
        await step(f"the timeline ({timeline.path})", timeline.close)
        keep = self.options.keep and status == "completed"
        await step("the mesh", lambda: mesh.stop(keep=keep))
        if mesh.trace_keeping is not None:  # the policy and its counts, for the report
            run.meta["trace_keeping"] = mesh.trace_keeping
            await step(
                "run.json", lambda: atomic_write(rd.run_json, json.dumps(run.meta, indent=1))
            )
        if self.telemetry.compress and not keep:  # every Envoy has stopped writing
            await step("compressing the access logs", lambda: self._compress_logs(rd))

        # allowed/denied per caller → callee, from the sidecars
        await step("authz.json", lambda: write_authz(mesh.run_dir))
        return failures

    def _start_legacy(self, mesh: Mesh, run_dir: Path) -> list[Any]:
        callers = []
        for client in self.scenario.mesh.legacy_clients:
            caller = LegacyCaller(client, mesh.plan.select(client.target), RunDir(run_dir).records)
            self.events.step(
                f"starting legacy client {client.name}: {client.rps:g} rps of plaintext "
                f"{client.method} {client.path} to {client.target}'s sidecar"
            )
            caller.start()
            callers.append(caller)
        return callers

    async def _start_load(self, mesh: Mesh, run_dir: Path) -> Any:
        spec = self.scenario.load
        if any(c.jwt is not None for c in spec.cohorts):
            # load.cohorts[].jwt: tokens signed now by the run's issuer
            spec = with_tokens(spec, mesh.issuer, scenario_issuers(self.scenario))

        load = LocustRunner(
            mesh.ingress_url,
            spec,
            RunDir(run_dir).records,
            RunDir(run_dir).locust_log,
            locustfile=self._locustfile(),
        )
        if load.enabled:
            self.events.step(f"starting Locust with {self.scenario.load.users} shoppers")
            await load.start()
            if load.pid is not None:
                mesh.record.processes.append(
                    ProcessRecord(
                        "locust",
                        "load",
                        load.pid,
                        process_create_time(load.pid),
                        str(load.log_path),
                    )
                )
                mesh.record.save()
        return load

    async def _phases(self, mesh: Mesh, timeline: Timeline, load: Any) -> None:
        tail = RecordTail(RunDir(mesh.run_dir).records)
        self._timeline = timeline
        session = await mesh.control.session()
        if self.telemetry.metrics:
            self._metrics = MetricsScraper(
                {p: mesh.plan.admin_address(p) for p in mesh.plan.proxies},
                RunDir(mesh.run_dir).metrics,
                session,
                self.telemetry.scrape_interval_s,
            )
        edges = self._edges = EdgeRecorder(
            mesh.plan,
            {p: mesh.control.admin_port(p) for p in mesh.plan.proxies},
            RunDir(mesh.run_dir).edges,
            session,
            metrics=self._metrics,
        )
        await edges.begin(mesh.control.configs)
        if self._metrics is not None:
            self._metrics.start()
        if self.telemetry.compress and self.telemetry.enabled:
            # Envoy writes its access logs plain: rotated and compressed every minute
            self._rotator = AccessLogRotator(
                RunDir(mesh.run_dir), lambda p: mesh.control.admin(p, session).reopen_logs()
            )
            self._rotator.start()
        scale = self.options.time_scale
        start = time.monotonic()
        planned_end = start
        # each phase's policies enter the control plane's state as its step is
        # taken; _apply pushes them once phase_start is logged
        for step in iter_phases(self.scenario, mesh.plan.app, mesh.control.state):
            index, phase = step.index, step.phase
            planned = phase.duration * scale
            planned_end += planned
            # settle_s: the start of the phase its expectations leave out (scaled too)
            settle = self.scenario.settle_of(phase) * scale
            timeline.write(
                "phase_start",
                phase=phase.name,
                index=index,
                planned_s=planned,
                **({"settle_s": round(settle, 4)} if settle else {}),
            )
            self._phase_started = time.monotonic()
            if mesh.collector is not None:  # its slowest-trace heaps are per phase
                mesh.collector.phase_started()
            self.events.phase_started(phase.name, index, planned)
            try:
                await self._apply(mesh, step, timeline)
                await self._hold(mesh, phase, index, planned, planned_end, settle, tail, load)
            except asyncio.CancelledError:
                timeline.write("phase_end", phase=phase.name, index=index, status="interrupted")
                self.events.phase_ended(phase.name, index, "interrupted")
                await self._record_edges(mesh, phase, interrupted=True)
                raise
            except MeshsimError:
                timeline.write("phase_end", phase=phase.name, index=index, status="error")
                self.events.phase_ended(phase.name, index, "error")
                await self._record_edges(mesh, phase)
                raise
            timeline.write("phase_end", phase=phase.name, index=index, status="completed")
            await self._record_edges(mesh, phase)
            self.events.phase_ended(phase.name, index, "completed")

    async def _record_edges(self, mesh: Mesh, phase: Phase, interrupted: bool = False) -> None:
        """The phase's edges from the sidecars' stats; never fails the run.
        While an interruption is already being handled, a second one is
        swallowed here (the caller re-raises the first); otherwise it stops the run."""
        caught = (Exception, asyncio.CancelledError) if interrupted else (Exception,)
        try:
            await asyncio.wait_for(self._edges.phase_done(phase.name, mesh.control.configs), 5.0)
        except caught as exc:  # telemetry must not stop a run
            self.events.warning(f"phase {phase.name}: edge counters not recorded ({exc!r})")

    async def _settled(self, mesh: Mesh, phase: Phase, index: int, settle_s: float) -> None:
        """The phase's settle point: logged in phases.jsonl (where the report's
        settled window starts) and a snapshot of the sidecars' counters (where
        its settled edges start). Never fails the run."""
        self._timeline.write(
            "phase_settled", phase=phase.name, index=index, settle_s=round(settle_s, 4)
        )
        self.events.phase_settled(phase.name, index, settle_s)
        try:
            await asyncio.wait_for(self._edges.settled(phase.name, mesh.control.configs), 5.0)
        except Exception as exc:  # telemetry must not stop a run
            self.events.warning(
                f"phase {phase.name}: edge counters at the settle point not "
                f"recorded ({exc!r}); edge expectations cannot be judged"
            )

    def _warn(self, message: str, timeline: Timeline) -> None:
        """Tell the user once, and keep it in phases.jsonl."""
        if message not in self._warned:
            self._warned.add(message)
            timeline.write("warning", message=message)
            self.events.warning(message)

    async def _rollback(self, mesh: Mesh, timeline: Timeline) -> None:
        """Undo chaos: resume paused apps (so they can exit cleanly, or serve a
        kept mesh) and, for a kept mesh, restart killed ones."""
        for c in mesh.runtime.components():
            if c.kind != "app":
                continue
            was = c.state  # the runtime updates `c` in place
            if was == "paused":
                await mesh.runtime.resume(c.instance)
            elif was == "killed" and self.options.keep:
                await mesh.runtime.restart(c.instance)
            else:
                continue
            timeline.write("rollback", instance=c.instance, was=was)

    async def _apply(self, mesh: Mesh, step: PhaseStep, timeline: Timeline) -> None:
        """Push the phase's change (already in `mesh.control.state`) to every proxy."""
        phase = step.phase
        if not step.changes:
            return
        for missing in step.not_in_force:
            self.events.warning(f"phase {phase.name}: remove {missing}: not in force")
        try:
            result = await mesh.control.push()
        except PushRejected as exc:  # Envoy's NACK, in the report before the run stops (exit 3)
            timeline.write(
                "nack",
                phase=phase.name,
                proxy=exc.proxy,
                type=exc.kind,
                resources=exc.resources,
                message=exc.envoy_message,
            )
            self._warn(f"phase {phase.name}: {exc}", timeline)
            raise
        # in force in every proxy (Envoy acknowledged it), counted from the phase's start
        effective_s = round(time.monotonic() - self._phase_started, 4)
        # keys as `remove` names them (Kind/namespace/name for security kinds outside default)
        names = step.changed
        timeline.write(
            "policy",
            phase=phase.name,
            resources=names,
            took_s=round(result.took_s, 4),
            effective_s=effective_s,
            proxies=result.changed,
        )
        self._edges.policy(
            phase.name, resources=names, took_s=round(result.took_s, 4), effective_s=effective_s
        )
        for w in result.warnings:
            self._warn(placed(self.scenario, step.index, w), timeline)  # the resource's file:line
        if effective_s > 1.0:
            self._warn(
                f"phase {phase.name}: the policy change took {effective_s:.2f}s to reach every "
                "Envoy (usually well under 1 s); the machine may be overloaded",
                timeline,
            )
        self.events.policy_applied(phase.name, names, result.took_s)

    async def _hold(
        self,
        mesh: Mesh,
        phase: Phase,
        index: int,
        planned: float,
        planned_end: float,
        settle: float,
        tail: Any,
        load: Any,
    ) -> None:
        scale = self.options.time_scale
        phase_start = time.monotonic()
        actions = sorted(phase.actions, key=lambda a: a.at or 0.0)
        # counted from the phase's start as phases.jsonl has it (before its policy push)
        settle_at = self._phase_started + settle if settle else None
        hist = HdrHistogram(1, 60_000_000, 3)
        requests = failures = 0
        next_progress = phase_start
        # Actions run beside the phase's clock, one after the other: one that
        # takes seconds (a container's restart on a busy Docker engine, then
        # the app's start) neither delays the settle point nor stops the
        # records being read; the phase ends once every action is done.
        acting: asyncio.Task[None] | None = None
        try:
            while True:
                now = time.monotonic()
                if settle_at is not None and now >= settle_at and now < planned_end:
                    settle_at = None
                    await self._settled(mesh, phase, index, settle)
                if acting is not None and acting.done():
                    finished = acting
                    acting = None
                    finished.result()  # an action's MeshError stops the run, as before
                due = 0
                while due < len(actions) and now - phase_start >= (actions[due].at or 0.0) * scale:
                    due += 1
                if acting is None and due:
                    acting = asyncio.ensure_future(self._act_in_turn(mesh, phase, actions[:due]))
                    del actions[:due]
                for rec in tail.poll():
                    requests += 1
                    failures += 0 if rec.ok else 1
                    hist.record_value(max(1, rec.latency_us))
                self._check_alive(mesh, load)
                done = now >= planned_end and not actions and acting is None
                # The last update comes at the phase's end, so that the line the
                # console prints for the phase counts everything read until then.
                if now >= next_progress or done:
                    elapsed = now - phase_start
                    self.events.progress(
                        Progress(
                            phase.name,
                            index,
                            elapsed,
                            planned,
                            requests,
                            failures,
                            requests / elapsed if elapsed > 0.5 else 0.0,
                            hist.get_value_at_percentile(99) / 1000 if requests else None,
                        )
                    )
                    next_progress = now + PROGRESS_EVERY_S
                if done:
                    return
                wake = planned_end if settle_at is None else min(planned_end, settle_at)
                if now >= planned_end and acting is not None:
                    await asyncio.wait([acting], timeout=0.1)  # the phase waits for its actions
                else:
                    await asyncio.sleep(min(0.1, max(0.0, wake - now)))
        finally:
            if acting is not None and not acting.done():  # the phase was interrupted
                acting.cancel()
                await asyncio.gather(acting, return_exceptions=True)

    async def _act_in_turn(self, mesh: Mesh, phase: Phase, actions: list[Action]) -> None:
        for action in actions:
            await self._act(mesh, phase, action)

    async def _act(self, mesh: Mesh, phase: Phase, action: Action) -> None:
        """Call the runtime, then record what a caller of each app sees
        (meshsim.chaos): the event says what happened, not what was asked."""
        targets = mesh.plan.select(action.target)
        runtime = mesh.runtime
        before = {}
        for inst in targets:
            if action.verb == "restart":
                before[inst.name] = await runtime.app_identity(inst.name)
            await CHAOS_ACTIONS[action.verb](runtime, inst.name)
        # no keep-alive: every probe reaches the app as a new caller would
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            seen = await asyncio.gather(
                *(
                    chaos.observe(
                        session,
                        action.verb,
                        inst.name,
                        inst.app_address,
                        functools.partial(runtime.app_identity, inst.name),
                        before.get(inst.name),
                    )
                    for inst in targets
                )
            )
        self._timeline.write(
            "action",
            phase=phase.name,
            verb=action.verb,
            target=action.target,
            instances=[i.name for i in targets],
            observed=[s.to_dict() for s in seen],
            effective=all(s.effective for s in seen),
        )
        for s in seen:
            if not s.effective:
                self._warn(f"phase {phase.name}: {chaos.describe(action.verb, s)}", self._timeline)
        self.events.action_done(phase.name, action.verb, action.target)

    def _check_alive(self, mesh: Mesh, load: Any) -> None:
        dead = mesh.runtime.died()
        if dead:
            c = dead[0]
            raise MeshError("exited unexpectedly during the run", component=c.name, log=c.log)
        if load is not None and load.enabled:
            load.check()

    def _compress_logs(self, rd: RunDir) -> None:
        """Never fails a run: the plain logs are as readable, only bigger."""
        try:
            compress_access_logs(rd)
        except OSError as exc:
            self.events.warning(f"the access logs stay uncompressed: {exc}")

    def _finish(
        self,
        run_dir: Path,
        info: RunInfo,
        status: RunStatus,
        error: str | None,
        ready_s: float | None,
    ) -> RunResult:
        report = build_report(run_dir)
        if status == "error" and report.status != RUN_ERROR:  # failed after run_end was written
            report.status, report.error = RUN_ERROR, error
        try:
            files = write_reports(report, self.options.report_dir or run_dir)
        except OSError as exc:  # the run's data is on disk: `meshsim report` can retry
            files = []
            status = "error"
            error = "; ".join(([error] if error else []) + [write_failure("the report", exc)])
        if status == "error":
            code = 3
        elif status == "interrupted":
            code = EXIT_INTERRUPTED.get(self.interrupted_by or signal.SIGINT, 130)
        else:
            code = report.exit_code
        self.events.run_finished(info, status, report)
        return RunResult(run_dir, status, code, ready_s, report, error, files)


def prepare_run_dir(run_dir: Path, report_dir: Path | None = None) -> bool:
    """Make `run_dir` a directory for a new run; True when an earlier run was
    there and has been replaced.

    Two runs in one directory would mix their records, logs and traces, so an
    earlier meshsim run is removed first (only the entries its manifest
    claims, see meshsim/rundir.py), unless a mesh kept with --keep still runs
    from it. Anything meshsim did not write makes it refuse, deleting
    nothing: meshsim never deletes files it did not write.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir}: exists and is not a directory")
    if report_dir is not None:  # said now, not after the whole run
        _check_creatable("--report-dir", report_dir)
    try:
        return _prepare(run_dir, report_dir)
    except OSError as exc:  # a file on its path, a read-only or full disk, /proc
        raise MeshError(write_failure("the run directory", exc)) from exc


def _check_creatable(option: str, path: Path) -> None:
    """`path` is a directory, or one can be made there: its nearest existing
    ancestor is a directory this process may write in."""
    where = path.resolve()
    while not where.exists():
        where = where.parent
    if not where.is_dir():
        raise UsageError(f"{option} {path}: {where} is not a directory")
    if where != path.resolve() and not os.access(where, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot create it, {where} is not writable")


def _prepare(run_dir: Path, report_dir: Path | None) -> bool:
    rd = RunDir(run_dir)
    # a --report-dir inside the run directory is one more entry the run writes
    extra: tuple[str, ...] = ()
    if report_dir is not None and report_dir.resolve().is_relative_to(run_dir):
        parts = report_dir.resolve().relative_to(run_dir).parts
        extra = parts[:1]
    # empty, or only the manifest of a run that never started: nothing to replace
    if not run_dir.exists() or all(p.name == MANIFEST for p in run_dir.iterdir()):
        run_dir.mkdir(parents=True, exist_ok=True)
        rd.write_manifest(extra)
        return False
    rd.owned()  # refuses a directory that is not recognisably a meshsim run
    if any(Path(m.run_dir).resolve() == run_dir for m in all_meshes()):
        raise UsageError(
            f"--run-dir {run_dir}: a mesh still runs from it (see `meshsim status`); "
            "stop it with `meshsim down` or give another directory"
        )
    rd.replace_earlier_run()
    rd.write_manifest(extra)
    return True


def run(
    scenario_path: str | Path,
    options: RunOptions | None = None,
    events: RunEventHandler | None = None,
) -> RunResult:
    """Run a scenario from start to report. SIGINT/SIGTERM stop it cleanly:
    every child is stopped and the report covers the phases that ran.

    >>> result = run("scenarios/baseline.yaml")  # doctest: +SKIP
    >>> result.exit_code, result.report.verdict  # doctest: +SKIP
    (0, 'pass')
    """
    runner = Runner(Path(scenario_path), options or RunOptions(), events or RunEventHandler())
    return asyncio.run(_main(runner))


async def _main(runner: Runner) -> RunResult:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    inner = asyncio.ensure_future(runner.run())
    runner._loop, runner._task = loop, inner

    # Signal handlers can only be installed in the main thread; elsewhere (the
    # worker thread meshsim.api uses under Jupyter) the caller uses runner.interrupt().
    in_main = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM) if in_main else ()
    for sig in signals:
        loop.add_signal_handler(sig, runner.interrupt, sig)
    try:
        while True:
            try:
                return await asyncio.shield(inner)
            except asyncio.CancelledError:
                if inner.done():
                    raise
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)

"""A run directory, live or finished, folded into the dashboard's state.

`RunState.refresh()` reads what the run wrote since the previous call (new
lines of the records, metrics.jsonl and phases.jsonl; run.json, plan.json and
edges.json when they change) into per-second buckets (`buckets.py`);
`RunState.state(t)` is the JSON of `/api/state` at `t` seconds after the run
started (docs/observability.md), `RunState.graph(t)` the service graph the
page draws. Nothing here talks to the mesh: a run with or without a dashboard
measures the same.

Each phase's expectations are judged once it ended, with the report's own
code (`meshsim.report.expectations`) on the phase's requests (its settled part
when it has a `settle`) and its edges from edges.json, which the runner
writes within a second of `phase_end`; until then they are `pending`. A
replay (`?t=`) shows a judgement only from the phase's end on.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshsim.control.plan import INGRESS_NAME, MeshPlan
from meshsim.dashboard.buckets import EdgeSeconds, RequestSeconds
from meshsim.dashboard.graph import edges_shown, graph_at
from meshsim.dashboard.judge import judge_phase, not_judged
from meshsim.dashboard.policies import PhasePolicies, phase_policies
from meshsim.dashboard.reading import (
    by_phase,
    check_run_dir,
    resource_name,
    window_at,
)
from meshsim.dashboard.traces import SlowTraces
from meshsim.errors import MeshsimError
from meshsim.load.records import RecordTail
from meshsim.report.stats import PhaseStatsBuilder
from meshsim.scenario.loader import load_scenario
from meshsim.scenario.model import Scenario
from meshsim.telemetry.prometheus import ProxyMetrics
from meshsim.telemetry.runfiles import read_plan
from meshsim.timeline import (
    OPEN_END,
    PhaseEvent,
    Timeline,
    json_lines,
    read_events,
    settled_window,
    timeline_of,
)

# Edges are shown over the last few seconds: metrics.jsonl has one scrape per
# proxy every 2 s (telemetry.scrape_interval), so a shorter window flickers.
EDGE_WINDOW_S = 5.0
# A finished phase's expectations wait this long for records still being written
RECORDS_GRACE_S = 3.0
_INSTANCE = re.compile(r"^(?P<service>.+)-[^-]+-\d+$")
_DOWN = {"kill": True, "pause": True, "restart": False, "resume": False}


class RunState:
    """What the dashboard knows of one run, grown by `refresh()`.

    `live`: the run is going on in this process's lifetime (`meshsim up
    --dashboard`); "now" is the clock. Otherwise (a replay) the run's end is.
    Thread-safe: the server refreshes in a worker thread while it answers.
    """

    def __init__(
        self, run_dir: Path, *, live: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.rd = check_run_dir(run_dir)
        self.live = live
        self.clock = clock
        self.meta: dict[str, Any] = {}
        self.events: list[PhaseEvent] = []
        self.actions: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.plan: MeshPlan | None = None
        self.scenario: Scenario | None = None
        self.timeline: Timeline = timeline_of([], None, None)
        self.requests: RequestSeconds | None = None
        self.edges = EdgeSeconds()
        self.phase_edges: dict[str, list[dict[str, Any]]] = {}  # edges.json
        self.settled_edges: dict[str, list[dict[str, Any]]] = {}
        self.judged: dict[int, list[dict[str, Any]]] = {}  # phase index -> expectations
        self._stats: dict[int, PhaseStatsBuilder] = {}
        self._settled: dict[int, PhaseStatsBuilder] = {}
        self._tail = RecordTail(self.rd.records)
        self.traces = SlowTraces(self.rd.traces)
        self._newest_record = 0.0
        self._metrics_at = 0
        self._sizes: dict[str, float] = {}
        self._policies: dict[int, PhasePolicies] | None = None  # by phase index
        self._lock = threading.Lock()

    # ------------------------------------------------------------ reading

    def refresh(self) -> None:
        """Read what the run wrote since the last call."""
        with self._lock:
            self._read_small_files()
            self._read_records()
            self._read_metrics()
            if self.requests is not None:  # the run's 0 s is known
                self.traces.origin = self.requests.origin
                self.traces.poll(everything=self.finished)
            self._judge()

    def _changed(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return False
        key = stat.st_mtime_ns + stat.st_size / 1e12
        if self._sizes.get(path.name) == key:
            return False
        self._sizes[path.name] = key
        return True

    def _read_small_files(self) -> None:
        rd = self.rd
        if self._changed(rd.run_json):
            try:
                meta = json.loads(rd.run_json.read_text(encoding="utf-8"))
                self.meta = meta if isinstance(meta, dict) else self.meta
            except (OSError, ValueError):
                pass  # rewritten at this moment: read at the next refresh
        if self.plan is None and self._changed(rd.plan):
            self.plan = read_plan(rd.path)
        if self.scenario is None and self._changed(rd.scenario):
            try:
                self.scenario = load_scenario(rd.scenario, check_files=False)
            except (MeshsimError, OSError) as exc:
                self.warnings.append(f"scenario.yaml: {exc}")
        if self._changed(rd.phases):
            self.events = read_events(rd.phases, [])
            self.actions = [
                raw for raw in json_lines(rd.phases, []) if raw.get("event") == "action"
            ]
        if self._changed(rd.edges):
            try:
                raw = json.loads(rd.edges.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raw = None
            if isinstance(raw, dict):
                self.phase_edges = by_phase(raw.get("phases"))
                self.settled_edges = by_phase(raw.get("settled"))
        last = OPEN_END if not self.finished else (self._newest_record or None)
        self.timeline = timeline_of(self.events, None, last)
        if self.requests is None and any(e.event == "run_start" for e in self.events):
            self.requests = RequestSeconds(self.timeline.origin)

    def _read_records(self) -> None:
        records = self._tail.poll()
        if records and self.requests is None:  # no run_start: the first request is 0 s
            self.requests = RequestSeconds(records[0].t)
        windows = sorted(self.timeline.phases, key=lambda w: w.start)
        for record in records:
            assert self.requests is not None
            self.requests.add(record)
            self._newest_record = max(self._newest_record, record.t)
            window = window_at(windows, record.t)
            if window is None:
                continue
            cohorts = [c.name for c in self.scenario.load.cohorts] if self.scenario else []
            self._stats.setdefault(window.index, PhaseStatsBuilder(cohorts)).add(record)
            settle = settled_window(window)
            if settle is not None and settle.start is not None and record.t >= settle.start:
                self._settled.setdefault(window.index, PhaseStatsBuilder(cohorts)).add(record)
        if self.requests is not None:
            self.requests.close(everything=self.finished)

    def _read_metrics(self) -> None:
        """New complete lines of metrics.jsonl (a partial last line waits)."""
        try:
            with self.rd.metrics.open("rb") as fh:
                fh.seek(self._metrics_at)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._metrics_at += end
        origin = self.timeline.origin
        for line in data[:end].splitlines():
            try:
                raw = json.loads(line)
                t, proxy = float(raw["t"]), str(raw["proxy"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(raw, dict):
                metrics = ProxyMetrics.from_json(raw)
                self.edges.add_scrape(
                    int(t - origin),
                    proxy,
                    self._service_of(proxy),
                    metrics,
                    self._caller_faults(proxy, t) if metrics.faults else None,
                )

    def _policies_at(self, t: float, *, before: bool = False) -> PhasePolicies | None:
        """The policies in force at `t` (epoch seconds); `before`: those of the
        phase before too, merged under (a scrape just after a phase ended may
        still count what it did)."""
        if self.scenario is None or self.plan is None:
            return None
        if self._policies is None:
            self._policies = phase_policies(self.scenario, self.plan)
        started = [w for w in self.timeline.phases if w.start <= t]
        if not started:
            return None
        index = max(started, key=lambda w: w.start).index
        now = self._policies.get(index)
        if before and now is not None and not now.faults:
            return self._policies.get(index - 1) or now
        return now

    def _caller_faults(self, proxy: str, t: float) -> dict[str, int | None]:
        """Destination → abort status of the faults `proxy` injects itself at `t`."""
        if proxy == INGRESS_NAME:
            return {}
        policies = self._policies_at(t, before=True)
        return policies.faults if policies is not None else {}

    def _service_of(self, proxy: str) -> str:
        if proxy == INGRESS_NAME:
            return proxy
        if self.plan is not None:
            for inst in self.plan.instances:
                if inst.name == proxy:
                    return inst.service
        m = _INSTANCE.match(proxy)
        return m.group("service") if m else proxy

    @property
    def finished(self) -> bool:
        return any(e.event == "run_end" for e in self.events) or not self.live

    def _judge(self) -> None:
        """Judge each phase that ended once its data is in (see the module doc)."""
        if self.scenario is None:
            return
        now = self.clock()
        for window in self.timeline.phases:
            if window.index in self.judged or window.index >= len(self.scenario.phases):
                continue
            ended = window.end != OPEN_END and (
                self.finished
                or any(e.event == "phase_end" and e.index == window.index for e in self.events)
            )
            if not ended:
                continue
            edges_in = window.name in self.phase_edges
            records_in = self._newest_record >= window.end or now - window.end > RECORDS_GRACE_S
            if not self.finished and not (edges_in and records_in):
                continue
            expect = list(self.scenario.phases[window.index].expect)
            stats = self._stats.get(window.index) or PhaseStatsBuilder()
            self.judged[window.index] = judge_phase(
                expect,
                window,
                stats,
                self._settled.get(window.index),
                self.phase_edges.get(window.name) if self.rd.edges.is_file() else None,
                self.settled_edges.get(window.name),
            )

    # ------------------------------------------------------------ the state

    def now_s(self) -> float:
        """Seconds since the run started, as the page's clock shows."""
        tl = self.timeline
        end = tl.end if self.finished else self.clock()
        if not self.finished and self.requests is not None:
            end = max(end, self._newest_record)
        return round(max(0.0, end - tl.origin), 3)

    def state(self, t: float | None = None) -> dict[str, Any]:
        """The JSON of `/api/state` (`t`: seconds since the run started; default now)."""
        with self._lock:
            now = self.now_s()
            at = now if t is None else max(0.0, min(float(t), now))
            graph = self._graph(at)
            phases = self._phases(at)
            current = self._current(at)
            return {
                "run": self._run(now),
                "t": round(at, 3),
                "duration_s": now,
                "live": self.live and not self.finished,
                "phases": phases,
                "current_phase": current,
                "nodes": self._nodes(at),
                "edges": edges_shown(graph),
                "series": self.requests.points(at) if self.requests is not None else [],
                "slowest": self.traces.slowest(at),
                "warnings": list(self.warnings),
            }

    def graph(self, t: float) -> dict[str, Any]:
        """The service graph at `t` as report.json holds a phase's (`graph_svg` draws it)."""
        with self._lock:
            return self._graph(t)

    def _run(self, now: float) -> dict[str, Any]:
        meta = self.meta
        status = "running" if not self.finished else self.timeline.status
        return {
            "id": meta.get("run_id") or self.rd.path.name,
            "scenario": meta.get("scenario") or (self.scenario.name if self.scenario else None),
            "status": status,
            "runtime": meta.get("runtime"),
            "started_at": meta.get("started_at"),
            "dashboard_url": meta.get("dashboard_url"),
            "error": self.timeline.error,
            "duration_s": now,
        }

    def _abs(self, t: float) -> float:
        return self.timeline.origin + t

    def _phases(self, t: float) -> list[dict[str, Any]]:
        at = self._abs(t)
        windows = {w.index: w for w in self.timeline.phases}
        planned = list(self.scenario.phases) if self.scenario else []
        count = max([len(planned), *(i + 1 for i in windows)])
        out = []
        for index in range(count):
            spec = planned[index] if index < len(planned) else None
            window = windows.get(index)
            expect = list(spec.expect) if spec else []
            judged = self.judged.get(index)
            entry: dict[str, Any] = {
                "name": window.name if window else spec.name if spec else f"phase-{index}",
                "index": index,
                "planned_s": window.planned_s
                if window and window.planned_s
                else (spec.duration if spec else None),
                "started_s": None,
                "ended_s": None,
                "settle_s": window.settle_s if window else None,
                "applied": [resource_name(r) for r in spec.apply] if spec else [],
                "removed": list(spec.remove) if spec else [],
                "actions": self._actions(index, spec, at),
            }
            if window is None or window.start > at:
                done = self.finished and window is None
                entry["status"] = "not_run" if done else "pending"
                entry["expectations"] = not_judged(expect, "phase did not run" if done else None)
            else:
                entry["started_s"] = round(window.start - self.timeline.origin, 3)
                ended = (
                    window.end != OPEN_END
                    and window.end <= at
                    and (self.finished or index in self.judged or self._ended(index))
                )
                if ended:
                    entry["ended_s"] = round(window.end - self.timeline.origin, 3)
                if ended and judged is not None:
                    entry["expectations"] = judged
                    bad = window.status != "completed" or any(e["status"] == "fail" for e in judged)
                    entry["status"] = "failed" if bad else "passed"
                else:
                    entry["status"] = "running"
                    entry["expectations"] = not_judged(expect, None)
            out.append(entry)
        return out

    def _current(self, t: float) -> int | None:
        """The phase whose window holds `t` (the later one at a boundary)."""
        at = self._abs(t)
        held = [w for w in self.timeline.phases if w.start <= at < w.end]
        return max(held, key=lambda w: w.start).index if held else None

    def _ended(self, index: int) -> bool:
        return any(e.event == "phase_end" and e.index == index for e in self.events)

    def _actions(self, index: int, spec: Any, at: float) -> list[dict[str, Any]]:
        name = spec.name if spec else None
        done = [a for a in self.actions if a.get("phase") == name and float(a.get("t", 0)) <= at]
        planned = list(spec.actions) if spec else []
        out = []
        for i, action in enumerate(planned):
            seen = done[i] if i < len(done) else None
            out.append(
                {
                    "verb": action.verb,
                    "target": getattr(action, action.verb),
                    "at_s": action.at,
                    "done": seen is not None,
                    "effective": seen.get("effective") if seen else None,
                    "instances": seen.get("instances", []) if seen else [],
                }
            )
        return out

    def _nodes(self, t: float) -> list[dict[str, Any]]:
        if self.plan is None:
            return []
        at = self._abs(t)
        down: set[str] = set()
        for action in self.actions:
            if float(action.get("t", 0)) > at or action.get("verb") not in _DOWN:
                continue
            for inst in action.get("instances") or []:
                (down.add if _DOWN[str(action["verb"])] else down.discard)(str(inst))
        out = []
        groups: dict[tuple[str, str], list[str]] = {}
        for inst in self.plan.instances:
            groups.setdefault((inst.service, inst.version), []).append(inst.name)
        for (service, version), names in groups.items():
            out.append(
                {
                    "id": f"{service}-{version}",
                    "service": service,
                    "version": version,
                    "instances": len(names),
                    "down": sorted(n for n in names if n in down),
                }
            )
        return out

    def _graph(self, t: float) -> dict[str, Any]:
        windowed = [e for e in self.edges.window(t - EDGE_WINDOW_S, t) if e["requests"]]
        edges = windowed if windowed or self.edges.cells else self._edges_json_at(t)
        down = {n["service"]: len(n["down"]) for n in self._nodes(t) if n["down"]}
        return graph_at(self.plan, edges, self._policies_at(self._abs(t)), down)

    def _edges_json_at(self, t: float) -> list[dict[str, Any]]:
        """Without metrics.jsonl (telemetry off): the edges of the phase that
        held `t`, from edges.json once that phase ended."""
        at = self._abs(t)
        for window in self.timeline.phases:
            if window.start <= at <= window.end and window.end != OPEN_END:
                return self.phase_edges.get(window.name, [])
        return []

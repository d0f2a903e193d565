"""Synthetic run directories: the report is pure, so no mesh is needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0  # the run's start, epoch seconds


def request(
    t: float,
    *,
    name: str = "GET /products",
    journey: str | None = "browse",
    latency_us: int = 1000,
    ok: bool = True,
    status: int | None = None,
    instance: str | None = "product-v1-0",
    upstreams: Sequence[str] = (),
    error: str | None = None,
    cohort: str | None = None,
) -> dict[str, Any]:
    """One record line as the locustfile writes it; `t` is seconds after T0.
    Without a `cohort` the line has no such key, as before cohorts existed."""
    line = {
        "t": T0 + t,
        "journey": journey,
        "name": name,
        "status": status if status is not None else (200 if ok else 503),
        "ok": ok,
        "latency_us": latency_us,
        "instance": instance,
        "upstreams": list(upstreams),
        "error": error if error is not None or ok else "HTTP 503",
    }
    if cohort:
        line["cohort"] = cohort
    return line


def phase_events(
    phases: Sequence[tuple[str, float]],
    *,
    killed_in: int | None = None,
    run_status: str = "completed",
) -> list[dict[str, Any]]:
    """Events of a run whose phases follow each other from T0 + 1 s.

    `killed_in`: index of the phase during which meshsim was killed (no
    phase_end, no later phases, no run_end).
    """
    events: list[dict[str, Any]] = [{"event": "run_start", "t": T0}]
    t = T0 + 1.0
    for index, (name, duration) in enumerate(phases):
        events.append(
            {"event": "phase_start", "phase": name, "index": index, "t": t, "planned_s": duration}
        )
        if killed_in == index:
            return events
        t += duration
        events.append(
            {"event": "phase_end", "phase": name, "index": index, "t": t, "status": "completed"}
        )
    events.append({"event": "run_end", "t": t + 0.5, "status": run_status})
    return events


MESH = """mesh:
  services:
    product:
      versions: {v1: {replicas: 1}, v2: {replicas: 1}}"""


def scenario_yaml(phases: Sequence[tuple[str, float, Sequence[str]]], name: str = "demo") -> str:
    lines = [f"name: {name}", MESH, "phases:"]
    for phase, duration, expect in phases:
        lines += [f"  - name: {phase}", f"    duration: {duration:g}s"]
        lines.append(f"    expect: {json.dumps(list(expect))}")
    return "\n".join(lines) + "\n"


@dataclass
class RunDir:
    path: Path

    def write(
        self,
        *,
        phases: Sequence[tuple[str, float, Sequence[str]]],
        records: Sequence[dict[str, Any]],
        events: Sequence[dict[str, Any]] | None = None,
        edges: dict[str, Any] | None = None,
        partial_line: bool = False,
        **meta: Any,
    ) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        run = {
            "run_id": "20231114-221320-abcd",
            "scenario": "demo",
            "scenario_file": "scenarios/demo.yaml",
            "runtime": "local",
            "started_at": "2023-11-14T22:13:20+00:00",
            "ready_s": 3.2,
            "ingress_url": "http://127.0.0.1:8080",
            **meta,
        }
        (self.path / "run.json").write_text(json.dumps(run))
        (self.path / "scenario.yaml").write_text(scenario_yaml(phases))
        if events is None:
            events = phase_events([(name, duration) for name, duration, _ in phases])
        (self.path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        records_dir = self.path / "records"
        records_dir.mkdir(exist_ok=True)
        text = "".join(json.dumps(r) + "\n" for r in records)
        if partial_line:
            text += '{"t": 1700000001.5, "journey": "bro'
        (records_dir / "requests-1234.jsonl").write_text(text)
        if edges is not None:
            (self.path / "edges.json").write_text(json.dumps(edges))
        return self.path


def steady(start: float, end: float, per_second: int = 10, **fields: Any) -> list[dict[str, Any]]:
    """`per_second` requests evenly spread over [start, end) seconds after T0."""
    count = int((end - start) * per_second)
    return [request(start + i / per_second, **fields) for i in range(count)]

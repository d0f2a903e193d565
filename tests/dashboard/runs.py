"""A run directory written as a live run writes it, step by step (no mesh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.report.runs import T0, request, scenario_yaml

PLAN = {
    "instances": [
        {
            "service": s,
            "version": "v1",
            "index": 0,
            "app_port": 20000 + i,
            "inbound_port": 21000 + i,
            "outbound_port": 22000 + i,
            "admin_port": 23000 + i,
        }
        for i, s in enumerate(["order", "product"])
    ],
    "ingress": {"port": 8080, "admin_port": 24000},
    "services": {"order": {"v1": 1}, "product": {"v1": 1}},
}


class LiveRun:
    """Appends to a run directory the way the runner, Locust and the scraper do."""

    def __init__(self, path: Path, phases: list[tuple[str, float, list[str]]]) -> None:
        self.path = path
        path.mkdir(parents=True)
        (path / ".meshsim-run").write_text('{"format": "meshsim-run/1", "entries": []}')
        (path / "run.json").write_text(
            json.dumps({"run_id": "live-1", "scenario": "demo", "runtime": "local"})
        )
        (path / "scenario.yaml").write_text(scenario_yaml(phases))
        (path / "records").mkdir()
        self.event("run_start", 0.0)
        self.counters: dict[str, dict[str, int]] = {}

    def _append(self, name: str, line: dict[str, Any]) -> None:
        with (self.path / name).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def event(self, event: str, t: float, **fields: Any) -> None:
        self._append("phases.jsonl", {"event": event, "t": T0 + t, **fields})

    def requests(self, start: float, end: float, per_second: int = 10, **fields: Any) -> None:
        count = int((end - start) * per_second)
        for i in range(count):
            self._append("records/requests-1.jsonl", request(start + i / per_second, **fields))

    def scrape(
        self,
        t: float,
        proxy: str,
        cluster: str,
        requests: int,
        errors: int,
        faults: dict[str, dict[str, int]] | None = None,
    ) -> None:
        """Cumulative counters of one cluster of one proxy, as metrics.jsonl holds them."""
        mine = self.counters.setdefault(f"{proxy}/{cluster}", {"requests": 0, "rq_5xx": 0})
        mine["requests"] += requests
        mine["rq_5xx"] += errors
        line = {
            "t": T0 + t,
            "proxy": proxy,
            "clusters": {
                cluster: {
                    "requests": mine["requests"],
                    "rq_5xx": mine["rq_5xx"],
                    "rq_2xx": mine["requests"] - mine["rq_5xx"],
                    "latency": {
                        "buckets": {"5": mine["requests"]},
                        "sum_ms": 3.0 * mine["requests"],
                    },
                }
            },
        }
        if faults:
            line["faults"] = faults
        self._append("metrics.jsonl", line)

    def edges(self, phases: dict[str, list[dict[str, Any]]]) -> None:
        (self.path / "edges.json").write_text(json.dumps({"phases": phases}))

    def plan(self) -> None:
        (self.path / "plan.json").write_text(json.dumps(PLAN))

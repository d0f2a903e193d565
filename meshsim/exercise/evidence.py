"""What a check judges: the learner's scenario as written, the run's report
(report.json's shape), and the probes sent as workloads during the run.

Pure: nothing here starts a mesh, so every judgement can be tested on a
recorded or hand-written report (tests/exercise/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshsim.scenario.model import Scenario

ROOT_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str


def good(text: str) -> Finding:
    return Finding(True, text)


def bad(text: str) -> Finding:
    return Finding(False, text)


@dataclass(frozen=True)
class Probe:
    """One request sent as a workload (meshsim.request_as) during the judged phase."""

    who: str  # the workload: user, order
    method: str
    url: str
    status: int | None  # None: no answer (error says why)
    error: str = ""


@dataclass
class Evidence:
    scenario: Scenario
    report: dict[str, Any] | None = None  # report.json of the run; None before it
    probes: list[Probe] = field(default_factory=list)

    # -------------------------------------------------- the scenario as written

    def phase_names(self) -> list[str]:
        return [p.name for p in self.scenario.phases]

    def in_force(self, phase: str) -> dict[str, dict[str, Any]]:
        """Every resource in force during `phase` (applied in it or before it
        and not removed since), by `Kind/namespace/name`."""
        state: dict[str, dict[str, Any]] = {}
        for p in self.scenario.phases:
            for name in p.remove:
                kind, _, short = name.partition("/")
                for key in [
                    k for k in state if k.split("/")[0] == kind and k.endswith(f"/{short}")
                ]:
                    del state[key]
            for resource in p.apply:
                meta = resource.get("metadata") or {}
                ns = meta.get("namespace") or "default"
                state[f"{resource.get('kind')}/{ns}/{meta.get('name')}"] = resource
            if p.name == phase:
                break
        return state

    def resources(self, phase: str, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.in_force(phase).values() if r.get("kind") == kind]

    def actions(self, upto: str) -> list[dict[str, Any]]:
        """The chaos actions of every phase up to and including `upto`."""
        out: list[dict[str, Any]] = []
        for p in self.scenario.phases:
            out += [a.model_dump(exclude_none=True) for a in p.actions]
            if p.name == upto:
                break
        return out

    # ---------------------------------------------------------------- the run

    def phase(self, name: str) -> dict[str, Any]:
        for p in (self.report or {}).get("phases", []):
            if p.get("name") == name:
                return dict(p)
        return {}

    def window(self, name: str) -> dict[str, Any]:
        """The part of a phase its expectations judge: after its `settle`, if any."""
        phase = self.phase(name)
        settled = phase.get("settled")
        return dict(settled) if isinstance(settled, dict) and settled.get("edges") else phase

    def edge(self, phase: str, source: str, dest: str) -> dict[str, Any]:
        """Edge counters summed over the destination's versions, with
        `by_version` {version: requests}."""
        out: dict[str, Any] = {"requests": 0, "errors": 0, "by_version": {}}
        for e in self.window(phase).get("edges", []):
            if e.get("source") != source or e.get("destination") != dest:
                continue
            for key, value in e.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    out[key] = out.get(key, 0) + value
            version = str(e.get("destination_version") or "")
            if version:
                out["by_version"][version] = out["by_version"].get(version, 0) + int(
                    e.get("requests") or 0
                )
        return out

    def journey(self, phase: str, name: str) -> dict[str, Any]:
        """A journey's numbers in the judged window. The settled part of a
        phase has no per-journey block: when `name` is the load's only
        journey (and no legacy client adds its own), its overall numbers are
        that journey's."""
        window = self.window(phase)
        journeys = window.get("journeys") or self.phase(phase).get("journeys") or {}
        only = set(self.scenario.load.journeys) == {name} and not self._legacy_clients()
        if "journeys" not in window and "settle_s" in window and only:
            return {k: window.get(k) for k in ("requests", "failures", "error_rate", "latency_ms")}
        found = journeys.get(name) if isinstance(journeys, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def _legacy_clients(self) -> bool:
        mesh = self.scenario.mesh
        return bool(getattr(mesh, "legacy_clients", None)) if mesh is not None else False

    def cohort(self, phase: str, name: str) -> dict[str, Any]:
        cohorts = self.window(phase).get("cohorts") or {}
        found = cohorts.get(name) if isinstance(cohorts, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def probe(self, who: str) -> Probe | None:
        return next((p for p in self.probes if p.who == who), None)


def rate(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def short_host(host: object) -> str:
    return str(host or "").split(".")[0]


def routes_for(vs: dict[str, Any], host: str) -> list[dict[str, Any]]:
    """The http rules of a VirtualService for `host` (none if it names other hosts)."""
    spec = vs.get("spec") or {}
    if host not in {short_host(h) for h in spec.get("hosts") or []}:
        return []
    return [r for r in spec.get("http") or [] if isinstance(r, dict)]


def fault_at_destination(vs: dict[str, Any]) -> bool:
    annotations = (vs.get("metadata") or {}).get("annotations") or {}
    return annotations.get("meshsim.io/fault-at") == "destination"


def percent(value: object) -> float:
    """A fault's `percentage: {value: N}` (Istio's default when absent: 100)."""
    if isinstance(value, dict):
        return float(value.get("value", 100))
    return 100.0


def duration_s(text: object) -> float | None:
    """`200ms`, `1.5s`, `1m` as seconds; None when absent or unreadable."""
    s = str(text or "").strip()
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if s.endswith(unit):
            try:
                return float(s[: -len(unit)]) * factor
            except ValueError:
                return None
    return None

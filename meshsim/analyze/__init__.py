"""`meshsim analyze`: every phase's policies read against the mesh and its
call graph before anything runs (docs/analyze.md).

    >>> from meshsim.analyze import analyze_file
    >>> report = analyze_file("scenarios/canary.yaml")      # doctest: +SKIP
    >>> report.exit_code, [f.code for f in report.findings]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.analyze.budgets import Thresholds, amplification, edge_policies
from meshsim.analyze.findings import CODES, Finding, exit_code

__all__ = ["CODES", "Analysis", "Finding", "Thresholds", "analyze_file"]


@dataclass
class Analysis:
    """What `analyze` found in one scenario, and the figures behind it."""

    scenario: str
    file: str
    findings: list[Finding] = field(default_factory=list)
    # phase → service → {"attempts": n, "path": [...]}: the worst case per service
    amplification: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    strict: bool = False

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings, self.strict)

    def to_dict(self) -> dict[str, Any]:
        levels: list[str] = [f.level for f in self.findings]
        return {
            "scenario": self.scenario,
            "file": self.file,
            "exit_code": self.exit_code,
            "counts": {lv: levels.count(lv) for lv in ("error", "warning", "info")},
            "findings": [f.to_dict() for f in self.findings],
            "amplification": self.amplification,
        }


def analyze_file(
    path: str | Path,
    *,
    phase: str | None = None,
    thresholds: Thresholds | None = None,
    strict: bool = False,
    time_scale: float = 1.0,
) -> Analysis:
    """Analyze a scenario file. Bad input raises ScenarioError (exit 2), an
    unknown `phase` UsageError. `time_scale` reads the phases as a run with
    that `--time-scale` holds them (settles shortened, fault delays not)."""
    from meshsim.analyze import budgets, gotchas, references
    from meshsim.analyze.context import phase_views
    from meshsim.errors import UsageError
    from meshsim.scenario import load_scenario
    from meshsim.scenario.yamlpos import decode, parse_yaml

    file = str(path)
    scenario = load_scenario(path)
    doc = parse_yaml(decode(Path(path).read_bytes(), file), file)
    names = [p.name for p in scenario.phases]
    if phase is not None and phase not in names:
        raise UsageError(f"no phase {phase!r} in {file}; its phases: {', '.join(names)}")
    limits = thresholds or Thresholds()
    out = Analysis(scenario.name, file, strict=strict)
    merged: dict[tuple[str, str, str, int | None], list[str]] = {}
    previous = None
    for view in phase_views(scenario, doc, file):
        before, previous = previous, view
        if phase is not None and view.name != phase:
            continue
        policies = edge_policies(view)
        out.amplification[view.name] = {
            s: {"attempts": n, "path": path}
            for s, (n, path) in sorted(amplification(view, policies).items())
        }
        found = (
            references.destinations(view)
            + references.hosts_and_gateways(view)
            + references.shadowed(view)
            + budgets.amplification_findings(view, policies, limits)
            + budgets.budget_findings(view, policies)
            + gotchas.ingress_missed(view)
            + gotchas.ejection(view)
            + gotchas.strict_legacy(view)
            + gotchas.settle_short(view, before, time_scale)
        )
        for f in found:  # the same finding in several phases is said once, naming them
            merged.setdefault((f.code, f.resource, f.message, f.line), []).append(view.name)
    for (code, resource, message, line), phases in merged.items():
        out.findings.append(Finding(code, ", ".join(phases), resource, message, file, line))
    order = {"error": 0, "warning": 1, "info": 2}
    out.findings.sort(key=lambda f: (order[f.level], f.line or 0, f.code))
    return out


# Warnings `up` prints before a run too: the run's own verdict may not hold.
RUN_WARNINGS = {"MSA501"}


def run_findings(path: str | Path, time_scale: float = 1.0) -> list[str]:
    """What `up` prints before it starts, as text: the error-level findings
    of a scenario, and the warnings about the run's own verdict (a settle too
    short for a delay in flight) at the run's `time_scale`; none when the
    scenario does not load (the run says why)."""
    from meshsim.errors import MeshsimError

    try:
        found = analyze_file(path, time_scale=time_scale).findings
    except MeshsimError:
        return []
    return [f.text() for f in found if f.level == "error" or f.code in RUN_WARNINGS]

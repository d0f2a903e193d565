"""Record the evidence the judging unit tests read: run every exercise's
reference solution, and each wrong fix that only a run can expose, through
`meshsim exercise check`, and keep what the checks look at.

    python -m tests.exercise.record [NAME ...]    # writes tests/exercise/recorded/NAME.json

Real runs (local runtime, time-scaled 0.5): re-record after changing an
exercise or what its check reads.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from meshsim.exercise.catalog import SCENARIO_FILE, exercises, find_exercise
from meshsim.exercise.grade import check

HERE = Path(__file__).parent
RECORDED = HERE / "recorded"
WRONG = HERE / "wrong"
# wrong fixes that read right and only fail once run
RUN_ONLY = [
    "03-retries-at-caller",
    "04-timeout-too-long",
    "05-never-ejects",
    "06-no-exception",
    "07-allow-get",
    "07-deny-all",
]
EDGE_KEYS = (
    "source", "destination", "destination_version", "requests", "errors", "retries",
    "timeouts", "ejections", "faults_aborted", "faults_delayed", "denied",
)  # fmt: skip
PHASE_KEYS = (
    "name",
    "status",
    "requests",
    "failures",
    "error_rate",
    "served",
    "journeys",
    "cohorts",
)
SETTLED_KEYS = ("settle_s", "requests", "failures", "error_rate", "latency_ms", "served")


def trim(report: dict[str, Any]) -> dict[str, Any]:
    """What the checks read, without histograms and timelines."""

    def edges(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: e[k] for k in EDGE_KEYS if k in e} for e in items]

    phases = []
    for p in report.get("phases", []):
        out = {k: p[k] for k in PHASE_KEYS if k in p}
        out["edges"] = edges(p.get("edges", []))
        if isinstance(p.get("settled"), dict):
            s = p["settled"]
            out["settled"] = {k: s[k] for k in SETTLED_KEYS if k in s}
            out["settled"]["edges"] = edges(s.get("edges", []))
        phases.append(out)
    return {"scenario": report.get("scenario"), "phases": phases}


def cases() -> dict[str, Path]:
    out = {f"{e.number:02d}-solution": e.solution for e in exercises()}
    out.update({name: WRONG / f"{name}.yaml" for name in RUN_ONLY})
    return out


def record(name: str, scenario: Path) -> None:
    ex = find_exercise(name[:2])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(scenario, work / SCENARIO_FILE)
        verdict = check(ex, work, time_scale=0.5, run_dir=work / "run")
    assert verdict.evidence is not None and verdict.ran, f"{name}: not run"
    data = {
        "report": trim(verdict.evidence.report or {}),
        "probes": [asdict(p) for p in verdict.evidence.probes],
    }
    RECORDED.mkdir(exist_ok=True)
    (RECORDED / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    print(name, "solved" if verdict.solved else "not solved", [f.text for f in verdict.findings])


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(cases())
    for case in wanted:
        record(case, cases()[case])

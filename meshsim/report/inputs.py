"""Reading a run directory: what the runner and the load generator left behind.

Everything here is lenient on purpose. A run that was killed leaves a half
written last line, a phase without an end and no `run_end`; the report must
still say what happened, so unreadable lines are skipped and counted in
`RunInputs.warnings` rather than raised.

Layout read (all written by others, see docs/report.md):

- `run.json`       run metadata (required: without it this is not a run directory)
- `phases.jsonl`   the phase timeline as events
- `records/`      one request per line, from the load generator
                   (format and reader: `meshsim.load.records`)
- `edges.json`     optional per-phase edge counters from the sidecars (and, for
                   a phase with a settle, from its settle point on: `settled`)
- `scenario.yaml`  the scenario as it ran (expectations are read from it)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.errors import UsageError
from meshsim.load.records import count_lines, last_time
from meshsim.report import decode
from meshsim.report.stats import Request
from meshsim.rundir import RunDir
from meshsim.timeline import PhaseEvent, json_lines, number, read_events


@dataclass
class RunInputs:
    run_dir: Path
    meta: dict[str, Any]
    events: list[PhaseEvent]
    edges: dict[str, list[dict[str, Any]]] | None  # phase name -> edges; None: no edges.json
    scenario_path: Path | None
    warnings: list[str] = field(default_factory=list)
    # phase name -> its policy change: resources, took_s, effective_s (phases.jsonl)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # phase name -> its edges from its settle point on (edges.json `settled`)
    settled_edges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # records after this time (epoch seconds) are missing: a records file is
    # shorter than the run left it (run_end's `records`); None: nothing missing
    truncated_after: float | None = None


def read_run_dir(run_dir: Path) -> RunInputs:
    """Read everything the report needs from `run_dir`.

    Raises `UsageError` when `run_dir` is not a run directory (no readable
    `run.json`); every other problem becomes a warning.
    """
    run_dir = Path(run_dir)
    rd = RunDir(run_dir)
    meta_path = rd.run_json
    if not meta_path.is_file():
        raise UsageError(f"{run_dir} is not a meshsim run directory: {meta_path.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{meta_path}: cannot read run metadata: {exc}") from exc
    if not isinstance(meta, dict):
        raise UsageError(f"{meta_path}: expected a JSON object")

    warnings: list[str] = []
    events = read_events(rd.phases, warnings)
    if not rd.records.is_dir():
        warnings.append("records/ is missing: no requests were recorded")
    raw_edges = _read_edges_file(rd.edges, warnings)
    truncated_after = _check_records(rd.records, events, warnings)
    return RunInputs(
        run_dir,
        meta,
        events,
        _edges_by_phase(raw_edges, "phases", warnings),
        _scenario_path(run_dir, meta, warnings),
        warnings,
        _read_policies(rd.phases),
        _edges_by_phase(raw_edges, "settled", None) or {},
        truncated_after,
    )


def _scenario_path(run_dir: Path, meta: dict[str, Any], warnings: list[str]) -> Path | None:
    """The copy in the run directory, else the original file if it still exists."""
    copy = RunDir(run_dir).scenario
    if copy.is_file():
        return copy
    original = meta.get("scenario_file")
    if isinstance(original, str) and Path(original).is_file():
        warnings.append(
            f"scenario.yaml is not in the run directory: expectations were read from "
            f"{original}, which may have changed since the run"
        )
        return Path(original)
    warnings.append("scenario.yaml is missing: no expectations were evaluated")
    return None


def iter_requests(run_dir: Path) -> Iterator[Request]:
    """The run's request records, read once, file by file (not sorted: the
    report's aggregates do not depend on order), decoded by msgspec
    (`meshsim.report.decode`). RecordsError for a line meshsim cannot have
    written."""
    return decode.iter_requests(RunDir(run_dir).records)


def _check_records(
    records_dir: Path, events: list[PhaseEvent], warnings: list[str]
) -> float | None:
    """Compare each records file with what `run_end` says it held when the
    load stopped. A file cut short (or gone) loses the requests after its last
    readable one: returns the earliest such time (0.0: from the start), and
    says so in a warning. None when nothing is missing, or for a run that did
    not log its records (killed, or from before meshsim logged them)."""
    logged = next((e.records for e in reversed(events) if e.event == "run_end"), None)
    if not logged:
        return None
    cut: list[float] = []
    for name, expected in sorted(logged.items()):
        if not isinstance(expected, dict) or "/" in name or name in ("", ".", ".."):
            continue
        lines, size = number(expected.get("lines")), number(expected.get("bytes"))
        path = records_dir / name
        try:
            found = count_lines(path)
        except OSError:
            warnings.append(
                f"records/{name} is missing: the run recorded {lines or 0:.0f} requests "
                "in it; the phases it covered are incomplete"
            )
            cut.append(0.0)
            continue
        have = found["lines"]  # complete lines
        if (size is not None and found["bytes"] < size) or (lines is not None and have < lines):
            last = last_time(path)
            warnings.append(
                f"records/{name} was cut short: {found['bytes']:,} of {size or 0:,.0f} bytes, "
                f"{have:,} of {lines or 0:,.0f} requests; the requests after "
                "the last readable one are lost and the phases they belong to are incomplete"
            )
            cut.append(last if last is not None else 0.0)
    return min(cut) if cut else None


def _read_edges_file(path: Path, warnings: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.append(f"edges.json: cannot read: {exc}")
        return None


def _edges_by_phase(
    raw: Any, key: str, warnings: list[str] | None
) -> dict[str, list[dict[str, Any]]] | None:
    """edges.json's `phases` (or `settled`): phase name → its edges. `warnings`
    None: the key is optional and its absence says nothing."""
    if raw is None:
        return None
    phases = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(phases, dict):
        if warnings is not None:
            warnings.append(f'edges.json: expected {{"{key}": {{...}}}}')
        return None
    return {
        str(name): [e for e in edges if isinstance(e, dict)]
        for name, edges in phases.items()
        if isinstance(edges, list)
    }


def _read_policies(path: Path) -> dict[str, dict[str, Any]]:
    """Each phase's policy change as the runner logged it (`policy` events)."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for raw in json_lines(path, []):
        phase = raw.get("phase")
        if raw.get("event") == "policy" and isinstance(phase, str):
            out[phase] = {k: raw[k] for k in ("resources", "took_s", "effective_s") if k in raw}
    return out

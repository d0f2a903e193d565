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
from meshsim.load.records import RequestRecord, last_time, read_records
from meshsim.rundir import RunDir


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    event: str  # run_start | phase_start | phase_settled | phase_end | run_end
    t: float
    phase: str | None = None
    index: int | None = None
    planned_s: float | None = None
    status: str | None = None
    error: str | None = None  # run_end of a mesh that could not run: what went wrong
    settle_s: float | None = None  # phase_start, phase_settled: the phase's settle
    # run_end: each records file's complete lines and size when the load stopped
    records: dict[str, Any] | None = None


@dataclass
class RunInputs:
    run_dir: Path
    meta: dict[str, Any]
    events: list[PhaseEvent]
    requests: list[RequestRecord]  # ordered by start time
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
    events = _read_events(rd.phases, warnings)
    requests = _read_requests(rd.records, warnings)
    raw_edges = _read_edges_file(rd.edges, warnings)
    truncated_after = _check_records(rd.records, events, warnings)
    return RunInputs(
        run_dir,
        meta,
        events,
        requests,
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


def _json_lines(path: Path, warnings: list[str]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSON-lines file.

    A damaged last line is what a killed writer leaves and is dropped
    silently; damaged lines elsewhere are counted in a warning.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        warnings.append(f"{path.name}: cannot read: {exc}")
        return
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            if number != len(lines):
                bad += 1
            continue
        if isinstance(value, dict):
            yield value
        else:
            bad += 1
    if bad:
        warnings.append(f"{path.name}: skipped {bad} unreadable line(s)")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_phase_events(path: Path) -> list[PhaseEvent]:
    """The events of a phases.jsonl file, leniently: what could be read."""
    return _read_events(path, [])


def _read_events(path: Path, warnings: list[str]) -> list[PhaseEvent]:
    if not path.is_file():
        warnings.append("phases.jsonl is missing: the phase timeline is unknown")
        return []
    events: list[PhaseEvent] = []
    for raw in _json_lines(path, warnings):
        t = _number(raw.get("t"))
        kind = raw.get("event")
        if t is None or not isinstance(kind, str):
            continue
        index = raw.get("index")
        phase = raw.get("phase")
        status = raw.get("status")
        error = raw.get("error")
        events.append(
            PhaseEvent(
                event=kind,
                t=t,
                phase=phase if isinstance(phase, str) else None,
                index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                planned_s=_number(raw.get("planned_s")),
                status=status if isinstance(status, str) else None,
                error=error if isinstance(error, str) else None,
                settle_s=_number(raw.get("settle_s")),
                records=records if isinstance(records := raw.get("records"), dict) else None,
            )
        )
    return events


def _read_requests(records_dir: Path, warnings: list[str]) -> list[RequestRecord]:
    if not records_dir.is_dir():
        warnings.append("records/ is missing: no requests were recorded")
        return []
    return read_records(records_dir)


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
        lines, size = _number(expected.get("lines")), _number(expected.get("bytes"))
        path = records_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            warnings.append(
                f"records/{name} is missing: the run recorded {lines or 0:.0f} requests "
                "in it; the phases it covered are incomplete"
            )
            cut.append(0.0)
            continue
        have = data.count(b"\n")  # complete lines
        if (size is not None and len(data) < size) or (lines is not None and have < lines):
            last = last_time(path)
            warnings.append(
                f"records/{name} was cut short: {len(data):,} of {size or 0:,.0f} bytes, "
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
    for raw in _json_lines(path, []):
        phase = raw.get("phase")
        if raw.get("event") == "policy" and isinstance(phase, str):
            out[phase] = {k: raw[k] for k in ("resources", "took_s", "effective_s") if k in raw}
    return out

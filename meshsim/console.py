"""Everything meshsim shows in a terminal: the only module that imports rich.

The library never prints; the CLI calls these functions, and the runner
reaches `ConsoleProgress` only through run events (meshsim.events). Keeping
rich here keeps the rest usable from notebooks and other programs (ruff's
TID251 rule enforces it).

Messages are rendered as plain `Text`, never as console markup, so a path or
an error containing "[...]" prints as it is. And every text printed here goes
through `SafeText`, which shows control characters (ESC, NUL, CR, C1, bidi
overrides) escaped as `\x1b`: a scenario name, a span from the collector or
an HTTP body can never move the cursor, recolour or fake a " PASS " line.
Names and one-line messages escape newlines too (`one_line`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

import meshsim.report.format as fmt
from meshsim.events import Progress, RunEventHandler, RunInfo
from meshsim.report.model import PASS, Report
from meshsim.report.text import one_line, visible
from meshsim.rundir import RunDir

if TYPE_CHECKING:  # annotations only: `meshsim report` never reads access logs or traces
    from meshsim.telemetry.accesslog import AccessLogEntry
    from meshsim.telemetry.traces import Trace


class SafeText(Text):
    """rich's `Text` that never passes a control character to the terminal
    (rich itself strips only BEL, BS, VT, FF and CR; ESC and NUL go through)."""

    def __init__(self, text: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(visible(text), *args, **kwargs)

    def append(self, text: str | Text, style: str | Any | None = None) -> SafeText:
        super().append(visible(text) if isinstance(text, str) else text, style)
        return self


CI_WIDTH = 120  # a log has no width; rich's default of 80 wraps every table
_consoles: dict[str, Console] = {}


def _console(stream: str) -> Console:
    if stream not in _consoles:
        console = Console(stderr=stream == "stderr", highlight=False)
        if not console.is_terminal and not console.is_jupyter:
            console.width = max(console.width, CI_WIDTH)
        _consoles[stream] = console
    return _consoles[stream]


def print_error(message: str, *, console: Console | None = None) -> None:
    """An expected failure, in red on stderr: a message, never a traceback."""
    (console or _console("stderr")).print(
        SafeText.assemble(("error: ", "bold red"), (message, "red")), soft_wrap=True
    )


def print_warning(message: str, *, console: Console | None = None) -> None:
    (console or _console("stderr")).print(
        SafeText.assemble(("warning: ", "bold yellow"), (one_line(message), "yellow")),
        soft_wrap=True,
    )


def print_info(message: str, *, console: Console | None = None) -> None:
    (console or _console("stdout")).print(SafeText(message), soft_wrap=True)


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    console: Console | None = None,
) -> None:
    """A plain table, e.g. for `meshsim status`: cells are shown with str()."""
    table = Table(title=SafeText(one_line(title)), title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(SafeText(fmt.NA if cell is None else one_line(str(cell))) for cell in row))
    (console or _console("stdout")).print(table)


_EXPLAIN_STYLES = {0: "bold", 1: "bold cyan", 2: "bold"}


def print_explanation(lines: Iterable[tuple[int, str]], *, console: Console | None = None) -> None:
    """`meshsim explain`: (depth, text) lines, headings in bold, two spaces per level."""
    out = console or _console("stdout")
    for depth, text in lines:
        style = _EXPLAIN_STYLES.get(depth, "")
        if depth == 1 and not text[:1].isupper():
            style = "dim"  # "changes: ...", "in force: ..." under a phase heading
        out.print(SafeText("  " * depth + one_line(text), style=style), soft_wrap=True)


def _status_style(status: str) -> str:
    return "green" if status == "completed" else "red"


def phases_table(report: Report) -> Table:
    table = Table(
        title="Phases",
        title_justify="left",
        header_style="bold",
        caption=fmt.SERVED_MEANING,
        caption_justify="left",
    )
    for name in ("phase", "status", "duration", "requests", "rps", "errors", "p50", "p99"):
        table.add_column(name, justify="left" if name in ("phase", "status") else "right")
    table.add_column("served")
    for p in report.phases:
        t = p.traffic
        errors_style = "red" if t.failures else ""
        table.add_row(
            SafeText(one_line(p.name)),
            SafeText(p.status.replace("_", " "), style=_status_style(p.status)),
            fmt.seconds(p.duration_s),
            fmt.number(t.requests),
            fmt.number(t.rps),
            SafeText(fmt.percent(t.error_rate), style=errors_style),
            fmt.ms(t.latency.p50),
            fmt.ms(t.latency.p99),
            SafeText(fmt.served(p)),
        )
    return table


def expectations_table(report: Report) -> Table:
    table = Table(title="Expectations", title_justify="left", header_style="bold")
    for name in ("", "phase", "expectation", "observed", "expected", "note"):
        table.add_column(name, justify="right" if name in ("observed",) else "left")
    for phase, e in report.expectations:
        if e.skipped:
            mark, style = SafeText("–", style="dim"), "dim"
        elif e.passed:
            mark, style = SafeText("✔", style="bold green"), "green"
        else:
            mark, style = SafeText("✘", style="bold red"), "red"
        table.add_row(
            mark,
            SafeText(one_line(phase.name)),
            SafeText(one_line(e.expr)),
            SafeText(fmt.observed(e), style=style),
            SafeText(fmt.expected(e)),
            SafeText(one_line(e.note or ""), style="dim"),
        )
    return table


def print_report(
    report: Report, paths: Sequence[Path] = (), *, console: Console | None = None
) -> None:
    """The end of a run: phases, expectations, warnings, the verdict, the files."""
    out = console or _console("stdout")
    out.print()
    out.print(phases_table(report))
    for phase in report.phases:
        line = fmt.settled(phase)
        if line is not None:
            out.print(SafeText(one_line(line), style="dim"), soft_wrap=True)
    if report.expectations:
        out.print(expectations_table(report))
    else:
        out.print(SafeText("The scenario states no expectations.", style="dim"))
    kept = fmt.trace_keeping(report)
    if kept is not None:
        out.print(SafeText(one_line(kept), style="dim"), soft_wrap=True)
    for warning in report.warnings:
        print_warning(warning, console=out)
    passed = report.verdict == PASS
    out.print(
        SafeText.assemble(
            (
                f" {fmt.verdict_word(report)} ",
                "bold white on green" if passed else "bold white on red",
            ),
            " ",
            (one_line(fmt.verdict_detail(report)), "bold"),
        ),
        soft_wrap=True,
    )
    for path in paths:
        out.print(SafeText.assemble(("  wrote ", "dim"), str(path)), soft_wrap=True)


def _count_phases(run_dir: Path) -> int | None:
    """Phases of the scenario copied into the run directory, for "phase 2/5"."""
    try:
        from meshsim.scenario.loader import load_scenario

        return len(load_scenario(RunDir(run_dir).scenario, check_files=False).phases)
    except Exception:  # only a nicety of the display: "phase 2" will do
        return None


LONG_RUN_S = 60.0  # after this much of a run, the progress line shows its disk use


def disk_use_mb(path: Path) -> float:
    """Bytes under `path` in MB; what cannot be read (a file rotated away) counts 0."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name), follow_symlinks=False).st_size
    return total / 2**20


class _LiveView:
    """What the live display shows, rendered afresh on every refresh."""

    def __init__(self, progress: ConsoleProgress) -> None:
        self.progress = progress

    def __rich__(self) -> RenderableType:
        p = self.progress
        if p.phase is None:
            waiting = "starting the mesh" if p.phases_seen == 0 else "between phases"
            return Spinner("dots", SafeText(one_line(p.current_step or waiting), style="cyan"))
        name, index, planned_s = p.phase
        elapsed = p.phase_elapsed()
        snap = p.snapshot
        line = SafeText.assemble(
            (f"phase {p.phase_label(index)} ", "bold"),
            (one_line(name), "bold cyan"),
            f"  {fmt.seconds(max(planned_s - elapsed, 0.0))} left",
        )
        if snap is not None:
            line.append(
                f"  ·  {fmt.number(snap.rps)} req/s  ·  errors {fmt.percent(snap.error_rate)}"
                f"  ·  p99 {fmt.ms(snap.p99_ms)}  ·  {fmt.number(snap.requests)} requests",
                style="red" if snap.failures else "",
            )
        if disk := p.disk_note():
            line.append(f"  ·  {disk}")
        bar = ProgressBar(total=max(planned_s, 0.001), completed=min(elapsed, planned_s), width=40)
        return Group(line, bar)


class ConsoleProgress(RunEventHandler):
    """Run events on a terminal: a live display on a TTY, plain lines otherwise.

    On a TTY the bottom of the screen shows the mesh starting (a spinner and
    the current step) and then the running phase (i/n, name, time left, rps,
    error rate, p99 so far); every event also leaves one permanent line. In CI
    logs (not a TTY) only the lines are printed, with a progress line at most
    every `interval_s` seconds per phase.

    Example::

        with ConsoleProgress(total_phases=len(scenario.phases)) as progress:
            run(scenario, events=EventBus([progress]))
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        total_phases: int | None = None,  # default: counted from the run's scenario.yaml
        live: bool | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console or _console("stdout")
        self.total_phases = total_phases
        self.live = live if live is not None else self.console.is_terminal
        self.interval_s = interval_s
        self.clock = clock
        self.current_step: str | None = None
        self.phase: tuple[str, int, float] | None = None  # name, index, planned_s
        self.snapshot: Progress | None = None
        self.phases_seen = 0
        self._run_started = clock()
        self._phase_started = clock()
        self._last_line: dict[int, float] = {}
        self._live: Live | None = None
        self.run_dir: Path | None = None
        self._disk: tuple[float, float] | None = None  # (when measured, MB)

    # -- helpers the live view reads ------------------------------------------------

    def phase_label(self, index: int) -> str:
        return f"{index + 1}/{self.total_phases}" if self.total_phases else str(index + 1)

    def phase_elapsed(self) -> float:
        # Our own clock, not the last snapshot's: time left keeps moving between events.
        return self.clock() - self._phase_started

    def disk_note(self) -> str:
        """'run dir N MB' once the run is long (LONG_RUN_S), where a run's
        telemetry starts to weigh; measured at most every `interval_s`, as a
        walk of the directory is not free at the live display's 4 refreshes a second."""
        now = self.clock()
        if self.run_dir is None or now - self._run_started < LONG_RUN_S:
            return ""
        if self._disk is None or now - self._disk[0] >= self.interval_s:
            self._disk = (now, disk_use_mb(self.run_dir))
        return f"run dir {self._disk[1]:.0f} MB"

    # -- output -----------------------------------------------------------------------

    def _line(self, message: str, style: str = "") -> None:
        message = one_line(message)  # one event, one line: a name cannot fake another
        text: Text
        if self.live:
            text = SafeText(message, style=style)
        else:
            stamp = f"[{self.clock() - self._run_started:7.1f}s] "
            text = SafeText.assemble((stamp, "dim"), (message, style))
        self.console.print(text, soft_wrap=True)

    def _start_live(self) -> None:
        if self.live and self._live is None:
            self._live = Live(
                _LiveView(self), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.start()

    def close(self) -> None:
        """Stop the live display (idempotent); called by `run_finished`."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -----------------------------------------------------------------------

    def run_started(self, run: RunInfo) -> None:
        self._run_started = self.clock()
        self.run_dir = run.run_dir
        if self.total_phases is None:
            self.total_phases = _count_phases(run.run_dir)
        self._line(
            f"meshsim: running {run.scenario} on the {run.runtime} runtime "
            f"(run {run.run_id}, {len(run.instances)} instances)",
            "bold",
        )
        self._start_live()

    def dashboard_started(self, url: str) -> None:
        # the line as docs/observability.md gives it, without the time stamp:
        # scripts and tests find the URL at the start of a line
        self.console.print(SafeText(f"dashboard: {url}"), soft_wrap=True)
        self.console.file.flush()  # piped stdout is block-buffered: a script waits for this line

    def step(self, message: str) -> None:
        self.current_step = message
        self._start_live()
        self._line(f"  · {message}", "dim")

    def mesh_ready(self, run: RunInfo, ready_s: float) -> None:
        self.current_step = None
        where = f" at {run.ingress_url}" if run.ingress_url else ""
        self._line(f"✔ mesh ready in {fmt.seconds(ready_s)}{where}", "green")

    def phase_started(self, name: str, index: int, planned_s: float) -> None:
        self.phase = (name, index, planned_s)
        self.phases_seen += 1
        self.snapshot = None
        self._phase_started = self.clock()
        self._last_line[index] = self._phase_started
        self._start_live()
        self._line(
            f"▶ phase {self.phase_label(index)} {name} ({fmt.seconds(planned_s)})", "bold cyan"
        )

    def progress(self, snapshot: Progress) -> None:
        self.snapshot = snapshot
        if self.live:
            return
        now = self.clock()
        if now - self._last_line.get(snapshot.index, float("-inf")) < self.interval_s:
            return
        self._last_line[snapshot.index] = now
        self._line(
            f"  {snapshot.phase} {snapshot.elapsed_s:.0f}/{snapshot.planned_s:.0f}s · "
            f"{fmt.number(snapshot.requests)} requests · {fmt.number(snapshot.rps)} req/s · "
            f"errors {fmt.percent(snapshot.error_rate)} · p99 {fmt.ms(snapshot.p99_ms)}"
            + (f" · {disk}" if (disk := self.disk_note()) else "")
        )

    def policy_applied(self, phase: str, resources: list[str], took_s: float) -> None:
        what = ", ".join(resources) or "no resources"
        self._line(f"  ⚙ applied {what} in {fmt.seconds(took_s)}")

    def action_done(self, phase: str, action: str, target: str) -> None:
        self._line(f"  ⚡ {action} {target}", "yellow")

    def phase_settled(self, name: str, index: int, settle_s: float) -> None:
        self._line(f"  ⏱ {name} settled after {settle_s:g}s: expectations are judged from here")

    def phase_ended(self, name: str, index: int, status: str) -> None:
        snap = self.snapshot if self.snapshot is not None and self.snapshot.index == index else None
        summary = ""
        if snap is not None:
            summary = (
                f": {fmt.number(snap.requests)} requests, errors {fmt.percent(snap.error_rate)}, "
                f"p99 {fmt.ms(snap.p99_ms)}"
            )
        mark = "✔" if status == "completed" else "✘"
        self._line(f"{mark} phase {name} {status}{summary}", _status_style(status))
        self.phase = None
        self.snapshot = None
        self.current_step = None

    def warning(self, message: str) -> None:
        self._line(f"warning: {message}", "yellow")

    def run_finished(self, run: RunInfo, status: str, report: Any | None) -> None:
        self.close()
        took = fmt.seconds(self.clock() - self._run_started)
        self._line(f"run {run.run_id} {status} after {took}", _status_style(status))


# ------------------------------------------------------- traces, logs and the graph

_HEALTH_STYLE = {"healthy": "green", "degraded": "yellow", "failing": "red", "idle": "dim"}


def print_waterfall(
    title: str, rows: Sequence[Any], *, width: int = 48, console: Console | None = None
) -> None:
    """One trace as a waterfall: a line per span (`meshsim.telemetry.traces.WaterfallRow`),
    indented by depth, with a bar where it ran; bold bars are on the critical path."""
    out = console or _console("stdout")
    total = max((r.offset_ms + r.duration_ms for r in rows), default=0.0) or 1.0
    table = Table(
        title=SafeText(one_line(title)),
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    for name, justify in (("span", "left"), ("", "left"), ("ms", "right"), ("status", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        span = r.span
        start = int(r.offset_ms / total * width)
        length = max(1, round(r.duration_ms / total * width))
        style = "red" if span.error else ("bold cyan" if r.critical else "cyan")
        bar = SafeText(" " * start)
        bar.append("█" * min(length, width - start) if r.critical else "▒" * length, style=style)
        label = SafeText("  " * r.depth + ("└ " if r.depth else ""))
        label.append(one_line(span.label), style="bold" if r.critical else "")
        label.append(f"  {one_line(span.name)}", style="dim")
        status = SafeText(one_line(str(span.status or "-")), style="red" if span.error else "")
        if span.flags not in ("-", ""):
            status.append(f" {one_line(str(span.flags))}", style="yellow")
        table.add_row(label, bar, f"{r.duration_ms:.2f}", status)
    out.print(table)
    out.print(SafeText("█ on the critical path  ▒ not", style="dim"))


def print_service_graph(
    title: str, graph: dict[str, Any], *, console: Console | None = None
) -> None:
    """A phase's service graph (`meshsim.topology.ServiceGraph.to_dict`) as a tree
    from the ingress, each edge with rps, error rate and p99, coloured by health."""
    from rich.tree import Tree

    from meshsim.topology import INGRESS, edge_label

    out = console or _console("stdout")
    nodes = {n["name"]: n for n in graph.get("nodes", [])}
    edges: dict[str, list[dict[str, Any]]] = {}
    for e in graph.get("edges", []):
        edges.setdefault(e["source"], []).append(e)

    def node_text(name: str) -> Text:
        health = nodes.get(name, {}).get("health", "idle")
        return SafeText.assemble(
            (one_line(name), f"bold {_HEALTH_STYLE.get(health, '')}"),
            (f"  {one_line(str(health))}", "dim"),
        )

    def grow(branch: Tree, name: str, seen: set[str]) -> None:
        for e in edges.get(name, []):
            style = _HEALTH_STYLE.get(e.get("health", "idle"), "")
            mark = "" if e.get("declared", True) else "  (not declared)"
            child = branch.add(
                SafeText.assemble(
                    ("▶ ", style),
                    node_text(e["destination"]),
                    (f"   {one_line(edge_label(e))}{mark}", style),
                )
            )
            if e["destination"] not in seen:
                grow(child, e["destination"], seen | {e["destination"]})

    tree = Tree(SafeText.assemble((f"{one_line(title)}\n", "bold"), node_text(INGRESS)))
    grow(tree, INGRESS, {INGRESS})
    out.print(tree)
    for key, label in (("missing", "declared, no traffic"), ("unexpected", "not declared")):
        pairs = graph.get(key) or []
        if pairs:
            out.print(
                SafeText(
                    one_line(f"{label}: " + ", ".join(f"{a} → {b}" for a, b in pairs)),
                    style="yellow",
                )
            )
    if graph.get("idle"):
        out.print(SafeText(one_line("idle: " + ", ".join(graph["idle"])), style="dim"))
    if graph.get("matches"):
        out.print(SafeText("✔ the observed graph is the declared one", style="green"))


def print_traces(title: str, traces: Sequence[Trace]) -> None:
    """`meshsim traces`: one row per trace."""
    print_table(
        title,
        ["trace", "request", "status", "duration", "spans", "services"],
        [
            [
                t.trace_id,
                t.name,
                t.status,
                fmt.ms(t.duration_ms),
                len(t.spans),
                ", ".join(t.services),
            ]
            for t in traces
        ],
    )


def print_access_logs(title: str, entries: Sequence[AccessLogEntry], origin: float) -> None:
    """`meshsim logs`: one row per access log entry, its time from `origin`."""
    print_table(
        title,
        [
            "t (s)",
            "phase",
            "dir",
            "call",
            "request",
            "status",
            "flags",
            "ms",
            "answered by",
            "trace",
        ],
        [
            [
                f"{e.t - origin:.3f}",
                e.phase or "-",
                e.direction,
                f"{e.source} → {e.destination}",
                f"{e.method} {e.path}",
                e.status,
                ",".join(e.flags) or "-",
                e.duration_ms,
                e.upstream_instance or "-",
                (e.trace_id or "-")[:16],
            ]
            for e in entries
        ],
    )

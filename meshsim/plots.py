"""Charts for notebooks: latency and errors over time, and the service graph.

matplotlib is imported when a function is called (the `notebooks` extra), so
importing meshsim never does. Each function draws on the `ax` it is given, or
on a new figure, and returns the axes.

>>> result = meshsim.run("scenarios/canary.yaml", time_scale=0.2)   # doctest: +SKIP
>>> plot_timeline(result)                                          # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

from meshsim.errors import UsageError
from meshsim.frames import phase_report
from meshsim.report.model import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAND_COLORS = ("#f3f4f6", "#ffffff")
INTERRUPTED_COLOR = "#fee2e2"
P50_COLOR, P99_COLOR, ERROR_COLOR = "#2563eb", "#7c3aed", "#dc2626"
INGRESS = "istio-ingressgateway"


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError(
            "plots need matplotlib: pip install 'meshsim[notebooks]' (or pip install matplotlib)"
        ) from exc
    return plt


def _report(report: Any) -> Report:
    """A `Report`, or anything carrying one as `.report` (meshsim.api.RunReport)."""
    inner = getattr(report, "report", report)
    if not isinstance(inner, Report):
        raise UsageError(f"expected a meshsim report, got {type(report).__name__}")
    return inner


def plot_timeline(report: Any, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Latency p50 and p99 (ms, left axis) and error rate (%, right axis) per second,
    with each phase as a shaded band named at the top.

    `report` is a `RunReport` (what `meshsim.run` returns) or a `Report`.
    Returns the latency axes; the error-rate axes is `ax.right_ax`.
    """
    rep = _report(report)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(10, 3.6))
    assert ax is not None
    points = rep.timeline
    xs = [p.t_s + p.bucket_s / 2 for p in points]
    nan = float("nan")
    (p50,) = ax.plot(
        xs, [nan if p.p50_ms is None else p.p50_ms for p in points], color=P50_COLOR, label="p50"
    )
    (p99,) = ax.plot(
        xs, [nan if p.p99_ms is None else p.p99_ms for p in points], color=P99_COLOR, label="p99"
    )
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    right = ax.twinx()
    errors = [nan if p.error_rate is None else p.error_rate * 100 for p in points]
    (error_line,) = right.plot(xs, errors, color=ERROR_COLOR, linestyle="--", label="error rate")
    right.set_ylabel("error rate (%)", color=ERROR_COLOR)
    top = max((e for e in errors if e == e), default=0.0)
    right.set_ylim(0, max(5.0, top * 1.15))
    right.tick_params(axis="y", colors=ERROR_COLOR)
    setattr(ax, "right_ax", right)  # noqa: B010 - for callers who want the error axis
    for i, phase in enumerate(rep.phases):
        if phase.start_s is None or phase.end_s is None:
            continue
        color = BAND_COLORS[i % 2] if phase.status == "completed" else INTERRUPTED_COLOR
        ax.axvspan(phase.start_s, phase.end_s, color=color, zorder=0)
        ax.axvline(phase.start_s, color="#9ca3af", linewidth=0.8, zorder=1)
        ax.annotate(
            phase.name,
            xy=(phase.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color="#374151",
        )
    # The error axis (a twin) is drawn above, transparent: the bands stay behind every line.
    lines = [p50, p99, error_line]
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper right", fontsize=8)
    ax.set_title(title or f"{rep.scenario}: latency and errors per second ({rep.verdict})")
    return ax


def graph_edges(
    report: Any, phase: str | None = None, *, by_version: bool = False
) -> dict[tuple[str, str], dict[str, int]]:
    """(caller, callee) → summed counters (requests, errors, retries, ...) of one
    phase, or of every phase. With `by_version`, a service that served from
    several versions appears once per version (`product:v2`) where Envoy's
    counters tell the version (calls routed to a subset)."""
    rep = _report(report)
    phases = [phase_report(rep, phase)] if phase is not None else rep.phases
    seen: dict[str, set[str]] = defaultdict(set)
    for p in phases:
        for edge in p.edges:
            if edge.get("destination_version"):
                seen[str(edge.get("destination"))].add(str(edge["destination_version"]))
    split = {service for service, versions in seen.items() if len(versions) > 1}
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in phases:
        for edge in p.edges:
            callee = str(edge.get("destination"))
            version = edge.get("destination_version")
            if by_version and version and callee in split:
                callee = f"{callee}:{version}"
            counters = out[(str(edge.get("source")), callee)]
            for key, value in edge.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    counters[key] += value
    return {k: dict(v) for k, v in out.items() if v.get("requests", 0) or v.get("mirrored", 0)}


def plot_service_graph(
    report: Any,
    phase: str | None = None,
    ax: Axes | None = None,
    *,
    by_version: bool = False,
) -> Axes:
    """Who called whom in a phase (or the whole run), from the sidecars' counters,
    callers on the left.

    By service, it draws `meshsim.topology`'s graph (what `meshsim graph` shows):
    the declared edges with the observed traffic on them, coloured by health
    (green under 1 % errors, orange under 20 %, red above, grey idle), an edge
    nobody declared dotted. With `by_version`, a service that answered from
    several versions gets one node per version, each arrow labelled with
    requests, errors and retries.
    """
    rep = _report(report)
    if not by_version:
        drawn = _draw_topology(rep, phase, ax)
        if drawn is not None:
            return drawn
    return _draw_edges(rep, phase, ax, by_version)


def _draw_topology(rep: Report, phase: str | None, ax: Axes | None) -> Axes | None:
    """The declared-vs-observed graph of meshsim.topology; None when the run
    directory has no edges to build it from."""
    from pathlib import Path

    from meshsim import topology

    if phase is not None:
        phase_report(rep, phase)  # a UsageError naming the phases
    graphs = topology.run_graphs(Path(rep.run_dir)) if rep.run_dir else {}
    sg = graphs.get(phase or topology.ALL_PHASES)
    if sg is None:
        return None
    g = sg.graph
    nodes = [n for layer in sg.layers() for n in layer]
    edges = {
        (str(u), str(v)): DrawnEdge(
            topology.COLORS[d.get("health", topology.IDLE)],
            "solid" if d.get("declared") else "dotted",
            topology.edge_label(d).replace(" · p99", "\np99"),
        )
        for u, v, d in g.edges(data=True)
    }
    colors = {str(n): topology.COLORS[g.nodes[n].get("health", topology.IDLE)] for n in g}
    title = f"{rep.scenario}: service graph" + (f", phase {phase}" if phase else "")
    return draw_graph(nodes, edges, colors, ax, title=title, node_alpha=0.35)


def _draw_edges(rep: Report, phase: str | None, ax: Axes | None, by_version: bool) -> Axes:
    counted = graph_edges(rep, phase, by_version=by_version)
    title = f"{rep.scenario}: service graph" + (f", phase {phase}" if phase else "")
    if not counted:
        if ax is None:
            _, ax = _pyplot().subplots(figsize=(9, 4.5))
        assert ax is not None
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, "no edge data", ha="center", va="center", transform=ax.transAxes)
        return ax
    ends = [n for edge in counted for n in edge]
    nodes = sorted(dict.fromkeys(ends), key=lambda n: (n != INGRESS, ends.index(n)))
    edges = {
        e: DrawnEdge(ERROR_COLOR if d.get("errors", 0) else "#6b7280", "solid", _edge_label(d))
        for e, d in counted.items()
    }
    return draw_graph(nodes, edges, dict.fromkeys(nodes, "#93c5fd"), ax, title=title)


class DrawnEdge(NamedTuple):
    """How `draw_graph` draws one edge: its colour, line style and label (may be two lines)."""

    color: str
    style: str
    label: str


# On a figure of our own 1 data unit is 1 pt, so the boxes are the sizes drawn.
NODE_W, NODE_H = 124.0, 30.0
COL_GAP, ROW_GAP = 250.0, 58.0
LABEL_PAD = 2.0


def draw_graph(
    nodes: list[str],
    edges: dict[tuple[str, str], DrawnEdge],
    node_colors: dict[str, str],
    ax: Axes | None,
    *,
    title: str,
    node_alpha: float = 1.0,
) -> Axes:
    """Boxes for nodes, arrows along meshsim.graph_layout's routes (an edge
    that skips a column bends through a waypoint of its own, never through a
    node), labels measured as rendered and put where they cover no other edge.
    Artists carry gids (`node:NAME`, `edge:A->B`, `label:A->B`) for tests."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    from meshsim.graph_layout import layered_layout, place_labels

    layout = layered_layout(
        nodes, list(edges), node_size=(NODE_W, NODE_H), col_gap=COL_GAP, row_gap=ROW_GAP
    )
    points = [p for r in layout.routes.values() for p in r] + list(layout.pos.values())
    xs, ys = [x for x, _ in points], [y for _, y in points]
    margin = 70.0
    x0, x1 = min(xs) - NODE_W / 2 - margin, max(xs) + NODE_W / 2 + margin
    y0, y1 = min(ys) - NODE_H / 2 - margin / 2, max(ys) + NODE_H / 2 + margin / 2
    if ax is None:
        _, ax = _pyplot().subplots(figsize=((x1 - x0) / 72, (y1 - y0) / 72 + 0.4))
    assert ax is not None
    ax.set_axis_off()
    ax.set_title(title)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)  # the layout's y grows downwards
    ax.set_aspect("equal")
    ax.apply_aspect()
    for name, (x, y) in layout.pos.items():
        ax.add_patch(
            FancyBboxPatch(
                (x - NODE_W / 2, y - NODE_H / 2),
                NODE_W,
                NODE_H,
                boxstyle="round,pad=0,rounding_size=6",
                facecolor=node_colors.get(name, "#dbeafe"),
                alpha=node_alpha,
                edgecolor="none",
                zorder=2,
                gid=f"node:{name}",
            )
        )
        ax.text(x, y, name, ha="center", va="center", fontsize=8, zorder=4)
    for (s, d), drawn in edges.items():
        route = layout.routes[(s, d)]
        verts = [_leave(route[0], route[1]), *route[1:-1], _leave(route[-1], route[-2], 2.0)]
        path = MplPath(verts, [MplPath.MOVETO] + [MplPath.LINETO] * (len(verts) - 1))
        ax.add_patch(
            FancyArrowPatch(
                path=path,
                arrowstyle="-|>,head_length=6,head_width=3",
                color=drawn.color,
                linestyle=drawn.style,
                linewidth=1.3,
                zorder=3,
                gid=f"edge:{s}->{d}",
            )
        )
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[union-attr]
    texts = {
        e: ax.text(
            0, 0, drawn.label, ha="center", va="center", fontsize=7, color=drawn.color, zorder=5
        )
        for e, drawn in edges.items()
    }
    to_data = ax.transData.inverted()
    sizes = {}
    for e, text in texts.items():
        box = text.get_window_extent(renderer)
        (ax0, ay0), (ax1, ay1) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
        sizes[e] = (abs(ax1 - ax0) + 2 * LABEL_PAD, abs(ay1 - ay0) + 2 * LABEL_PAD)
    for e, (x, y) in place_labels(layout, (NODE_W, NODE_H), sizes.__getitem__).items():
        texts[e].set_position((x, y))
        texts[e].set_gid(f"label:{e[0]}->{e[1]}")
        texts[e].set_bbox({"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none"})
    return ax


def _leave(centre: tuple[float, float], toward: tuple[float, float], gap: float = 0.0) -> Any:
    """Where a line from a node's centre leaves its box (plus `gap`)."""
    from meshsim.graph_layout import clip_to_box, node_box

    return clip_to_box(centre, toward, node_box(centre, (NODE_W, NODE_H), gap))


def _edge_label(counters: dict[str, int]) -> str:
    text = f"{counters.get('requests', 0)} req"
    for key, word in (
        ("errors", "err"),
        ("retries", "retries"),
        ("denied", "denied"),
        ("mirrored", "mirrored"),
    ):
        if counters.get(key):
            text += f", {counters[key]} {word}"
    return text

"""Charts for notebooks: latency and errors over time, and the service graph.

matplotlib is imported when a function is called (the `notebooks` extra), so
importing meshsim never does. Each function draws on the `ax` it is given, or
on a new figure, and returns the axes.

>>> result = meshsim.run("scenarios/canary.yaml", time_scale=0.2)   # doctest: +SKIP
>>> plot_timeline(result)                                          # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from meshsim.errors import UsageError
from meshsim.frames import phase_report
from meshsim.report.model import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAND_COLORS = ("#f3f4f6", "#ffffff")
INTERRUPTED_COLOR = "#fee2e2"
P50_COLOR, P99_COLOR, ERROR_COLOR = "#2563eb", "#7c3aed", "#dc2626"
INGRESS = "istio-ingressgateway"
NODE_SIZE = 1600


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
    import networkx as nx

    if ax is None:
        _, ax = _pyplot().subplots(figsize=(9, 4.5))
    assert ax is not None
    ax.set_axis_off()
    ax.set_title(f"{rep.scenario}: service graph" + (f", phase {phase}" if phase else ""))
    g = sg.graph
    # A lone node in an odd column sits a little lower, so that an arrow
    # skipping its column (ingress → product, past order) does not cross it.
    pos = {
        node: (
            float(col),
            -row + (len(nodes) - 1) / 2 + (-0.5 if len(nodes) == 1 and col % 2 else 0),
        )
        for col, nodes in enumerate(sg.layers())
        for row, node in enumerate(nodes)
    }
    node_colors = [topology.COLORS[g.nodes[n].get("health", topology.IDLE)] for n in g]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=node_colors, node_size=NODE_SIZE, alpha=0.35)
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    for style, declared in (("solid", True), ("dotted", False)):
        edges = [(u, v) for u, v, d in g.edges(data=True) if bool(d.get("declared")) == declared]
        nx.draw_networkx_edges(
            g,
            pos,
            edgelist=edges,
            ax=ax,
            edge_color=[topology.COLORS[g.edges[e].get("health", topology.IDLE)] for e in edges],
            style=style,
            arrows=True,
            arrowsize=15,
            node_size=NODE_SIZE,
        )
    labels = {(u, v): topology.edge_label(d) for u, v, d in g.edges(data=True)}
    nx.draw_networkx_edge_labels(g, pos, edge_labels=labels, ax=ax, font_size=7)
    return ax


def _draw_edges(rep: Report, phase: str | None, ax: Axes | None, by_version: bool) -> Axes:
    import networkx as nx

    edges = graph_edges(rep, phase, by_version=by_version)
    graph = nx.DiGraph()
    for (src, dst), counters in edges.items():
        graph.add_edge(src, dst, **counters)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(9, 4.5))
    assert ax is not None
    ax.set_axis_off()
    ax.set_title(f"{rep.scenario}: service graph" + (f", phase {phase}" if phase else ""))
    if not graph:
        ax.text(0.5, 0.5, "no edge data", ha="center", va="center", transform=ax.transAxes)
        return ax
    for node in graph:
        graph.nodes[node]["layer"] = _depth(graph, node)
    pos = nx.multipartite_layout(graph, subset_key="layer")
    colors = [
        ERROR_COLOR if d.get("errors", 0) else "#6b7280" for _, _, d in graph.edges(data=True)
    ]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#dbeafe", node_size=NODE_SIZE)
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=8)
    nx.draw_networkx_edges(
        graph, pos, ax=ax, edge_color=colors, arrows=True, arrowsize=15, node_size=NODE_SIZE
    )
    labels = {(u, v): _edge_label(d) for u, v, d in graph.edges(data=True)}
    nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, ax=ax, font_size=7)
    return ax


def _depth(graph: Any, node: str) -> int:
    """Hops from a node nobody calls (the ingress gateway): callers left, callees right."""
    roots = [n for n in graph if graph.in_degree(n) == 0] or [INGRESS]
    best = 0
    for root in roots:
        if root in graph and node in graph:
            import networkx as nx

            try:
                best = max(best, nx.shortest_path_length(graph, root, node))
            except nx.NetworkXNoPath:
                continue
    return best


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

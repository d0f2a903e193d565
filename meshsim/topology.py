"""The service graph with networkx: declared, observed, compared. Pure.

- **Declared**: who may call whom. The application's `calls` (the shop's:
  order calls user, product, shipping) plus the ingress
  gateway → every service a gateway VirtualService routes to (by default
  `VirtualService/shop`: order, product, user).
- **Observed**: the edges of a phase (`report.json` → `phases[].edges`),
  versions folded into one edge per caller → callee, weighted by requests,
  rps, error rate and p99 (the versions' latency histograms merged).

`compare` says which declared edges carried no traffic (missing), which
observed ones nobody declared (unexpected) and which declared services
received nothing (idle). Health is coloured as Kiali does: an edge or a
service (its incoming calls) with under 1 % errors is healthy (green),
under 20 % degraded (orange), failing above (red); idle is grey.

`meshsim graph RUN_DIR` draws it in the terminal and exports DOT and GraphML;
`meshsim.report.graph_svg` draws it in report.html.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from meshsim.application import Application
from meshsim.control.plan import INGRESS_NAME
from meshsim.control.state import PolicyState
from meshsim.rundir import RunDir
from meshsim.scenario.istio import short_host
from meshsim.shop import SHOP_APP
from meshsim.telemetry.edges import latency_summary
from meshsim.telemetry.prometheus import Buckets
from meshsim.telemetry.runfiles import read_plan
from meshsim.timeline import phase_windows

INGRESS = INGRESS_NAME
HEALTHY, DEGRADED, FAILING, IDLE = "healthy", "degraded", "failing", "idle"
DEGRADED_AT = 0.01  # Kiali's default thresholds
FAILING_AT = 0.20
COLORS = {HEALTHY: "#16a34a", DEGRADED: "#f59e0b", FAILING: "#dc2626", IDLE: "#9ca3af"}


def health(error_rate: float | None, requests: int) -> str:
    """`healthy` / `degraded` / `failing` by error rate, `idle` without requests."""
    if not requests or error_rate is None:
        return IDLE
    if error_rate < DEGRADED_AT:
        return HEALTHY
    return DEGRADED if error_rate < FAILING_AT else FAILING


def declared_graph(
    services: Iterable[str] | None = None,
    state: PolicyState | None = None,
    app: Application | None = None,
) -> nx.DiGraph:
    """Who may call whom: the application's `calls` (default: the shop's) and
    the gateway's routes.

    `services` limits the graph to those running (default: the whole
    application); `state` gives the gateway VirtualServices (default: the
    initial ones).
    """
    app = app or SHOP_APP
    running = list(services) if services is not None else list(app.services)
    graph = nx.DiGraph()
    graph.add_node(INGRESS, kind="ingress")
    for name in running:
        graph.add_node(name, kind="service")
    for name in running:
        for callee in app.services[name].calls if name in app.services else ():
            if callee in running:
                graph.add_edge(name, callee)
    for vs in (state or PolicyState.initial(app)).gateway_virtual_services():
        for http in vs.spec.http:
            for route in http.route:
                callee = short_host(route.destination.host)
                if callee in running:
                    graph.add_edge(INGRESS, callee)
    return graph


def observed_graph(edges: Sequence[dict[str, Any]]) -> nx.DiGraph:
    """A phase's edges as a graph: one edge per caller → callee, with
    `requests`, `errors`, `rps`, `error_rate`, `p99_ms`, `health` and the
    per-version requests (`versions`)."""
    graph = nx.DiGraph()
    for e in edges:
        source, dest = str(e.get("source", "?")), str(e.get("destination", "?"))
        requests = _int(e.get("requests"))
        if not requests:
            continue
        for node in (source, dest):
            if node not in graph:
                graph.add_node(node, kind="ingress" if node == INGRESS else "service")
        if not graph.has_edge(source, dest):
            graph.add_edge(source, dest, requests=0, errors=0, rps=0.0, versions={}, _hist=None)
        data = graph.edges[source, dest]
        data["requests"] += requests
        data["errors"] += _int(e.get("errors"))
        data["rps"] = round(data["rps"] + float(e.get("rps") or 0.0), 3)
        version = e.get("destination_version")
        if isinstance(version, str):
            data["versions"][version] = data["versions"].get(version, 0) + requests
        hist = Buckets.from_json(e.get("latency_histogram"))
        if hist is not None:
            data["_hist"] = hist if data["_hist"] is None else data["_hist"].merge(hist)
    for _, _, data in graph.edges(data=True):
        data["error_rate"] = round(data["errors"] / data["requests"], 6)
        summary = latency_summary(data.pop("_hist"))
        data["p99_ms"] = summary["p99"] if summary else None
        data["health"] = health(data["error_rate"], data["requests"])
    return graph


@dataclass
class Comparison:
    missing: list[tuple[str, str]] = field(default_factory=list)  # declared, no traffic
    unexpected: list[tuple[str, str]] = field(default_factory=list)  # traffic, not declared
    idle: list[str] = field(default_factory=list)  # declared services that received nothing

    @property
    def matches(self) -> bool:
        """The observed graph has exactly the declared edges."""
        return not self.missing and not self.unexpected

    def to_dict(self) -> dict[str, Any]:
        return {
            "matches": self.matches,
            "missing": [list(e) for e in self.missing],
            "unexpected": [list(e) for e in self.unexpected],
            "idle": self.idle,
        }


def compare(declared: nx.DiGraph, observed: nx.DiGraph) -> Comparison:
    received = {d for _, d in observed.edges}
    return Comparison(
        missing=sorted(set(declared.edges) - set(observed.edges)),
        unexpected=sorted(set(observed.edges) - set(declared.edges)),
        idle=sorted(n for n in declared.nodes if n != INGRESS and n not in received),
    )


@dataclass
class ServiceGraph:
    """Declared and observed together: what the terminal, DOT, GraphML and the
    report draw. Every declared edge is in `graph`; one without traffic is idle."""

    graph: nx.DiGraph
    comparison: Comparison

    def layers(self) -> list[list[str]]:
        """Nodes by column for a left-to-right drawing: the longest path from
        the ingress (ingress → order → user, product, shipping)."""
        g = self.graph
        depth: dict[str, int] = {n: 0 for n in g.nodes}
        if nx.is_directed_acyclic_graph(g):
            for node in nx.topological_sort(g):
                for succ in g.successors(node):
                    depth[succ] = max(depth[succ], depth[node] + 1)
        else:
            lengths = nx.single_source_shortest_path_length(g, INGRESS) if INGRESS in g else {}
            depth.update(lengths)
        columns: dict[int, list[str]] = {}
        for node, d in depth.items():
            columns.setdefault(d, []).append(node)
        return [sorted(columns[d], key=_node_order) for d in sorted(columns)]

    def to_dict(self) -> dict[str, Any]:
        nodes = []
        for name, data in sorted(self.graph.nodes(data=True), key=lambda kv: _node_order(kv[0])):
            nodes.append({"name": name, **{k: v for k, v in data.items() if not k.startswith("_")}})
        edges = [
            {"source": s, "destination": d, **data}
            for s, d, data in sorted(self.graph.edges(data=True), key=lambda e: (e[0], e[1]))
        ]
        return {"nodes": nodes, "edges": edges, **self.comparison.to_dict()}


def service_graph(edges: Sequence[dict[str, Any]], declared: nx.DiGraph) -> ServiceGraph:
    """The declared graph with a phase's traffic on it (and any edge nobody declared)."""
    observed = observed_graph(edges)
    graph = nx.DiGraph()
    for g in (declared, observed):
        for node, data in g.nodes(data=True):
            graph.add_node(node, kind=data.get("kind", "service"))
    for s, d in declared.edges:
        graph.add_edge(s, d, declared=True, **_idle_edge())
    for s, d, data in observed.edges(data=True):
        graph.add_edge(s, d, declared=declared.has_edge(s, d), **data)
    for node in graph.nodes:
        incoming = [graph.edges[p, node] for p in graph.predecessors(node)]
        requests = sum(e["requests"] for e in incoming)
        errors = sum(e["errors"] for e in incoming)
        rate = round(errors / requests, 6) if requests else None
        outgoing = sum(graph.edges[node, s]["requests"] for s in graph.successors(node))
        graph.nodes[node].update(
            requests=requests,
            errors=errors,
            error_rate=rate,
            rps=round(sum(e["rps"] for e in incoming), 3),
            health=_node_health(node, rate, requests, outgoing),
        )
    return ServiceGraph(graph, compare(declared, observed))


def _node_health(node: str, rate: float | None, requests: int, outgoing: int) -> str:
    if node == INGRESS:
        return HEALTHY if outgoing else IDLE
    return health(rate, requests)


def _idle_edge() -> dict[str, Any]:
    return {
        "requests": 0,
        "errors": 0,
        "rps": 0.0,
        "versions": {},
        "error_rate": None,
        "p99_ms": None,
        "health": IDLE,
    }


_ORDER = {INGRESS: 0, "order": 1, "user": 2, "product": 3, "shipping": 4}


def _node_order(name: str) -> tuple[int, str]:
    return (_ORDER.get(name, 9), name)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


# ------------------------------------------------------------------ exports


def edge_label(data: dict[str, Any]) -> str:
    """`12.5 rps · 0.4% err · p99 8.2 ms`, or `no traffic`."""
    if not data.get("requests"):
        return "no traffic"
    rate = data.get("error_rate") or 0.0
    p99 = data.get("p99_ms")
    parts = [f"{data['rps']:.1f} rps", f"{rate * 100:.1f}% err"]
    if p99 is not None:
        parts.append(f"p99 {p99:g} ms")
    return " · ".join(parts)


def to_dot(sg: ServiceGraph, title: str = "meshsim") -> str:
    """Graphviz DOT, coloured by health: `dot -Tsvg graph.dot > graph.svg`."""

    def q(text: str) -> str:
        return '"' + text.replace('"', '\\"') + '"'

    lines = [
        f"digraph {q(title)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fillcolor="#ffffff"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for name, data in sorted(sg.graph.nodes(data=True), key=lambda kv: _node_order(kv[0])):
        color = COLORS[data["health"]]
        label = name if not data.get("requests") else f"{name}\\n{data['rps']:.1f} rps"
        lines.append(f"  {q(name)} [label={q(label)}, color={q(color)}, penwidth=2];")
    for s, d, data in sorted(sg.graph.edges(data=True), key=lambda e: (e[0], e[1])):
        style = "dashed" if not data.get("requests") or not data.get("declared") else "solid"
        lines.append(
            f"  {q(s)} -> {q(d)} [label={q(edge_label(data))}, "
            f"color={q(COLORS[data['health']])}, style={style}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_graphml(sg: ServiceGraph) -> str:
    """GraphML (yEd, Gephi, networkx.read_graphml); None values are left out,
    per-version requests become `versions` as `v1=90,v2=10`."""
    g = nx.DiGraph()
    for name, data in sg.graph.nodes(data=True):
        g.add_node(name, **_scalars(data))
    for s, d, data in sg.graph.edges(data=True):
        g.add_edge(s, d, **_scalars(data))
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    return buf.getvalue().decode()


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if v is None or k.startswith("_"):
            continue
        if isinstance(v, dict):
            v = ",".join(f"{kk}={vv}" for kk, vv in sorted(v.items()))
        out[k] = v
    return out


# ------------------------------------------------------------- a run's graphs

ALL_PHASES = "all"


def aggregate_edges(
    phases: dict[str, list[dict[str, Any]]], durations: dict[str, float]
) -> list[dict[str, Any]]:
    """Every phase's edges summed into one list (rps over the phases' total time)."""
    total_s = sum(durations.get(p, 0.0) for p in phases) or None
    merged: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for edges in phases.values():
        for e in edges:
            key = (str(e.get("source")), str(e.get("destination")), e.get("destination_version"))
            into = merged.setdefault(
                key,
                {
                    "source": key[0],
                    "destination": key[1],
                    "destination_version": key[2],
                    "requests": 0,
                    "errors": 0,
                    "_hist": None,
                },
            )
            into["requests"] += _int(e.get("requests"))
            into["errors"] += _int(e.get("errors"))
            hist = Buckets.from_json(e.get("latency_histogram"))
            if hist is not None:
                into["_hist"] = hist if into["_hist"] is None else into["_hist"].merge(hist)
    out = []
    for e in merged.values():
        hist = e.pop("_hist")
        e["rps"] = round(e["requests"] / total_s, 3) if total_s else None
        e["latency_histogram"] = hist.to_json() if hist is not None else None
        out.append(e)
    return out


def run_graphs(run_dir: Path) -> dict[str, ServiceGraph]:
    """Each phase's service graph from the run's edges.json (phase order), and
    `all`: the phases summed. Empty without edges.json."""
    import json

    try:
        raw = json.loads(RunDir(run_dir).edges.read_text(encoding="utf-8"))
        phases = {str(k): list(v) for k, v in raw.get("phases", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}
    plan = read_plan(run_dir)
    declared = declared_graph(
        list(plan.services) if plan and plan.services else None, app=plan.app if plan else None
    )
    windows = {w.name: w.duration_s for w in phase_windows(run_dir)}
    out = {name: service_graph(edges, declared) for name, edges in phases.items()}
    if phases:
        out[ALL_PHASES] = service_graph(aggregate_edges(phases, windows), declared)
    return out

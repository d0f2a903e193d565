"""Service graphs that never draw a call that did not happen, checked on the
drawing itself: report.html's SVG (parsed) and the notebook plot (matplotlib
artists, in display coordinates), for the graph of every library scenario.

- no edge passes through a node other than its two ends (it would read as a
  call through that node: order → product:v2 → product:v1 in notebook 02);
- no edge label covers another edge, a node or another label;
- every arrowhead ends outside its node's box, uncovered by a label.

Both checks read what was drawn, not the layout's own numbers, so they held
the drawing of the time before the layered layout to account: the canary-50
plot (networkx multipartite_layout) put order, product:v2 and product:v1 in
one column, and report.html's labels sat on other edges.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from meshsim.graph_layout import Box, Point, boxes_overlap, segment_hits_box, segments
from meshsim.library import library
from meshsim.report.graph_svg import graph_svg
from meshsim.scenario import load_scenario
from meshsim.scenario.application import resolve_application
from meshsim.scenario.model import resolve_mesh
from meshsim.topology import INGRESS, declared_graph, service_graph

SVG = "{http://www.w3.org/2000/svg}"
ARROW_PX = 9.0  # how much of an edge's end the arrowhead covers


def _edges_of(path: Path, by_version: bool) -> tuple[list[dict[str, Any]], Any]:
    """A plausible phase of the scenario: every declared call carries traffic,
    split over the callee's versions (each a node of its own `by_version`)."""
    scenario = load_scenario(path)
    mesh = resolve_mesh(scenario)
    declared = declared_graph(list(mesh), app=resolve_application(scenario, path.parent))
    out = []
    for i, (s, d) in enumerate(sorted(declared.edges)):
        for j, version in enumerate(sorted(mesh.get(d, {"v1": 1}))):
            out.append({
                "source": s, "destination": f"{d}:{version}" if by_version else d,
                "destination_version": version, "requests": 100 + 37 * i + j,
                "errors": (i * 7 + j) % 4, "rps": 10.0 + i + j / 3,
                "latency_histogram": {"buckets": {"20": 90, "150": 10 + i}, "sum_ms": 3300.0},
            })  # fmt: skip
    return out, declared


LIBRARY = [s for s in library()]
CANARY_50 = [
    (INGRESS, "order"), (INGRESS, "product:v1"), (INGRESS, "product:v2"),
    ("order", "user"), ("order", "product:v1"), ("order", "product:v2"), ("order", "shipping"),
]  # fmt: skip


# ----------------------------------------------------------------- the SVG


def _bezier(p0: Point, c: Point, p1: Point, n: int = 24) -> list[Point]:
    return [
        (
            (1 - t) ** 2 * p0[0] + 2 * t * (1 - t) * c[0] + t**2 * p1[0],
            (1 - t) ** 2 * p0[1] + 2 * t * (1 - t) * c[1] + t**2 * p1[1],
        )
        for t in (k / n for k in range(n + 1))
    ]


def _svg_polyline(d: str) -> list[Point]:
    """An SVG path's points (M, L, Q), a quadratic curve sampled finely."""
    out: list[Point] = []
    for cmd, args in re.findall(r"([MLQ])\s*([-\d.,\s]+)", d):
        nums = [float(v) for v in re.findall(r"-?[\d.]+", args)]
        pts = list(zip(nums[::2], nums[1::2], strict=True))
        if cmd == "Q":
            out += _bezier(out[-1], pts[0], pts[1])[1:]
        else:
            out += pts
    return out


def svg_geometry(svg: str) -> tuple[dict[str, Box], dict[tuple[str, str], list[Point]], list[Box]]:
    # Before the fix every text had two font-size attributes: invalid XML, which
    # browsers read (the first wins) and so must this check.
    root = ET.fromstring(re.sub(r'(font-size="[^"]*") font-size="[^"]*"', r"\1", svg))
    nodes: dict[str, Box] = {}
    for g in root.iter(f"{SVG}g"):
        rect, title = g.find(f"{SVG}rect"), g.find(f"{SVG}title")
        if rect is None or title is None or title.text is None:
            continue
        x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
        w, h = float(rect.get("width", 0)), float(rect.get("height", 0))
        nodes[title.text.rsplit(": ", 1)[0]] = (x, y, x + w, y + h)
    edges = {}
    for p in root.iter(f"{SVG}path"):
        title = p.find(f"{SVG}title")
        if p.get("marker-end") and title is not None and title.text:
            s, rest = title.text.split(" → ", 1)
            edges[(s, rest.split(": ", 1)[0])] = _svg_polyline(p.get("d", ""))
    labels = []
    for rect in root.iter(f"{SVG}rect"):
        if rect.get("fill-opacity"):  # an edge label's white backing
            x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
            labels.append((x, y, x + float(rect.get("width", 0)), y + float(rect.get("height", 0))))
    return nodes, edges, labels


def problems(
    nodes: dict[str, Box], edges: dict[tuple[str, str], list[Point]], labels: list[Box]
) -> list[str]:
    """What a reader would misread, in words."""
    found = []
    for (s, d), line in edges.items():
        for name, box in nodes.items():
            if name in (s, d):
                continue
            if any(segment_hits_box(a, b, box) for a, b in segments(line)):
                found.append(f"edge {s} → {d} passes through node {name}")
        tip = line[-1]
        if _inside(tip, nodes[d]):
            found.append(f"the arrowhead of {s} → {d} ends inside {d}")
        head = _tail(line, ARROW_PX)
        for label in labels:
            if any(segment_hits_box(a, b, label) for a, b in segments(head)):
                found.append(f"a label covers the arrowhead of {s} → {d}")
    for i, label in enumerate(labels):
        own = min(edges, key=lambda e: _distance(_centre(label), edges[e]))
        for e, line in edges.items():
            if e != own and any(segment_hits_box(a, b, label) for a, b in segments(line)):
                found.append(f"the label of {own[0]} → {own[1]} covers edge {e[0]} → {e[1]}")
        for name, box in nodes.items():
            if boxes_overlap(label, box):
                found.append(f"the label of {own[0]} → {own[1]} covers node {name}")
        for other in labels[i + 1 :]:
            if boxes_overlap(label, other):
                found.append(f"the label of {own[0]} → {own[1]} overlaps another label")
    return found


def _outside_view(
    svg: str, edges: dict[tuple[str, str], list[Point]], labels: list[Box]
) -> list[Point]:
    """Points of edges or label corners that the viewBox cuts off."""
    w, h = (float(v) for v in re.findall(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)[0])
    points = [p for line in edges.values() for p in line]
    points += [(b[i], b[j]) for b in labels for i, j in ((0, 1), (2, 3))]
    return [p for p in points if not (0 <= p[0] <= w and 0 <= p[1] <= h - 20)]


def _inside(p: Point, box: Box) -> bool:
    return box[0] < p[0] < box[2] and box[1] < p[1] < box[3]


def _centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def _distance(p: Point, line: list[Point]) -> float:
    def to_segment(a: Point, b: Point) -> float:
        dx, dy = b[0] - a[0], b[1] - a[1]
        n = dx * dx + dy * dy
        t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / n))
        return math.dist(p, (a[0] + t * dx, a[1] + t * dy))

    return min(to_segment(a, b) for a, b in segments(line))


def _tail(line: list[Point], length: float) -> list[Point]:
    """The last `length` of a polyline."""
    out = [line[-1]]
    for a in reversed(line[:-1]):
        b = out[-1]
        step = math.dist(a, b)
        if step >= length:
            t = length / step if step else 0.0
            out.append((b[0] + (a[0] - b[0]) * t, b[1] + (a[1] - b[1]) * t))
            break
        out.append(a)
        length -= step
    return out[::-1]


@pytest.mark.parametrize("entry", LIBRARY, ids=[s.name for s in LIBRARY])
def test_report_graph_of_every_library_scenario_reads_true(entry: Any) -> None:
    edges, declared = _edges_of(entry.path, by_version=False)
    svg = graph_svg(service_graph(edges, declared).to_dict())
    nodes, lines, labels = svg_geometry(svg)
    assert set(lines) == set(declared.edges)
    assert _outside_view(svg, lines, labels) == []
    assert problems(nodes, lines, labels) == []


def test_report_graph_with_an_undeclared_call_and_an_idle_one() -> None:
    declared = declared_graph()
    edges = [
        {"source": INGRESS, "destination": "order", "requests": 50, "errors": 0, "rps": 5.0},
        {"source": "order", "destination": "product", "requests": 50, "errors": 9, "rps": 5.0},
        {"source": "user", "destination": "product", "requests": 20, "errors": 0, "rps": 2.0},
    ]
    svg = graph_svg(service_graph(edges, declared).to_dict())
    nodes, lines, labels = svg_geometry(svg)
    assert ("user", "product") in lines and (INGRESS, "user") in lines
    assert _outside_view(svg, lines, labels) == []
    assert problems(nodes, lines, labels) == []


def test_the_checks_see_an_edge_through_a_node_and_a_covered_edge() -> None:
    nodes = {"a": (0.0, 0.0, 10.0, 10.0), "b": (50.0, 0.0, 60.0, 10.0), "c": (100.0, 0, 110, 10)}
    lines = {("a", "c"): [(10.0, 5.0), (99.0, 5.0)], ("a", "b"): [(10.0, 5.0), (49.0, 5.0)]}
    assert "edge a → c passes through node b" in problems(nodes, lines, [])
    label = (20.0, 0.0, 30.0, 8.0)  # on both edges: whichever it labels, it covers the other
    assert any("covers edge" in p for p in problems(nodes, lines, [label]))


# ------------------------------------------------------- the notebook plot


def plot_geometry(ax: Any) -> tuple[dict[str, Box], dict[tuple[str, str], list[Point]], list[Box]]:
    """Nodes, edges and labels as drawn (display coordinates, y up), whatever
    drew them: a node is the box of its name as drawn (3 pt around it), an
    edge each arrow patch (its ends name it: the nearest nodes), a label any
    other text."""
    from matplotlib.patches import FancyArrowPatch

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pt = fig.dpi / 72
    names = {n for e in CANARY_50 for n in e} | _ALL_NAMES
    nodes: dict[str, Box] = {}
    label_boxes: list[Box] = []
    for text in ax.texts:
        bb = text.get_window_extent(renderer)
        if text.get_text() in names:
            pad = 3 * pt
            nodes[text.get_text()] = (bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
        elif text.get_text().strip() and text.get_visible():
            label_boxes.append((bb.x0, bb.y0, bb.x1, bb.y1))
    edges: dict[tuple[str, str], list[Point]] = {}
    for patch in ax.patches:
        if not isinstance(patch, FancyArrowPatch):
            continue
        shaft = _shaft(patch, ax, pt)
        s = min(nodes, key=lambda n: math.dist(_centre(nodes[n]), shaft[0]))
        d = min(nodes, key=lambda n: math.dist(_centre(nodes[n]), shaft[-1]))
        edges[(s, d)] = shaft
    return nodes, edges, label_boxes


def _shaft(patch: Any, ax: Any, pt: float) -> list[Point]:
    """The line an arrow patch is drawn along (display coordinates), ending
    where its head's tip is: along its path (the layered layout), or between
    two points shortened by shrinkA/shrinkB (networkx's drawing)."""
    if patch._path_original is not None:
        return [tuple(ax.transData.transform(v)) for v in patch._path_original.vertices]
    a, b = (tuple(ax.transData.transform(v)) for v in patch._posA_posB)
    length = math.dist(a, b) or 1.0
    ta, tb = patch.shrinkA * pt / length, 1 - patch.shrinkB * pt / length
    return [
        (a[0] + (b[0] - a[0]) * ta, a[1] + (b[1] - a[1]) * ta),
        (a[0] + (b[0] - a[0]) * tb, a[1] + (b[1] - a[1]) * tb),
    ]


_ALL_NAMES: set[str] = set()


def _report_with(edges: list[dict[str, Any]]) -> Any:
    from meshsim.report.model import PhaseReport, Report, Traffic

    phase = PhaseReport("p", 0, "completed", 0.0, 10.0, 10.0, None, edges=edges)
    return Report(
        "run", "drawn", None, "local", None, None, None, "completed", 10.0, [phase], Traffic(), []
    )


def _plot(edges: list[dict[str, Any]]) -> Any:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshsim.plots import plot_service_graph

    _ALL_NAMES.update(str(e["source"]) for e in edges)
    _ALL_NAMES.update(f"{e['destination']}:{e['destination_version']}" for e in edges)
    _ALL_NAMES.update(str(e["destination"]) for e in edges)
    ax = plot_service_graph(_report_with(edges), "p", by_version=True)
    try:
        return plot_geometry(ax)
    finally:
        plt.close(ax.figure)


def test_notebook_canary_50_plot_reads_true() -> None:
    """Notebook 02's canary-50 graph: order never appears to call through v2."""
    edges = []
    for s, d in CANARY_50:
        service, _, version = d.partition(":")
        edges.append({
            "source": s, "destination": service, "destination_version": version or "v1",
            "requests": 120, "errors": 0, "retries": 0,
        })  # fmt: skip
    nodes, lines, labels = _plot(edges)
    assert set(lines) == set(CANARY_50)
    assert problems(nodes, lines, labels) == []


@pytest.mark.parametrize("entry", LIBRARY, ids=[s.name for s in LIBRARY])
def test_notebook_plot_of_every_library_scenario_reads_true(entry: Any) -> None:
    edges, _ = _edges_of(entry.path, by_version=False)
    nodes, lines, labels = _plot(edges)
    assert problems(nodes, lines, labels) == []


@pytest.mark.parametrize("entry", LIBRARY, ids=[s.name for s in LIBRARY])
def test_notebook_topology_plot_of_every_library_scenario_reads_true(entry: Any) -> None:
    """The by-service plot: meshsim.topology's graph, two-line labels, idle edges."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meshsim.plots import DrawnEdge, draw_graph
    from meshsim.topology import edge_label

    edges, declared = _edges_of(entry.path, by_version=False)
    edges = edges[1:]  # one declared call left idle: "no traffic"
    g = service_graph(edges, declared).graph
    drawn = {
        (str(u), str(v)): DrawnEdge("#16a34a", "solid", edge_label(d).replace(" · p99", "\np99"))
        for u, v, d in g.edges(data=True)
    }
    _ALL_NAMES.update(str(n) for n in g)
    ax = draw_graph([str(n) for n in g], drawn, {}, None, title=entry.name)
    try:
        nodes, lines, labels = plot_geometry(ax)
    finally:
        plt.close(ax.figure)
    assert set(lines) == set(drawn)
    assert problems(nodes, lines, labels) == []

"""The service graph of a phase as inline SVG, coloured by health as Kiali does.

Input is a phase's `graph` from report.json (`meshsim.topology.ServiceGraph.to_dict`).
meshsim.graph_layout places it: columns by call depth, an edge that skips a
column routed through a waypoint of its own in that column (never through a
node, where it would read as a call that did not happen), each label where it
covers no other edge. Green under 1 % errors, orange under 20 %, red above,
grey idle (dashed: declared, no traffic); a dotted edge is one nobody declared.
"""

from __future__ import annotations

from typing import Any

from meshsim.graph_layout import Box, Point, clip_to_box, layered_layout, node_box
from meshsim.report.text import html_text as escape

COLORS = {"healthy": "#16a34a", "degraded": "#f59e0b", "failing": "#dc2626", "idle": "#9ca3af"}
NODE_W, NODE_H = 156, 46
COL_GAP = 360
ROW_GAP = 86
MARGIN = 24
LABEL_H = 15
ARROW = 11  # the arrowhead's length; edges stop short of the node by a gap
GAP = 3
# svg.FONT carries a font-size too: a second one is invalid XML, and browsers keep the first
FAMILY = 'font-family="system-ui, sans-serif"'


def label_width(text: str) -> float:
    return len(text) * 5.8 + 8


def _fmt_rps(value: Any) -> str:
    return f"{float(value):.1f} rps" if isinstance(value, int | float) else ""


def edge_text(edge: dict[str, Any]) -> str:
    if not edge.get("requests"):
        return "no traffic"
    parts = [_fmt_rps(edge.get("rps")), f"{(edge.get('error_rate') or 0.0) * 100:.1f}%"]
    if isinstance(edge.get("p99_ms"), int | float):
        parts.append(f"p99 {edge['p99_ms']:.3g}ms")
    # the dashboard's edges say how calls travel and what RBAC refused
    if edge.get("mtls") is not None:
        parts.append("mTLS" if edge["mtls"] else "plaintext")
    if edge.get("rbac_denied"):
        parts.append(f"{edge['rbac_denied']} denied")
    return " · ".join(parts)


def graph_svg(graph: dict[str, Any]) -> str:
    """`<svg>` for one phase's graph; empty string when it has no nodes."""
    nodes = [n for n in graph.get("nodes", []) if isinstance(n, dict) and "name" in n]
    if not nodes:
        return ""
    names = [str(n["name"]) for n in nodes]
    edges = [
        e
        for e in graph.get("edges", [])
        if e.get("source") in names
        and e.get("destination") in names
        and e.get("source") != e.get("destination")
    ]
    texts = {(str(e["source"]), str(e["destination"])): edge_text(e) for e in edges}
    layout = layered_layout(
        names,
        list(texts),
        node_size=(NODE_W, NODE_H),
        col_gap=COL_GAP,
        row_gap=ROW_GAP,
        label_size=lambda e: (label_width(texts[e]), LABEL_H),
    )
    boxes = [node_box(p, (NODE_W, NODE_H)) for p in layout.pos.values()]
    boxes += [node_box(p, (label_width(texts[e]), LABEL_H)) for e, p in layout.labels.items()]
    boxes += [(x, y, x, y) for route in layout.routes.values() for x, y in route]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    width = max(b[2] for b in boxes) - x0 + 2 * MARGIN
    height = max(b[3] for b in boxes) - y0 + 2 * MARGIN + 24

    def at(p: Point) -> Point:
        return (p[0] - x0 + MARGIN, p[1] - y0 + MARGIN)

    pos = {n: at(p) for n, p in layout.pos.items()}
    parts = [
        f'<svg class="chart graph" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="service graph">',
        "<defs>",
    ]
    for health, color in COLORS.items():
        parts.append(
            f'<marker id="arrow-{health}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerUnits="userSpaceOnUse" markerWidth="{ARROW}" markerHeight="{ARROW}" '
            f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        )
    parts.append("</defs>")
    labels: list[str] = []
    for e in edges:
        s, d = str(e["source"]), str(e["destination"])
        route = edge_route([at(p) for p in layout.routes[(s, d)]], pos[s], pos[d])
        health = str(e.get("health") or "idle")
        color = COLORS.get(health, COLORS["idle"])
        dash = ""
        if not e.get("requests"):
            dash = ' stroke-dasharray="6 4"'
        elif e.get("declared") is False:
            dash = ' stroke-dasharray="2 3"'
        width_px = 1.5 + min(3.0, float(e.get("rps") or 0.0) / 40)
        title = f"{s} → {d}: {edge_text(e)}" + (
            " (not declared)" if e.get("declared") is False else ""
        )
        path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in route)
        parts.append(
            f'<path class="edge" {_edge_data(s, d, e)} d="{path}" fill="none" '
            f'stroke="{color}" stroke-width="{width_px:.1f}"'
            f'{dash} stroke-linejoin="round" '
            f'marker-end="url(#arrow-{health if health in COLORS else "idle"})">'
            f"<title>{escape(title)}</title></path>"
        )
        text = texts[(s, d)]
        wx, wy = at(layout.labels[(s, d)])
        tw = label_width(text)
        labels.append(
            f'<rect class="edge-label" x="{wx - tw / 2:.1f}" y="{wy - LABEL_H / 2:.1f}" '
            f'width="{tw:.1f}" height="{LABEL_H}" rx="3" fill="#ffffff" fill-opacity="0.9"/>'
            f'<text x="{wx:.1f}" y="{wy + 3.5:.1f}" text-anchor="middle" {FAMILY} font-size="10" '
            f'fill="{color}">{escape(text)}</text>'
        )
    parts.extend(labels)
    for n in nodes:
        name = str(n["name"])
        x, y = pos[name]
        health = str(n.get("health") or "idle")
        color = COLORS.get(health, COLORS["idle"])
        sub = "idle" if health == "idle" else _fmt_rps(n.get("rps")) if n.get("requests") else ""
        if n.get("requests") and isinstance(n.get("error_rate"), int | float) and n["error_rate"]:
            sub += f" · {n['error_rate'] * 100:.1f}% err"
        down = int(n.get("down") or 0)  # the dashboard's: instances killed or paused
        if down:
            sub += f" · {down} down"
        parts.append(
            f'<g class="node" data-node="{escape(name)}" data-service="{escape(name)}" '
            f'data-health="{escape(health)}" data-down="{down}">'
            f"<title>{escape(name)}: {escape(health)}</title>"
            f'<rect x="{x - NODE_W / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="9" fill="#ffffff" stroke="{color}" stroke-width="2.5"/>'
            f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" {FAMILY} font-size="12" '
            f'font-weight="600" fill="#111827">{escape(name)}</text>'
            f'<text x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle" {FAMILY} font-size="10" '
            f'fill="{color}">{escape(sub)}</text></g>'
        )
    legend_y = height - 10
    lx = MARGIN
    for health, color in COLORS.items():
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 8:.0f}" width="10" height="10" rx="2" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{legend_y + 1:.0f}" {FAMILY} font-size="10" fill="#6b7280">'
            f"{health}</text>"
        )
        lx += 80
    parts.append(
        f'<text x="{lx + 10}" y="{legend_y + 1:.0f}" {FAMILY} font-size="10" fill="#6b7280">'
        "by errors: &lt; 1 % · &lt; 20 % · more; labels: rps · errors · p99</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _edge_data(source: str, dest: str, edge: dict[str, Any]) -> str:
    """The edge's figures as data-* attributes: what scripts and the dashboard's
    browser test read (docs/observability.md), the same numbers as its label."""
    rate = edge.get("error_rate")
    p99 = edge.get("p99_ms")
    values = {
        "edge": f"{source}->{dest}",
        "source": source,
        "target": dest,
        "rps": f"{float(edge.get('rps') or 0.0):g}",
        "error-rate": f"{float(rate):g}" if isinstance(rate, int | float) else "0",
        "p99-ms": f"{float(p99):g}" if isinstance(p99, int | float) else "",
        "requests": str(int(edge.get("requests") or 0)),
        "mtls": "" if edge.get("mtls") is None else str(bool(edge["mtls"])).lower(),
        "rbac-denied": str(int(edge.get("rbac_denied") or 0)),
    }
    return " ".join(f'data-{k}="{escape(v)}"' for k, v in values.items())


def edge_route(route: list[Point], source: Point, dest: Point) -> list[Point]:
    """The drawn line: from the source box's border to GAP short of the
    destination's, so the arrowhead sits whole and visible outside the node."""
    first = clip_to_box(route[0], route[1], _box(source))
    last = clip_to_box(route[-1], route[-2], _box(dest, GAP))
    return [first, *route[1:-1], last]


def _box(centre: Point, pad: float = 0.0) -> Box:
    return node_box(centre, (NODE_W, NODE_H), pad)

"""The service graph of a phase as inline SVG, coloured by health as Kiali does.

Input is a phase's `graph` from report.json (`meshsim.topology.ServiceGraph.to_dict`).
The layout is hand-made for a small graph: columns by the longest path from
the ingress (ingress → order → user, product, shipping), nodes spread evenly
in their column, and an edge that skips a column bends around the nodes in
between. Green under 1 % errors, orange under 20 %, red above, grey idle
(dashed: declared, no traffic); a dotted edge is one nobody declared.
"""

from __future__ import annotations

from typing import Any

from meshsim.report.svg import FONT
from meshsim.report.text import html_text as escape

COLORS = {"healthy": "#16a34a", "degraded": "#f59e0b", "failing": "#dc2626", "idle": "#9ca3af"}
NODE_W, NODE_H = 156, 46
COL_GAP = 330
ROW_GAP = 96
MARGIN = 24


def _depths(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):  # longest path by relaxation; stops early on a DAG
        changed = False
        for s, d in edges:
            if s != d and depth[d] < depth[s] + 1 and depth[s] + 1 < len(nodes):
                depth[d] = depth[s] + 1
                changed = True
        if not changed:
            break
    return depth


def _blocker(
    pos: dict[str, tuple[float, float]],
    start: tuple[float, float],
    end: tuple[float, float],
    exclude: set[str],
) -> tuple[float, float] | None:
    """The centre of a node a straight edge from `start` to `end` would cross."""
    (x1, y1), (x2, y2) = start, end
    for name, (x, y) in pos.items():
        if name in exclude or not x1 < x < x2:
            continue
        at = y1 + (y2 - y1) * (x - x1) / (x2 - x1)
        if abs(at - y) < NODE_H / 2 + 10:
            return x, y
    return None


def _fmt_rps(value: Any) -> str:
    return f"{float(value):.1f} rps" if isinstance(value, int | float) else ""


def edge_text(edge: dict[str, Any]) -> str:
    if not edge.get("requests"):
        return "no traffic"
    parts = [_fmt_rps(edge.get("rps")), f"{(edge.get('error_rate') or 0.0) * 100:.1f}%"]
    if isinstance(edge.get("p99_ms"), int | float):
        parts.append(f"p99 {edge['p99_ms']:.3g}ms")
    return " · ".join(parts)


def graph_svg(graph: dict[str, Any]) -> str:
    """`<svg>` for one phase's graph; empty string when it has no nodes."""
    nodes = [n for n in graph.get("nodes", []) if isinstance(n, dict) and "name" in n]
    if not nodes:
        return ""
    names = [str(n["name"]) for n in nodes]
    edges = [e for e in graph.get("edges", []) if e.get("source") in names]
    depth = _depths(names, [(e["source"], e["destination"]) for e in edges])
    columns: dict[int, list[str]] = {}
    for name in names:  # nodes come in the report's order: ingress, order, user, ...
        columns.setdefault(depth[name], []).append(name)
    rows = max(len(c) for c in columns.values())
    height = MARGIN * 2 + rows * ROW_GAP + 24
    width = MARGIN * 2 + (max(columns) + 1) * COL_GAP - (COL_GAP - NODE_W)
    pos: dict[str, tuple[float, float]] = {}  # centre of each node
    for col, members in columns.items():
        for i, name in enumerate(members):
            x = MARGIN + col * COL_GAP + NODE_W / 2
            y = MARGIN + (rows * ROW_GAP) * (i + 0.5) / len(members)
            pos[name] = (x, y)

    parts = [
        f'<svg class="chart graph" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="service graph">',
        "<defs>",
    ]
    for health, color in COLORS.items():
        parts.append(
            f'<marker id="arrow-{health}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        )
    parts.append("</defs>")
    labels: list[str] = []
    for e in edges:
        s, d = e["source"], e["destination"]
        if s not in pos or d not in pos:
            continue
        health = str(e.get("health") or "idle")
        color = COLORS.get(health, COLORS["idle"])
        (x1, y1), (x2, y2) = pos[s], pos[d]
        x1 += NODE_W / 2
        x2 -= NODE_W / 2
        wx, wy = (x1 + x2) / 2, (y1 + y2) / 2
        blocker = _blocker(pos, (x1, y1), (x2, y2), exclude={s, d})
        if blocker is not None:
            # around the node in between: through a point above or below it
            bx, by = blocker
            side = -1 if y2 < by - 1 else 1
            wx, wy = bx, by + side * (NODE_H / 2 + 26)
        cx, cy = 2 * wx - (x1 + x2) / 2, 2 * wy - (y1 + y2) / 2
        dash = ""
        if not e.get("requests"):
            dash = ' stroke-dasharray="6 4"'
        elif e.get("declared") is False:
            dash = ' stroke-dasharray="2 3"'
        width_px = 1.5 + min(3.0, float(e.get("rps") or 0.0) / 40)
        title = f"{s} → {d}: {edge_text(e)}" + (
            " (not declared)" if e.get("declared") is False else ""
        )
        parts.append(
            f'<path d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2 - 2:.1f},{y2:.1f}" fill="none" '
            f'stroke="{color}" stroke-width="{width_px:.1f}"{dash} '
            f'marker-end="url(#arrow-{health if health in COLORS else "idle"})">'
            f"<title>{escape(title)}</title></path>"
        )
        text = edge_text(e)
        tw = len(text) * 5.4 + 8
        # long edges are labelled nearer their source, away from the short ones' labels
        t = 0.5 if depth[d] - depth[s] <= 1 else 0.3
        wx = (1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t**2 * x2
        wy = (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t**2 * y2
        labels.append(
            f'<rect x="{wx - tw / 2:.1f}" y="{wy - 9:.1f}" width="{tw:.1f}" height="15" '
            f'rx="3" fill="#ffffff" fill-opacity="0.9"/>'
            f'<text x="{wx:.1f}" y="{wy + 2:.1f}" text-anchor="middle" {FONT} font-size="10" '
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
        parts.append(
            f"<g><title>{escape(name)}: {escape(health)}</title>"
            f'<rect x="{x - NODE_W / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="9" fill="#ffffff" stroke="{color}" stroke-width="2.5"/>'
            f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" {FONT} font-size="12" '
            f'font-weight="600" fill="#111827">{escape(name)}</text>'
            f'<text x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle" {FONT} font-size="10" '
            f'fill="{color}">{escape(sub)}</text></g>'
        )
    legend_y = height - 10
    lx = MARGIN
    for health, color in COLORS.items():
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 8}" width="10" height="10" rx="2" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{legend_y + 1}" {FONT} font-size="10" fill="#6b7280">'
            f"{health}</text>"
        )
        lx += 80
    parts.append(
        f'<text x="{lx + 10}" y="{legend_y + 1}" {FONT} font-size="10" fill="#6b7280">'
        "by errors: &lt; 1 % · &lt; 20 % · more; labels: rps · errors · p99</text>"
    )
    parts.append("</svg>")
    return "".join(parts)

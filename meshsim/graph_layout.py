"""Where a service graph's nodes, edges and edge labels go: one layered layout
for the notebook plots (meshsim.plots) and report.html (meshsim.report.graph_svg).

A drawing must never show a call that did not happen. A straight edge that
passes through a third node reads as two calls (order → product:v2 → product:v1
when order called v1 directly), so the layout is layered (Sugiyama's method):

- columns by call depth, the longest path from a node nobody calls, so every
  callee sits right of every caller (an edge closing a cycle is laid out
  reversed, then drawn in its own direction);
- an edge that skips columns gets a waypoint in each column it crosses, and
  the waypoint takes a row of that column as a node would: no node sits where
  the edge runs, and only adjacent columns are ever joined by a straight line;
- rows ordered by the barycentre of their neighbours, a few sweeps each way,
  which keeps the lines from crossing where it can;
- each edge's label goes at the first point along its own line where its box
  touches no other edge, node or label (the least crowded one when none is free).

Pure geometry: coordinates are in the caller's units (pixels for the SVG).
networkx has layouts (multipartite_layout) but none that routes long edges
around nodes or places labels, which is the whole point here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
Edge = tuple[str, str]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1

SWEEPS = 4
# where along a segment a label may go, nearest the middle first; never over the
# ends, where the arrowhead and the node are
LABEL_STEPS = tuple(0.5 + sign * k / 50 for k in range(0, 18) for sign in (-1, 1))[1:]


@dataclass
class Layout:
    pos: dict[str, Point]  # each node's centre
    routes: dict[Edge, list[Point]]  # centre of source, waypoints, centre of destination
    labels: dict[Edge, Point] = field(default_factory=dict)  # centre of each label's box
    columns: list[list[str]] = field(default_factory=list)  # nodes (and waypoints) per column


def depths(nodes: Sequence[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Longest path from a node nobody calls, once the edges closing a cycle
    (found by depth-first search in `nodes` order) are turned round."""
    forward = _acyclic(nodes, edges)
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):
        changed = False
        for s, d in forward:
            if depth[d] < depth[s] + 1:
                depth[d] = depth[s] + 1
                changed = True
        if not changed:
            break
    return depth


def _acyclic(nodes: Sequence[str], edges: Sequence[Edge]) -> list[Edge]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        if s != d:
            succ[s].append(d)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[Edge] = set()

    def visit(n: str) -> None:
        state[n] = 1
        for m in succ[n]:
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n)
    return [(d, s) if (s, d) in back else (s, d) for s, d in edges if s != d]


def layered_layout(
    nodes: Sequence[str],
    edges: Sequence[Edge],
    *,
    node_size: Point,
    col_gap: float,
    row_gap: float,
    label_size: Callable[[Edge], Point] | None = None,
) -> Layout:
    """Lay out `nodes` (in their preferred top-to-bottom order) and `edges`
    (self-loops are not drawn). Column `c` is at x = c * col_gap; rows are
    row_gap apart, each column centred on y = 0."""
    nodes = list(dict.fromkeys(nodes))
    edges = [(s, d) for s, d in dict.fromkeys(edges) if s != d and s in nodes and d in nodes]
    depth = depths(nodes, edges)
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for n in nodes:
        columns[depth[n]].append(n)
    chains: dict[Edge, list[str]] = {}  # every edge as a chain of adjacent-column vertices
    for s, d in edges:
        lo, hi = sorted((s, d), key=lambda n: depth[n])
        chain = [lo]
        for c in range(depth[lo] + 1, depth[hi]):
            waypoint = f"\0{s}\0{d}\0{c}"
            columns[c].append(waypoint)
            chain.append(waypoint)
        chain.append(hi)
        chains[(s, d)] = chain if lo == s else chain[::-1]
    _order(columns, list(chains.values()))
    pos: dict[str, Point] = {}
    for c, members in enumerate(columns):
        for i, v in enumerate(members):
            pos[v] = (c * col_gap, (i - (len(members) - 1) / 2) * row_gap)
    routes = {e: [pos[v] for v in chain] for e, chain in chains.items()}
    layout = Layout({n: pos[n] for n in nodes}, routes, columns=columns)
    if label_size is not None:
        layout.labels = place_labels(layout, node_size, label_size)
    return layout


def _order(columns: list[list[str]], chains: list[list[str]]) -> None:
    """Barycentre ordering, in place: sweeps left to right then right to left."""
    left: dict[str, list[str]] = {}
    right: dict[str, list[str]] = {}
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            a, b = (a, b) if _col(columns, a) < _col(columns, b) else (b, a)
            right.setdefault(a, []).append(b)
            left.setdefault(b, []).append(a)
    for _ in range(SWEEPS):
        for c in range(1, len(columns)):
            _sort_by(columns[c], columns[c - 1], left)
        for c in range(len(columns) - 2, -1, -1):
            _sort_by(columns[c], columns[c + 1], right)


def _col(columns: list[list[str]], v: str) -> int:
    return next(i for i, members in enumerate(columns) if v in members)


def _sort_by(members: list[str], fixed: list[str], links: dict[str, list[str]]) -> None:
    index = {v: i for i, v in enumerate(fixed)}
    scale = max(len(fixed) - 1, 1) / max(len(members) - 1, 1)

    def key(item: tuple[int, str]) -> tuple[float, int]:
        i, v = item
        near = [index[u] for u in links.get(v, []) if u in index]
        return (sum(near) / len(near) if near else i * scale, i)

    members[:] = [v for _, v in sorted(enumerate(members), key=key)]


# ------------------------------------------------------------------ geometry


def segments(route: Sequence[Point]) -> list[tuple[Point, Point]]:
    return list(zip(route, route[1:], strict=False))


def node_box(centre: Point, size: Point, pad: float = 0.0) -> Box:
    (x, y), (w, h) = centre, size
    return (x - w / 2 - pad, y - h / 2 - pad, x + w / 2 + pad, y + h / 2 + pad)


def segment_hits_box(a: Point, b: Point, box: Box) -> bool:
    """Whether segment a-b meets the axis-aligned box (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def boxes_overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def clip_to_box(inside: Point, outside: Point, box: Box) -> Point:
    """Where the segment from a point inside `box` to one outside leaves it."""
    (ix, iy), (ox, oy) = inside, outside
    ts = []
    x0, y0, x1, y1 = box
    if ox != ix:
        ts += [(x - ix) / (ox - ix) for x in (x0, x1)]
    if oy != iy:
        ts += [(y - iy) / (oy - iy) for y in (y0, y1)]
    t = min((t for t in ts if t > 0), default=0.0)
    return (ix + (ox - ix) * t, iy + (oy - iy) * t)


def place_labels(
    layout: Layout, node_size: Point, label_size: Callable[[Edge], Point]
) -> dict[Edge, Point]:
    """Each edge's label centre (sizes in the layout's units, as drawn)."""
    node_boxes = [node_box(p, node_size, 2) for p in layout.pos.values()]
    placed: list[Box] = []
    out: dict[Edge, Point] = {}
    # the shortest edges first: the long ones have more places to choose from
    for edge in sorted(layout.routes, key=lambda e: len(layout.routes[e])):
        w, h = label_size(edge)
        others = [seg for e, r in layout.routes.items() if e != edge for seg in segments(r)]
        best: tuple[int, Point] | None = None
        # on the line first; then just above or below it, still touching it
        for shift in (0.0, -(h / 2 + 1), h / 2 + 1):
            for t in LABEL_STEPS:
                for a, b in segments(layout.routes[edge]):
                    centre = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t + shift)
                    box = node_box(centre, (w, h))
                    crowd = sum(segment_hits_box(p, q, box) for p, q in others)
                    crowd += sum(boxes_overlap(box, nb) for nb in node_boxes)
                    crowd += sum(boxes_overlap(box, lb) for lb in placed)
                    if best is None or crowd < best[0]:
                        best = (crowd, centre)
                if best is not None and best[0] == 0:
                    break
            if best is not None and best[0] == 0:
                break
        assert best is not None
        out[edge] = best[1]
        placed.append(node_box(best[1], (w, h)))
    return out

"""The dashboard's pictures: the service graph and the charts, as SVG.

Drawn here, in Python, with the very code report.html uses
(`meshsim.report.graph_svg`, on `meshsim.graph_layout`, and
`meshsim.report.svg`'s line charts) rather than with a JavaScript charting or
graph library: the live view then looks exactly like the report a run ends
with, the drawing is the one `tests/report/test_graph_geometry.py` already
checks, no JavaScript is vendored, and the page stays a few dozen lines of
script that swaps these fragments in.
"""

from __future__ import annotations

from typing import Any

from meshsim.report.graph_svg import graph_svg
from meshsim.report.svg import Band, Series, line_chart


def graph_fragment(graph: dict[str, Any]) -> str:
    """The graph, or a note when the run has no plan yet."""
    return graph_svg(graph) or '<p class="note">waiting for the mesh to start</p>'


def charts_fragment(state: dict[str, Any]) -> str:
    """Requests per second, error rate and latency per second, with the phases
    as bands; the x axis spans the planned run so it does not rescale as it grows."""
    planned = sum(float(p.get("planned_s") or 0.0) for p in state.get("phases", []))
    x_max = max(float(state.get("t") or 0.0), planned, 1.0)
    bands = [
        Band(
            float(p["started_s"]),
            float(p["ended_s"] if p["ended_s"] is not None else state["t"]),
            p["name"] if p["status"] in ("passed", "running") else f"{p['name']} ({p['status']})",
            interrupted=p["status"] == "failed",
            settled=(float(p["started_s"]) + float(p["settle_s"])) if p.get("settle_s") else None,
        )
        for p in state.get("phases", [])
        if p.get("started_s") is not None
    ]
    points = state.get("series", [])
    half = 0.5  # each second plotted at its middle
    rps = line_chart(
        "Requests per second",
        [Series("rps", [(p["t"] + half, p["rps"]) for p in points])],
        bands,
        x_max,
        lambda y: f"{y:g}",
        y_min_top=1.0,
    )
    errors = line_chart(
        "Error rate",
        [Series("error rate", [(p["t"] + half, p["error_rate"]) for p in points], "#dc2626")],
        bands,
        x_max,
        lambda y: f"{y * 100:g}%",
        y_min_top=0.01,
    )
    latency = line_chart(
        "Latency (p50, p99)",
        [
            Series("p50", [(p["t"] + half, p["p50_ms"]) for p in points]),
            Series("p99", [(p["t"] + half, p["p99_ms"]) for p in points]),
        ],
        bands,
        x_max,
        lambda y: f"{y:g} ms",
        y_min_top=1.0,
    )
    return (
        f'<figure data-chart="rps"><figcaption>Requests per second</figcaption>{rps}</figure>'
        f'<figure data-chart="errors"><figcaption>Error rate</figcaption>{errors}</figure>'
        f'<figure data-chart="latency"><figcaption>Latency</figcaption>{latency}</figure>'
    )

"""The observability profile's files for `meshsim export compose`: Prometheus
scraping every Envoy's /stats/prometheus, Grafana's data sources and
dashboard provisioning, and the dashboard itself — the golden signals per edge
shipped in compose/grafana/ (docs/observability.md), or, where meshsim runs
without its source tree, a smaller one built here from the same counters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

import meshsim
from meshsim.control.plan import MeshPlan
from meshsim.runtime import pods

SHIPPED_DASHBOARD = (
    Path(meshsim.__file__).resolve().parents[1]
    / "compose"
    / "grafana"
    / "meshsim-golden-signals.json"
)
DASHBOARD_FILE = "grafana/meshsim-golden-signals.json"  # in an exported project


def prometheus_config(plan: MeshPlan) -> dict[str, Any]:
    targets = [f"{p}:{pods.ADMIN_PORT}" for p in plan.proxies]
    return {
        "global": {"scrape_interval": "5s"},
        "scrape_configs": [
            {
                "job_name": "envoy",
                "metrics_path": "/stats/prometheus",
                "static_configs": [{"targets": targets}],
            }
        ],
    }


# ------------------------------------------------------------------ Grafana

_CLUSTER = 'envoy_cluster_name=~"outbound.*"'
_PANELS = [
    (
        "Requests per second, by destination cluster",
        f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total{{{_CLUSTER}}}[1m]))",
        "reqps",
    ),
    (
        "5xx per second, by destination cluster",
        "sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx"
        f'{{{_CLUSTER},envoy_response_code_class="5"}}[1m]))',
        "reqps",
    ),
    (
        "p99 latency, by destination cluster",
        "histogram_quantile(0.99, sum by (envoy_cluster_name, le) "
        f"(rate(envoy_cluster_upstream_rq_time_bucket{{{_CLUSTER}}}[1m])))",
        "ms",
    ),
    (
        "Retries per second, by destination cluster",
        f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_retry{{{_CLUSTER}}}[1m]))",
        "reqps",
    ),
]


def dashboard_json() -> str:
    """The dashboard compose provisions: the shipped one when present."""
    if SHIPPED_DASHBOARD.is_file():
        return SHIPPED_DASHBOARD.read_text(encoding="utf-8")
    return json.dumps(dashboard(), indent=2) + "\n"


def dashboard() -> dict[str, Any]:
    """The fallback: golden signals per destination cluster."""
    panels = []
    for k, (title, expr, unit) in enumerate(_PANELS):
        panels.append(
            {
                "id": k + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"x": 12 * (k % 2), "y": 8 * (k // 2), "w": 12, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"expr": expr, "legendFormat": "{{envoy_cluster_name}}", "refId": "A"}],
            }
        )
    return {
        "uid": "meshsim-golden-signals",
        "title": "meshsim: golden signals",
        "schemaVersion": 39,
        "time": {"from": "now-15m", "to": "now"},
        "refresh": "5s",
        "panels": panels,
    }


def grafana_files() -> dict[str, str]:
    datasource = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "prometheus",
                "type": "prometheus",
                "url": "http://prometheus:9090",
                "isDefault": True,
            },
            {"name": "Jaeger", "uid": "jaeger", "type": "jaeger", "url": "http://jaeger:16686"},
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {"name": "meshsim", "type": "file", "options": {"path": "/var/lib/grafana/dashboards"}}
        ],
    }
    return {
        "provisioning/datasources/meshsim.yml": yaml.safe_dump(datasource, sort_keys=False),
        "provisioning/dashboards/meshsim.yml": yaml.safe_dump(provider, sort_keys=False),
    }

"""`meshsim export compose`: the compose project, its Envoy files, and the
shop's compose file in compose/ (which is that export of the baseline)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshsim.runtime.commands import envoy_binary
from meshsim.runtime.compose import export_compose, for_compose
from tests.live.helpers import skip_unless_ci

REPO = Path(__file__).parents[2]
BASELINE = REPO / "scenarios" / "baseline.yaml"
CANARY_LIKE = """
name: two-versions
mesh:
  services:
    product:
      versions: {v1: {replicas: 1}, v2: {replicas: 1}}
phases:
  - name: first
    duration: 5s
  - name: split
    duration: 5s
    apply:
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: product}
        spec: {host: product, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: product}
        spec: {hosts: [product], http: [{route: [
          {destination: {host: product, subset: v1}, weight: 80},
          {destination: {host: product, subset: v2}, weight: 20}]}]}
"""


def _paths(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "path" and isinstance(v, str) and v.startswith("/"):
                found.add(v)
            _paths(v, found)
    elif isinstance(node, list):
        for v in node:
            _paths(v, found)
    return found


def test_pods_share_the_sidecars_namespace_and_observability_is_a_profile(tmp_path: Path) -> None:
    export_compose(BASELINE, tmp_path)
    doc = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    services = doc["services"]
    pods = ["user-v1-0", "product-v1-0", "shipping-v1-0", "order-v1-0"]
    for pod in pods:
        assert services[pod]["entrypoint"] == ["envoy"]
        app = services[f"{pod}-app"]
        assert app["network_mode"] == f"service:{pod}"
        assert app["environment"]["HTTP_PROXY"] == "http://127.0.0.1:15001"
    assert services["istio-ingressgateway"]["ports"] == ["127.0.0.1:8080:8080"]
    for name in ("prometheus", "grafana", "jaeger"):
        assert services[name]["profiles"] == ["observability"]
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"])
    prom = yaml.safe_load((tmp_path / "observability" / "prometheus.yml").read_text())
    job = prom["scrape_configs"][0]
    assert job["metrics_path"] == "/stats/prometheus"
    assert sorted(job["static_configs"][0]["targets"]) == sorted(
        f"{p}:15000" for p in pods + ["istio-ingressgateway"]
    )
    # the golden-signals dashboard shipped in compose/grafana/, provisioned from ./grafana
    board = tmp_path / "grafana" / "meshsim-golden-signals.json"
    assert board.read_text() == (REPO / "compose" / "grafana" / board.name).read_text()
    assert json.loads(board.read_text())["panels"]
    assert "./grafana:/var/lib/grafana/dashboards:ro" in services["grafana"]["volumes"]


def test_every_file_an_envoy_reads_is_mounted_and_exists(tmp_path: Path) -> None:
    export_compose(BASELINE, tmp_path)
    services = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())["services"]
    for proxy_dir in sorted((tmp_path / "envoy").iterdir()):
        mounts = {}
        for volume in services[proxy_dir.name]["volumes"]:
            host, inside = volume.split(":")[:2]
            mounts[inside] = tmp_path / host
        config = json.loads((proxy_dir / "envoy.json").read_text())
        for path in _paths(config, set()):
            inside = next((m for m in mounts if path.startswith(m + "/")), None)
            assert inside is not None, f"{proxy_dir.name}: {path} is not mounted"
            host = mounts[inside] / path[len(inside) + 1 :]
            if not path.endswith(".jsonl"):  # access logs: Envoy creates them
                assert host.exists(), f"{proxy_dir.name}: {path} is mounted but missing"


def test_the_policies_of_the_chosen_phase_are_compiled_in(tmp_path: Path) -> None:
    scenario = tmp_path / "two.yaml"
    scenario.write_text(CANARY_LIKE)

    def routes(phase: str | None) -> str:
        out = tmp_path / (phase or "default")
        export_compose(scenario, out, phase=phase)
        return (out / "envoy" / "order-v1-0" / "envoy.json").read_text()

    assert "weighted_clusters" not in routes(None)
    assert "weighted_clusters" in routes("split")


def test_dns_names_resolve_and_the_inbound_cluster_stays_in_the_pod() -> None:
    static = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {"name": "outbound_http_proxy", "address": {"socket_address": {"address": "p-v1-0", "port_value": 15001}}, "filter_chains": []},
                {"name": "virtualInbound", "address": {"socket_address": {"address": "p-v1-0", "port_value": 15006}}, "filter_chains": []},
            ],
            "clusters": [
                {"name": "outbound|80||p", "type": "STATIC", "load_assignment": {"endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "p-v1-0", "port_value": 15006}}}}]}]}},
                {"name": "inbound|80||p", "type": "STATIC", "load_assignment": {"endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "p-v1-0", "port_value": 8080}}}}]}]}},
            ],
        },
    }  # fmt: skip
    out = for_compose(static, tracing=False)
    listeners = {lst["name"]: lst["address"]["socket_address"]["address"] for lst in out["static_resources"]["listeners"]}  # fmt: skip
    assert listeners == {"outbound_http_proxy": "127.0.0.1", "virtualInbound": "0.0.0.0"}
    outbound, inbound = out["static_resources"]["clusters"]
    assert outbound["type"] == "STRICT_DNS"
    assert inbound["type"] == "STATIC"
    inbound_addr = inbound["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert inbound_addr["address"]["socket_address"]["address"] == "127.0.0.1"
    assert out["admin"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 15000}


def test_envoy_accepts_every_exported_configuration(tmp_path: Path) -> None:
    # Export with the containers' root under tmp_path, then lay the files out
    # where the configuration says they are, as the compose mounts would.
    root = tmp_path / "root"
    out = tmp_path / "out"
    export_compose(BASELINE, out, root=str(root))
    (root / "xds").mkdir(parents=True)
    (root / "logs").symlink_to(out / "logs")
    for proxy_dir in (out / "envoy").iterdir():
        (root / "xds" / proxy_dir.name).symlink_to(proxy_dir)
    for proxy in ("istio-ingressgateway", "order-v1-0"):
        result = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(root / "xds" / proxy / "envoy.json")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_compose_dir_is_the_export_of_the_baseline(tmp_path: Path) -> None:
    """compose/ holds `meshsim export compose scenarios/baseline.yaml -o compose`
    (without the generated keys); this fails when the two drift apart."""
    export_compose(Path("scenarios/baseline.yaml"), tmp_path)
    committed = REPO / "compose"
    assert (committed / "docker-compose.yml").read_text() == (
        tmp_path / "docker-compose.yml"
    ).read_text(), "run: meshsim export compose scenarios/baseline.yaml -o compose"
    for f in (tmp_path / "observability").rglob("*"):
        if f.is_file():
            rel = f.relative_to(tmp_path)
            assert (committed / rel).read_text() == f.read_text(), rel
    assert (committed / "Dockerfile").resolve() == (REPO / "meshsim/runtime/Dockerfile").resolve()


def test_docker_compose_accepts_the_shops_file() -> None:
    if not shutil.which("docker-compose"):
        skip_unless_ci("docker-compose is not installed")
    for profile in ([], ["--profile", "observability"]):
        result = subprocess.run(
            ["docker-compose", *profile, "config", "-q"],
            cwd=REPO / "compose",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr


def test_without_the_source_tree_a_smaller_dashboard_stands_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meshsim.runtime import dashboards

    monkeypatch.setattr(dashboards, "SHIPPED_DASHBOARD", tmp_path / "absent.json")
    board = json.loads(dashboards.dashboard_json())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert any("envoy_cluster_upstream_rq_total" in e for e in exprs)


def test_own_services_export_with_their_command_image_and_env(tmp_path: Path) -> None:
    """A team's services export as `up --runtime docker` runs them: a command in
    meshsim's app image in the scenario's directory, or the team's own image."""
    example = REPO / "examples" / "user-service" / "scenario.yaml"
    export_compose(example, tmp_path / "fastapi")
    services = yaml.safe_load((tmp_path / "fastapi" / "docker-compose.yml").read_text())["services"]
    app = services["user-service-v1-0-app"]
    workdir = str(example.parent.resolve())
    assert app["command"][0] == "uvicorn" and "8080" in app["command"]
    assert app["working_dir"] == workdir and app["volumes"] == [f"{workdir}:{workdir}"]
    assert app["environment"]["SERVICE_NAME"] == "user-service"
    assert app["environment"]["HTTP_PROXY"] == "http://127.0.0.1:15001"
    assert "accounts-v2-0-app" in services  # every version of every own service

    node = REPO / "examples" / "node-storefront" / "scenario.yaml"
    export_compose(node, tmp_path / "node")
    services = yaml.safe_load((tmp_path / "node" / "docker-compose.yml").read_text())["services"]
    apps = {k: v for k, v in services.items() if k.endswith("-app")}
    assert apps and all(v["image"] == "meshsim-example-node:1" for v in apps.values())
    assert all("command" not in v for v in apps.values())  # the image's own CMD

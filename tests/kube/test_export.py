"""`meshsim export kubernetes`: every library scenario exports, every object
validates offline against the Kubernetes, Istio and Gateway API schemas,
and what it writes reads back through `mesh.manifests` as the same mesh.
(No cluster exists here: nothing is applied to one.)"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.errors import UsageError
from meshsim.kube.export import export_kubernetes
from meshsim.kube.promql import promql
from meshsim.kube.validate import validate_object
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh

REPO = Path(__file__).parents[2]
LIBRARY = sorted(Path(p) for p in glob.glob(str(REPO / "scenarios" / "*.yaml")))
EXAMPLES = [REPO / "examples" / "k8s-user-service" / "scenario.yaml",
            REPO / "examples" / "node-storefront" / "scenario.yaml"]  # fmt: skip


def _objects(out: Path) -> list[dict[str, object]]:
    return [
        doc
        for path in sorted(out.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize("path", LIBRARY + EXAMPLES, ids=lambda p: p.stem if p in LIBRARY else p.parent.name)  # fmt: skip
def test_every_scenario_exports_and_validates(path: Path, tmp_path: Path) -> None:
    files = export_kubernetes(path, tmp_path)
    names = {str(f.relative_to(tmp_path)) for f in files}
    assert {"00-namespaces.yaml", "10-services.yaml", "20-gateway.yaml", "load/locust.yaml",
            "run.sh", "README.md"} <= names  # fmt: skip
    objects = _objects(tmp_path)
    problems = [p for obj in objects for p in validate_object(obj)]
    assert problems == []
    scenario = load_scenario(path)
    kinds = [o["kind"] for o in objects]
    deployments = sum(len(v) for v in resolve_mesh(scenario).values())
    assert kinds.count("Deployment") == deployments + 2  # + Locust's master and workers
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"] == {"istio-injection": "enabled"}
    # Each phase that applies anything has its directory, in order, and run.sh walks them.
    run = (tmp_path / "run.sh").read_text()
    for phase in scenario.phases:
        assert f'echo "phase {phase.name} ({phase.duration:g}s)"' in run
        assert f"sleep {phase.duration:g}" in run


def test_validation_refuses_what_a_cluster_refuses() -> None:
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "x"}, "spec": {"hosts": ["a"], "http": [{"rout": []}]}}  # fmt: skip
    problems = validate_object(vs)
    assert len(problems) == 1 and problems[0].startswith("VirtualService/x: spec.http[0].rout")
    pa = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
          "metadata": {"name": "x"}, "spec": {"mtls": {"mode": "STRICTEST"}}}  # fmt: skip
    assert "spec.mtls.mode" in validate_object(pa)[0]
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
    assert "'selector' is a required property" in validate_object(dep)[0]
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r"}, "spec": {"parentRefs": [{"name": "product"}]}}  # fmt: skip
    assert validate_object(route) == []
    old = dict(route, apiVersion="gateway.networking.k8s.io/v1alpha9")
    assert "apiVersion" in validate_object(old)[0]


def test_the_export_reads_back_through_mesh_manifests(tmp_path: Path) -> None:
    source = REPO / "examples" / "k8s-user-service" / "scenario.yaml"
    out = tmp_path / "export"
    export_kubernetes(source, out)
    (tmp_path / "again.yaml").write_text(
        "name: again\n"
        "mesh: {manifests: [export/10-services.yaml, export/00-namespaces.yaml], expose: frontend}\n"
        "load: {users: 1, requests: [{name: home, path: /}]}\n"
        "phases: [{name: a, duration: 5s}]\n"
    )
    again = load_scenario(tmp_path / "again.yaml")
    first = load_scenario(source)
    assert resolve_mesh(again) == resolve_mesh(first)
    one, two = resolve_application(first), resolve_application(again)
    for name, service in one.services.items():
        back = two.services[name]
        assert (back.port, back.service_port, back.health, back.identity) == (
            service.port, service.service_port, service.health, service.identity
        )  # fmt: skip
        for version in service.versions:
            assert back.image_of(version) == service.image_of(version)
            # a container's command and args go out and come back as given
            assert back.versions[version].entrypoint == service.versions[version].entrypoint
            assert back.versions[version].args == service.versions[version].args
            # the mesh's own variables ride along; the service's env is kept
            assert service.env_of(version).items() <= back.env_of(version).items()
            # The downward-API INSTANCE_NAME comes back as the pod field it is.
            assert two.services[name].instance_env(version, "x-0", "10.0.0.9")["INSTANCE_NAME"] == "x-0"  # fmt: skip
    assert not any("INSTANCE_NAME" in n for n in again.notes), again.notes


def test_the_cli_writes_the_export(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "kubernetes", "canary", "--out", str(tmp_path), "--registry", "ghcr.io/acme"])  # fmt: skip
    assert result.exit_code == 0, result.output
    services = (tmp_path / "10-services.yaml").read_text()
    assert "image: ghcr.io/acme/meshsim-app:latest" in services
    assert "docker push ghcr.io/acme/meshsim-app:latest" in (tmp_path / "README.md").read_text()


def test_a_command_without_an_image_cannot_be_exported(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "kubernetes", str(REPO / "examples" / "user-service" / "scenario.yaml"), "--out", str(tmp_path)])  # fmt: skip
    assert isinstance(result.exception, UsageError)  # main() maps it to exit 2
    assert "has a command but no image" in str(result.exception)


def test_expectations_as_promql() -> None:
    assert promql("version(product:v2).share = 20% ± 5%", 30) == (
        '`sum(rate(istio_requests_total{reporter="source",destination_canonical_service="product",'
        'destination_version="v2"}[30s])) / sum(rate(istio_requests_total{reporter="source",'
        'destination_canonical_service="product"}[30s]))`'
    )
    assert promql("p99 < 300ms", 15).startswith("`histogram_quantile(0.99, sum by (le)")
    assert "istio_request_duration_milliseconds_bucket" in promql("p99 < 300ms", 15)
    assert promql("journey(browse).error_rate < 1%", 10).startswith("no equivalent")

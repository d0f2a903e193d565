"""`mesh.manifests`: Kubernetes objects mapped onto the own-services model,
what cannot be honoured warned with file:line:field, bad manifests exit 2."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from meshsim.control.advice import scenario_warnings
from meshsim.errors import ScenarioError, ScenarioErrors
from meshsim.scenario import load_scenario, load_scenario_text, resolve_application
from meshsim.scenario.from_manifests import expanded_text

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "k8s-user-service"

SCENARIO = """\
name: m
mesh: {manifests: [k8s/]}
load: {users: 1, requests: [{name: home, path: /}]}
phases: [{name: a, duration: 5s}]
"""


def _write(tmp_path: Path, manifests: str, scenario: str = SCENARIO) -> Path:
    (tmp_path / "k8s").mkdir(exist_ok=True)
    (tmp_path / "k8s" / "app.yaml").write_text(textwrap.dedent(manifests))
    path = tmp_path / "s.yaml"
    path.write_text(scenario)
    return path


def _deployment(name: str, extra: str = "", labels: str = "", pod: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web{labels}}}}}
    spec:{pod}
      containers:
        - name: web
          image: acme/web:1
          ports: [{{containerPort: 8000}}]{extra}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 8080, targetPort: 8000}}]
"""


def test_the_example_maps_exactly_as_the_issue_lists() -> None:
    scenario = load_scenario(EXAMPLE / "scenario.yaml")
    app = resolve_application(scenario)
    assert set(app.services) == {"frontend", "user-service"}
    users = app.services["user-service"]
    assert users.port == 8000 and users.service_port is None  # Service 80 -> 8000
    assert users.health == "/healthz"
    assert users.image_of("v1") == users.image_of("v2") == "k8s-example/user-service:1"
    assert users.env_of("v2") == {"VERSION": "v2", "LOG_LEVEL": "info"}
    # v2's own command line replaces the image's CMD, $(LOG_LEVEL) expanded at start
    assert users.image_argv("v1", users.env_of("v1")) == (None, None)
    entrypoint, args = users.image_argv("v2", users.env_of("v2"))
    assert entrypoint == ["python3", "-m", "uvicorn"] and args is not None
    assert args[args.index("--log-level") + 1] == "info"
    assert users.identity == "spiffe://cluster.local/ns/default/sa/user-service"
    front = app.services["frontend"]
    assert front.port == 8000  # a named targetPort, resolved from the container's ports
    assert front.identity == "spiffe://cluster.local/ns/default/sa/web-frontend"
    assert front.expose == "/" and users.expose is None  # mesh.expose
    assert not app.pull_images
    # The manifests' Istio resources join the first phase's, after its own.
    applied = [f"{r['kind']}/{r['metadata']['name']}" for r in scenario.phases[0].apply]
    assert applied == [
        "VirtualService/user-service",
        "PeerAuthentication/default",
        "AuthorizationPolicy/user-service",
        "DestinationRule/user-service",
    ]
    # resources.limits cannot be honoured: warned once, with file, line and field
    notes = [n for n in scenario_warnings(scenario) if "resources" in n]
    assert notes == [
        f"{os.path.relpath(EXAMPLE / 'k8s' / 'frontend.yaml')}:43: "
        "spec.template.spec.containers[0].resources: Deployment/frontend-v1: not honoured "
        "(meshsim runs the image as built)"
    ]


def test_replicas_versions_env_and_what_is_refused(tmp_path: Path) -> None:
    extra = """
          env:
            - {name: MODE, value: fast}
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
          envFrom: [{configMapRef: {name: cfg}}]
          readinessProbe:
            exec: {command: ["true"]}
          livenessProbe:
            httpGet: {path: /live, port: 8000}
          volumeMounts: [{name: data, mountPath: /data}]"""
    pod = """
      initContainers: [{name: init, image: busybox}]
      volumes: [{name: data, emptyDir: {}}]"""
    path = _write(tmp_path, _deployment("web-v3", extra, ", version: v3", pod))
    scenario = load_scenario(path)
    web = resolve_application(scenario).services["web"]
    assert (
        list(web.versions) == ["v3"] and scenario.mesh.services["web"].versions["v3"].replicas == 2
    )
    assert web.env_of("v3") == {"MODE": "fast"}
    assert web.port == 8000 and web.service_port == 8080 and web.health is None
    assert web.identity == "spiffe://cluster.local/ns/default/sa/default"  # Kubernetes' default
    notes = "\n".join(scenario.notes)
    for field in (
        "env[1].valueFrom.secretKeyRef: Deployment/web-v3: DB_PASSWORD is not set: Secret db "
        "is not among the manifests",
        "containers[0].envFrom[0].configMapRef: Deployment/web-v3: ConfigMap cfg is not among "
        "the manifests",
        "containers[0].readinessProbe.exec: Deployment/web-v3: not honoured",
        "containers[0].livenessProbe: Deployment/web-v3: not honoured",
        "containers[0].volumeMounts: Deployment/web-v3: not honoured",
        "spec.template.spec.initContainers: Deployment/web-v3: not honoured",
        "spec.template.spec.volumes: Deployment/web-v3: not honoured",
    ):
        assert field in notes, notes
    assert len(scenario.notes) == len(set(scenario.notes)) == 7


def test_no_version_label_runs_as_v1_and_says_so(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, _deployment("web")))
    assert list(scenario.mesh.services["web"].versions) == ["v1"]
    assert any("no `version` label" in n for n in scenario.notes)


def test_other_kinds_and_per_version_services_are_warned(tmp_path: Path) -> None:
    more = """\
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1}
spec:
  selector: {app: web, version: v1}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec: {}
"""
    scenario = load_scenario(_write(tmp_path, _deployment("web", labels=", version: v1") + more))
    assert set(scenario.mesh.services) == {"web"}
    notes = "\n".join(scenario.notes)
    assert "ConfigMap/cfg: ConfigMap is not honoured" in notes
    assert "Service/web-v1: selects only workloads of Service web" in notes
    assert "Sidecar/default: not honoured (" in notes and "kind 'Sidecar'" in notes


def test_a_workload_no_service_selects_runs_under_its_app_label(tmp_path: Path) -> None:
    text = _deployment("web").split("---")[0]
    scenario = load_scenario(_write(tmp_path, text))
    assert set(scenario.mesh.services) == {"web"}
    assert any("no Service selects it: meshsim runs it as service web" in n for n in scenario.notes)


def test_namespace_and_service_account_make_the_identity(tmp_path: Path) -> None:
    text = _deployment("web", pod="\n      serviceAccountName: web-sa")
    text = text.replace("metadata: {name: web-v", "metadata: {name: web-v").replace(
        "metadata: {name: web}", "metadata: {name: web, namespace: shop}"
    )
    text = text.replace(
        "metadata: {name: web}}", "metadata: {name: web, namespace: shop}}"
    ).replace(
        "kind: Deployment\nmetadata: {name: web}",
        "kind: Deployment\nmetadata: {name: web, namespace: shop}",
    )
    scenario = load_scenario(_write(tmp_path, text))
    web = resolve_application(scenario).services["web"]
    assert web.namespace == "shop"
    assert web.identity == "spiffe://cluster.local/ns/shop/sa/web-sa"


def test_the_scenario_may_add_calls_but_not_redeclare(tmp_path: Path) -> None:
    ok = SCENARIO.replace(
        "mesh: {manifests: [k8s/]}", "mesh: {manifests: [k8s/], services: {web: {calls: []}}}"
    )
    load_scenario(_write(tmp_path, _deployment("web"), ok))
    bad = SCENARIO.replace(
        "mesh: {manifests: [k8s/]}",
        "mesh:\n  manifests: [k8s/]\n  services:\n    web: {image: x:1}",
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, _deployment("web"), bad))
    assert ":5: mesh.services.web.image: web is declared by" in str(info.value)


def test_expose_names_a_service(tmp_path: Path) -> None:
    bad = SCENARIO.replace(
        "mesh: {manifests: [k8s/]}", "mesh:\n  manifests: [k8s/]\n  expose: nope"
    )
    with pytest.raises((ScenarioError, ScenarioErrors)) as info:
        load_scenario(_write(tmp_path, _deployment("web"), bad))
    assert "s.yaml:4: mesh.expose: unknown service 'nope'; the mesh has web" in str(info.value)


def test_the_expanded_copy_reads_back_without_the_manifests(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLE / "scenario.yaml")
    text = expanded_text(scenario)
    assert "\n  manifests:" not in text and "expose: true" in text
    again = load_scenario_text(text, "copy.yaml", tmp_path)
    assert again.mesh.services == scenario.mesh.services
    assert again.phases == scenario.phases


def test_command_and_args_replace_the_images_entrypoint_and_cmd(tmp_path: Path) -> None:
    """As on a cluster: `command` is the version's entrypoint, `args` its
    args, kept as written (the runtime expands $(NAME) at start), and
    neither is warned."""
    extra = """
          command: [uvicorn]
          args: ["main:app", --port, "$(PORT)", "--id=$$(HOME)"]"""
    scenario = load_scenario(_write(tmp_path, _deployment("web-v1", extra, ", version: v1")))
    version = scenario.mesh.services["web"].versions["v1"]
    assert version.entrypoint == ["uvicorn"]
    assert version.args == ["main:app", "--port", "$(PORT)", "--id=$$(HOME)"]
    assert not [n for n in scenario.notes if "command" in n or ".args" in n], scenario.notes
    web = resolve_application(scenario).services["web"]
    assert web.image_argv("v1", {"PORT": "8000", "HOME": "/root"}) == (
        ["uvicorn"],
        ["main:app", "--port", "8000", "--id=$(HOME)"],
    )


def test_args_alone_keep_the_images_entrypoint(tmp_path: Path) -> None:
    extra = """
          command: []
          args: [--verbose]"""
    scenario = load_scenario(_write(tmp_path, _deployment("web-v1", extra, ", version: v1")))
    web = resolve_application(scenario).services["web"]
    assert web.image_argv("v1", {}) == (None, ["--verbose"])  # [] is Kubernetes' "not given"


def test_metadata_that_is_a_list_is_exit_2_naming_it(tmp_path: Path) -> None:
    """Found by tests/scenario/test_fuzz_loaders.py: an AttributeError (exit 3)."""
    manifest = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n- name: web\n---\n"
    path = _write(tmp_path, manifest + _deployment("web-v1", "", ", version: v1"))
    with pytest.raises(
        (ScenarioError, ScenarioErrors), match=r"app\.yaml:3: metadata\.name: required"
    ):
        load_scenario(path)

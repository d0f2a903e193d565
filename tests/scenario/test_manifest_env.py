"""A manifest container's env as Kubernetes builds it: $(NAME) expansion,
fieldRef, ConfigMap and Secret keys among the manifests, and a precise
warning, at file:line and field, for each variable that cannot be set."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshsim.application import expand_references
from meshsim.scenario import load_scenario, resolve_application

SCENARIO = """\
name: m
mesh: {manifests: [k8s/]}
load: {users: 1, requests: [{name: home, path: /}]}
phases: [{name: a, duration: 5s}]
"""

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-v1, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, version: v1}
      annotations: {team: payments}
    spec:
      serviceAccountName: web-sa
      containers:
        - name: web
          image: acme/web:1
          ports: [{containerPort: 8000}]
          command: [/app/run, "--name=$(POD_NAME)", "--ip=$(POD_IP)"]
          envFrom:
            - {configMapRef: {name: cfg}, prefix: CFG_}
          env:
            - {name: MODE, value: fast}
            - {name: URL, value: "http://$(MODE):$$(MODE)/$(UNKNOWN)"}
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: POD_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
            - name: NS
              valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
            - name: SA
              valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}
            - name: TEAM
              valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}
            - name: NODE
              valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
            - name: CPU
              valueFrom: {resourceFieldRef: {resource: limits.cpu}}
            - name: PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
            - name: MISSING
              valueFrom: {configMapKeyRef: {name: cfg, key: nope}}
            - name: OPTIONAL
              valueFrom: {configMapKeyRef: {name: gone, key: x, optional: true}}
            - {name: SELF, value: "$(POD_NAME)-x"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: shop}
data: {level: debug, "not-a-name": x}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
data: {password: aHVudGVyMg==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unused, namespace: shop}
data: {a: b}
"""


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        # The cases Kubernetes documents and tests for its expansion.
        ("$(VAR_A)", "A"),
        ("___$(VAR_A)___", "___A___"),
        ("$(VAR_A)-$(VAR_B)", "A-B"),
        ("$$(VAR_A)", "$(VAR_A)"),  # escaped: never expanded
        ("$$$(VAR_A)", "$A"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),  # not resolved: left as written
        ("$(VAR_A", "$(VAR_A"),  # unclosed
        ("$VAR_A", "$VAR_A"),  # a shell reference is not Kubernetes'
        ("$()", "$()"),
        ("$", "$"),
        ("$$", "$"),
        ("$(VAR_A)$(VAR_A)", "AA"),
    ],
)
def test_expansion_as_kubernetes_does(text: str, expanded: str) -> None:
    assert expand_references(text, {"VAR_A": "A", "VAR_B": "B"}) == expanded


def _load(tmp_path: Path) -> tuple[object, list[str]]:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(textwrap.dedent(WORKLOAD))
    (tmp_path / "s.yaml").write_text(SCENARIO)
    scenario = load_scenario(tmp_path / "s.yaml")
    return scenario, list(scenario.notes)


def test_what_the_manifests_know_is_set_and_the_pod_fields_at_start(tmp_path: Path) -> None:
    scenario, notes = _load(tmp_path)
    web = resolve_application(scenario).services["web"]  # type: ignore[arg-type]
    env = web.instance_env("v1", "web-v1-0", "172.18.0.5")
    assert env == {
        "CFG_level": "debug",
        "MODE": "fast",
        "URL": "http://fast:$(MODE)/$(UNKNOWN)",
        "POD_NAME": "web-v1-0",
        "POD_IP": "172.18.0.5",
        "NS": "shop",
        "SA": "web-sa",
        "TEAM": "payments",
        "PASSWORD": "hunter2",
        "SELF": "$(POD_NAME)-x",
    }
    entrypoint, args = web.image_argv("v1", env)
    assert entrypoint == ["/app/run", "--name=web-v1-0", "--ip=172.18.0.5"] and args is None


def test_each_variable_not_set_is_warned_at_its_line(tmp_path: Path) -> None:
    _, notes = _load(tmp_path)
    where = "k8s/app.yaml"
    wanted = [
        ":18: spec.template.spec.containers[0].envFrom[0].configMapRef: Deployment/web-v1: "
        "ConfigMap cfg key 'not-a-name' is not a variable name: not set",
        ":33: spec.template.spec.containers[0].env[7].valueFrom.fieldRef.fieldPath: "
        "Deployment/web-v1: NODE is not set: meshsim gives metadata.name, status.podIP, "
        "metadata.namespace, spec.serviceAccountName and the pod's labels and annotations, "
        "not spec.nodeName; give it a value",
        ":35: spec.template.spec.containers[0].env[8].valueFrom.resourceFieldRef: "
        "Deployment/web-v1: CPU is not set: meshsim sets no resource requests or limits",
        ":39: spec.template.spec.containers[0].env[10].valueFrom.configMapKeyRef: "
        "Deployment/web-v1: MISSING is not set: ConfigMap cfg has no key 'nope'",
        ":42: spec.template.spec.containers[0].env[12].value: Deployment/web-v1: "
        "$(POD_NAME) is left as written: meshsim knows POD_NAME only when the instance starts",
        ":61: ConfigMap/unused: ConfigMap is not honoured",
    ]
    text = "\n".join(notes)
    for part in wanted:
        assert part in text, (part, text)
    assert not any("OPTIONAL" in n or "Secret/db" in n or "ConfigMap/cfg:" in n for n in notes)  # fmt: skip
    assert all(n.split(":")[0].endswith(where) for n in notes if "Deployment" in n)

"""`mesh.manifests`: a team's Kubernetes manifests as services of its own.

Istio's conventions map each object onto the own-services model
(docs/own-services.md, docs/kubernetes.md):

| Kubernetes | meshsim |
|---|---|
| Service `metadata.name` | the service (the host callers use) |
| Service `selector` | its workloads: Deployments, StatefulSets, ReplicaSets whose pod labels it selects |
| pod label `version` | the version (`v1` when there is none, warned) |
| `replicas` | the version's replicas |
| container `image` | the version's image (built here, never pulled) |
| Service `port` → `targetPort` | `service_port` → `port` (the container port the app listens on) |
| container `env`, `envFrom` | the version's env (meshsim.scenario.manifest_env) |
| container `command`, `args` | the version's `entrypoint`, `args` (ENTRYPOINT, CMD) |
| `readinessProbe.httpGet.path` | `health` (a `tcpSocket` probe is meshsim's default check) |
| `serviceAccountName`, `metadata.namespace` | the SPIFFE identity `spiffe://cluster.local/ns/<ns>/sa/<sa>` |
| Istio and Gateway API objects | the policies in force from the first phase |

Whatever cannot be honoured (volumes, init containers, resources, other
probes, extra containers, other kinds...) is a warning naming the manifest,
line and field, once; nothing is dropped without one. Pure: objects in,
services and warnings out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshsim.errors import ScenarioError
from meshsim.scenario.istio import check_resource
from meshsim.scenario.k8s_objects import K8sObject, schema_problem
from meshsim.scenario.manifest_env import SOURCE_KINDS, Sources, container_env
from meshsim.scenario.yamlpos import YamlPath, split_path

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
# Kinds that need nothing from meshsim beyond what it does anyway.
QUIET_KINDS = ("ServiceAccount", "Namespace")
# What each level honours; any other field present is warned.
WORKLOAD_SPEC = {"replicas", "selector", "template", "serviceName"}
POD_SPEC = {"containers", "serviceAccountName", "serviceAccount"}
CONTAINER = {"name", "image", "ports", "env", "envFrom", "command", "args", "readinessProbe", "imagePullPolicy"}  # fmt: skip
SERVICE_SPEC = {"selector", "ports", "type", "clusterIP", "clusterIPs"}
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_REPLICAS = 50


@dataclass
class _Workload:
    obj: K8sObject
    labels: dict[str, str]
    version: str
    replicas: int
    claimed_by: str | None = None


@dataclass
class ManifestApp:
    """What the manifests declare: services as `mesh.services` entries, the
    policies in force from the start, the warnings, and which service a
    LoadBalancer or NodePort Service reaches from outside (a guess at what the
    ingress should route to)."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: list[K8sObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outside: str | None = None
    origins: dict[str, K8sObject] = field(default_factory=dict)
    sources: Sources = field(default_factory=Sources)

    def warn(self, obj: K8sObject, path: YamlPath, message: str) -> None:
        text = f"{obj.where(path)}: {obj.key}: {message}"
        if text not in self.warnings:
            self.warnings.append(text)


def map_manifests(objects: list[K8sObject]) -> ManifestApp:
    """The services, policies and warnings of a set of manifest objects.
    Raises ScenarioError (file:line) for what Kubernetes itself would refuse."""
    out = ManifestApp()
    workloads: list[_Workload] = []
    services: list[K8sObject] = []
    for obj in objects:
        if obj.is_policy:
            out.policies.append(obj)
            continue
        problem = schema_problem(obj.data)
        if problem is not None:
            raise obj.error(*problem)
        if obj.kind in WORKLOAD_KINDS and obj.group == "apps":
            workload = _workload(obj, out)
            if workload is not None:
                workloads.append(workload)
        elif obj.kind == "Service" and obj.api_version == "v1":
            services.append(obj)
        elif obj.kind in SOURCE_KINDS and obj.api_version == "v1":
            out.sources.add(obj)  # read where a container's env names it
        elif obj.kind not in QUIET_KINDS:
            out.warn(
                obj,
                (),
                f"{obj.kind} is not honoured: meshsim runs Deployments, StatefulSets, "
                "ReplicaSets and Services, and applies Istio and Gateway API resources",
            )
    for svc in services:
        _service(svc, workloads, out)
    for w in workloads:
        if w.claimed_by is None:
            _unclaimed(w, out)
    for key, obj in out.sources.objects.items():
        if key not in out.sources.used:
            out.warn(obj, (), f"{obj.kind} is not honoured: meshsim reads ConfigMaps and Secrets only where a container's env or envFrom names them")  # fmt: skip
    return out


def _warn_fields(out: ManifestApp, obj: K8sObject, path: YamlPath, data: Any, kept: set[str], what: str) -> None:  # fmt: skip
    if not isinstance(data, dict):
        return
    for key in data:
        if key not in kept:
            out.warn(obj, (*path, key), f"not honoured ({what})")


def _workload(obj: K8sObject, out: ManifestApp) -> _Workload | None:
    spec = obj.data.get("spec") or {}
    _warn_fields(out, obj, ("spec",), spec, WORKLOAD_SPEC, f"meshsim runs the {obj.kind}'s pods")
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    tpath: YamlPath = ("spec", "template", "metadata")
    for key in meta:
        if key != "labels":
            out.warn(obj, (*tpath, key), "not honoured (meshsim reads the pod's labels only)")
    for key in labels:
        if key not in ("app", "version"):
            out.warn(
                obj,
                (*tpath, "labels", key),
                "not carried: meshsim's instances have the labels app and version only "
                "(Istio's conventions), so a selector on this label selects nothing",
            )
    version = labels.get("version")
    if version is None:
        out.warn(obj, (*tpath, "labels"), "no `version` label: meshsim runs it as version v1")
        version = "v1"
    elif not VERSION.match(version):
        raise obj.error(
            (*tpath, "labels", "version"),
            f"{version!r} is not a version meshsim can run; use letters, digits, '_' and "
            "'.', e.g. v2 (no '-': instances are named <service>-<version>-<index>)",
        )
    replicas = spec.get("replicas", 1)
    if replicas == 0:
        out.warn(obj, ("spec", "replicas"), "0 replicas: not run")
        return None
    if replicas > MAX_REPLICAS:
        out.warn(obj, ("spec", "replicas"), f"{replicas} replicas: meshsim runs {MAX_REPLICAS}")
        replicas = MAX_REPLICAS
    return _Workload(obj, labels, version, int(replicas))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(str(k)) == str(v) for k, v in selector.items())


def _service(svc: K8sObject, workloads: list[_Workload], out: ManifestApp) -> None:
    spec = svc.data.get("spec") or {}
    selector = spec.get("selector") or {}
    _warn_fields(out, svc, ("spec",), spec, SERVICE_SPEC, "meshsim routes by name and port")
    if not selector:
        out.warn(svc, ("spec",), "no selector: a Service for something outside the mesh; not run")
        return
    chosen = [w for w in workloads if w.obj.namespace == svc.namespace and _selects(selector, w.labels)]  # fmt: skip
    if not chosen:
        out.warn(svc, ("spec", "selector"), "selects no Deployment, StatefulSet or ReplicaSet here; not run")  # fmt: skip
        return
    free = [w for w in chosen if w.claimed_by is None]
    if not free:
        out.warn(
            svc,
            ("spec", "selector"),
            f"selects only workloads of Service {chosen[0].claimed_by}: a per-version "
            f"Service is not needed in meshsim (a DestinationRule subset selects a version)",
        )
        return
    if not SERVICE_NAME.match(svc.name) or svc.name in ("ingress", "istio-ingressgateway"):
        raise svc.error(("metadata", "name"), f"{svc.name!r} cannot be a meshsim service name")
    if svc.name in out.services:
        raise svc.error(("metadata", "name"), f"a second Service named {svc.name}")
    ports = spec.get("ports") or [{}]
    for j in range(1, len(ports)):
        out.warn(svc, ("spec", "ports", j), "not served: meshsim serves one port per service")
    port = ports[0]
    if spec.get("type") in ("LoadBalancer", "NodePort") and out.outside is None:
        out.outside = svc.name
    entry: dict[str, Any] = {"versions": {}, "namespace": svc.namespace}
    if port.get("port") not in (None, 80):
        entry["service_port"] = int(port["port"])
    for key, value in port.items():
        if key not in ("port", "targetPort", "name") and (key, value) != ("protocol", "TCP"):
            out.warn(svc, ("spec", "ports", 0, key), "not honoured (meshsim serves HTTP over TCP)")
    target = port.get("targetPort", port.get("port"))
    accounts: dict[str, str] = {}
    for w in free:
        w.claimed_by = svc.name
        container, cpath, container_port = _app_container(w, target, out, svc)
        version = entry["versions"].setdefault(w.version, {})
        if version:
            raise w.obj.error(
                ("spec", "template", "metadata", "labels"),
                f"a second workload of Service {svc.name} labelled version {w.version}",
            )
        version["replicas"] = w.replicas
        _container(w.obj, cpath, container, version, entry, out)
        if container_port is not None:
            if entry.get("port") not in (None, container_port):
                out.warn(w.obj, (*cpath, "ports"), f"listens on {container_port}, other versions on {entry['port']}: meshsim uses {entry['port']}")  # fmt: skip
            entry.setdefault("port", container_port)
        pod = w.obj.data["spec"]["template"].get("spec") or {}
        account = pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
        accounts[w.version] = str(account)
    distinct = sorted(set(accounts.values()))
    entry["service_account"] = accounts[free[0].version]
    if len(distinct) > 1:
        out.warn(svc, (), f"its versions run as service accounts {', '.join(distinct)}: meshsim gives all of them {entry['service_account']}")  # fmt: skip
    out.services[svc.name] = entry
    out.origins[svc.name] = svc


def _app_container(
    w: _Workload, target: Any, out: ManifestApp, svc: K8sObject
) -> tuple[dict[str, Any], YamlPath, int | None]:
    """The container the Service's targetPort reaches (else the first), its
    path, and that port as a number."""
    pod = w.obj.data["spec"]["template"].get("spec") or {}
    containers = pod.get("containers") or []
    _warn_fields(out, w.obj, ("spec", "template", "spec"), pod, POD_SPEC, "meshsim runs one app container per pod beside its Envoy sidecar")  # fmt: skip
    found: tuple[int, int | None] | None = None
    for i, c in enumerate(containers):
        for p in c.get("ports") or []:
            number = p.get("containerPort")
            if target == number or (isinstance(target, str) and p.get("name") == target):
                found = found or (i, number)
    index, number = found if found is not None else (0, None)
    if found is None:
        if isinstance(target, str):
            raise svc.error(("spec", "ports", 0, "targetPort"), f"no container of {w.obj.key} has a port named {target!r}")  # fmt: skip
        number = int(target) if isinstance(target, int) else None
    for i, c in enumerate(containers):
        if i != index:
            out.warn(w.obj, ("spec", "template", "spec", "containers", i), f"container {c.get('name')} not run: meshsim runs the one the Service reaches, beside its own sidecar")  # fmt: skip
    path: YamlPath = ("spec", "template", "spec", "containers", index)
    return containers[index], path, number


def _container(
    obj: K8sObject,
    path: YamlPath,
    c: dict[str, Any],
    version: dict[str, Any],
    entry: dict[str, Any],
    out: ManifestApp,
) -> None:
    _warn_fields(out, obj, path, c, CONTAINER, "meshsim runs the image as built")
    if c.get("imagePullPolicy") == "Always":
        out.warn(obj, (*path, "imagePullPolicy"), "Always: meshsim never pulls; it runs the image built here")  # fmt: skip
    version["image"] = str(c["image"]) if c.get("image") else _no_image(obj, path)
    container_env(obj, path, c, version, out.sources, out.warn)
    probe = c.get("readinessProbe")
    if isinstance(probe, dict):
        _probe(obj, (*path, "readinessProbe"), probe, c, entry, out)


def _no_image(obj: K8sObject, path: YamlPath) -> str:
    raise obj.error((*path, "image"), "required: meshsim runs the container's image")


def _probe(
    obj: K8sObject,
    path: YamlPath,
    probe: dict[str, Any],
    c: dict[str, Any],
    entry: dict[str, Any],
    out: ManifestApp,
) -> None:
    get = probe.get("httpGet")
    if isinstance(get, dict):
        health = str(get.get("path") or "/")
        port = get.get("port")
        names = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        number = names.get(port, port)
        if entry.get("port") not in (None, number) and number not in names.values():
            out.warn(obj, (*path, "httpGet", "port"), f"{port}: meshsim probes the app's own port")  # fmt: skip
        for key in ("host", "scheme", "httpHeaders"):
            if key in get and not (key == "scheme" and get[key] == "HTTP"):
                out.warn(obj, (*path, "httpGet", key), "not honoured: meshsim sends GET over HTTP to the app")  # fmt: skip
        if entry.setdefault("health", health) != health:
            out.warn(obj, (*path, "httpGet", "path"), f"{health}: other versions are probed on {entry['health']}")  # fmt: skip
    elif "tcpSocket" not in probe:
        kind = next((k for k in ("exec", "grpc") if k in probe), "this probe")
        out.warn(obj, (*path, kind), "not honoured: meshsim's readiness is an httpGet path or the port accepting connections")  # fmt: skip
    for key in probe:
        if key not in ("httpGet", "tcpSocket", "exec", "grpc"):
            out.warn(obj, (*path, key), "not honoured: meshsim polls readiness on its own schedule")  # fmt: skip


def _unclaimed(w: _Workload, out: ManifestApp) -> None:
    """A workload no Service selects: on a cluster nobody can call it by name.
    It runs as a service named after its `app` label, which callers then use."""
    name = w.labels.get("app") or w.obj.name
    if not SERVICE_NAME.match(name) or name in out.services:
        out.warn(w.obj, (), "no Service selects it: not run")
        return
    out.warn(
        w.obj,
        ("spec", "template", "metadata", "labels"),
        f"no Service selects it: meshsim runs it as service {name}",  # fmt: skip
    )
    entry: dict[str, Any] = {"versions": {}, "namespace": w.obj.namespace}
    version: dict[str, Any] = {"replicas": w.replicas}
    entry["versions"][w.version] = version
    container, cpath, number = _app_container(w, None, out, w.obj)
    ports = container.get("ports") or []
    if ports:
        entry["port"] = int(ports[0]["containerPort"])
    _container(w.obj, cpath, container, version, entry, out)
    pod = w.obj.data["spec"]["template"].get("spec") or {}
    entry["service_account"] = str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default")  # fmt: skip
    w.claimed_by = name
    out.services[name] = entry
    out.origins[name] = w.obj


def check_policy(obj: K8sObject) -> ScenarioError | None:
    """An Istio or Gateway API object as a phase's `apply` checks it, with the
    manifest's line; None when it is fine. A kind meshsim does not implement
    is a warning instead (returned as None by the caller's choice)."""
    if not isinstance(obj.data.get("spec"), dict):
        return obj.error(("spec",), "required: an Istio resource needs a spec")
    for relative, message in check_resource(obj.data):
        return obj.error(split_path(relative), message)
    return None


__all__ = ["ManifestApp", "ScenarioError", "check_policy", "map_manifests"]

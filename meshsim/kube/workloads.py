"""A scenario's application and load as Kubernetes objects: a Namespace
labelled for Istio's sidecar injection, then per service a ServiceAccount, a
Service and one Deployment per version (Istio's `app`/`version` labels), and
Locust in its own distributed mode (a master and worker Deployments, the
locustfile in a ConfigMap), as Locust documents for Kubernetes. Pure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.application import Application, AppService
from meshsim.errors import UsageError
from meshsim.runtime.images import APP_REPO
from meshsim.runtime.pods import APP_PORT
from meshsim.scenario.model import Scenario
from meshsim.shop import SERVICE_PORT

INJECTION = {"istio-injection": "enabled"}
LOCUST_IMAGE = "locustio/locust:2.32.4"
LOCUST_DIR = "/mnt/locust"
# Istio's default install: the ingress gateway's Service in istio-system.
INGRESS_URL = "http://istio-ingressgateway.istio-system.svc.cluster.local"
SHOP_LOCUSTFILE = Path(__file__).parents[1] / "load" / "locustfile.py"
LOAD_LABEL = {"app.kubernetes.io/part-of": "meshsim-load"}


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def namespaces(app: Application) -> list[str]:
    """Every namespace the application's services live in (`default` first)."""
    found = {s.namespace for s in app.services.values()}
    return sorted(found, key=lambda n: (n != "default", n))


def namespace_objects(app: Application) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, None, **INJECTION)}
        for ns in namespaces(app)
    ]


def _image(service: AppService, version: str, registry: str | None) -> tuple[str, list[str]]:
    """The image and command of a version's container: the team's image as
    given; the shop's module in meshsim's app image (pushed to `registry`)."""
    image = service.image_of(version)
    if image is not None:
        return image, []
    if service.module is not None:
        repo = f"{registry.rstrip('/')}/{APP_REPO}" if registry else APP_REPO
        return f"{repo}:latest", ["python", "-m", service.module]
    raise UsageError(
        f"{service.name} {version} has a command but no image; a cluster runs images: give "
        f"mesh.services.{service.name} an `image` to export it"
    )


def service_objects(
    app: Application, mesh: dict[str, dict[str, int]], registry: str | None = None
) -> list[dict[str, Any]]:
    """ServiceAccount, Service and a Deployment per version that runs
    (`mesh`: service → version → replicas), for every service."""
    out: list[dict[str, Any]] = []
    for name, versions in mesh.items():
        out += _service(app.services[name], versions, registry)
    return out


def _service(
    service: AppService, versions: dict[str, int], registry: str | None
) -> list[dict[str, Any]]:
    name, ns = service.name, service.namespace
    account = service.service_account or name
    port = service.port or APP_PORT
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(account, ns)},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, ns, app=name),
            "spec": {
                "selector": {"app": name},
                "ports": [
                    {
                        "name": "http",
                        "port": service.service_port or SERVICE_PORT,
                        "targetPort": port,
                    }
                ],
            },
        },
    ]
    for version, replicas in versions.items():
        image, command = _image(service, version, registry)
        env = {**service.env_of(version), "PORT": str(port), "HOST": "0.0.0.0"}
        env |= {"SERVICE_NAME": name, "SERVICE_VERSION": version}
        run = service.versions.get(version)
        fields = {"INSTANCE_NAME": "metadata.name", **(run.env_fields if run else {})}
        # Kubernetes expands $(NAME) in a value and reads $$ as $: escaped, a
        # value reaches the app as meshsim gives it.
        values = [{"name": k, "value": v.replace("$", "$$")} for k, v in env.items()]
        container: dict[str, Any] = {
            "name": name,
            "image": image,
            "ports": [{"name": "http", "containerPort": port}],
            "env": values
            + [
                {"name": k, "valueFrom": {"fieldRef": {"fieldPath": f}}}
                for k, f in fields.items()
                if k not in env
            ],
        }
        if command:
            container["command"] = command
            container["imagePullPolicy"] = "IfNotPresent"
        # As given: the cluster expands their $(NAME) as meshsim does.
        if run is not None and run.entrypoint is not None:
            container["command"] = list(run.entrypoint)
        if run is not None and run.args is not None:
            container["args"] = list(run.args)
        if service.health:
            container["readinessProbe"] = {"httpGet": {"path": service.health, "port": port}}
        else:
            container["readinessProbe"] = {"tcpSocket": {"port": port}}
        labels = {"app": name, "version": version}
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(f"{name}-{version}", ns, **labels),
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"serviceAccountName": account, "containers": [container]},
                    },
                },
            }
        )
    return objects


def load_objects(scenario: Scenario, total_s: float, workers: int = 2) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """Locust's master and workers in namespace `default`, headless, with the
    scenario's users for the whole drill; and notes on what does not carry over."""
    load = scenario.load
    notes: list[str] = []
    files: dict[str, str] = {}
    env: dict[str, str] = {}
    if load.locustfile is not None:
        source = scenario.base_dir / load.locustfile
        files["locustfile.py"] = source.read_text(encoding="utf-8")
        notes.append(
            f"load: your locustfile {load.locustfile} is mounted alone: files it reads beside "
            "itself must be added to the ConfigMap meshsim-locustfile"
        )
    else:
        files["locustfile.py"] = SHOP_LOCUSTFILE.read_text(encoding="utf-8")
        env["MESHSIM_JOURNEYS"] = json.dumps(dict(load.journeys))
        if load.requests is not None:
            env["MESHSIM_REQUESTS"] = json.dumps(
                [r.model_dump(mode="json", exclude_none=True) for r in load.requests]
            )
    if load.cohorts:
        notes.append("load.cohorts are not exported: send their headers from a locustfile")
    run_time = f"{max(1, round(total_s))}s"
    common = ["-f", f"{LOCUST_DIR}/locustfile.py"]
    master_args = common + [
        "--master", "--headless", "--expect-workers", str(workers),
        "-u", str(load.users), "-r", f"{load.spawn_rate:g}", "--run-time", run_time,
        "--host", INGRESS_URL, "--csv", "/tmp/meshsim", "--only-summary",
    ]  # fmt: skip
    worker_args = common + ["--worker", "--master-host", "locust-master"]
    volume = {"name": "locustfile", "configMap": {"name": "meshsim-locustfile"}}
    mount = {"name": "locustfile", "mountPath": LOCUST_DIR}
    env_list = [{"name": k, "value": v} for k, v in env.items()]

    def deployment(name: str, args: list[str], replicas: int, ports: list[int]) -> dict[str, Any]:
        labels = {"app": name, **LOAD_LABEL}
        container: dict[str, Any] = {
            "name": "locust",
            "image": LOCUST_IMAGE,
            "args": args,
            "env": env_list,
            "volumeMounts": [mount],
        }
        if ports:
            container["ports"] = [{"containerPort": p} for p in ports]
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(name, "default", **LOAD_LABEL),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    # Locust is the load from outside the mesh, through the ingress.
                    "metadata": {
                        "labels": labels,
                        "annotations": {"sidecar.istio.io/inject": "false"},
                    },
                    "spec": {"containers": [container], "volumes": [volume]},
                },
            },
        }

    objects = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("meshsim-locustfile", "default", **LOAD_LABEL),
            "data": files,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("locust-master", "default", **LOAD_LABEL),
            "spec": {
                "selector": {"app": "locust-master"},
                "ports": [
                    {"name": "master", "port": 5557, "targetPort": 5557},
                    {"name": "web", "port": 8089, "targetPort": 8089},
                ],
            },
        },
        deployment("locust-master", master_args, 1, [5557, 8089]),
        deployment("locust-worker", worker_args, workers, []),
    ]
    return objects, notes

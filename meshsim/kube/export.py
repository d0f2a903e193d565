"""`meshsim export kubernetes SCENARIO --out DIR`: a drill a team can
`kubectl apply` on a cluster with Istio.

DIR holds, in the order `run.sh` applies them:

- `00-namespaces.yaml`: the services' namespaces, labelled `istio-injection: enabled`;
- `10-services.yaml`: a ServiceAccount, a Service and a Deployment per
  version of every service (the shop's apps in meshsim's app image, which
  README.md says how to push; a team's images as given);
- `20-gateway.yaml`: the Gateway `meshsim-gateway` and the default routes;
- `phases/NN-<phase>/apply.yaml` and `remove.txt`: what each phase applies
  and withdraws (Istio / Gateway API resources), and `actions.sh` for chaos;
- `load/locust.yaml`: Locust's master and workers, the locustfile in a ConfigMap;
- `run.sh`: walks the phases with kubectl, waiting out their durations;
- `README.md`: the same steps by hand, and each expectation as a query on
  Istio's standard metrics.

Every object validates offline (meshsim.kube.validate). Nothing here has run
against a real cluster: there is none where meshsim is built (docs/kubernetes.md).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshsim.control.state import default_resources
from meshsim.errors import UsageError
from meshsim.kube.promql import promql
from meshsim.kube.validate import validate_object
from meshsim.kube.workloads import load_objects, namespace_objects, service_objects
from meshsim.scenario import load_scenario, resolve_application, resolve_mesh, resolve_target
from meshsim.scenario.model import Scenario

HEADER = "# Made by `meshsim export kubernetes {scenario}`; see README.md.\n"


@dataclass
class PhaseFiles:
    name: str
    duration: float
    apply: list[dict[str, Any]]
    remove: list[str]  # Kind/name or Kind/namespace/name
    actions: list[str]  # shell lines
    expect: list[str]


@dataclass
class Bundle:
    """Every object of an export, by the file it goes to, and what did not carry over."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    phases: list[PhaseFiles] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def objects(self) -> list[dict[str, Any]]:
        out = [o for objs in self.files.values() for o in objs]
        return out + [o for p in self.phases for o in p.apply]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "phase"


def _action(scenario: Scenario, verb: str, target: str) -> tuple[str | None, str | None]:
    """A chaos action as kubectl, or a note when a cluster has no equivalent."""
    mesh = resolve_mesh(scenario)
    service, _, version = target.partition(":")
    if verb not in ("kill", "restart"):
        return None, f"{verb} {target}: no kubectl equivalent (a pod cannot be frozen)"
    if service in mesh:
        selector = f"app={service}" + (f",version={version}" if version else "")
        cmd = f"kubectl delete pod -l {shlex.quote(selector)} --wait=false"
    else:  # an instance, <service>-<version>-<index>: the index-th pod of its Deployment
        resolve_target(scenario, target)
        service, version, index = target.rsplit("-", 2)
        pick = (
            f"kubectl get pod -l app={service},version={version} -o name | sed -n {int(index) + 1}p"
        )
        cmd = f"kubectl delete $({pick}) --wait=false"
    # A Deployment brings a killed pod back; meshsim's kill keeps it down.
    note = None if verb == "restart" else f"kill {target}: the Deployment starts a new pod at once"
    return cmd, note


def bundle(scenario: Scenario, registry: str | None = None, workers: int = 2) -> Bundle:
    """The export's objects and files for `scenario` (pure but for reading
    a team's locustfile)."""
    app = resolve_application(scenario)
    mesh = resolve_mesh(scenario)
    out = Bundle()
    out.files["00-namespaces.yaml"] = namespace_objects(app)
    out.files["10-services.yaml"] = service_objects(app, mesh, registry)
    out.files["20-gateway.yaml"] = [dict(r) for r in default_resources(app)]
    total = sum(p.duration for p in scenario.phases)
    load, notes = load_objects(scenario, total, workers)
    out.files["load/locust.yaml"] = load
    out.notes += notes
    if scenario.mesh.legacy_clients:
        out.notes.append("mesh.legacy_clients are not exported (they call a sidecar directly)")
    for phase in scenario.phases:
        actions: list[str] = []
        for action in phase.actions:
            cmd, note = _action(scenario, action.verb, action.target)
            at = f"sleep {action.at:g}; " if action.at else ""
            if cmd is not None:
                actions.append(f"({at}{cmd}) &")
            if note is not None:
                out.notes.append(f"phase {phase.name}: {note}")
        out.phases.append(
            PhaseFiles(
                phase.name,
                phase.duration,
                [dict(r) for r in phase.apply],
                list(phase.remove),
                actions,
                list(phase.expect),
            )
        )
    return out


class _Dumper(yaml.SafeDumper):
    """Text of several lines (a locustfile in its ConfigMap) as a literal block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(objects: list[dict[str, Any]], header: str) -> str:
    return header + yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, width=100)


def _kubectl_delete(key: str) -> str:
    parts = key.split("/")
    kind, name = parts[0], parts[-1]
    ns = f" -n {parts[1]}" if len(parts) == 3 else ""
    return f"kubectl delete{ns} {kind.lower()} {name} --ignore-not-found"


def _run_script(out: Bundle, phase_dirs: list[str]) -> str:
    deployments = [
        (o["metadata"].get("namespace", "default"), o["metadata"]["name"])
        for o in out.files["10-services.yaml"]
        if o["kind"] == "Deployment"
    ]
    lines = [
        "#!/usr/bin/env bash",
        "# Walks the drill on the cluster kubectl points at (Istio installed, with its",
        "# ingress gateway in istio-system). Made by meshsim export kubernetes.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "kubectl apply -f 00-namespaces.yaml",
        "kubectl apply -f 10-services.yaml",
        "kubectl apply -f 20-gateway.yaml",
    ]
    lines += [
        f"kubectl -n {ns} rollout status deployment/{d} --timeout=300s" for ns, d in deployments
    ]
    lines += ["kubectl apply -f load/locust.yaml", "kubectl rollout status deployment/locust-worker --timeout=300s"]  # fmt: skip
    for phase, directory in zip(out.phases, phase_dirs, strict=True):
        lines.append(f'echo "phase {phase.name} ({phase.duration:g}s)"')
        lines += [_kubectl_delete(k) for k in phase.remove]
        if phase.apply:
            lines.append(f"kubectl apply -f {directory}/apply.yaml")
        if phase.actions:
            lines.append(f"bash {directory}/actions.sh")
        lines.append(f"sleep {phase.duration:g}")
    lines += [
        "kubectl logs deployment/locust-master --tail=40 || true",
        "kubectl delete -f load/locust.yaml --ignore-not-found",
    ]
    return "\n".join(lines) + "\n"


def _readme(scenario: Scenario, source: str, out: Bundle, registry: str | None) -> str:
    pushed = f"{registry.rstrip('/')}/meshsim-app:latest" if registry else "meshsim-app:latest"
    text = [
        f"# {scenario.name} on Kubernetes + Istio",
        "",
        f"Made by `meshsim export kubernetes {source}`. **Not run against a real cluster by",
        "meshsim's tests** (none exists where meshsim is built): every object here is validated",
        "offline against the Kubernetes 1.30 OpenAPI schemas and meshsim's own models of Istio's",
        "and Gateway API's kinds; `kubectl apply --dry-run=server -R -f .` is the final word.",
        "",
        "## Before you start",
        "",
        "- A cluster with Istio (its ingress gateway `istio-ingressgateway` in `istio-system`).",
    ]
    shop = any(
        o["spec"]["template"]["spec"]["containers"][0].get("command")
        for o in out.files["10-services.yaml"]
        if o["kind"] == "Deployment"
    )
    if shop:
        text.append(
            f"- The sample shop runs in meshsim's app image, `{pushed}`: build it with "
            "`meshsim images build`, then"
        )
        if registry:
            text.append(f"  `docker tag meshsim-app:latest {pushed} && docker push {pushed}`")
        else:
            text.append(
                "  push it where your cluster pulls from and export again with `--registry "
                "REGISTRY`, or load it into a kind cluster: `kind load docker-image "
                "meshsim-app:latest`."
            )
    text += [
        "- Your own images pushed where the cluster pulls them, under the names in `10-services.yaml`.",
        "",
        "## Run it",
        "",
        "`bash run.sh` applies the namespaces, services and gateway, waits for every",
        "Deployment, starts Locust (a master and workers, headless, for the whole drill),",
        "then walks the phases: removes, applies, runs the chaos actions, sleeps the",
        "phase's duration. By hand, the same in this order:",
        "",
        "| phase | duration | apply | remove | expectations (PromQL on Istio's metrics) |",
        "|---|---|---|---|---|",
    ]
    for i, phase in enumerate(out.phases, start=1):
        applied = ", ".join(f"{r.get('kind')}/{r.get('metadata', {}).get('name')}" for r in phase.apply)  # fmt: skip
        queries = "<br>".join(f"`{e}`: {promql(e, phase.duration)}" for e in phase.expect)
        text.append(
            f"| {i}. {phase.name} | {phase.duration:g}s | {applied or '-'} | "
            f"{', '.join(phase.remove) or '-'} | {queries or '-'} |"
        )
    if out.notes:
        text += ["", "## What does not carry over", ""] + [f"- {n}" for n in out.notes]
    text += [
        "",
        "How expectations map to `istio_requests_total` and",
        "`istio_request_duration_milliseconds`: meshsim's docs/kubernetes.md.",
    ]
    return "\n".join(text) + "\n"


def export_kubernetes(
    scenario_path: Path, out: Path, *, registry: str | None = None, workers: int = 2
) -> list[Path]:
    """Write the export of `scenario_path` into `out`; returns the files.
    UsageError (exit 2) when an object would not validate."""
    scenario = load_scenario(scenario_path)
    result = bundle(scenario, registry, workers)
    problems = [p for obj in result.objects() for p in validate_object(obj)]
    if problems:
        raise UsageError("the export would not validate:\n" + "\n".join(problems))
    header = HEADER.format(scenario=scenario_path.as_posix())
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    for rel, objects in result.files.items():
        write(rel, _dump(objects, header))
    width = len(str(len(result.phases)))
    dirs = []
    for i, phase in enumerate(result.phases, start=1):
        directory = f"phases/{i:0{width}d}-{_slug(phase.name)}"
        dirs.append(directory)
        if phase.apply:
            write(f"{directory}/apply.yaml", _dump(phase.apply, header))
        write(f"{directory}/remove.txt", "".join(f"{k}\n" for k in phase.remove))
        if phase.actions:
            write(f"{directory}/actions.sh", "\n".join(["set -eu", *phase.actions, "wait"]) + "\n")
    write("run.sh", _run_script(result, dirs))
    (out / "run.sh").chmod(0o755)
    write("README.md", _readme(scenario, scenario_path.as_posix(), result, registry))
    return written

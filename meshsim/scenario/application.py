"""A scenario's application: the sample shop, or the services it declares.

How shop services and own services mix (docs/own-services.md): a scenario
that gives any service a `command` or an `image` is an application of its
own. Exactly its declared services run, each needs a `command` (local
runtime) or an `image` (Docker runtime), and none of the shop's services is
started beside them. Otherwise the scenario runs the sample shop as always.
"""

from __future__ import annotations

import re
from pathlib import Path

from meshsim.application import Application, AppService, ReadyRequest, VersionRun
from meshsim.scenario.model import Scenario, is_own_application
from meshsim.scenario.services import SERVICE_NAME_PATTERN, ServiceSpec
from meshsim.scenario.yamlpos import YamlPath
from meshsim.shop import SHOP_APP


def resolve_application(scenario: Scenario, base_dir: Path | None = None) -> Application:
    """The application `scenario` runs; commands run in `base_dir` (default:
    the scenario file's directory)."""
    if not is_own_application(scenario):
        return SHOP_APP
    declared = scenario.mesh.services
    exposed = exposed_prefixes(declared)
    services = {
        name: AppService(
            name,
            command=tuple(spec.command or ()),
            image=spec.image,
            health=spec.health,
            env=dict(spec.env),
            calls=tuple(spec.calls),
            expose=exposed.get(name),
            versions={
                version: VersionRun(
                    tuple(v.command) if v.command else None,
                    v.image,
                    dict(v.env),
                    tuple(v.entrypoint) if v.entrypoint is not None else None,
                    tuple(v.args) if v.args is not None else None,
                    dict(v.env_fields),
                )
                for version, v in spec.versions.items()
            },
            port=spec.port,
            service_port=spec.service_port,
            service_account=spec.service_account,
            namespace=spec.namespace or "default",
        )
        for name, spec in declared.items()
    }
    workdir = (base_dir or scenario.base_dir).resolve()
    # Services from Kubernetes manifests run images built here, never pulled.
    pull = not scenario.mesh.manifests
    return Application(scenario.name, services, _ready(services), str(workdir), pull_images=pull)


def exposed_prefixes(declared: dict[str, ServiceSpec]) -> dict[str, str]:
    """Service → the path prefix the ingress routes to it. `expose: true` is
    `/`; with no service exposed, the first one no other service calls is
    exposed at `/` (the front of the application)."""
    out: dict[str, str] = {}
    for name, spec in declared.items():
        if spec.expose is True:
            out[name] = "/"
        elif isinstance(spec.expose, str) and spec.expose:
            out[name] = spec.expose
    if not out and declared:
        called = {callee for spec in declared.values() for callee in spec.calls}
        front = next((n for n in declared if n not in called), next(iter(declared)))
        out[front] = "/"
    return out


def _ready(services: dict[str, AppService]) -> ReadyRequest:
    """The first request through the ingress: the front service's health path
    when it is exposed at `/` (200 expected), else its prefix (any answer that
    is not Envoy's 502/503/504 for want of an upstream)."""
    fronts = sorted(
        (s for s in services.values() if s.expose is not None),
        key=lambda s: (len(s.expose or ""), s.name),
    )
    if not fronts:
        return ReadyRequest("GET", "/", None, None)
    front = fronts[0]
    if front.expose == "/" and front.health:
        return ReadyRequest("GET", front.health, None, 200)
    return ReadyRequest("GET", front.expose or "/", None, None)


INGRESS_NAMES = ("ingress", "istio-ingressgateway")
# No '-': an instance is <service>-<version>-<index>, read back from the right.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.]*$"


def own_service_problems(scenario: Scenario) -> list[tuple[YamlPath, str]]:
    """An application of one's own: every service says how it starts, calls
    services of the mesh, and no two share an ingress prefix. Returns
    (path, message) for each problem."""
    problems: list[tuple[YamlPath, str]] = []
    declared = scenario.mesh.services
    prefixes: dict[str, str] = {}
    for name, spec in declared.items():
        path: YamlPath = ("mesh", "services", name)
        if not re.fullmatch(SERVICE_NAME_PATTERN, name) or name in INGRESS_NAMES:
            problems.append(
                (
                    path,
                    f"{name!r} is not a valid service name; use lowercase letters, digits "
                    "and '-', starting with a letter (a DNS label other than ingress)",
                )
            )
        if not spec.versions:
            problems.append(((*path, "versions"), "must list at least one version, e.g. {v1: {}}"))
        for version, v in spec.versions.items():
            if (v.entrypoint or v.args) and not (v.image or spec.image):
                key = "entrypoint" if v.entrypoint else "args"
                problems.append(
                    (
                        (*path, "versions", version, key),
                        f"replaces an image's ENTRYPOINT or CMD, and {name} {version} has no "
                        "image; a `command` is how a service without one starts",
                    )
                )
            if not re.fullmatch(VERSION_PATTERN, version):
                problems.append(
                    (
                        (*path, "versions", version),
                        f"{version!r} is not a valid version name; use letters, digits, '_' "
                        "and '.', e.g. v2 (it ends instance names: quotes-v2-0)",
                    )
                )
        if not spec.own:
            problems.append(
                (
                    path,
                    f"{name} has no command or image; in a scenario with services of its "
                    "own, every service needs a `command` (local runtime) or an `image` "
                    "(Docker runtime): the sample shop's services are not started beside "
                    "your own",
                )
            )
        for j, callee in enumerate(spec.calls):
            if callee not in declared:
                known = ", ".join(declared)
                problems.append(
                    ((*path, "calls", j), f"unknown service {callee!r}; the mesh has {known}")
                )
            elif callee == name:
                problems.append(((*path, "calls", j), f"{name} cannot call itself"))
        if isinstance(spec.expose, str):
            prefix = spec.expose
            if not prefix.startswith("/"):
                problems.append(
                    (
                        (*path, "expose"),
                        f"{prefix!r} is not a path prefix; expected true or e.g. /quotes",
                    )
                )
                continue
        else:
            prefix = "/" if spec.expose else ""
        if prefix and prefix in prefixes:
            problems.append(
                (
                    (*path, "expose"),
                    f"{prefix} is already exposed by {prefixes[prefix]}; give one of them a "
                    f"prefix of its own, e.g. expose: /{name}",
                )
            )
        elif prefix:
            prefixes[prefix] = name
    if not scenario.load.own and scenario.load.users > 0:
        problems.append(
            (
                ("load",),
                "services of your own need load of your own: load.locustfile (a Locust "
                "file) or load.requests (a list of requests); the shop's journeys call the "
                "shop's paths",
            )
        )
    return problems

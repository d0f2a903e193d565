"""Applications: the services a mesh runs and what the mesh needs to know about them.

An application is data the plan carries: for each service, how an instance
starts (a Python module of meshsim's sample shop, or a team's own `command`
and/or `image`), the readiness path the runtime polls on the app's port, the
environment per version, the services it calls (the declared graph), and the
path prefix the ingress gateway routes to it by default (`expose`). Plus the
request that proves the whole mesh ready through the ingress.

The sample shop is one built-in application (`meshsim.shop.SHOP_APP`); a
scenario that declares a service with a `command` or an `image` is an
application of its own (`meshsim.scenario.model.resolve_application`).
Nothing here starts anything: runtimes read it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The gateway VirtualService every mesh of own services starts with
# (the shop's is VirtualService/shop).
APP_ROUTE_NAME = "app"
PORT_PLACEHOLDER = "{port}"
# SPIFFE trust domain of every workload identity (Istio's default)
TRUST_DOMAIN = "cluster.local"
# The pod fields an instance's environment can carry, as Kubernetes' downward
# API `fieldRef` sets them, and what each is in meshsim: its name, its address.
POD_FIELDS = ("metadata.name", "status.podIP")
# `$$` (an escaped `$`) or `$(NAME)`, scanned left to right as Kubernetes does.
_REFERENCE = re.compile(r"\$(?:\$|\(([^)]*)\))")


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """`text` with `$(NAME)` replaced by `env[NAME]`, as Kubernetes expands a
    container's `command`, `args` and `env[].value`: a name not in `env` is
    left as written, `$$` is a literal `$` (so `$$(NAME)` stays `$(NAME)`),
    any other `$` is kept.

    >>> expand_references("--id=$(POD_NAME) $$(HOME) $(NOPE)", {"POD_NAME": "web-v1-0"})
    '--id=web-v1-0 $(HOME) $(NOPE)'
    """

    # Hand-written: Kubernetes' expansion lives in Go (k8s.io/kubernetes
    # third_party/forked/golang/expansion) and no maintained Python package
    # implements its syntax; os.path.expandvars and string.Template use `${}`.
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


@dataclass(frozen=True)
class VersionRun:
    """What one version of a service changes: its own command, image and env;
    and, for its image, what Kubernetes calls the container's `command`
    (`entrypoint`) and `args`, and the env set from pod fields."""

    command: tuple[str, ...] | None = None
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    # variable -> one of POD_FIELDS
    env_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppService:
    """One service of an application."""

    name: str
    # The shop: `python -m MODULE` with meshsim's interpreter (local) or the image's.
    module: str | None = None
    command: tuple[str, ...] = ()
    image: str | None = None
    # Readiness: GET this path on the app's own port answers 200. None: the
    # port accepts a connection.
    health: str | None = "/healthz"
    env: dict[str, str] = field(default_factory=dict)
    calls: tuple[str, ...] = ()
    # The path prefix the ingress gateway routes to this service by default.
    expose: str | None = None
    # Every version the service may run (those a scenario does not list do not run).
    versions: dict[str, VersionRun] = field(default_factory=lambda: {"v1": VersionRun()})
    # The port the app listens on in its container (Docker runtime); None: 8080.
    port: int | None = None
    # A port callers may name besides 80 (a Kubernetes Service's `port`).
    service_port: int | None = None
    # Its SPIFFE identity's service account (None: the service's name) and namespace.
    service_account: str | None = None
    namespace: str = "default"

    @property
    def identity(self) -> str:
        """`spiffe://cluster.local/ns/<namespace>/sa/<service account>`."""
        account = self.service_account or self.name
        return f"spiffe://{TRUST_DOMAIN}/ns/{self.namespace}/sa/{account}"

    def command_of(self, version: str) -> tuple[str, ...]:
        """The version's own command, else the service's; () for a module or image only."""
        run = self.versions.get(version)
        if run is not None and run.command:
            return run.command
        return self.command

    def image_of(self, version: str) -> str | None:
        run = self.versions.get(version)
        if run is not None and run.image:
            return run.image
        return self.image

    def env_of(self, version: str) -> dict[str, str]:
        """The service's env with the version's on top."""
        run = self.versions.get(version)
        return {**self.env, **(run.env if run is not None else {})}

    def instance_env(self, version: str, instance: str, address: str) -> dict[str, str]:
        """`env_of(version)` plus the variables the version sets from pod
        fields (`env_fields`): the instance's name, its address."""
        run = self.versions.get(version)
        fields = {"metadata.name": instance, "status.podIP": address}
        own = {k: fields[f] for k, f in (run.env_fields if run is not None else {}).items()}
        return {**self.env_of(version), **own}

    def image_argv(
        self, version: str, env: Mapping[str, str]
    ) -> tuple[list[str] | None, list[str] | None]:
        """The version's `entrypoint` and `args` for its image (None: the
        image's own ENTRYPOINT, CMD), `$(NAME)` expanded from `env`, the
        container's environment, as Kubernetes expands them."""
        run = self.versions.get(version)
        if run is None:
            return None, None

        def expanded(words: tuple[str, ...] | None) -> list[str] | None:
            return None if words is None else [expand_references(w, env) for w in words]

        return expanded(run.entrypoint), expanded(run.args)

    def argv(self, version: str, port: int, python: str = "python") -> list[str]:
        """The command line of an instance listening on `port`: `{port}` in any
        argument is replaced; the shop's module runs with `python`."""
        if self.module is not None:
            return [python, "-m", self.module]
        return [arg.replace(PORT_PLACEHOLDER, str(port)) for arg in self.command_of(version)]

    def shown_command(self, version: str) -> str:
        """The command as a person would type it (for messages)."""
        if self.module is not None:
            return f"python -m {self.module}"
        return shlex.join(self.command_of(version))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "command": list(self.command),
            "image": self.image,
            "health": self.health,
            "env": dict(self.env),
            "calls": list(self.calls),
            "expose": self.expose,
            "port": self.port,
            "service_port": self.service_port,
            "service_account": self.service_account,
            "namespace": self.namespace,
            "versions": {
                v: {
                    "command": list(r.command) if r.command is not None else None,
                    "image": r.image,
                    "env": dict(r.env),
                    "entrypoint": list(r.entrypoint) if r.entrypoint is not None else None,
                    "args": list(r.args) if r.args is not None else None,
                    "env_fields": dict(r.env_fields),
                }
                for v, r in self.versions.items()
            },
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AppService:
        versions = {
            str(v): VersionRun(
                tuple(r["command"]) if r.get("command") is not None else None,
                r.get("image"),
                dict(r.get("env") or {}),
                tuple(r["entrypoint"]) if r.get("entrypoint") is not None else None,
                tuple(r["args"]) if r.get("args") is not None else None,
                dict(r.get("env_fields") or {}),
            )
            for v, r in (raw.get("versions") or {"v1": {}}).items()
        }
        return cls(
            name=str(raw["name"]),
            module=raw.get("module"),
            command=tuple(raw.get("command") or ()),
            image=raw.get("image"),
            health=raw.get("health"),
            env=dict(raw.get("env") or {}),
            calls=tuple(raw.get("calls") or ()),
            expose=raw.get("expose"),
            versions=versions,
            port=raw.get("port"),
            service_port=raw.get("service_port"),
            service_account=raw.get("service_account"),
            namespace=str(raw.get("namespace") or "default"),
        )


@dataclass(frozen=True)
class ReadyRequest:
    """The request sent through the ingress until it succeeds: the mesh is ready.
    `status` None accepts any answer that did not come from Envoy for want of
    an upstream (502, 503 and 504 are refused)."""

    method: str = "GET"
    path: str = "/"
    body: Any = None  # sent as JSON when not None
    status: int | None = 200

    def accepts(self, status: int) -> bool:
        if self.status is not None:
            return status == self.status
        return status not in (502, 503, 504)

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Application:
    """A set of services run under the mesh."""

    name: str
    services: dict[str, AppService]
    ready: ReadyRequest = field(default_factory=ReadyRequest)
    # Where commands run (the scenario file's directory); None: the current one.
    workdir: str | None = None
    builtin: bool = False
    # The gateway VirtualService the mesh starts with; None: generated from `expose`.
    gateway_routes: tuple[dict[str, Any], ...] | None = None
    # Images are built locally and never pulled (services from Kubernetes manifests).
    pull_images: bool = True

    def identity_of(self, service: str) -> str:
        """The SPIFFE ID of `service`'s workloads (the shop's: its own name in `default`)."""
        known = self.services.get(service)
        return known.identity if known is not None else AppService(service).identity

    @property
    def route_name(self) -> str:
        """The name of the gateway VirtualService the mesh starts with."""
        if self.gateway_routes is not None:
            return str(self.gateway_routes[0].get("metadata", {}).get("name", APP_ROUTE_NAME))
        return APP_ROUTE_NAME

    def gateway_virtual_service(self, gateway: str) -> dict[str, Any]:
        """The VirtualService bound to the ingress gateway that routes each
        exposed service's prefix to it (longest prefix first)."""
        if self.gateway_routes is not None:
            return dict(self.gateway_routes[0])
        exposed = sorted(
            ((s.expose, s.name) for s in self.services.values() if s.expose is not None),
            key=lambda pair: (-len(pair[0]), pair[1]),
        )
        http = [
            {"match": [{"uri": {"prefix": prefix}}], "route": [{"destination": {"host": name}}]}
            for prefix, name in exposed
        ]
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": APP_ROUTE_NAME},
            "spec": {"hosts": ["*"], "gateways": [gateway], "http": http},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "builtin": self.builtin,
            "workdir": self.workdir,
            "pull_images": self.pull_images,
            "ready": {
                "method": self.ready.method,
                "path": self.ready.path,
                "body": self.ready.body,
                "status": self.ready.status,
            },
            "services": {n: s.to_dict() for n, s in self.services.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Application:
        """An application as written in plan.json (the built-in shop is read
        back as itself by `meshsim.shop.application_from_dict`)."""
        ready = raw.get("ready") or {}
        return cls(
            name=str(raw.get("name") or "app"),
            services={
                str(n): AppService.from_dict(s) for n, s in (raw.get("services") or {}).items()
            },
            ready=ReadyRequest(
                str(ready.get("method", "GET")),
                str(ready.get("path", "/")),
                ready.get("body"),
                ready.get("status"),
            ),
            workdir=raw.get("workdir"),
            pull_images=bool(raw.get("pull_images", True)),
        )

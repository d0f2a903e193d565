"""What the control plane gives each Envoy, as types every other module shares.

The bottom of `meshsim.control`: it imports nothing from the package, so the
builders (listeners, clusters, routes), the inputs they take (security,
observe) and the delivery side (writer, sds, push) all import it and none of
them imports another to get at a type. As go-control-plane's
`cache.Snapshot`, a compiled mesh is checked whole before it is delivered:
`Snapshot.consistent()` (every route configuration a listener names exists,
every cluster a route names exists, every secret a TLS context names is
served), run on every compile; a dangling name is a bug in the compiler,
raised as `InconsistentSnapshot`, never handed to Envoy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The route configurations every proxy has, by the listener that names them.
ROUTE_OUTBOUND = "outbound"
ROUTE_INBOUND = "inbound"
ROUTE_INGRESS = "ingress"


@dataclass
class ProxyConfig:
    """Everything one Envoy is given: its listeners, clusters and routes."""

    name: str
    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    routes: dict[str, dict[str, Any]]  # route config name → RouteConfiguration
    warnings: list[str] = field(default_factory=list)


@dataclass
class Paths:
    """Where a proxy's xDS files live (the writer decides; the config refers to them)."""

    root: str

    def dir(self, proxy: str) -> str:
        return f"{self.root}/{proxy}"

    def file(self, proxy: str, kind: str) -> str:
        return f"{self.root}/{proxy}/{kind}.json"


class InconsistentSnapshot(RuntimeError):
    """The compiler produced configuration that names what it does not define:
    a bug in meshsim, not in the user's input."""


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside `node`, outermost first. An explicit stack rather
    than nested generators: a recursive generator passes each dict up through
    every level it is nested in, and the consistency check walks every
    proxy's whole configuration on every compile (100 proxies: ~1 M nodes)."""
    stack = [node]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        if isinstance(item, dict):
            yield item
            push(reversed(item.values()))
        elif isinstance(item, list):
            push(reversed(item))


def route_config_names(listeners: list[dict[str, Any]]) -> list[str]:
    """The route configurations the listeners' HTTP connection managers ask for."""
    return _names(listeners)[0]


def _names(resources: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The route configurations and the SDS secrets `resources` name, in one
    walk (the consistency check walks every listener of every proxy)."""
    routes: list[str] = []
    secrets: list[str] = []
    for node in _walk(resources):
        rds = node.get("rds")
        if isinstance(rds, dict) and "route_config_name" in rds:
            routes.append(rds["route_config_name"])
        if "sds_config" in node and isinstance(node.get("name"), str):
            secrets.append(node["name"])
    return routes, secrets


def route_clusters(route_config: dict[str, Any]) -> list[str]:
    """Every cluster a route configuration sends to: routes, weighted
    clusters and mirrors (a direct response names none)."""
    names: list[str] = []
    for vhost in route_config.get("virtual_hosts", []):
        for route in vhost.get("routes", []):
            action = route.get("route", {})
            if "cluster" in action:
                names.append(action["cluster"])
            for weighted in action.get("weighted_clusters", {}).get("clusters", []):
                names.append(weighted["name"])
            for mirror in action.get("request_mirror_policies", []):
                names.append(mirror["cluster"])
    return names


def secret_names(resources: list[dict[str, Any]]) -> list[str]:
    """The SDS secrets the TLS contexts in `resources` name."""
    return [
        node["name"]
        for node in _walk(resources)
        if "sds_config" in node and isinstance(node.get("name"), str)
    ]


@dataclass
class Snapshot:
    """One compile of the mesh: every proxy's configuration, and the names of
    the secrets SDS serves every proxy (empty when there is no mTLS).

    `dangling` lists a cluster a route names but no proxy defines only when it
    is in `unresolved`: a route to a host or subset the mesh lacks is valid
    Istio (Envoy answers 503, no cluster) and the compiler says so in a
    warning; it is the only kind of dangling name allowed.
    """

    proxies: dict[str, ProxyConfig]
    secrets: frozenset[str] = frozenset()
    unresolved: frozenset[str] = frozenset()

    def problems(self) -> list[str]:
        """Every name one resource gives and no resource or SDS answers."""
        out: list[str] = []
        # A resource many proxies share (the compiler gives them one dict) is
        # walked once, remembered by identity for this check.
        routed: dict[int, list[str]] = {}
        secrets: dict[int, list[str]] = {}

        def once(memo: dict[int, list[str]], node: dict[str, Any], f: Any) -> list[str]:
            hit = memo.get(id(node))
            if hit is None:
                hit = memo[id(node)] = f(node)
            return hit

        for name, cfg in self.proxies.items():
            clusters = {c["name"] for c in cfg.clusters}
            routes, named = _names(cfg.listeners)
            for route in routes:
                if route not in cfg.routes:
                    out.append(f"{name}: a listener names route configuration {route!r}")
            for rc_name, rc in cfg.routes.items():
                for cluster in once(routed, rc, route_clusters):
                    if cluster not in clusters and cluster not in self.unresolved:
                        out.append(f"{name}: route configuration {rc_name!r} names {cluster!r}")
            for c in cfg.clusters:
                named += once(secrets, c, lambda n: secret_names([n]))
            for secret in named:
                if secret not in self.secrets:
                    out.append(f"{name}: a TLS context names secret {secret!r}")
        return out

    def consistent(self) -> Snapshot:
        """This snapshot, or InconsistentSnapshot naming every dangling name."""
        problems = self.problems()
        if problems:
            raise InconsistentSnapshot(
                "meshsim compiled inconsistent Envoy configuration (a bug; please report it): "
                + "; ".join(problems)
            )
        return self

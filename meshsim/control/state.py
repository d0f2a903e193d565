"""The policies in force, with `kubectl apply` semantics across phases.

A resource applied in a phase stays until a later phase applies one of the
same kind and name (it is replaced) or lists it under `remove`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshsim.scenario.gateway_api import HTTPRoute
from meshsim.scenario.gateway_routes import to_virtual_services
from meshsim.scenario.istio import (
    DestinationRule,
    Gateway,
    VirtualService,
    parse_resource,
    short_host,
)
from meshsim.scenario.istio_base import Resource
from meshsim.scenario.istio_security import AuthorizationPolicy, PeerAuthentication
from meshsim.shop import GATEWAY_NAME, SHOP_ROUTES

if TYPE_CHECKING:
    from meshsim.application import Application

# What every mesh starts with, as in Istio's Bookinfo: the ingress Gateway and
# a VirtualService bound to it that routes the application's paths to its
# services (the shop's is VirtualService/shop; an application of one's own
# gets VirtualService/app, from its services' `expose`).
GATEWAY: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {"name": GATEWAY_NAME},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    },
}
DEFAULT_RESOURCES: list[dict[str, Any]] = [GATEWAY, SHOP_ROUTES]

# The ingress's labels, those of Istio's default istio-ingressgateway pod: a
# Gateway whose selector they satisfy configures the ingress, as Istio's task
# YAML (bookinfo-gateway, `selector: {istio: ingressgateway}`) expects.
INGRESS_LABELS = {"istio": "ingressgateway", "app": "istio-ingressgateway"}


def default_resources(app: Application | None = None) -> list[dict[str, Any]]:
    """The resources a mesh of `app` (default: the shop) starts with."""
    if app is None:
        return list(DEFAULT_RESOURCES)
    return [GATEWAY, app.gateway_virtual_service(GATEWAY_NAME)]


def version_subsets(service: str, versions: tuple[str, ...] = ("v1", "v2")) -> dict[str, Any]:
    """A DestinationRule with one subset per version, named after it: the
    rule almost every canary or version-routing example starts from.

    >>> version_subsets("product")["spec"]["subsets"][1]
    {'name': 'v2', 'labels': {'version': 'v2'}}
    """
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": service},
        "spec": {
            "host": service,
            "subsets": [{"name": v, "labels": {"version": v}} for v in versions],
        },
    }


@dataclass
class PolicyState:
    """Resources in force, keyed "Kind/name", in the order they were first applied."""

    resources: dict[str, Resource] = field(default_factory=dict)
    # The run's local JWT issuer's public keys (JWKS JSON), which stand in for
    # every RequestAuthentication's jwksUri (meshsim.control.issuer); None
    # outside a run (explain, validate): no token validates then.
    local_jwks: str | None = None

    @classmethod
    def initial(cls, app: Application | None = None) -> PolicyState:
        """What a mesh of `app` (default: the shop) starts with."""
        state = cls()
        state.apply([parse_resource(r) for r in default_resources(app)])
        return state

    def apply(self, resources: list[Resource]) -> None:
        for r in resources:
            self.resources[r.key] = r

    def remove(self, keys: list[str]) -> list[str]:
        """Withdraw resources; returns the keys that were not in force."""
        missing = []
        for key in keys:
            if self.resources.pop(key, None) is None:
                missing.append(key)
        return missing

    def enter(
        self, apply: list[dict[str, Any]], remove: list[str]
    ) -> tuple[list[Resource], list[str]]:
        """A phase begins: its `apply` (Istio YAML as loaded) replaces or joins
        what is in force, then its `remove` keys are withdrawn. Returns the
        resources applied and the keys to remove that were not in force."""
        applied = [parse_resource(raw) for raw in apply]
        self.apply(applied)
        return applied, self.remove(remove)

    def copy(self) -> PolicyState:
        return PolicyState(dict(self.resources), self.local_jwks)

    def virtual_services(self) -> list[VirtualService]:
        """VirtualServices in force, then those Istio makes of the HTTPRoutes in force."""
        routes = [r for r in self.resources.values() if isinstance(r, HTTPRoute)]
        own = [r for r in self.resources.values() if isinstance(r, VirtualService)]
        return own + (to_virtual_services(routes) if routes else [])

    def destination_rules(self) -> list[DestinationRule]:
        return [r for r in self.resources.values() if isinstance(r, DestinationRule)]

    def gateways(self) -> list[Gateway]:
        return [r for r in self.resources.values() if isinstance(r, Gateway)]

    def peer_authentications(self) -> list[PeerAuthentication]:
        """In the order first applied: Istio's "oldest wins" on conflicts."""
        return [r for r in self.resources.values() if isinstance(r, PeerAuthentication)]

    def authorization_policies(self) -> list[AuthorizationPolicy]:
        return [r for r in self.resources.values() if isinstance(r, AuthorizationPolicy)]

    def destination_rule(self, service: str) -> DestinationRule | None:
        """The DestinationRule for a service (Istio: the oldest one wins on conflict)."""
        for dr in self.destination_rules():
            if short_host(dr.spec.host) == service:
                return dr
        return None

    def mesh_virtual_service(self, service: str) -> VirtualService | None:
        """The VirtualService sidecars use for `service` (no gateways, or `mesh`)."""
        for vs in self.virtual_services():
            gws = vs.spec.gateways or ["mesh"]
            if "mesh" in gws and any(short_host(h) == service for h in vs.spec.hosts):
                return vs
        return None

    def ingress_gateways(self) -> dict[str, Gateway]:
        """The Gateways in force that select the ingress, by name."""
        return {
            g.metadata.name: g
            for g in self.gateways()
            if g.spec.selector.items() <= INGRESS_LABELS.items()
        }

    def gateway_virtual_services(self) -> list[VirtualService]:
        """The VirtualServices bound to a Gateway that selects the ingress
        (`name` or `default/name`; meshsim's one namespace is default)."""
        bound = self.ingress_gateways()
        return [
            vs
            for vs in self.virtual_services()
            if any(gateway_name(g) in bound for g in vs.spec.gateways)
        ]

    def ingress_hosts(self, vs: VirtualService) -> list[str]:
        """The hosts of `vs` the ingress serves: those a server of a Gateway
        it is bound to accepts (Istio drops the others)."""
        bound = self.ingress_gateways()
        accepted = [
            h.split("/")[-1]
            for g in vs.spec.gateways
            if gateway_name(g) in bound
            for server in bound[gateway_name(g)].spec.servers
            for h in server.hosts
        ]
        return [h for h in vs.spec.hosts if any(_hosts_meet(a, h) for a in accepted)]

    def ingress_ports(self, vs: VirtualService) -> frozenset[int]:
        """The port numbers of the servers of the Gateways `vs` is bound to:
        what an http `match[].port` of `vs` meets at the ingress (Istio
        compares it with the server's port; meshsim serves every server at
        its one ingress listener)."""
        bound = self.ingress_gateways()
        return frozenset(
            int(server.port["number"])
            for g in vs.spec.gateways
            if gateway_name(g) in bound
            for server in bound[gateway_name(g)].spec.servers
            if isinstance(server.port.get("number"), int)
        )


def gateway_name(ref: str) -> str:
    """A VirtualService's `gateways` entry as the name of a Gateway in meshsim's
    namespace: `x` and `default/x` are `x`; another namespace's stays as written."""
    return ref.removeprefix("default/")


def _hosts_meet(server: str, host: str) -> bool:
    """A Gateway server's host and a VirtualService's overlap (either may be a wildcard)."""
    return fnmatch.fnmatchcase(host, server) or fnmatch.fnmatchcase(server, host)

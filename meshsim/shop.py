"""The sample shop: one built-in application (`meshsim.application`), declared
the way a scenario declares its own services: which module serves each, which
services each one calls (the declared dependency graph), what the ingress
routes to it, and the first order that proves the mesh ready."""

from __future__ import annotations

from typing import Any

from meshsim.application import Application, AppService, ReadyRequest, VersionRun

# The port every service listens on inside the mesh (Kubernetes Service port).
SERVICE_PORT = 80
NAMESPACE = "default"
GATEWAY_NAME = "meshsim-gateway"

FIRST_ORDER = {"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]}

# As in Istio's Bookinfo: a VirtualService bound to the ingress gateway that
# routes the shop's paths to its services.
SHOP_ROUTES: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "shop"},
    "spec": {
        "hosts": ["*"],
        "gateways": [GATEWAY_NAME],
        "http": [
            {
                "match": [{"uri": {"prefix": "/products"}}],
                "route": [{"destination": {"host": "product"}}],
            },
            {
                "match": [{"uri": {"prefix": "/users"}}],
                "route": [{"destination": {"host": "user"}}],
            },
            {
                "match": [{"uri": {"prefix": "/orders"}}],
                "route": [{"destination": {"host": "order"}}],
            },
        ],
    },
}


def _service(name: str, versions: tuple[str, ...] = ("v1",), **kw: Any) -> AppService:
    return AppService(
        name, module=f"sample_services.{name}", versions={v: VersionRun() for v in versions}, **kw
    )


SHOP_APP = Application(
    name="shop",
    services={
        s.name: s
        for s in (
            _service("user", expose="/users"),
            _service("product", ("v1", "v2"), expose="/products"),
            _service("shipping"),
            _service("order", calls=("user", "product", "shipping"), expose="/orders"),
        )
    },
    ready=ReadyRequest("POST", "/orders", FIRST_ORDER, 201),
    builtin=True,
    gateway_routes=(SHOP_ROUTES,),
)
# The shop's services by name (module, versions, calls).
SHOP: dict[str, AppService] = SHOP_APP.services


def fqdn(service: str) -> str:
    return f"{service}.{NAMESPACE}.svc.cluster.local"


def application_from_dict(raw: dict[str, Any] | None) -> Application:
    """An application as written in plan.json: the built-in shop is the shop's
    own `SHOP_APP`; a plan.json without one (from before applications were
    recorded) ran the shop."""
    if not raw or raw.get("builtin"):
        return SHOP_APP
    return Application.from_dict(raw)

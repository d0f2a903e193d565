"""The sample shop: which services exist, which app module serves each, and
which services each one calls (the declared dependency graph)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ShopService:
    name: str
    module: str  # python -m MODULE starts it
    versions: tuple[str, ...] = ("v1",)
    calls: tuple[str, ...] = field(default_factory=tuple)


SHOP: dict[str, ShopService] = {
    s.name: s
    for s in (
        ShopService("user", "sample_services.user"),
        ShopService("product", "sample_services.product", versions=("v1", "v2")),
        ShopService("shipping", "sample_services.shipping"),
        ShopService("order", "sample_services.order", calls=("user", "product", "shipping")),
    )
}

# The port every service listens on inside the mesh (Kubernetes Service port).
SERVICE_PORT = 80
NAMESPACE = "default"
TRUST_DOMAIN = "cluster.local"


def fqdn(service: str) -> str:
    return f"{service}.{NAMESPACE}.svc.cluster.local"

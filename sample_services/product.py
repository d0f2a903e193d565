"""The ``product`` service: a catalogue of twenty deterministic products.

``GET /products``, ``GET /products/{id}`` and ``GET /products/{id}/stock``. The two
versions differ visibly so that traffic shifting shows in responses: every v2 product has
a ``"rating"`` and a ``"reviews"`` count, and every body names its ``"version"``. Prices
and stock are the same in both versions (an order costs the same whichever version
answered), and stock is never changed by orders.

Run it with ``PORT=8082 SERVICE_VERSION=v2 python -m sample_services.product``.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from sample_services.common import INSTANCE_KEY, create_service_app, json_error, main

SERVICE: Final = "product"

_NAMES: Final = (
    "Envoy Espresso Beans", "Sidecar Mug", "Mesh Hoodie", "Canary Plush", "Circuit Breaker Mints",
    "Retry Rubber Duck", "Gateway Notebook", "Timeout Hourglass", "Sticker Pack", "Tracing Pen",
    "Load Balancer Scale", "Pilot Cap", "Citadel Keychain", "Mixer Tumbler", "Galley Apron",
    "Ingress Doormat", "Egress Tote Bag", "Subset Socks", "Fault Injection Kit", "Quota Jar",
)  # fmt: skip


def _base_product(product_id: int) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": _NAMES[product_id - 1],
        # Prices in cents stay exact; the API shows currency units with two decimals.
        "price": (499 + (product_id * 1_337) % 7_500) / 100,
        # Always at least 10, so shoppers ordering a few items never run out.
        "stock": 10 + (product_id * 37) % 91,
    }


def _rating(product_id: int) -> dict[str, Any]:
    return {
        "rating": round(3.0 + (product_id * 7) % 21 / 10, 1),
        "reviews": 5 + (product_id * 53) % 400,
    }


CATALOGUE: Final = {i: _base_product(i) for i in range(1, len(_NAMES) + 1)}


def product_view(product_id: int, version: str) -> dict[str, Any]:
    """How ``version`` presents a product (v2 adds a rating)."""
    view = {**CATALOGUE[product_id], "version": version}
    if version == "v2":
        view.update(_rating(product_id))
    return view


routes = web.RouteTableDef()


def _lookup(request: web.Request) -> int | web.Response:
    product_id = int(request.match_info["id"])
    if product_id not in CATALOGUE:
        return json_error(404, "not_found", resource="product", id=product_id)
    return product_id


@routes.get("/products")
async def list_products(request: web.Request) -> web.Response:
    version = request.app[INSTANCE_KEY].version
    products = [product_view(product_id, version) for product_id in CATALOGUE]
    return web.json_response({"version": version, "count": len(products), "products": products})


@routes.get(r"/products/{id:\d+}")
async def get_product(request: web.Request) -> web.Response:
    found = _lookup(request)
    if isinstance(found, web.Response):
        return found
    return web.json_response(product_view(found, request.app[INSTANCE_KEY].version))


@routes.get(r"/products/{id:\d+}/stock")
async def get_stock(request: web.Request) -> web.Response:
    found = _lookup(request)
    if isinstance(found, web.Response):
        return found
    product = CATALOGUE[found]
    return web.json_response(
        {
            "id": found,
            "stock": product["stock"],
            "price": product["price"],
            "version": request.app[INSTANCE_KEY].version,
        }
    )


def create_app(*, version: str | None = None, instance_name: str | None = None) -> web.Application:
    """The product app; ``version``/``instance_name`` default to the environment."""
    return create_service_app(
        SERVICE,
        routes,
        describe={
            "endpoints": [
                "GET /products",
                "GET /products/{id}",
                "GET /products/{id}/stock",
                "GET /healthz",
            ],
            "products": len(CATALOGUE),
        },
        version=version,
        instance_name=instance_name,
    )


if __name__ == "__main__":
    main(create_app)

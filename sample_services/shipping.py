"""The ``shipping`` service: deterministic delivery quotes.

``GET /quote?items=N&user=ID`` returns ``{"carrier", "cost", "days", "items", "user"}``;
the same question always gets the same answer. Missing or non-positive ``items``/``user``
give 400. Run it with ``PORT=8084 python -m sample_services.shipping``.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from sample_services.common import create_service_app, json_error, main

SERVICE: Final = "shipping"

# (carrier, base cost in cents, cost per item in cents, days)
_CARRIERS: Final = (
    ("ParcelPost", 499, 50, 5),
    ("QuickShip", 899, 75, 2),
    ("FreightCo", 299, 120, 7),
)
MAX_ITEMS: Final = 100_000

routes = web.RouteTableDef()


def _positive_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


@routes.get("/quote")
async def quote(request: web.Request) -> web.Response:
    items = _positive_int(request, "items")
    user = _positive_int(request, "user")
    if items is None or user is None or items > MAX_ITEMS:
        return json_error(
            400,
            "bad_request",
            detail=f"expected ?items=1..{MAX_ITEMS}&user=<positive id>",
        )
    carrier, base_cents, per_item_cents, days = _CARRIERS[user % len(_CARRIERS)]
    # Large orders travel a day longer.
    return web.json_response(
        {
            "carrier": carrier,
            "cost": (base_cents + per_item_cents * items) / 100,
            "days": days + (1 if items > 10 else 0),
            "items": items,
            "user": user,
        }
    )


def create_app(*, version: str | None = None, instance_name: str | None = None) -> web.Application:
    """The shipping app; ``version``/``instance_name`` default to the environment."""
    return create_service_app(
        SERVICE,
        routes,
        describe={"endpoints": ["GET /quote?items=N&user=ID", "GET /healthz"]},
        version=version,
        instance_name=instance_name,
    )


if __name__ == "__main__":
    main(create_app)

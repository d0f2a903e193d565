"""The ``order`` service: places an order by asking user, product and shipping.

``POST /orders`` with ``{"user_id": 3, "items": [{"product_id": 5, "quantity": 2}]}``
(``quantity`` defaults to 1):

1. checks the user (``GET http://user/users/{id}``) and the stock of every distinct
   product (``GET http://product/products/{id}/stock``) concurrently,
2. asks for a quote (``GET http://shipping/quote?items=N&user=ID``),
3. answers 201 with the order (id, items, subtotal, shipping quote, total).

Stock is only read, never changed: the catalogue is deterministic and many shoppers order
at once. Statuses:

- 400 ``bad_request``: the body is not JSON or not an order
- 422 ``unknown_user`` / ``unknown_product``: a dependency answered 404 ``not_found``
- 409 ``insufficient_stock``: a product has less stock than the quantity ordered
- 502 ``dependency_failed``: a dependency answered, but with an error (5xx, an unexpected
  status or body); ``dependency`` and ``dependency_status`` say which and what
- 503 ``dependency_unavailable``: a dependency could not be reached or timed out
  (``dependency_status`` is null)

Every ``/orders`` response that followed at least one call carries ``x-upstreams``: the
``x-served-by`` of each downstream response in call order (user, products, shipping),
e.g. ``user-v1-0,product-v2-0,shipping-v1-0``; a response without ``x-served-by`` (a
sidecar's own 503, say) is left out. The app never retries: that is the mesh's job.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

from sample_services.common import (
    INSTANCE_KEY,
    SERVED_BY_HEADER,
    client,
    create_service_app,
    json_error,
    main,
    propagation_headers,
)

SERVICE: Final = "order"
UPSTREAMS_HEADER: Final = "x-upstreams"
MAX_LINES: Final = 100
MAX_QUANTITY: Final = 1_000
MAX_ID: Final = 1_000_000_000


class OrderNumbers:
    """Order ids unique per instance: ``<instance>-000001``, ``<instance>-000002``, ..."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):06d}"


ORDER_NUMBERS_KEY: Final = web.AppKey("order_numbers", OrderNumbers)


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class OrderRequest:
    user_id: int
    lines: tuple[OrderLine, ...]

    def quantities(self) -> dict[int, int]:
        """Total quantity per distinct product, in order of first appearance."""
        totals: dict[int, int] = {}
        for line in self.lines:
            totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
        return totals


class OrderRejected(Exception):
    """The order cannot be placed; ``response`` says why."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class DependencyError(Exception):
    """A downstream call failed: ``status`` is its HTTP status, or None if there was none."""

    def __init__(self, dependency: str, status: int | None, detail: str) -> None:
        super().__init__(f"{dependency}: {detail}")
        self.dependency = dependency
        self.status = status
        self.detail = detail

    def to_response(self) -> web.Response:
        if self.status is None:
            return json_error(
                503,
                "dependency_unavailable",
                dependency=self.dependency,
                dependency_status=None,
                detail=self.detail,
            )
        return json_error(
            502,
            "dependency_failed",
            dependency=self.dependency,
            dependency_status=self.status,
            detail=self.detail,
        )


def _as_id(value: object, maximum: int = MAX_ID) -> int | None:
    if type(value) is int and 1 <= value <= maximum:
        return value
    return None


def parse_order(payload: object) -> OrderRequest | str:
    """The order in ``payload``, or a message saying what is wrong with it."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    user_id = _as_id(payload.get("user_id"))
    if user_id is None:
        return "user_id must be a positive integer"
    items = payload.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_LINES:
        return f"items must be a list of 1..{MAX_LINES} items"
    lines: list[OrderLine] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return f"items[{index}] must be an object"
        product_id = _as_id(item.get("product_id"))
        if product_id is None:
            return f"items[{index}].product_id must be a positive integer"
        quantity = _as_id(item.get("quantity", 1), MAX_QUANTITY)
        if quantity is None:
            return f"items[{index}].quantity must be an integer in 1..{MAX_QUANTITY}"
        lines.append(OrderLine(product_id=product_id, quantity=quantity))
    return OrderRequest(user_id=user_id, lines=tuple(lines))


@dataclass
class Downstream:
    """Outbound calls made while handling one request, carrying its trace and routing headers."""

    request: web.Request
    served_by: list[str | None] = field(default_factory=list)

    def get_json(
        self, service: str, path: str, params: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, tuple[int, Any]]:
        """``GET http://<service><path>``: (status, JSON body); raises DependencyError.

        The call's place in ``x-upstreams`` is taken now, so that concurrent calls are
        listed in the order they were made, not the order they finished.
        """
        slot = len(self.served_by)
        self.served_by.append(None)
        return self._fetch(slot, service, path, params)

    async def _fetch(
        self, slot: int, service: str, path: str, params: Mapping[str, str] | None
    ) -> tuple[int, Any]:
        url = f"http://{service}{path}"
        try:
            async with client(self.request).get(
                url, params=params, headers=propagation_headers(self.request)
            ) as response:
                self.served_by[slot] = response.headers.get(SERVED_BY_HEADER)
                if response.status >= 500:
                    raise DependencyError(service, response.status, f"GET {path} failed")
                try:
                    body = await response.json(content_type=None)
                except ValueError as exc:
                    raise DependencyError(service, response.status, "invalid JSON") from exc
                return response.status, body
        except TimeoutError as exc:
            raise DependencyError(service, None, f"GET {path} timed out") from exc
        except aiohttp.ClientError as exc:
            detail = f"GET {path}: {type(exc).__name__}: {exc}"
            raise DependencyError(service, None, detail) from exc

    def upstreams(self) -> str:
        return ",".join(name for name in self.served_by if name)


def _not_found(status: int, body: Any) -> bool:
    # Only the app's own 404 means "no such thing"; any other 404 (e.g. from a proxy with
    # no route) is a failed dependency.
    return status == 404 and isinstance(body, dict) and body.get("error") == "not_found"


def _unexpected(service: str, status: int) -> DependencyError:
    return DependencyError(service, status, f"unexpected response (status {status})")


def _number(body: Any, key: str) -> float | None:
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _cents(amount: float) -> int:
    return round(amount * 100)


async def _place(
    order: OrderRequest, downstream: Downstream, numbers: OrderNumbers
) -> web.Response:
    quantities = order.quantities()
    checks = await asyncio.gather(
        downstream.get_json("user", f"/users/{order.user_id}"),
        *(downstream.get_json("product", f"/products/{pid}/stock") for pid in quantities),
        return_exceptions=True,
    )
    # The first failure in call order decides, whichever finished first.
    answers: list[tuple[int, Any]] = []
    for result in checks:
        if isinstance(result, BaseException):
            raise result
        answers.append(result)

    user_status, user = answers[0]
    if _not_found(user_status, user):
        raise OrderRejected(json_error(422, "unknown_user", user_id=order.user_id))
    if user_status != 200 or not isinstance(user, dict):
        raise _unexpected("user", user_status)

    prices: dict[int, int] = {}
    short: list[dict[str, int]] = []
    for (product_id, wanted), (status, stock) in zip(quantities.items(), answers[1:], strict=True):
        if _not_found(status, stock):
            raise OrderRejected(json_error(422, "unknown_product", product_id=product_id))
        available, price = _number(stock, "stock"), _number(stock, "price")
        if status != 200 or available is None or price is None:
            raise _unexpected("product", status)
        prices[product_id] = _cents(price)
        if available < wanted:
            short.append(
                {"product_id": product_id, "requested": wanted, "available": int(available)}
            )
    if short:
        raise OrderRejected(json_error(409, "insufficient_stock", items=short))

    params = {"items": str(sum(quantities.values())), "user": str(order.user_id)}
    status, quote = await downstream.get_json("shipping", "/quote", params)
    cost = _number(quote, "cost")
    if status != 200 or cost is None:
        raise _unexpected("shipping", status)

    items = [
        {
            "product_id": line.product_id,
            "quantity": line.quantity,
            "unit_price": prices[line.product_id] / 100,
            "line_total": prices[line.product_id] * line.quantity / 100,
        }
        for line in order.lines
    ]
    subtotal = sum(prices[line.product_id] * line.quantity for line in order.lines)
    return web.json_response(
        {
            "order_id": numbers.next(),
            "status": "confirmed",
            "user": {"id": order.user_id, "name": user.get("name")},
            "items": items,
            "subtotal": subtotal / 100,
            "shipping": quote,
            "total": (subtotal + _cents(cost)) / 100,
        },
        status=201,
    )


routes = web.RouteTableDef()


@routes.post("/orders")
async def place_order(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return json_error(400, "bad_request", detail="the body must be JSON")
    order = parse_order(payload)
    if isinstance(order, str):
        return json_error(400, "bad_request", detail=order)

    downstream = Downstream(request)
    try:
        response = await _place(order, downstream, request.app[ORDER_NUMBERS_KEY])
    except OrderRejected as rejected:
        response = rejected.response
    except DependencyError as failed:
        response = failed.to_response()
    upstreams = downstream.upstreams()
    if upstreams:
        response.headers[UPSTREAMS_HEADER] = upstreams
    return response


def create_app(*, version: str | None = None, instance_name: str | None = None) -> web.Application:
    """The order app; ``version``/``instance_name`` default to the environment."""
    app = create_service_app(
        SERVICE,
        routes,
        describe={
            "endpoints": ["POST /orders", "GET /healthz"],
            "calls": ["user", "product", "shipping"],
        },
        version=version,
        instance_name=instance_name,
        outbound=True,
    )
    app[ORDER_NUMBERS_KEY] = OrderNumbers(app[INSTANCE_KEY].name)
    return app


if __name__ == "__main__":
    main(create_app)

"""The sample shop's apps, served on loopback; order's calls go through a test forward proxy."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler, Middleware

from meshsim.control.plan import free_ports
from sample_services import common, order, product, shipping, user

SERVICES: list[ModuleType] = [user, product, order, shipping]
ROOT = Path(__file__).resolve().parents[2]

MakeClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SERVICE_VERSION", "INSTANCE_NAME", "NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    # Nothing listens here: a call that escapes the test proxy fails fast.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(app: web.Application) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        await client.close()


def port_of(client: TestClient[web.Request, web.Application]) -> int:
    assert client.port is not None
    return client.port


def assert_served_by(response: aiohttp.ClientResponse, name: str, version: str = "v1") -> None:
    assert response.headers["x-served-by"] == name
    assert response.headers["x-version"] == version


# --- every service ----------------------------------------------------------------------


@pytest.mark.parametrize("module", SERVICES, ids=lambda m: m.SERVICE)
async def test_healthz_and_index_carry_instance_headers(
    module: ModuleType, make_client: MakeClient
) -> None:
    client = await make_client(module.create_app())
    name = f"{module.SERVICE}-v1-0"

    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert_served_by(response, name)

    response = await client.get("/")
    description = await response.json()
    assert description["service"] == module.SERVICE
    assert description["instance"] == name
    assert description["endpoints"]
    assert_served_by(response, name)


@pytest.mark.parametrize("module", SERVICES, ids=lambda m: m.SERVICE)
async def test_instance_comes_from_the_environment(
    module: ModuleType, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_VERSION", "v2")
    monkeypatch.setenv("INSTANCE_NAME", f"{module.SERVICE}-v2-3")
    client = await make_client(module.create_app())
    response = await client.get("/healthz")
    assert_served_by(response, f"{module.SERVICE}-v2-3", "v2")


@pytest.mark.parametrize("module", SERVICES, ids=lambda m: m.SERVICE)
async def test_unknown_path_and_method_are_json_errors_with_headers(
    module: ModuleType, make_client: MakeClient
) -> None:
    client = await make_client(module.create_app(instance_name="x-1"))

    response = await client.get("/nowhere")
    assert response.status == 404
    assert await response.json() == {"error": "not_found", "status": 404}
    assert_served_by(response, "x-1")

    response = await client.delete("/healthz")
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    assert_served_by(response, "x-1")


async def test_unexpected_exception_is_a_json_500_with_headers(make_client: MakeClient) -> None:
    routes = web.RouteTableDef()

    @routes.get("/boom")
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("bug")

    app = common.create_service_app("demo", routes, instance_name="demo-v1-9")
    client = await make_client(app)
    response = await client.get("/boom")
    assert response.status == 500
    assert await response.json() == {"error": "internal_server_error", "status": 500}
    assert_served_by(response, "demo-v1-9")


def test_listen_address_from_environment() -> None:
    assert common._listen_address({}) == ("127.0.0.1", 8080)
    assert common._listen_address({"HOST": "0.0.0.0", "PORT": "9001"}) == ("0.0.0.0", 9001)
    for bad in ("http", "-1", "70000"):
        with pytest.raises(SystemExit, match="PORT"):
            common._listen_address({"PORT": bad})


def test_runs_as_a_module_and_stops_cleanly_on_sigterm() -> None:
    # below the ephemeral range, as a mesh plans its ports (control/plan.py):
    # until the app binds it, a connection of the live tests could take one
    # the kernel handed out for port 0
    (port,) = free_ports(1)
    env = {**os.environ, "PORT": str(port), "INSTANCE_NAME": "user-v1-5"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sample_services.user"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                break
            except ConnectionRefusedError:
                assert process.poll() is None, "the app exited before it was ready"
                assert time.monotonic() < deadline, "the app did not start within 10 s"
                time.sleep(0.02)
        assert response.status == 200
        assert response.getheader("x-served-by") == "user-v1-5"
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        stderr = process.stderr.read().decode()
        process.stderr.close()
    assert "Traceback" not in stderr
    assert "user-v1-5" in stderr


# --- user -------------------------------------------------------------------------------


async def test_user_is_deterministic(make_client: MakeClient) -> None:
    first = await make_client(user.create_app())
    second = await make_client(user.create_app(instance_name="user-v1-1"))
    for user_id in (1, 42, 100):
        response = await first.get(f"/users/{user_id}")
        assert response.status == 200
        body = await response.json()
        assert body["id"] == user_id
        assert body["name"] and body["email"].endswith("@example.com")
        assert body == await (await second.get(f"/users/{user_id}")).json()


@pytest.mark.parametrize("path", ["/users/0", "/users/101", "/users/abc", "/users/"])
async def test_unknown_user_is_404_json(path: str, make_client: MakeClient) -> None:
    client = await make_client(user.create_app())
    response = await client.get(path)
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    assert_served_by(response, "user-v1-0")


# --- product ----------------------------------------------------------------------------


async def test_product_v1_and_v2_differ_visibly(make_client: MakeClient) -> None:
    v1 = await make_client(product.create_app(version="v1"))
    v2 = await make_client(product.create_app(version="v2"))

    listed_v1 = await (await v1.get("/products")).json()
    response = await v2.get("/products")
    assert_served_by(response, "product-v2-0", "v2")
    listed_v2 = await response.json()

    assert listed_v1["version"] == "v1" and listed_v2["version"] == "v2"
    assert listed_v1["count"] == len(listed_v1["products"]) == 20
    assert [p["id"] for p in listed_v1["products"]] == list(range(1, 21))
    for p1, p2 in zip(listed_v1["products"], listed_v2["products"], strict=True):
        assert p1["version"] == "v1" and "rating" not in p1
        assert p2["version"] == "v2" and 1 <= p2["rating"] <= 5 and p2["reviews"] > 0
        # An order costs the same whichever version answered.
        for key in ("id", "name", "price", "stock"):
            assert p1[key] == p2[key]
        assert p1["stock"] >= 10 and p1["price"] > 0


async def test_product_detail_and_stock(make_client: MakeClient) -> None:
    client = await make_client(product.create_app(version="v2"))
    detail = await (await client.get("/products/5")).json()
    assert detail["id"] == 5 and detail["version"] == "v2" and "rating" in detail

    response = await client.get("/products/5/stock")
    assert response.status == 200
    stock = await response.json()
    assert stock == {
        "id": 5,
        "stock": detail["stock"],
        "price": detail["price"],
        "version": "v2",
    }


@pytest.mark.parametrize("path", ["/products/0", "/products/21", "/products/21/stock"])
async def test_unknown_product_is_404_json(path: str, make_client: MakeClient) -> None:
    client = await make_client(product.create_app())
    response = await client.get(path)
    assert response.status == 404
    assert await response.json() == {
        "error": "not_found",
        "status": 404,
        "resource": "product",
        "id": int(path.split("/")[2]),
    }
    assert_served_by(response, "product-v1-0")


# --- shipping ---------------------------------------------------------------------------


async def test_shipping_quote_is_deterministic(make_client: MakeClient) -> None:
    client = await make_client(shipping.create_app())
    response = await client.get("/quote", params={"items": "3", "user": "7"})
    assert response.status == 200
    quote = await response.json()
    assert set(quote) >= {"carrier", "cost", "days"}
    assert quote["cost"] > 0 and quote["days"] > 0
    again = await (await client.get("/quote", params={"items": "3", "user": "7"})).json()
    assert again == quote
    more = await (await client.get("/quote", params={"items": "4", "user": "7"})).json()
    assert more["carrier"] == quote["carrier"] and more["cost"] > quote["cost"]


@pytest.mark.parametrize("query", ["", "?items=2", "?user=1", "?items=0&user=1", "?items=x&user=1"])
async def test_shipping_rejects_bad_quote_requests(query: str, make_client: MakeClient) -> None:
    client = await make_client(shipping.create_app())
    response = await client.get(f"/quote{query}")
    assert response.status == 400
    assert (await response.json())["error"] == "bad_request"
    assert_served_by(response, "shipping-v1-0")


# --- order, with its dependencies behind a forward proxy --------------------------------

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
}


class ForwardProxy:
    """A stand-in for the sidecar: routes absolute-form requests by Host to local ports.

    Like Envoy, it answers 404 for a host it has no route for and 503 when the upstream
    cannot be reached.
    """

    def __init__(self, upstreams: dict[str, int]) -> None:
        self.upstreams = upstreams
        self.seen: list[str] = []
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request) -> web.Response:
        self.seen.append(str(request.url))
        port = self.upstreams.get(request.host)
        if port is None:
            return web.Response(status=404)
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            async with self._session.request(
                request.method,
                f"http://127.0.0.1:{port}{request.rel_url}",
                headers=headers,
                data=await request.read(),
            ) as upstream:
                body = await upstream.read()
                return web.Response(
                    status=upstream.status,
                    body=body,
                    headers={
                        k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
                    },
                )
        except aiohttp.ClientConnectionError:
            return web.Response(status=503, text="no healthy upstream")


@dataclass
class Shop:
    """order in front of user v1, product v2 and shipping v1, all through one proxy."""

    order: TestClient[web.Request, web.Application]
    proxy: ForwardProxy
    product_requests: list[dict[str, str]] = field(default_factory=list)
    shipping_requests: list[dict[str, str]] = field(default_factory=list)

    async def place(self, body: Any, **headers: str) -> tuple[aiohttp.ClientResponse, Any]:
        response = await self.order.post("/orders", json=body, headers=headers)
        return response, await response.json()


def recording(into: list[dict[str, str]]) -> Middleware:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        into.append(dict(request.headers))
        return await handler(request)

    return record


@pytest.fixture
async def shop(make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> Shop:
    product_requests: list[dict[str, str]] = []
    shipping_requests: list[dict[str, str]] = []
    product_app = product.create_app(version="v2")
    product_app.middlewares.append(recording(product_requests))
    shipping_app = shipping.create_app()
    shipping_app.middlewares.append(recording(shipping_requests))

    upstreams: dict[str, int] = {}
    apps = {"user": user.create_app(), "product": product_app, "shipping": shipping_app}
    for name, app in apps.items():
        upstreams[name] = port_of(await make_client(app))
    proxy = ForwardProxy(upstreams)
    proxy_port = port_of(await make_client(proxy.app()))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")

    order_client = await make_client(order.create_app())
    return Shop(order_client, proxy, product_requests, shipping_requests)


async def test_order_happy_path(shop: Shop) -> None:
    body = {
        "user_id": 3,
        "items": [
            {"product_id": 5, "quantity": 2},
            {"product_id": 7, "quantity": 1},
            {"product_id": 5},
        ],
    }
    response, placed = await shop.place(body)
    assert response.status == 201, placed
    assert_served_by(response, "order-v1-0")
    assert response.headers["x-upstreams"] == "user-v1-0,product-v2-0,product-v2-0,shipping-v1-0"

    price_5 = product.CATALOGUE[5]["price"]
    price_7 = product.CATALOGUE[7]["price"]
    assert placed["order_id"] == "order-v1-0-000001"
    assert placed["status"] == "confirmed"
    assert placed["user"] == {"id": 3, "name": user.USERS[3]["name"]}
    assert [(i["product_id"], i["quantity"], i["unit_price"]) for i in placed["items"]] == [
        (5, 2, price_5),
        (7, 1, price_7),
        (5, 1, price_5),
    ]
    assert placed["subtotal"] == pytest.approx(3 * price_5 + price_7)
    assert placed["shipping"]["items"] == 4 and placed["shipping"]["user"] == 3
    assert placed["total"] == pytest.approx(placed["subtotal"] + placed["shipping"]["cost"])
    # Stock is only read (once per distinct product), never changed.
    assert sorted(shop.proxy.seen) == sorted(
        [
            "http://user/users/3",
            "http://product/products/5/stock",
            "http://product/products/7/stock",
            "http://shipping/quote?items=4&user=3",
        ]
    )
    again, second = await shop.place(body)
    assert again.status == 201 and second["order_id"] == "order-v1-0-000002"
    assert second["total"] == placed["total"]


async def test_order_propagates_trace_and_routing_headers(shop: Shop) -> None:
    trace = {
        "x-request-id": "5f1a7c1e-0000-4000-8000-000000000001",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "x-b3-traceid": "4bf92f3577b34da6a3ce929d0e0e4736",
        "x-b3-spanid": "00f067aa0ba902b7",
        "x-b3-sampled": "1",
        "end-user": "jason",  # routing header: a VirtualService match must see it on each hop
    }
    response, _ = await shop.place(
        {"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]},
        **trace,
        **{"x-private": "stays-here"},
    )
    assert response.status == 201
    for seen in (*shop.product_requests, *shop.shipping_requests):
        lowered = {k.lower(): v for k, v in seen.items()}
        for name, value in trace.items():
            assert lowered[name] == value
        assert "x-private" not in lowered
        assert "tracestate" not in lowered  # only headers that came in are forwarded


async def test_concurrent_orders_all_succeed(shop: Shop) -> None:
    body = {"user_id": 9, "items": [{"product_id": 2, "quantity": 3}]}
    results = await asyncio.gather(*(shop.place(body) for _ in range(20)))
    assert [response.status for response, _ in results] == [201] * 20
    assert len({placed["order_id"] for _, placed in results}) == 20
    assert {placed["total"] for _, placed in results} == {results[0][1]["total"]}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [1, 2],
        {"items": [{"product_id": 1}]},
        {"user_id": "3", "items": [{"product_id": 1}]},
        {"user_id": True, "items": [{"product_id": 1}]},
        {"user_id": 3},
        {"user_id": 3, "items": []},
        {"user_id": 3, "items": [5]},
        {"user_id": 3, "items": [{"quantity": 1}]},
        {"user_id": 3, "items": [{"product_id": 1, "quantity": 0}]},
        {"user_id": 3, "items": [{"product_id": 1, "quantity": 1.5}]},
    ],
)
async def test_invalid_order_is_400_without_calls(body: Any, shop: Shop) -> None:
    if isinstance(body, str):
        response = await shop.order.post("/orders", data=body)
        error = await response.json()
    else:
        response, error = await shop.place(body)
    assert response.status == 400
    assert error["error"] == "bad_request" and error["detail"]
    assert_served_by(response, "order-v1-0")
    assert "x-upstreams" not in response.headers
    assert shop.proxy.seen == []


async def test_unknown_user_is_422(shop: Shop) -> None:
    response, error = await shop.place({"user_id": 404, "items": [{"product_id": 1}]})
    assert response.status == 422
    assert error == {"error": "unknown_user", "status": 422, "user_id": 404}
    assert response.headers["x-upstreams"] == "user-v1-0,product-v2-0"


async def test_unknown_product_is_422(shop: Shop) -> None:
    response, error = await shop.place({"user_id": 1, "items": [{"product_id": 99}]})
    assert response.status == 422
    assert error["error"] == "unknown_product" and error["product_id"] == 99


async def test_insufficient_stock_is_409(shop: Shop) -> None:
    available = product.CATALOGUE[4]["stock"]
    response, error = await shop.place(
        {"user_id": 1, "items": [{"product_id": 4, "quantity": 1000}, {"product_id": 6}]}
    )
    assert response.status == 409
    assert error["error"] == "insufficient_stock"
    assert error["items"] == [{"product_id": 4, "requested": 1000, "available": available}]
    assert "http://shipping/quote" not in " ".join(shop.proxy.seen)


async def test_shipping_down_is_502_naming_shipping(shop: Shop) -> None:
    shop.proxy.upstreams["shipping"] = free_port()  # nothing listens: the proxy says 503
    response, error = await shop.place({"user_id": 1, "items": [{"product_id": 1}]})
    assert response.status == 502
    assert error["error"] == "dependency_failed"
    assert error["dependency"] == "shipping"
    assert error["dependency_status"] == 503
    assert_served_by(response, "order-v1-0")
    assert response.headers["x-upstreams"] == "user-v1-0,product-v2-0"


async def test_a_404_without_the_apps_own_body_is_a_failed_dependency(shop: Shop) -> None:
    del shop.proxy.upstreams["user"]  # the proxy has no route: a bare 404, not "no such user"
    response, error = await shop.place({"user_id": 1, "items": [{"product_id": 1}]})
    assert response.status == 502
    assert (error["dependency"], error["dependency_status"]) == ("user", 404)


async def test_unreachable_sidecar_is_503_naming_the_first_dependency(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy variables are read once, when the app starts (as curl and Go do).
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    order_client = await make_client(order.create_app())
    response = await order_client.post("/orders", json={"user_id": 1, "items": [{"product_id": 1}]})
    error = await response.json()
    assert response.status == 503
    assert error["error"] == "dependency_unavailable"
    assert error["dependency"] == "user" and error["dependency_status"] is None
    assert "x-upstreams" not in response.headers

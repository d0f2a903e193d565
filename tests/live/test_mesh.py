"""The mesh runs: real Envoy sidecars, the real shop, live config changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from meshsim.control.plan import build_plan
from meshsim.control.state import version_subsets
from meshsim.mesh import Mesh
from meshsim.scenario.istio import parse_resource

pytestmark = pytest.mark.slow

ORDER = {"user_id": 7, "items": [{"product_id": 4, "quantity": 1}]}


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    plan = build_plan(
        {
            "user": {"v1": 1},
            "product": {"v1": 1, "v2": 1},
            "order": {"v1": 1},
            "shipping": {"v1": 1},
        },
        ingress_port=0,
    )
    m = Mesh(plan, tmp_path / "run")
    try:
        await m.start()
        yield m
    finally:
        await m.stop()


async def _stats(mesh: Mesh, proxy: str, regex: str) -> dict[str, int]:
    session = await mesh.control.session()
    return await mesh.control.admin(proxy, session).stats(regex)


async def test_order_crosses_ingress_and_every_sidecar(mesh: Mesh) -> None:
    regex = r"(cluster\.[a-z_0-9]+\.upstream_rq_total|http\.inbound_0\.0\.0\.0_80\.downstream_rq_total)$"
    before = {p: await _stats(mesh, p, regex) for p in mesh.plan.proxies}
    async with aiohttp.ClientSession() as s:
        async with s.post(mesh.ingress_url + "/orders", json=ORDER) as r:
            assert r.status == 201, await r.text()
            upstreams = r.headers["x-upstreams"].split(",")
    after = {p: await _stats(mesh, p, regex) for p in mesh.plan.proxies}

    def delta(proxy: str, name: str) -> int:
        return after[proxy].get(name, 0) - before[proxy].get(name, 0)

    inbound = "http.inbound_0.0.0.0_80.downstream_rq_total"
    # the ingress sent it to order's cluster
    assert delta("istio-ingressgateway", "cluster.outbound_80__order.upstream_rq_total") == 1
    # order's sidecar took it in and sent one call to each dependency
    assert delta("order-v1-0", inbound) == 1
    for dep in ("user", "product", "shipping"):
        assert delta("order-v1-0", f"cluster.outbound_80__{dep}.upstream_rq_total") == 1
    # each dependency's sidecar received it (product: whichever version served it)
    assert delta("user-v1-0", inbound) == 1
    assert delta("shipping-v1-0", inbound) == 1
    product = [u for u in upstreams if u.startswith("product-")][0]
    assert delta(product, inbound) == 1


async def test_route_change_takes_effect_live_without_failures(mesh: Mesh) -> None:
    """Shift all product traffic to v2 while clients keep calling; measure the
    time from the push to the first v2 answer and count failures."""
    failures: list[str] = []
    versions: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                async with session.get(mesh.ingress_url + "/products/3") as r:
                    if r.status != 200:
                        failures.append(f"HTTP {r.status}")
                    versions.append((sent, time.monotonic(), r.headers.get("x-version", "?")))
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))

    dr = version_subsets("product")
    shop_v1 = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "shop"},
        "spec": {
            "hosts": ["*"],
            "gateways": ["meshsim-gateway"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/products"}}],
                    "route": [{"destination": {"host": "product", "subset": "v1"}}],
                }
            ],
        },
    }
    shop_v2 = {
        **shop_v1,
        "spec": {
            **shop_v1["spec"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/products"}}],
                    "route": [{"destination": {"host": "product", "subset": "v2"}}],
                }
            ],
        },
    }
    mesh.control.state.apply([parse_resource(dr), parse_resource(shop_v1)])
    await mesh.control.push()
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(4)]
        await asyncio.sleep(1.0)
        assert versions and all(v == "v1" for _, _, v in versions[-10:])
        t0 = time.monotonic()
        mesh.control.state.apply([parse_resource(shop_v2)])
        result = await mesh.control.push()
        acked = time.monotonic()  # every Envoy, the ingress included, has ACKed v2's route
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
    first_v2 = min(answered for _, answered, v in versions if v == "v2")
    took = first_v2 - t0
    print(
        f"push acknowledged in {result.took_s * 1000:.1f} ms; first v2 answer after {took * 1000:.1f} ms"
    )
    assert took < 1.0
    assert not failures, failures[:5]
    # Once switched, nothing goes to v1 any more: judged by when each request
    # was sent, after the ACK. A request the ingress routed to v1 just before
    # its ACK is answered whenever the app and this event loop get a core;
    # judged by answer time with a 0.1 s grace (as before), one such answer
    # fails the test on a loaded machine's scheduling alone.
    late_v1 = [(round(s - acked, 4), v) for s, _, v in versions if s > acked and v != "v2"]
    assert not late_v1, late_v1[:5]
    assert sum(1 for s, _, _ in versions if s > acked) > 50
    assert len(versions) > 100

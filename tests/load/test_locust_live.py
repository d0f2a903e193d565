"""LocustRunner with a real locust process against a stand-in target.

The target is a tiny aiohttp app that answers the shop's four routes with the
headers the mesh's apps set; it stands in for the ingress so these tests
exercise the load generator alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
from aiohttp import web

from meshsim.errors import MeshError
from meshsim.load import LocustRunner, read_records
from meshsim.scenario.model import LoadSpec

pytestmark = pytest.mark.slow

NAMES = {"GET /products", "GET /products/{id}", "GET /users/{id}", "POST /orders"}


def _served(by: str, **extra: str) -> dict[str, str]:
    return {"x-served-by": by, **extra}


async def _products(request: web.Request) -> web.Response:
    return web.json_response([{"id": i} for i in range(1, 21)], headers=_served("product-v1-0"))


async def _product(request: web.Request) -> web.Response:
    pid = int(request.match_info["id"])
    if not 1 <= pid <= 20:
        raise web.HTTPNotFound()
    return web.json_response({"id": pid}, headers=_served("product-v2-0"))


async def _user(request: web.Request) -> web.Response:
    uid = int(request.match_info["id"])
    if not 1 <= uid <= 100:
        raise web.HTTPNotFound()
    return web.json_response({"id": uid}, headers=_served("user-v1-0"))


async def _orders(request: web.Request) -> web.Response:
    body = await request.json()
    assert 1 <= body["user_id"] <= 100
    assert body["items"][0]["quantity"] == 1 and 1 <= body["items"][0]["product_id"] <= 20
    headers = _served("order-v1-0", **{"x-upstreams": "user-v1-0, product-v2-0,shipping-v1-0"})
    return web.json_response({"id": 1}, status=201, headers=headers)


@pytest.fixture
async def target() -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(
        [
            web.get("/products", _products),
            web.get("/products/{id}", _product),
            web.get("/users/{id}", _user),
            web.post("/orders", _orders),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_records_every_request(target: str, tmp_path: Path) -> None:
    records_dir = tmp_path / "records"
    runner = LocustRunner(
        target, LoadSpec(users=5, spawn_rate=50), records_dir, tmp_path / "locust.log"
    )
    started = time.time()
    await runner.start()
    pid = runner.pid
    assert pid is not None
    assert await runner.wait_first_request(timeout=10)
    await asyncio.sleep(3)
    runner.check()
    assert await runner.stop() == 0
    stopped = time.time()
    assert _gone(pid)

    records = read_records(records_dir)
    # 5 shoppers pausing 0.05-0.15 s: ~50 rps, so ~150 in 3 s; allow a slow CI box.
    assert 40 < len(records) < 400
    assert all(r.ok and r.error is None for r in records), [r for r in records if not r.ok][:3]
    assert {r.name for r in records} == NAMES
    assert {r.journey for r in records} == {"browse", "view_product", "view_user", "place_order"}
    for r in records:
        assert started <= r.t <= stopped
        assert 0 < r.latency_us < 2_000_000
        assert r.instance is not None and r.instance.endswith("-0")
        if r.name == "POST /orders":
            assert r.status == 201 and r.journey == "place_order"
            assert r.upstreams == ("user-v1-0", "product-v2-0", "shipping-v1-0")
        else:
            assert r.status == 200 and r.upstreams == ()
    assert len({r.latency_us for r in records}) > 10  # microseconds, not whole milliseconds


async def test_journey_weights_and_wait_override(target: str, tmp_path: Path) -> None:
    load = LoadSpec(users=2, spawn_rate=50, journeys={"view_user": 1, "browse": 0})
    runner = LocustRunner(target, load, tmp_path / "r", tmp_path / "l.log", wait_time="0")
    async with runner:
        await asyncio.sleep(1.5)
    records = read_records(tmp_path / "r")
    assert {r.name for r in records} == {"GET /users/{id}"}
    assert len(records) > 200  # no think time


async def test_connection_errors_are_recorded(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = LocustRunner(
        f"http://127.0.0.1:{port}", LoadSpec(users=2), tmp_path / "r", tmp_path / "l.log"
    )
    async with runner:
        assert await runner.wait_first_request(timeout=10)
    records = read_records(tmp_path / "r")
    assert records and all(not r.ok and r.status == 0 for r in records)
    assert {r.error for r in records} == {"ConnectionRefusedError"}
    assert all(r.instance is None and r.upstreams == () for r in records)


async def test_locust_failing_to_start_is_a_mesh_error(tmp_path: Path) -> None:
    log = tmp_path / "locust.log"
    runner = LocustRunner(
        "http://127.0.0.1:9", LoadSpec(users=1), tmp_path / "r", log, wait_time="soon"
    )
    with pytest.raises(MeshError) as info:
        await runner.start()
    assert info.value.component == "locust"
    assert info.value.log == str(log)
    assert "MESHSIM_WAIT" in str(info.value)
    assert runner.pid is not None and _gone(runner.pid)


async def test_stop_kills_a_locust_that_does_not_answer(target: str, tmp_path: Path) -> None:
    runner = LocustRunner(target, LoadSpec(users=1), tmp_path / "r", tmp_path / "l.log")
    await runner.start()
    assert runner.pid is not None
    os.kill(runner.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    code = await runner.stop(timeout=0.5)
    assert code == -signal.SIGKILL
    assert time.monotonic() - t0 < 3
    assert _gone(runner.pid)


async def test_unexpected_exit_is_reported_by_check(target: str, tmp_path: Path) -> None:
    runner = LocustRunner(target, LoadSpec(users=1), tmp_path / "r", tmp_path / "l.log")
    await runner.start()
    assert runner.pid is not None
    os.kill(runner.pid, signal.SIGKILL)
    await runner.wait()
    with pytest.raises(MeshError, match="exited unexpectedly"):
        runner.check()
    await runner.stop()  # still safe


async def test_run_time_ends_cleanly(target: str, tmp_path: Path) -> None:
    runner = LocustRunner(
        target, LoadSpec(users=1), tmp_path / "r", tmp_path / "l.log", run_time_s=1
    )
    await runner.start()
    assert await asyncio.wait_for(runner.wait(), 10) == 0
    runner.check()
    assert read_records(tmp_path / "r")


async def test_cancelled_start_leaves_no_locust(target: str, tmp_path: Path) -> None:
    runner = LocustRunner(target, LoadSpec(users=1), tmp_path / "r", tmp_path / "l.log")
    task = asyncio.create_task(runner.start())
    while runner.pid is None:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(runner.wait(), 5) == -signal.SIGKILL
    assert _gone(runner.pid)


@pytest.mark.parametrize("client", ["fast", "requests"])
async def test_cohorts_send_their_headers(
    client: Literal["fast", "requests"], tmp_path: Path
) -> None:
    async def echo(request: web.Request) -> web.Response:
        who = request.headers.get("end-user", "nobody")
        return web.json_response({}, headers=_served(f"echo-{who}-0"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    load = LoadSpec.model_validate(
        {
            "users": 4,
            "spawn_rate": 50,
            "cohorts": [{"name": "beta", "share": "25%", "headers": {"end-user": "beta"}}],
        }
    )
    target = f"http://127.0.0.1:{app_runner.addresses[0][1]}"
    runner = LocustRunner(target, load, tmp_path / "r", tmp_path / "l.log", client=client)
    try:
        async with runner:
            assert await runner.wait_first_request(timeout=10)
            await asyncio.sleep(2)
    finally:
        await app_runner.cleanup()
    records = read_records(tmp_path / "r")
    assert {(r.cohort, r.instance) for r in records} == {
        ("beta", "echo-beta-0"),
        (None, "echo-nobody-0"),
    }
    # one shopper of four: about a quarter of the requests
    share = sum(r.cohort == "beta" for r in records) / len(records)
    assert 0.12 < share < 0.4, share

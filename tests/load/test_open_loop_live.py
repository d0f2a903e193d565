"""Open-loop load (`load.arrival_rate`) and Locust workers (`load.workers`)
with a real locust process against a stand-in target that can hang.

The target answers `/products` at once and, once `hung` is set (by the first
`/products` it answers), never answers `/users/{id}`: the closed-loop
shoppers all end up waiting there and stop sending, the open-loop generator
keeps sending at its rate and records what it could not send as failed.

Why `hung` waits for a `/products`: the journeys are picked at random, and
with `/users` hung from the start the first five sends would all hang with
probability 1/32; then nothing is ever answered (the open loop's cap stays
reached), and a test that needs an answered request would fail by chance.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from meshsim.load import LocustRunner, RequestRecord, read_records
from meshsim.load.records import record_files
from meshsim.report.stats import NOT_SENT
from meshsim.scenario.model import LoadSpec

pytestmark = pytest.mark.slow
JOURNEYS = {"browse": 1.0, "view_user": 1.0}


class Seen:
    """What the stand-in target has been sent, counted as requests arrive."""

    def __init__(self) -> None:
        self.requests = 0
        self.hung = False
        self.products_answered = 0
        self.users_answered = 0  # before `hung` was set
        self.users_waiting = 0


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def target(seen: Seen) -> AsyncIterator[str]:
    async def products(request: web.Request) -> web.Response:
        seen.requests += 1
        seen.products_answered += 1
        seen.hung = True
        return web.json_response([], headers={"x-served-by": "product-v1-0"})

    async def user(request: web.Request) -> web.Response:
        seen.requests += 1
        if seen.hung:
            seen.users_waiting += 1
            await asyncio.sleep(3600)  # hung: never answers while the test runs
        seen.users_answered += 1
        return web.json_response({}, headers={"x-served-by": "user-v1-0"})

    app = web.Application()
    app.add_routes([web.get("/products", products), web.get("/users/{id}", user)])
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def _drive(
    target: str, tmp_path: Path, load: LoadSpec, seconds: float
) -> list[RequestRecord]:
    runner = LocustRunner(target, load, tmp_path / "records", tmp_path / "locust.log")
    async with runner:
        assert await runner.wait_first_request(timeout=20)
        await asyncio.sleep(seconds)
    return read_records(tmp_path / "records")


async def test_open_loop_keeps_its_rate_through_a_hang(
    target: str, seen: Seen, tmp_path: Path
) -> None:
    load = LoadSpec(users=5, arrival_rate=40, journeys=JOURNEYS)
    started = time.time()
    records = await _drive(target, tmp_path, load, 4.0)
    span = max(r.t for r in records) - min(r.t for r in records)
    # intended send times 1/40 s apart: the rate holds whatever the answers do
    assert len(records) >= 0.9 * 40 * span, (len(records), span)
    not_sent = [r for r in records if r.error == NOT_SENT]
    # 5 in flight hang on /users, so about half the arrivals find the cap reached
    assert len(not_sent) > 0.25 * len(records)
    assert all(not r.ok and r.status == 0 for r in not_sent)
    answered = [r for r in records if r.ok]
    # what the target answered, and only that, is recorded as answered: the
    # hung calls never ended, so none of them is (all /products were sent
    # before the cap was reached for good, long before the stop)
    assert seen.products_answered > 0 and seen.users_waiting == 5
    assert sum(r.name == "GET /products" for r in answered) == seen.products_answered
    assert sum(r.name == "GET /users/{id}" for r in answered) == seen.users_answered
    assert len(answered) == seen.products_answered + seen.users_answered
    assert all(r.t >= started for r in records)


async def test_closed_loop_stops_sending_in_a_hang(target: str, seen: Seen, tmp_path: Path) -> None:
    # Counted at the target, not from the records: a shopper whose first
    # journey is view_user records nothing until its request ends, so with all
    # five starting there (1 in 32) no record would exist for 20 s.
    load = LoadSpec(users=5, spawn_rate=50, journeys=JOURNEYS)
    runner = LocustRunner(target, load, tmp_path / "records", tmp_path / "locust.log")
    async with runner:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while seen.users_waiting < 5:  # each shopper picks view_user sooner or later
            assert loop.time() < deadline, (seen.requests, seen.users_waiting)
            await asyncio.sleep(0.05)
        sent = seen.requests
        await asyncio.sleep(2.0)
        # every shopper waits on /users for good: nothing more is sent
        assert seen.requests == sent
    records = read_records(tmp_path / "records")
    assert all(r.ok for r in records)  # the hung calls never ended: none failed
    assert len(records) == sent - 5


async def test_workers_split_the_load_between_processes(target: str, tmp_path: Path) -> None:
    load = LoadSpec(users=6, arrival_rate=30, workers=2, journeys={"browse": 1.0})
    records = await _drive(target, tmp_path, load, 3.0)
    files = record_files(tmp_path / "records")
    assert len(files) == 2  # one per worker process, each sending half the rate
    span = max(r.t for r in records) - min(r.t for r in records)
    assert len(records) >= 0.9 * 30 * span, (len(records), span)
    assert all(r.ok for r in records)

"""Legacy clients: plaintext callers outside the mesh, recorded like Locust's shoppers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from meshsim.control.plan import Instance, free_ports
from meshsim.load.legacy import LegacyCaller, records_file
from meshsim.load.records import read_records
from meshsim.scenario.model import LegacyClient


def instance(port: int) -> Instance:
    return Instance(
        "product", "v1", 0, app_port=0, inbound_port=port, outbound_port=0, admin_port=0
    )


async def test_calls_in_plaintext_and_records_each_request(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.host, request.path))
        return web.json_response({}, headers={"x-served-by": "product-v1-0"})

    app = web.Application()
    app.router.add_get("/products", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(1)[0]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    dead = free_ports(1)[0]  # nothing listens here: a refused connection
    client = LegacyClient(name="old_app", target="product", rps=40, path="/products")
    caller = LegacyCaller(client, [instance(port), instance(dead)], tmp_path)
    try:
        caller.start()
        # wait for the calls, not a fixed time: at 40 rps half a second sends
        # 20, but a loaded machine may let the caller send fewer in it
        async with asyncio.timeout(30):
            while caller.sent < 10:
                await asyncio.sleep(0.05)
        await caller.stop()
    finally:
        await runner.cleanup()
    records = read_records(tmp_path)
    assert records_file(tmp_path, client).name == "requests-legacy-old_app.jsonl"
    assert len(records) == caller.sent >= 10
    assert {r.journey for r in records} == {"old_app"}
    assert {r.name for r in records} == {"GET /products"}
    served = [r for r in records if r.ok]
    refused = [r for r in records if not r.ok]
    assert served and all(r.status == 200 and r.instance == "product-v1-0" for r in served)
    assert refused and all(r.status == 0 and r.error for r in refused)
    assert abs(len(served) - len(refused)) <= 1  # called in turn
    assert set(seen) == {("product", "/products")}

"""The ADS server against a real Envoy: a proxy bootstrapped with ADS only
gets its clusters, routes and listeners over the stream and ACKs them, a
deliberately invalid resource is NACKed with Envoy's message, and a control
plane restart resyncs without a failed request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from meshsim.control import envoy as e
from meshsim.control.ads import AdsServer, XdsRejected
from meshsim.control.plan import free_ports
from meshsim.control.writer import ads_bootstrap
from meshsim.control.xds_proto import T_CLUSTER, T_LISTENER, T_ROUTE, Converter, ResourceError
from meshsim.runtime.local import envoy_argv

PROXY = "p1"


def listener(port: int) -> dict[str, Any]:
    hcm = e.http_connection_manager("in", "routes", [])
    return e.listener("in", "127.0.0.1", port, [hcm])


def routes(body: str) -> dict[str, Any]:
    return {
        "name": "routes",
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": body}},
                    }
                ],
            }
        ],
    }


def cluster(address: str = "127.0.0.1") -> dict[str, Any]:
    return e.static_cluster("outbound|80||x.default.svc.cluster.local", [(address, 9)])


@contextlib.asynccontextmanager
async def envoy_on(
    ads: AdsServer, tmp_path: Path, token: str | None = None
) -> AsyncIterator[tuple[int, int]]:
    """An Envoy bootstrapped with ADS only (with `token`, else the proxy's
    own); yields (admin port, listener port)."""
    admin, port = free_ports(2)
    address = e.socket_address("127.0.0.1", admin)
    given = ads.token(PROXY) if token is None else token
    boot = ads_bootstrap(PROXY, "p", ("127.0.0.1", ads.port), address, given)
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(boot))
    log = (tmp_path / "envoy.log").open("wb")
    proc = subprocess.Popen(envoy_argv(path), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield admin, port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def get(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as r:
        return r.status, await r.text()


async def until_serving(port: int, body: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            if await get(port) == (200, body):
                return
        assert asyncio.get_running_loop().time() < deadline, f"never served {body!r}"
        await asyncio.sleep(0.05)


def test_a_resource_protobuf_cannot_parse_names_itself() -> None:
    with pytest.raises(ResourceError, match="CDS c: .*no_such_field"):
        Converter().to_any(T_CLUSTER, {"name": "c", "no_such_field": 1})


@pytest.mark.slow
async def test_envoy_acks_pushes_and_nacks_an_invalid_cluster(tmp_path: Path) -> None:
    ads = AdsServer([PROXY])
    events: list[dict[str, Any]] = []
    ads.events.append(events.append)
    await ads.start("127.0.0.1")
    try:
        async with envoy_on(ads, tmp_path) as (_, port):
            ads.set_resources(PROXY, T_CLUSTER, {"c": cluster()})
            ads.set_resources(PROXY, T_ROUTE, {"routes": routes("one")})
            ads.set_resources(PROXY, T_LISTENER, {"in": listener(port)})
            await until_serving(port, "one")
            await ads.wait_acked([(PROXY, t) for t in (T_CLUSTER, T_ROUTE, T_LISTENER)], 10)
            assert {v["status"] for k, v in ads.sync()[PROXY].items() if k != "connected"} == {
                "SYNCED"
            }
            # a change of one route configuration: one response, one ACK
            assert ads.set_resources(PROXY, T_ROUTE, {"routes": routes("two")})
            assert await ads.send(PROXY, T_ROUTE)
            await ads.wait_acked([(PROXY, T_ROUTE)], 10)
            assert await get(port) == (200, "two")
            # a cluster Envoy must reject (a STATIC endpoint that is not an IP)
            ads.set_resources(PROXY, T_CLUSTER, {"c": cluster("not-an-ip")})
            await ads.send(PROXY, T_CLUSTER)
            with pytest.raises(XdsRejected) as err:
                await ads.wait_acked([(PROXY, T_CLUSTER)], 10)
            assert err.value.proxy == PROXY and "not-an-ip" in err.value.message
            state = ads.sync()[PROXY]["CDS"]
            assert state["status"] == "NACK" and "not-an-ip" in state["error"]
            assert state["acked"] == "1" and state["version"] == "2"
            assert any(ev["kind"] == "nack" for ev in events)
            assert await get(port) == (200, "two")  # the last good config still serves
    finally:
        await ads.stop()


@pytest.mark.slow
async def test_a_stream_opens_only_with_its_proxys_token(tmp_path: Path) -> None:
    """The ADS server is reachable by every container of a Docker run (and SDS
    hands out keys): a stream without the proxy's token gets nothing."""
    ads = AdsServer([PROXY], secret=b"s" * 32)
    events: list[dict[str, Any]] = []
    ads.events.append(events.append)
    await ads.start("127.0.0.1")
    ads.set_resources(PROXY, T_CLUSTER, {"c": cluster()})
    ads.set_resources(PROXY, T_ROUTE, {"routes": routes("one")})
    try:
        async with envoy_on(ads, tmp_path / "wrong", token="forged") as (_, port):
            ads.set_resources(PROXY, T_LISTENER, {"in": listener(port)})
            for _ in range(100):
                if any(ev["kind"] == "denied" for ev in events):
                    break
                await asyncio.sleep(0.05)
            assert [ev["kind"] for ev in events][:1] == ["denied"], events
            assert not ads.connected(PROXY) and ads.sync()[PROXY]["connected"] is False
            assert not any(ev["kind"] in ("connect", "response") for ev in events)
        async with envoy_on(ads, tmp_path / "right") as (_, port):
            ads.set_resources(PROXY, T_LISTENER, {"in": listener(port)})
            await until_serving(port, "one")
    finally:
        await ads.stop()


@pytest.mark.slow
async def test_a_control_plane_restart_resyncs_without_a_failed_request(tmp_path: Path) -> None:
    ads = AdsServer([PROXY])
    await ads.start("127.0.0.1")
    try:
        async with envoy_on(ads, tmp_path) as (_, port):
            ads.set_resources(PROXY, T_CLUSTER, {"c": cluster()})
            ads.set_resources(PROXY, T_ROUTE, {"routes": routes("one")})
            ads.set_resources(PROXY, T_LISTENER, {"in": listener(port)})
            await until_serving(port, "one")
            outcomes: list[bool] = []
            stop = asyncio.Event()

            async def load() -> None:
                while not stop.is_set():
                    try:
                        outcomes.append(await get(port) == (200, "one"))
                    except (aiohttp.ClientError, OSError):
                        outcomes.append(False)

            async def until_sent(n: int) -> None:
                while len(outcomes) < n:
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(load())
            await asyncio.wait_for(until_sent(20), 10)  # requests before the restart
            connects = ads.proxies[PROXY].connects
            await ads.restart()
            deadline = asyncio.get_running_loop().time() + 10
            while ads.proxies[PROXY].connects == connects:
                assert asyncio.get_running_loop().time() < deadline, "no reconnect"
                await asyncio.sleep(0.02)
            await ads.wait_acked([(PROXY, t) for t in (T_CLUSTER, T_ROUTE, T_LISTENER)], 10)
            # requests after the resync too, then a change on the new stream
            await asyncio.wait_for(until_sent(len(outcomes) + 20), 10)
            stop.set()
            await task
            assert outcomes.count(False) == 0 and len(outcomes) >= 40
            assert ads.set_resources(PROXY, T_ROUTE, {"routes": routes("two")})
            assert await ads.send(PROXY, T_ROUTE)
            await ads.wait_acked([(PROXY, T_ROUTE)], 10)
            assert await get(port) == (200, "two")
    finally:
        await ads.stop()

"""The ADS stream in a running mesh: a NACK in `status --json` and in
`meshsim xds watch` with Envoy's message, a control-plane restart under load
without a failed request, and no inotify instance held by any Envoy."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.control import envoy as e
from meshsim.control.plan import build_plan
from meshsim.control.push import PushRejected
from meshsim.control.xds import ProxyConfig
from meshsim.control.xds_proto import SHORT
from meshsim.mesh import Mesh

pytestmark = pytest.mark.slow

BROKEN = "outbound|80||broken.default.svc.cluster.local"
SHOP = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    m = Mesh(build_plan(SHOP, ingress_port=0), tmp_path / "run")
    try:
        await m.start()
        yield m
    finally:
        await m.stop()


async def all_synced(mesh: Mesh, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        sync = mesh.control.ads.sync()
        if all(
            s["connected"] and all(s[k]["status"] == "SYNCED" for k in SHORT.values() if k in s)
            for s in sync.values()
        ):
            return
        assert asyncio.get_running_loop().time() < deadline, sync
        await asyncio.sleep(0.05)


def inotify_instances(pid: int) -> int:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            pass
    return count


async def test_an_invalid_cluster_is_a_nack_in_status_and_xds_watch(mesh: Mesh) -> None:
    await all_synced(mesh)
    # Envoy sees no inotify-watched file at all: every resource came over the stream
    envoys = [c.pid for c in mesh.runtime.components() if c.kind in ("sidecar", "ingress")]
    assert len(envoys) == len(mesh.plan.proxies)
    assert sum(inotify_instances(pid) for pid in envoys if pid) == 0

    compile_ok = mesh.control.compile

    def broken() -> dict[str, ProxyConfig]:
        configs = compile_ok()
        configs["product-v1-0"].clusters.append(e.static_cluster(BROKEN, [("not-an-ip", 80)]))
        return configs

    mesh.control.compile = broken  # type: ignore[method-assign]
    with pytest.raises(PushRejected) as err:
        await mesh.control.push()
    assert err.value.proxy == "product-v1-0" and err.value.kind == "CDS"
    assert BROKEN in err.value.resources and "not-an-ip" in err.value.envoy_message
    assert err.value.exit_code == 3
    await asyncio.sleep(0.3)  # sync.json is written at most every 50 ms

    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    ours = [m for m in json.loads(result.output) if m["run_dir"] == str(mesh.run_dir)]
    proxies = ours[0]["proxies"]
    cds = proxies["product-v1-0"]["CDS"]
    assert cds["status"] == "NACK" and "not-an-ip" in cds["error"], cds
    assert proxies["product-v1-0"]["LDS"]["status"] == "SYNCED"
    assert proxies["order-v1-0"]["CDS"]["status"] == "SYNCED"

    watch = CliRunner().invoke(
        app, ["xds", "watch", "product-v1-0", "--no-follow", "--run-dir", str(mesh.run_dir)]
    )
    assert watch.exit_code == 0, watch.output
    lines = watch.output.splitlines()
    assert any(" ACK " in line and "CDS" in line for line in lines)
    nack = [line for line in lines if " NACK " in line]
    assert len(nack) == 1 and "not-an-ip" in nack[0] and "CDS" in nack[0]
    assert any(f"changed: {BROKEN}" in line for line in lines)


async def test_control_plane_restart_under_load_fails_no_request(mesh: Mesh) -> None:
    await all_synced(mesh)
    outcomes: list[bool] = []
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                async with session.get(mesh.ingress_url + "/products/3") as r:
                    await r.read()
                    outcomes.append(r.status == 200)
            except aiohttp.ClientError:
                outcomes.append(False)

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(4)]
        await asyncio.sleep(1.0)
        before = {p: mesh.control.ads.proxies[p].connects for p in mesh.plan.proxies}
        await mesh.control.ads.restart()
        deadline = asyncio.get_running_loop().time() + 15
        while any(mesh.control.ads.proxies[p].connects == n for p, n in before.items()):
            assert asyncio.get_running_loop().time() < deadline, "not every proxy reconnected"
            await asyncio.sleep(0.05)
        await all_synced(mesh)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
    print(f"\n{len(outcomes)} requests across the restart, {outcomes.count(False)} failed")
    assert len(outcomes) > 50 and outcomes.count(False) == 0

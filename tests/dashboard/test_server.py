"""The dashboard's HTTP API on a synthetic run (aiohttp's test client, no mesh)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from meshsim.dashboard.server import QUEUE, Hub, make_app
from meshsim.dashboard.state import RunState
from tests.live.helpers import meshsim
from tests.report.runs import RunDir as FakeRun
from tests.report.runs import steady

PHASES = [("steady", 10.0, ["error_rate < 1%"]), ("broken", 10.0, ["error_rate < 1%"])]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    path = FakeRun(tmp_path / "run").write(
        phases=PHASES, records=steady(1.0, 11.0) + steady(11.0, 21.0, ok=False)
    )
    state = RunState(path)
    state.refresh()
    async with TestClient(TestServer(make_app(state, refresh_s=0.05))) as c:
        yield c


async def test_state_has_the_documented_shape(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/api/state")
    assert resp.status == 200
    state = await resp.json()
    assert set(state) >= {
        "run",
        "t",
        "phases",
        "current_phase",
        "nodes",
        "edges",
        "series",
        "slowest",
    }
    assert set(state["run"]) >= {"id", "scenario", "status", "runtime"}
    phase = state["phases"][0]
    assert set(phase) >= {"name", "index", "status", "started_s", "planned_s", "applied", "removed"}
    assert set(phase["expectations"][0]) >= {"text", "status", "observed"}
    assert set(state["series"][0]) >= {"t", "rps", "error_rate", "p50_ms", "p99_ms"}
    assert [p["status"] for p in state["phases"]] == ["passed", "failed"]


async def test_replay_at_a_time(client: TestClient) -> None:  # type: ignore[type-arg]
    state = await (await client.get("/api/state?t=5")).json()
    assert state["t"] == 5.0
    assert [p["status"] for p in state["phases"]] == ["running", "pending"]
    assert state["current_phase"] == 0
    bad = await client.get("/api/state?t=soon")
    assert bad.status == 400
    assert "seconds" in await bad.text()
    assert (await client.get("/api/state?t=nan")).status == 400


async def test_events_start_with_the_state(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/api/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    lines = []
    while len(lines) < 2:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().strip()
        if line:
            lines.append(line)
    assert lines[0] == "event: state"
    state = json.loads(lines[1].removeprefix("data: "))
    assert state["phases"][1]["status"] == "failed"
    resp.close()


async def test_the_page_and_its_pictures(client: TestClient) -> None:  # type: ignore[type-arg]
    page = await (await client.get("/")).text()
    assert 'id="slider"' in page and "/static/app.js" in page
    assert (await client.get("/static/app.js")).status == 200
    view = await (await client.get("/api/view?t=15")).json()
    assert view["graph"].startswith("<svg") and 'data-node="product"' in view["graph"]
    assert 'data-chart="rps"' in view["charts"]
    assert (await client.get("/nothing")).status == 404
    assert (await client.get("/static/missing.js")).status == 404


async def test_state_and_view_read_the_same_frame(client: TestClient) -> None:  # type: ignore[type-arg]
    """/api/state and /api/view share how they read `t`: the same 400s, the
    hub's latest frame without it, the replayed one with it."""
    for api in ("/api/state", "/api/view"):
        bad = await client.get(f"{api}?t=soon")
        assert bad.status == 400 and "seconds" in await bad.text(), api
        assert (await client.get(f"{api}?t=inf")).status == 400, api
    now = await (await client.get("/api/state")).json()
    assert (await (await client.get("/api/view")).json())["t"] == now["t"]
    assert (await (await client.get("/api/view?t=")).json())["t"] == now["t"]
    assert (await (await client.get("/api/state?t=7")).json())["t"] == 7.0
    assert (await (await client.get("/api/view?t=7")).json())["t"] == 7.0


def test_meshsim_dashboard_refuses_what_is_not_a_run_directory(tmp_path: Path) -> None:
    done = meshsim("dashboard", str(tmp_path), "--no-open", timeout=60)
    assert done.returncode == 2
    assert "not a meshsim run directory" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    missing = meshsim("dashboard", str(tmp_path / "nowhere"), "--no-open", timeout=60)
    assert missing.returncode == 2 and "no such directory" in missing.stderr + missing.stdout


async def test_a_slow_client_skips_frames_and_holds_up_nothing() -> None:
    hub = Hub()
    slow: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=QUEUE)
    hub.clients.add(slow)
    for i in range(10):  # never read: publishing does not wait for it
        hub.publish("state", str(i))
    assert [slow.get_nowait()[1] for _ in range(QUEUE)] == ["6", "7", "8", "9"]
    assert hub.dropped == 10 - QUEUE

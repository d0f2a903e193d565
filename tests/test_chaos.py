"""meshsim.chaos without a mesh: the three states a caller can see, against
real sockets, and the rollback event's state before the rollback."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

from meshsim import chaos
from meshsim.runner import Runner, RunOptions, Timeline
from meshsim.runtime.base import ComponentInfo


async def test_a_caller_sees_answering_unresponsive_or_refused() -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # a socket that listens but never reads: what a frozen (SIGSTOP) app looks like
    frozen = socket.socket()
    frozen.bind(("127.0.0.1", 0))
    frozen.listen(8)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = s.getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            assert await chaos.probe(session, "127.0.0.1", port, 0.5) == "answering"
            frozen_port = frozen.getsockname()[1]
            assert await chaos.probe(session, "127.0.0.1", frozen_port, 0.2) == "unresponsive"
            assert await chaos.probe(session, "127.0.0.1", nobody, 0.5) == "refused"
    finally:
        frozen.close()
        await runner.cleanup()


def test_a_restart_that_kept_the_process_is_not_effective() -> None:
    same = chaos.Observation("p-v1-0", "answering", "41", "41", 0.1, "answering")
    assert not same.effective
    assert "still runs as before" in chaos.describe("restart", same)
    new = chaos.Observation("p-v1-0", "answering", "42", "41", 0.1, "answering")
    assert new.effective
    paused = chaos.Observation("p-v1-0", "answering", "41", None, 3.0, "unresponsive")
    assert not paused.effective
    assert "did not take effect" in chaos.describe("pause", paused)


async def test_observe_waits_for_the_effect_then_gives_up(monkeypatch: Any) -> None:
    monkeypatch.setitem(chaos.DEADLINE_S, "kill", 0.3)
    states = iter(["answering", "refused"])

    async def probe(*args: Any) -> str:
        return next(states, "refused")

    async def identity() -> str | None:
        return None

    monkeypatch.setattr(chaos, "probe", probe)
    seen = await chaos.observe(None, "kill", "p", ("127.0.0.1", 1), identity, None)  # type: ignore[arg-type]
    assert seen.state == "refused" and seen.effective
    states = iter([])
    monkeypatch.setattr(chaos, "probe", lambda *a: asyncio.sleep(0, "answering"))
    seen = await chaos.observe(None, "kill", "p", ("127.0.0.1", 1), identity, None)  # type: ignore[arg-type]
    assert not seen.effective and seen.after_s >= 0.3


class ResumingRuntime:
    """Updates the component in place, as both runtimes do."""

    def __init__(self) -> None:
        self.app = ComponentInfo("p-v1-0/app", "app", "p-v1-0", 1, Path("x"), state="paused")

    def components(self) -> list[ComponentInfo]:
        return [self.app]

    async def resume(self, instance: str) -> None:
        self.app.state = "running"


async def test_rollback_records_the_state_before_it(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nphases: [{name: a, duration: 1s}]\n")
    runner = Runner(scenario, RunOptions(), None)  # type: ignore[arg-type]
    timeline = Timeline(tmp_path / "phases.jsonl")
    await runner._rollback(SimpleNamespace(runtime=ResumingRuntime()), timeline)  # type: ignore[arg-type]
    timeline.close()
    event = json.loads((tmp_path / "phases.jsonl").read_text())
    assert (event["event"], event["instance"], event["was"]) == ("rollback", "p-v1-0", "paused")

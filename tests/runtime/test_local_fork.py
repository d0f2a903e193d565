"""The local runtime's fork server: a forked instance is a process of its own,
as an exec'ed `python -m module` would be (pid, session, log, env, cwd, exit
status), and its end is known without being meshsim's child."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from meshsim.errors import MeshError
from meshsim.runtime.local_fork import ForkServer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux-only")

APP = """\
import os, sys, time
print("argv0", sys.argv[0].endswith("forkme.py"), "name", __name__, flush=True)
print("env", os.environ.get("GREETING"), "cwd", os.getcwd(), "sid", os.getsid(0) == os.getpid())
print("to stderr", file=sys.stderr)
mode = os.environ.get("MODE")
if mode == "exit":
    sys.exit(7)
if mode == "message":
    sys.exit("bad PORT")
if mode == "raise":
    raise RuntimeError("boom")
time.sleep(60)
"""


async def _server(tmp_path: Path) -> ForkServer:
    (tmp_path / "forkme.py").write_text(APP)
    # json: a module imported up front, as the shop's are
    return await ForkServer.start(["json"], dict(os.environ), tmp_path / "server.log")


async def test_a_forked_instance_runs_its_module_as_main_with_its_env_cwd_and_log(
    tmp_path: Path,
) -> None:
    server = await _server(tmp_path)
    try:
        log = tmp_path / "app.log"
        env = {"GREETING": "hi", "MODE": "exit", "PATH": os.environ.get("PATH", "")}
        proc = await server.spawn("forkme", env, str(tmp_path), log)
        assert proc.pid != server._proc.pid
        assert await asyncio.wait_for(proc.wait(), 10) == 7
        text = log.read_text()
        assert "argv0 True name __main__" in text
        assert f"env hi cwd {tmp_path} sid True" in text
        assert "to stderr" in text
    finally:
        await server.close()


async def test_a_signal_to_its_group_ends_it_and_its_status_says_which(tmp_path: Path) -> None:
    server = await _server(tmp_path)
    try:
        env = {"MODE": "sleep"}
        proc = await server.spawn("forkme", env, str(tmp_path), tmp_path / "a.log")
        await asyncio.sleep(0.2)
        assert proc.returncode is None
        os.killpg(proc.pid, signal.SIGKILL)  # as chaos `kill` does
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
        again = await server.spawn("forkme", env, str(tmp_path), tmp_path / "a.log")
        assert again.pid != proc.pid and again.returncode is None  # a restart
        os.killpg(again.pid, signal.SIGTERM)
        assert await asyncio.wait_for(again.wait(), 10) == -signal.SIGTERM
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("mode", "code", "logged"), [("message", 1, "bad PORT"), ("raise", 1, "RuntimeError: boom")]
)
async def test_an_instance_that_fails_at_once_exits_as_python_would(
    tmp_path: Path, mode: str, code: int, logged: str
) -> None:
    server = await _server(tmp_path)
    try:
        proc = await server.spawn("forkme", {"MODE": mode}, str(tmp_path), tmp_path / "b.log")
        assert await asyncio.wait_for(proc.wait(), 10) == code
        assert logged in (tmp_path / "b.log").read_text()
    finally:
        await server.close()


async def test_instances_outlive_the_server_and_their_end_is_still_seen(tmp_path: Path) -> None:
    server = await _server(tmp_path)
    proc = await server.spawn("forkme", {"MODE": "sleep"}, str(tmp_path), tmp_path / "c.log")
    server._proc.kill()  # the server dies unasked
    async with asyncio.timeout(10):  # its end seen (EOF, exit status), however busy the box
        while server.alive:
            await asyncio.sleep(0.02)
    assert proc.returncode is None  # the instance runs on
    with pytest.raises(MeshError, match="fork server"):
        await server.spawn("forkme", {}, str(tmp_path), tmp_path / "d.log")
    os.killpg(proc.pid, signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -1  # its status went to init
    await server.close()

"""The local runtime's side of its fork server (`meshsim.runtime.local_forkserver`):
start it, ask it for an instance, learn when an instance ends.

A forked instance is not meshsim's child, so asyncio cannot wait for it; the
server reports each child's end on its stdout and `ForkedProcess` stands in
for `asyncio.subprocess.Process` with the same `pid`, `returncode` and
`wait()`. Signals (chaos, `meshsim down`) go to the pid as before.

Only the sample shop's modules are forked (a team's own command is exec'ed as
it always was), only on Linux (macOS's system libraries are not safe to use in
a forked child that does not exec), and not with `MESHSIM_FORK_SERVER=0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil

from meshsim.errors import MeshError

DISABLE_ENV = "MESHSIM_FORK_SERVER"
# Once the server is gone, how often an instance it forked is checked for its end.
ORPHAN_POLL_S = 0.5


def fork_server_enabled() -> bool:
    return sys.platform == "linux" and os.environ.get(DISABLE_ENV, "1") != "0"


class ForkedProcess:
    """An instance forked by the server: what LocalRuntime uses of a Process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._ended = asyncio.Event()

    def ended(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self._proc = proc
        self.log = log
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._children: dict[int, ForkedProcess] = {}
        # an end reported before the spawn's reply was read (a child that died at once)
        self._early: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._closing = False
        self._watchers: list[asyncio.Task[None]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, modules: list[str], env: dict[str, str], log: Path) -> ForkServer:
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-u",
                "-m",
                "meshsim.runtime.local_forkserver",
                *modules,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        return cls(proc, log)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.returncode is None and not self._reader.done()

    async def _read(self) -> None:
        assert self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                message = json.loads(line)
                if "exited" in message:
                    pid, code = int(message["exited"]), int(message["code"])
                    child = self._children.pop(pid, None)
                    if child is not None:
                        child.ended(code)
                    else:
                        self._early[pid] = code
                else:
                    await self._replies.put(message)
        finally:
            await self._replies.put({"error": "the fork server exited"})
            # Died unasked: its children now belong to init; their ends are watched by polling.
            for child in self._children.values() if not self._closing else ():
                self._watchers.append(asyncio.get_running_loop().create_task(_watch(child)))
            self._children.clear()

    async def spawn(
        self, module: str, env: dict[str, str], cwd: str | None, log: Path
    ) -> ForkedProcess:
        """A new instance running `module` (as `python -m module`) with `env`,
        in `cwd`, its stdout and stderr appended to `log`."""
        request = {"module": module, "env": env, "cwd": cwd, "log": str(log)}
        async with self._lock:
            if not self.alive:
                raise MeshError(
                    f"the fork server is not running; see {self.log}", component="runtime"
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            await self._proc.stdin.drain()
            reply = await self._replies.get()
        if "spawned" not in reply:
            raise MeshError(str(reply.get("error")), component="runtime", log=self.log)
        child = ForkedProcess(int(reply["spawned"]))
        if child.pid in self._early:
            child.ended(self._early.pop(child.pid))
        else:
            self._children[child.pid] = child
        return child

    async def close(self, timeout: float = 2.0) -> None:
        """End the server (its instances keep running: they are stopped by pid)."""
        self._closing = True
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _watch(child: ForkedProcess) -> None:
    while _running(child.pid):
        await asyncio.sleep(ORPHAN_POLL_S)
    child.ended(-1)  # its status went to init, not to meshsim


def _running(pid: int) -> bool:
    # A zombie has ended: whoever adopted it (a container's init may not) reaps it.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

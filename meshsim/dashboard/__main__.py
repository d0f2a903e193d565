"""`python -m meshsim.dashboard RUN_DIR [--port N] [--live]`: the dashboard
server as its own process, which `meshsim up --dashboard` starts (process.py).

It prints `dashboard: URL` once it listens, then nothing more on stdout (the
parent stops reading it); errors go to stderr (the run's logs/dashboard.log),
a port it cannot take exits 2. With `--lifeline` it also stops when its
stdin ends without a `detach` line first: meshsim has gone (process.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from meshsim.dashboard.process import DETACH
from meshsim.dashboard.server import serve
from meshsim.dashboard.state import RunState
from meshsim.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshsim.dashboard")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--live", action="store_true", help="the run is going on now")
    parser.add_argument(
        "--lifeline", action="store_true", help="stop when stdin ends without 'detach'"
    )
    args = parser.parse_args(argv)

    def ready(url: str) -> None:
        print(f"dashboard: {url}", flush=True)
        # nothing more for the parent: it may close its end of the pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

    try:
        state = RunState(args.run_dir, live=args.live)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(state, args.port, ready, lifeline=args.lifeline))
    except UsageError as exc:
        print(f"meshsim dashboard: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


async def _serve(
    state: RunState, port: int, ready: Callable[[str], None], *, lifeline: bool
) -> None:
    """Serve until cancelled or, with `lifeline`, until stdin ends undetached."""
    server = asyncio.ensure_future(serve(state, port, ready=ready))
    if lifeline:
        _watch_stdin(server)
    with contextlib.suppress(asyncio.CancelledError):
        await server


def _watch_stdin(server: asyncio.Future[None]) -> None:
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    said = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 64)
        except OSError:
            chunk = b""
        said.extend(chunk)
        if said.startswith(DETACH):
            loop.remove_reader(fd)  # kept with --keep: `meshsim down` stops it
        elif not chunk:
            loop.remove_reader(fd)
            server.cancel()  # meshsim is gone without detaching us

    loop.add_reader(fd, readable)


if __name__ == "__main__":
    raise SystemExit(main())

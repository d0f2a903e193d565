"""`python -m meshsim.dashboard RUN_DIR [--port N] [--live]`: the dashboard
server as its own process, which `meshsim up --dashboard` starts (process.py).

It prints `dashboard: URL` once it listens, then nothing more on stdout (the
parent stops reading it); errors go to stderr (the run's logs/dashboard.log),
a port it cannot take exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from meshsim.dashboard.server import serve
from meshsim.dashboard.state import RunState
from meshsim.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshsim.dashboard")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--live", action="store_true", help="the run is going on now")
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
            asyncio.run(serve(state, args.port, ready=ready))
    except UsageError as exc:
        print(f"meshsim dashboard: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Serves each proxy's configuration files over HTTP to the sidecar agents
(meshsim/runtime/agent.py) of the Docker runtime.

The control plane keeps writing files under `xds/<proxy>/` exactly as for
the local runtime (the writer, the certificate rotation); this server watches
that tree by polling it every few tens of milliseconds (portable: no inotify)
and answers each agent's long-poll with the files that changed since the
generation it last saw. Nothing about the files' meaning lives here.

Each proxy has its own bearer token (an HMAC of a per-run secret), so a
container can fetch only its own proxy's files, private key included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

SCAN_INTERVAL_S = 0.02
MAX_WAIT_S = 30.0


def proxy_token(secret: bytes, proxy: str) -> str:
    """The bearer token that lets `proxy`'s agent read `proxy`'s files only."""
    return hmac.new(secret, proxy.encode(), hashlib.sha256).hexdigest()


@dataclass
class _File:
    signature: tuple[int, int, int]  # inode, mtime_ns, size: a rename changes the inode
    generation: int


@dataclass
class _Proxy:
    files: dict[str, _File] = field(default_factory=dict)
    generation: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class ConfigServer:
    """HTTP long-poll delivery of `root/<proxy>/**` to each proxy's agent.

    Example::

        server = ConfigServer(RunDir(run_dir).xds, ["istio-ingressgateway", "product-v1-0"])
        port = await server.start("172.18.0.1")   # the run network's gateway
        token = server.token("product-v1-0")      # handed to that sidecar's agent
        ...
        await server.stop()
    """

    def __init__(
        self, root: Path, proxies: list[str], secret: bytes | None = None, interval: float = 0.0
    ) -> None:
        self.root = root
        self.secret = secret or secrets.token_bytes(32)
        self.interval = interval or SCAN_INTERVAL_S
        self.proxies = {p: _Proxy() for p in proxies}
        self._generation = 0
        self._runner: web.AppRunner | None = None
        self._scanner: asyncio.Task[None] | None = None
        self._closing = False
        self.requests = 0

    def token(self, proxy: str) -> str:
        return proxy_token(self.secret, proxy)

    # ------------------------------------------------------------- watching

    def poke(self, proxy: str) -> None:
        """A file of `proxy` was just written: look now rather than at the next scan."""
        if proxy in self.proxies:
            self.scan([proxy])

    def scan(self, proxies: list[str] | None = None) -> list[str]:
        """Look for changed files; returns the proxies whose files changed."""
        touched = []
        for name in proxies if proxies is not None else list(self.proxies):
            state = self.proxies[name]
            folder = self.root / name
            seen: dict[str, tuple[int, int, int]] = {}
            for path in _walk(folder):
                try:
                    st = path.stat()
                except OSError:
                    continue  # replaced between listing and stat: the next scan sees it
                seen[path.relative_to(folder).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
            changed = [
                rel
                for rel, sig in seen.items()
                if rel not in state.files or state.files[rel].signature != sig
            ]
            if not changed:
                continue
            self._generation += 1
            for rel in changed:
                state.files[rel] = _File(seen[rel], self._generation)
            state.generation = self._generation
            state.changed.set()
            state.changed = asyncio.Event()
            touched.append(name)
        return touched

    async def _scan_forever(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(self.interval)

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        proxy = request.match_info["proxy"]
        state = self.proxies.get(proxy)
        if state is None:
            raise web.HTTPNotFound(text=f"no proxy named {proxy!r} in this mesh\n")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, self.token(proxy)):
            raise web.HTTPForbidden(text="wrong or missing token for this proxy\n")
        self.requests += 1
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "0")), MAX_WAIT_S)
        except ValueError as exc:
            raise web.HTTPBadRequest(text="after and wait are numbers\n") from exc
        if state.generation <= after and wait > 0 and not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), wait)
            state = self.proxies[proxy]
        files = {}
        for rel, f in state.files.items():
            if f.generation > after:
                with contextlib.suppress(OSError):
                    files[rel] = (self.root / proxy / rel).read_text(encoding="utf-8")
        return web.json_response({"generation": state.generation, "files": files})

    async def start(self, host: str, port: int = 0) -> int:
        """Serve on `host`; returns the port (a free one when `port` is 0)."""
        self.scan()
        app = web.Application()
        app.router.add_get("/v1/proxies/{proxy}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            await self._runner.cleanup()
            raise
        await web.SockSite(self._runner, sock).start()
        self._scanner = asyncio.get_running_loop().create_task(self._scan_forever())
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self) -> None:
        self._closing = True
        for state in self.proxies.values():
            state.changed.set()  # release every long-poll at once
        if self._scanner is not None:
            self._scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scanner
            self._scanner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _walk(folder: Path) -> list[Path]:
    """Every regular file under `folder`, skipping dotfiles (temporary files)."""
    out: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            out.extend(_walk(Path(entry.path)))
        elif entry.is_file(follow_symlinks=False):
            out.append(Path(entry.path))
    return out

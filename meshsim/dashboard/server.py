"""The dashboard's HTTP server (aiohttp, 127.0.0.1 only).

- `GET /`: the page (static/index.html, its script and style beside it);
- `GET /api/state[?t=SECONDS]`: the run's state now, or at `t` seconds after
  it started (the replay slider), as `RunState.state` builds it;
- `GET /api/view[?t=SECONDS]`: the graph and charts as SVG fragments;
- `GET /api/events`: server-sent events: `event: state` with the same JSON
  about once a second while it changes, and `event: phase` when a phase
  starts, ends or is judged.

One task refreshes the state from the run directory each second, in a worker
thread (file reading and parsing stay off the event loop), and hands each
client the new frames through a queue of QUEUE frames: a client that reads
slowly skips the oldest, it never holds up the refresh or the other clients. Documented
for scripting in docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from meshsim.dashboard.state import RunState
from meshsim.dashboard.view import charts_fragment, graph_fragment
from meshsim.errors import UsageError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
REFRESH_S = 1.0
KEEPALIVE_S = 15.0
QUEUE = 4  # frames held for a client; a `phase` and its `state` come together
STATIC = Path(__file__).parent / "static"
_STATE: web.AppKey[RunState] = web.AppKey("state", RunState)


class Hub:
    """The latest frames, handed to every SSE client through a short queue."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Queue[tuple[str, str]]] = set()
        self.latest = ""  # the state now, as JSON: every client of "now" shares it
        self.view = ""  # the pictures of that state, as JSON
        self.phases = ""
        self.dropped = 0  # frames a slow client never read (replaced by newer ones)
        # set once the run directory was read a first time: answers wait for it,
        # so a page never shows an empty run that is only being read
        self.ready = asyncio.Event()

    def publish(self, event: str, data: str) -> None:
        for queue in self.clients:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                    self.dropped += 1
            queue.put_nowait((event, data))

    def close(self) -> None:
        """End every event stream (see `_close_streams`)."""
        self.publish(_CLOSE, "")


_HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
_CLOSE = "close"  # not an SSE event: tells a stream's handler to return


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end the event streams: they never end on their own, and
    aiohttp waits for open handlers (60 s by default) before it stops, so
    Ctrl-C with a page open would hang that long."""
    app[_HUB].close()


def make_app(state: RunState, *, refresh_s: float = REFRESH_S) -> web.Application:
    """The application serving `state` (refreshed every `refresh_s` seconds)."""
    app = web.Application()
    app[_STATE] = state
    app[_HUB] = Hub()
    app.router.add_get("/", _index)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/view", _view)
    app.router.add_get("/api/events", _events)
    app.router.add_static("/static/", STATIC, show_index=False)

    async def refresher(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_refresh_loop(app, refresh_s))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(refresher)
    app.on_shutdown.append(_close_streams)
    return app


async def _refresh_loop(app: web.Application, refresh_s: float) -> None:
    hub = app[_HUB]
    while True:
        try:
            await _refresh(app[_STATE], hub)
        except Exception:  # a file read mid-write, a bug: logged, and the next second retries
            log.exception("dashboard: reading the run directory failed")
        await asyncio.sleep(refresh_s)


async def _refresh(state: RunState, hub: Hub) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, state.refresh)
    frame = await loop.run_in_executor(None, state.state)
    data = json.dumps(frame)
    phases = json.dumps([(p["status"], p["ended_s"]) for p in frame["phases"]])
    if data != hub.latest:
        # drawn once a second for every browser, not once per browser: a
        # room of them must not take the CPU the mesh under test needs
        hub.view = json.dumps(await loop.run_in_executor(None, _pictures, state, frame))
        hub.latest = data
        hub.publish("state", data)
    if phases != hub.phases:
        hub.phases = phases
        hub.publish("phase", json.dumps(_phase_event(frame)))
    hub.ready.set()


def _phase_event(frame: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": frame["t"],
        "current_phase": frame["current_phase"],
        "phases": [{k: p[k] for k in ("name", "index", "status")} for p in frame["phases"]],
    }


def _t(request: web.Request) -> float | None:
    raw = request.query.get("t")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"t={raw!r}: expected seconds since the run started"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise web.HTTPBadRequest(text=f"t={raw!r}: expected a finite number of seconds")
    return value


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _frame_at(request: web.Request) -> dict[str, Any] | None:
    """The state at `?t=` (read from the run directory), or None for now: the
    hub's latest frame, once the first refresh has made one."""
    t = _t(request)  # a bad `t` is a 400 before any waiting
    await request.app[_HUB].ready.wait()
    if t is None:
        return None
    state = request.app[_STATE]
    frame: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, state.state, t)
    return frame


async def _state(request: web.Request) -> web.Response:
    frame = await _frame_at(request)
    if frame is None:
        return web.Response(text=request.app[_HUB].latest, content_type="application/json")
    return web.json_response(frame)


async def _view(request: web.Request) -> web.Response:
    frame = await _frame_at(request)
    if frame is None:
        return web.Response(text=request.app[_HUB].view, content_type="application/json")
    loop = asyncio.get_running_loop()
    return web.json_response(
        await loop.run_in_executor(None, _pictures, request.app[_STATE], frame)
    )


def _pictures(state: RunState, frame: dict[str, Any]) -> dict[str, Any]:
    """The graph and charts of one state (`frame`), as `/api/view` answers."""
    return {
        "t": frame["t"],
        "graph": graph_fragment(state.graph(frame["t"])),
        "charts": charts_fragment(frame),
    }


async def _events(request: web.Request) -> web.StreamResponse:
    hub = request.app[_HUB]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    await hub.ready.wait()
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=QUEUE)
    hub.clients.add(queue)
    try:
        await response.write(_sse("state", hub.latest))
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event == _CLOSE:
                break
            await response.write(_sse(event, data))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.clients.discard(queue)
    return response


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def serve(
    state: RunState,
    port: int = 0,
    *,
    ready: Callable[[str], Awaitable[None] | None] | None = None,
    refresh_s: float = REFRESH_S,
) -> None:
    """Serve `state` on 127.0.0.1:`port` (0: a free one) until cancelled;
    `ready(url)` is called once it listens. UsageError when the port is taken."""
    runner = web.AppRunner(make_app(state, refresh_s=refresh_s), access_log=None)
    await runner.setup()
    try:
        sock = bind(port)
        site = web.SockSite(runner, sock)
        await site.start()
        url = f"http://{HOST}:{sock.getsockname()[1]}/"
        if ready is not None:
            result = ready(url)
            if asyncio.iscoroutine(result):
                await result
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (loopback only: the dashboard shows a
    run's data to whoever reaches it)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: expected 0 (any free port) to 65535")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"--port {port}: cannot listen on {HOST}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock

"""The sidecar agent and the control plane's file server, without Docker.

The agent runs here as a plain subprocess with a stand-in for Envoy, and
mirrors a proxy's files into another directory: every change arrives by a
rename in the destination, and nothing relies on inotify across a mount.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from meshsim.control.serve import ConfigServer, proxy_token
from meshsim.control.writer import atomic_write
from meshsim.runtime import agent
from meshsim.runtime.agent import safe_relative, write_order

AGENT = Path(agent.__file__)
# Stands in for Envoy: runs until terminated.
FAKE_ENVOY = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]


def test_write_order_puts_what_is_referred_to_first() -> None:
    names = ["bootstrap.json", "lds.json", "rds_outbound.json", "cds.json", "sds/rootca.json"]
    assert write_order(names) == [
        "sds/rootca.json",
        "cds.json",
        "rds_outbound.json",
        "lds.json",
        "bootstrap.json",
    ]


@pytest.mark.parametrize(
    "name,ok",
    [
        ("lds.json", True),
        ("sds/default.json", True),
        ("../other/lds.json", False),
        ("/etc/passwd", False),
        (".lds.json.tmp", False),
        ("sds//x", False),
        ("", False),
    ],
)
def test_safe_relative(name: str, ok: bool) -> None:
    assert safe_relative(name) is ok


async def _get(url: str, token: str) -> tuple[int, dict[str, object]]:
    def call() -> tuple[int, dict[str, object]]:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    return await asyncio.to_thread(call)


async def test_server_long_polls_and_serves_only_changed_files(tmp_path: Path) -> None:
    src = tmp_path / "xds"
    (src / "p1").mkdir(parents=True)
    atomic_write(src / "p1" / "cds.json", "clusters-1")
    atomic_write(src / "p1" / "lds.json", "listeners-1")
    server = ConfigServer(src, ["p1", "p2"], secret=b"s" * 32, interval=0.01)
    port = await server.start("127.0.0.1")
    base = f"http://127.0.0.1:{port}/v1/proxies"
    try:
        token = proxy_token(b"s" * 32, "p1")
        status, body = await _get(f"{base}/p1?after=0", token)
        assert status == 200
        assert body["files"] == {"cds.json": "clusters-1", "lds.json": "listeners-1"}
        gen = int(body["generation"])  # type: ignore[call-overload]

        # a long-poll answers as soon as one file changes, with that file only
        waiting = asyncio.ensure_future(_get(f"{base}/p1?after={gen}&wait=10", token))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        t0 = time.perf_counter()
        atomic_write(src / "p1" / "cds.json", "clusters-2")
        status, body = await waiting
        assert time.perf_counter() - t0 < 1.0
        assert body["files"] == {"cds.json": "clusters-2"}

        # nothing new: an empty answer after the wait
        status, body = await _get(f"{base}/p1?after={body['generation']}&wait=0.1", token)
        assert status == 200 and body["files"] == {}

        # a token is good for its own proxy only; unknown proxies are not served
        assert (await _get(f"{base}/p2?after=0", token))[0] == 403
        assert (await _get(f"{base}/p1?after=0", "nope"))[0] == 403
        assert (await _get(f"{base}/p3?after=0", token))[0] == 404
    finally:
        await server.stop()


def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


async def test_agent_mirrors_files_by_rename_then_follows_changes(tmp_path: Path) -> None:
    src = tmp_path / "xds"
    dest = tmp_path / "container" / "xds" / "p1"
    log = tmp_path / "agent.log"
    server = ConfigServer(src, ["p1"], interval=0.01)
    port = await server.start("127.0.0.1")
    env = {**os.environ, "MESHSIM_AGENT_TOKEN": server.token("p1")}
    proc = subprocess.Popen(
        [sys.executable, str(AGENT), "--control", f"http://127.0.0.1:{port}", "--proxy", "p1",
         "--dir", str(dest), "--log", str(log), "--", *FAKE_ENVOY],
        env=env,
    )  # fmt: skip
    try:
        await asyncio.sleep(0.3)
        # the stand-in Envoy must not start before the bootstrap exists
        assert "starting" not in (_read(log) or "")
        (src / "p1" / "sds").mkdir(parents=True)
        atomic_write(src / "p1" / "sds" / "default.json", "secret-1")
        atomic_write(src / "p1" / "cds.json", "clusters-1")
        atomic_write(src / "p1" / "bootstrap.json", "bootstrap")
        await asyncio.to_thread(_wait_for, lambda: "starting" in (_read(log) or ""))
        assert _read(dest / "cds.json") == "clusters-1"
        assert _read(dest / "sds" / "default.json") == "secret-1"
        assert (dest / "sds" / "default.json").stat().st_mode & 0o077 == 0

        inode = (dest / "cds.json").stat().st_ino
        atomic_write(src / "p1" / "cds.json", "clusters-2")
        await asyncio.to_thread(_wait_for, lambda: _read(dest / "cds.json") == "clusters-2")
        assert (dest / "cds.json").stat().st_ino != inode, "a change must arrive as a rename"
        assert not [p for p in dest.rglob(".*")], "no temporary file is left behind"
        assert proc.poll() is None

        # the control plane going away (meshsim killed) leaves the proxy running
        await server.stop()
        await asyncio.sleep(0.5)
        assert proc.poll() is None
    finally:
        await server.stop()
        proc.terminate()
        code = await asyncio.to_thread(proc.wait, 10)
    assert code == 143  # SIGTERM forwarded to "Envoy", its status passed on


def test_probe_answers_the_health_path_only_and_mirrors_a_down_app() -> None:
    """The agent's probe port (Docker pods): the app's health answer passes
    through; another path is 404; an app that refuses leaves the caller's
    connection closed without an answer, as the app's own port would."""
    import http.client
    import http.server
    import socket
    import threading

    from meshsim.runtime.agent import serve_probe

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/ready" else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    app_port = app.server_address[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]

    def get(port: int, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    probes = [
        serve_probe(0, f"http://127.0.0.1:{app_port}/ready"),
        serve_probe(0, f"http://127.0.0.1:{free}/ready"),  # nothing listens there
        serve_probe(0, f"http://127.0.0.1:{app_port}/", tcp_only=True),
    ]
    try:
        up, down, tcp = (p.server_address[1] for p in probes)
        assert get(up, "/ready") == 200
        assert get(up, "/users/1") == 404  # never a way around the sidecar
        with pytest.raises(http.client.RemoteDisconnected):
            get(down, "/ready")
        assert get(tcp, "/") == 200
    finally:
        for p in [*probes, app]:
            p.shutdown()
            p.server_close()

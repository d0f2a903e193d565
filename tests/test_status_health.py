"""`meshsim status` asks each app for its own service's health path (not the
shop's /healthz), or without one checks its port."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from meshsim.application import Application, AppService
from meshsim.control.plan import build_plan
from meshsim.status import _app_health


class _App(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture
def app_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _plan(health: str | None):  # type: ignore[no-untyped-def]
    app = Application("own", {"prices": AppService("prices", command=("x",), health=health)})
    return build_plan({"prices": {"v1": 1}}, 0, app)


def test_status_asks_the_services_own_health_path(app_port: int) -> None:
    plan = _plan("/ready")
    inst = plan.instances[0]
    assert _app_health(plan, inst, "127.0.0.1", app_port, probe=False) == "ok"
    wrong = replace(plan.app.services["prices"], health="/healthz")
    plan = replace(plan, app=replace(plan.app, services={"prices": wrong}))
    assert _app_health(plan, inst, "127.0.0.1", app_port, probe=False) == "down"


def test_without_a_health_path_status_checks_the_port(app_port: int) -> None:
    plan = _plan(None)
    inst = plan.instances[0]
    assert _app_health(plan, inst, "127.0.0.1", app_port, probe=False) == "ok"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert _app_health(plan, inst, "127.0.0.1", free, probe=False) == "down"

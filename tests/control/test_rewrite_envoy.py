"""VirtualService `rewrite` judged by a real Envoy: the ingress gateway's
compiled configuration runs, and what the upstream receives is checked.

mTLS is DISABLEd mesh-wide so that the gateway speaks plaintext to product's
endpoints, where an echo server stands in for the sidecar and reports the
path and authority it was sent.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import Paths, compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.runtime.local import envoy_binary
from meshsim.scenario.istio import parse_resource
from tests.control.test_security import SHOP, pa

ROUTES = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "shop"},
    "spec": {
        "hosts": ["*"],
        "gateways": ["meshsim-gateway"],
        "http": [
            {
                "match": [{"uri": {"prefix": "/catalog"}}],
                "rewrite": {"uri": "/products", "authority": "product.internal"},
                "route": [{"destination": {"host": "product"}}],
            },
            {
                "match": [{"uri": {"regex": "/v1/items/[0-9]+"}}],
                "rewrite": {
                    "uriRegexRewrite": {"match": "^/v1/items/(.*)$", "rewrite": "/products/\\1"}
                },
                "route": [{"destination": {"host": "product"}}],
            },
            {"route": [{"destination": {"host": "product"}}]},
        ],
    },
}


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"path": self.path, "host": self.headers.get("host")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("rewrite")
    plan = build_plan(SHOP, ingress_port=0)
    servers = [
        ThreadingHTTPServer((inst.host, inst.inbound_port), _Echo)
        for inst in plan.instances
        if inst.service == "product"
    ]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    state = PolicyState.initial()
    state.apply([parse_resource(r) for r in (ROUTES, pa(namespace="istio-system", mode="DISABLE"))])
    cfg = compile_mesh(plan, state, Paths(str(tmp / "xds")))[plan.ingress.name]
    path = tmp / "bootstrap.json"
    path.write_text(json.dumps(static_bootstrap(cfg, admin_port=plan.ingress.admin_port)))
    log = (tmp / "envoy.log").open("w")
    proc = subprocess.Popen(
        [envoy_binary(), "-c", str(path), "--disable-hot-restart", "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{plan.ingress.port}/", timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp / "envoy.log").read_text()) from None
                time.sleep(0.05)
        yield plan.ingress.port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def _seen(port: int, path: str) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        seen: dict[str, str] = json.loads(resp.read())
    return seen


def test_uri_prefix_and_authority_rewrite(gateway: int) -> None:
    assert _seen(gateway, "/catalog/7?x=1") == {
        "path": "/products/7?x=1",
        "host": "product.internal",
    }


def test_uri_regex_rewrite(gateway: int) -> None:
    assert _seen(gateway, "/v1/items/42")["path"] == "/products/42"


def test_no_rewrite_leaves_the_request_alone(gateway: int) -> None:
    seen = _seen(gateway, "/products/3")
    assert seen["path"] == "/products/3" and seen["host"] != "product.internal"

"""A small application of one's own for `meshsim bench`: how fast a mesh of
services declared in a scenario (docs/own-services.md) gets ready.

Two services written with the standard library only (so the bench needs
nothing installed): `quotes` answers GET /quotes/<sku> by calling `prices`
(v1 and v2) through its sidecar with urllib. The scenario is written into the
bench's run directory and started like any other.
"""

from __future__ import annotations

from pathlib import Path

PRICES = """\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"price": 42, "version": os.environ["SERVICE_VERSION"]}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
QUOTES = """\
import json, os, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok"
        else:
            with urllib.request.urlopen("http://prices/prices/1", timeout=5) as r:
                body = r.read()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
SCENARIO = """\
name: bench-own-services
mesh:
  services:
    prices:
      command: [python3, prices.py]
      versions: {v1: {}, v2: {}}
    quotes:
      command: [python3, quotes.py]
      health: /healthz
      calls: [prices]
      expose: true
load: {users: 0}
phases: [{name: ready, duration: 1s}]
"""


def write_own_app(directory: Path) -> Path:
    """Write the two services and their scenario into `directory`; returns the scenario."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prices.py").write_text(PRICES, encoding="utf-8")
    (directory / "quotes.py").write_text(QUOTES, encoding="utf-8")
    scenario = directory / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    return scenario

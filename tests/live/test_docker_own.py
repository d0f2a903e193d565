"""Own services on the Docker runtime, for real: the Node.js example's drill
(canary, then a fault) in its own image; a `command` run in meshsim's app
image from the scenario's directory, calling its peer with a client that
ignores the proxy variables; and an image that cannot be had is exit 3
naming the service, with nothing left behind.

Skips like tests/live/test_docker.py without an engine. The example's image
is built here (Debian's nodejs on the base image: the first build needs
Debian's mirror, as the base image's debootstrap does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from meshsim.errors import MeshError
from tests.live.helpers import meshsim
from tests.live.test_docker import engine, leftovers, up

pytestmark = [pytest.mark.slow, pytest.mark.docker]
__all__ = ["engine"]  # the module-scoped fixture, shared with test_docker.py

REPO = Path(__file__).parents[2]
NODE_EXAMPLE = REPO / "examples" / "node-storefront"
NODE_IMAGE = "meshsim-example-node:1"


@pytest.fixture(scope="module")
def node_image(engine: Any) -> str:
    """The example's image, built from its Dockerfile every session: Docker's
    cache makes that a second or two when nothing changed, and a changed
    example is never run from a stale image."""
    import docker.errors

    from meshsim.runtime.images import default_base_image

    try:
        engine.images.build(
            path=str(NODE_EXAMPLE),
            tag=NODE_IMAGE,
            buildargs={"BASE": default_base_image(engine)},
            labels={"meshsim.example": "node-storefront"},
            rm=True,
            forcerm=True,
        )
    except docker.errors.DockerException as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"could not build the Node example's image: {exc}")
    return NODE_IMAGE


def _report(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "report.json").read_text()))


def test_node_example_canary_then_fault_on_docker(
    engine: Any, node_image: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / f"own-{tmp_path.name[-24:]}"  # a run id no other test uses
    # 50 s of phases at 0.6: the canary's 12 s give ~850 calls (887 in CI, 843
    # at load 2), where 20% ± 8% is 5.8 SD and the fault's 30% ± 10% 6.4 SD;
    # at a third of that rate (~280) they would be 3.3 and 3.7 SD (1e-3, 2e-4)
    result = up(NODE_EXAMPLE / "scenario.yaml", run_dir, scale=0.6)
    assert result.returncode == 0, result.stdout[-4000:]
    report = _report(run_dir)
    assert report["runtime"] == "docker" and report["verdict"] == "pass"
    held = {
        (p["name"], e["expr"]): e["passed"] for p in report["phases"] for e in p["expectations"]
    }
    assert held and all(held.values()), held
    assert ("canary-20", "version(stock:v2).share = 20% ± 8%") in held
    assert ("stock-fault", "edge(storefront->stock).error_rate = 30% ± 10%") in held
    # Node's http ignores HTTP_PROXY: the edge exists only through capture
    canary = next(p for p in report["phases"] if p["name"] == "canary-20")
    calls = [e for e in canary["edges"] if e["source"] == "storefront"]
    assert {e["destination"] for e in calls} == {"stock"}
    assert sum(e["requests"] for e in calls) > 100
    # the image's output reached the app's log, copied from Docker
    assert (
        "storefront listening on 8080" in (run_dir / "logs" / "storefront-v1-0.app.log").read_text()
    )
    assert leftovers(engine) == []


FRONT = """\
import http.client, http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            body, status = b"ok", 200
        else:  # http.client ignores HTTP_PROXY: the pod's capture rules mesh this call
            conn = http.client.HTTPConnection("back", 80, timeout=5)
            conn.request("GET", "/value")
            resp = conn.getresponse()
            body, status = resp.read(), resp.status
            conn.close()
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""

BACK = """\
import http.server, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["ANSWER"].encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("back listening on", sys.argv[1], flush=True)
# loopback only, as for the local runtime: the sidecar reaches it inside the pod
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

COMMANDS = """\
name: commands-on-docker
mesh:
  services:
    front:
      command: ["python3", "front.py"]
      calls: [back]
      expose: true
    back:
      command: ["python3", "back.py", "{port}"]
      health: null
      env: {ANSWER: "42"}
load:
  users: 4
  spawn_rate: 4
  requests: [{name: value, path: /value}]
phases:
  - name: steady
    duration: 6s
    expect: ["error_rate < 1%", "edge(front->back).error_rate < 1%"]
"""


def test_commands_run_in_the_app_image_from_the_scenario_directory(
    engine: Any, tmp_path: Path
) -> None:
    (tmp_path / "front.py").write_text(FRONT)
    (tmp_path / "back.py").write_text(BACK)
    (tmp_path / "s.yaml").write_text(COMMANDS)
    run_dir = tmp_path / f"own-{tmp_path.name[-24:]}"  # a run id no other test uses
    result = up(tmp_path / "s.yaml", run_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    steady = _report(run_dir)["phases"][0]
    assert steady["requests"] > 20 and steady["error_rate"] == 0
    calls = [e for e in steady["edges"] if e["source"] == "front"]
    assert {e["destination"] for e in calls} == {"back"}
    assert sum(e["requests"] for e in calls) > 20
    assert "back listening on 8080" in (run_dir / "logs" / "back-v1-0.app.log").read_text()
    assert leftovers(engine) == []


MISSING = """\
name: missing-image
mesh:
  services:
    ghost:
      image: 127.0.0.1:1/meshsim-no-such-image:0
      expose: true
load:
  users: 1
  requests: [{name: root, path: /}]
phases:
  - {name: a, duration: 2s}
"""


def test_an_image_that_cannot_be_had_is_exit_3_naming_the_service(
    engine: Any, tmp_path: Path
) -> None:
    (tmp_path / "s.yaml").write_text(MISSING)
    result = meshsim(
        "up", str(tmp_path / "s.yaml"), "--runtime", "docker", "--ingress-port", "0",
        "--run-dir", str(tmp_path / "own-missing-image"),
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == MeshError.exit_code, out
    assert "ghost" in out and "127.0.0.1:1/meshsim-no-such-image:0" in out
    assert "Traceback" not in out
    assert leftovers(engine) == []

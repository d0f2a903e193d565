"""The local runtime's trust boundary, as docs/security.md's table states it.

Under mesh-wide STRICT a plaintext call to a sidecar's inbound port is
refused, yet the app's own port answers any local process (bypassing the
sidecar), `meshsim status` says so, and any local process can stop a
sidecar through its admin API. These are facts of the local runtime that the
docs promise; the test fails when one of them changes without the docs.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path

import pytest

from tests.live.helpers import alive, mesh_pids, meshsim, wait_for

pytestmark = pytest.mark.slow

STRICT = """
name: boundary
load: {users: 1, spawn_rate: 1}
phases:
  - name: strict
    duration: 2s
    apply:
      - apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: default, namespace: istio-system}
        spec: {mtls: {mode: STRICT}}
"""


def _get(port: int, path: str = "/products", method: str = "GET") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_local_runtime_app_port_bypasses_strict_and_admin_is_open(tmp_path: Path) -> None:
    scenario = tmp_path / "boundary.yaml"
    scenario.write_text(STRICT)
    run_dir = tmp_path / "run"
    try:
        up = meshsim(
            "up", str(scenario), "--keep", "--ingress-port", "0", "--run-dir", str(run_dir)
        )
        assert up.returncode == 0, up.stdout + up.stderr
        plan = json.loads((run_dir / "plan.json").read_text())
        product = next(i for i in plan["instances"] if i["name"] == "product-v1-0")

        # STRICT holds at the sidecar: plaintext to its inbound port is refused
        with pytest.raises((OSError, http.client.HTTPException)):
            _get(product["inbound_port"])
        # ... and the app's own port answers anyway: the sidecar is walked around
        assert _get(product["app_port"]) == 200

        status = meshsim("status")
        assert "bypassing the sidecar" in status.stdout, status.stdout
        notes = json.loads(meshsim("status", "--json").stdout)[0]["notes"]
        assert any("product-v1-0" in n for n in notes)

        # any local process may stop a sidecar through its admin API
        pids_before = mesh_pids(Path(os.environ["MESHSIM_HOME"]))
        url = f"http://127.0.0.1:{product['admin_port']}/quitquitquit"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(urllib.request.Request(url, method="POST"), timeout=5) as resp:
            assert resp.status == 200
        wait_for(lambda: len(alive(pids_before)) == len(pids_before) - 1, 10, "the sidecar to exit")
    finally:
        meshsim("down")

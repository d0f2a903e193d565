"""Zero trust on a laptop, live: real Envoys, real certificates, real clients.

One test per Done-when item of issue 4, plus Istio's authorization order
checked against Envoy itself. Figures are printed (`pytest -n0 -s`) for the notes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from meshsim.control.ca import CertificateAuthority, workload_identity
from meshsim.control.plan import build_plan
from meshsim.load.records import read_records
from meshsim.mesh import Mesh
from meshsim.request_as import request_as
from meshsim.runner import RunOptions, run
from meshsim.scenario.istio import parse_resource
from tests.live.helpers import meshsim, phase_started, running_meshsim, wait_for

pytestmark = pytest.mark.slow

SHOP = {"user": {"v1": 1}, "product": {"v1": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
ORDER = {"user_id": 3, "items": [{"product_id": 2, "quantity": 1}]}
ORDER_PRINCIPAL = "cluster.local/ns/default/sa/order"
STRICT = {
    "apiVersion": "security.istio.io/v1",
    "kind": "PeerAuthentication",
    "metadata": {"name": "default", "namespace": "istio-system"},
    "spec": {"mtls": {"mode": "STRICT"}},
}
PRODUCT_READERS = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "product-readers"},
    "spec": {
        "selector": {"matchLabels": {"app": "product"}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"principals": [ORDER_PRINCIPAL]}}],
                "to": [{"operation": {"methods": ["GET"]}}],
            }
        ],
    },
}


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    m = Mesh(build_plan(SHOP, ingress_port=0), tmp_path / "run")
    try:
        await m.start()
        yield m
    finally:
        await m.stop()


async def apply(mesh: Mesh, *resources: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
    mesh.control.state.apply([parse_resource(r) for r in resources])
    mesh.control.state.remove(list(remove))
    await mesh.control.push()


async def stats(mesh: Mesh, proxy: str, regex: str) -> dict[str, int]:
    session = await mesh.control.session()
    return await mesh.control.admin(proxy, session).stats(regex)


def raw_http(port: int, wrap: ssl.SSLContext | None = None) -> bytes:
    """One GET /products to 127.0.0.1:port, plaintext or over TLS; what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if wrap is None:
            return _exchange(sock)
        with wrap.wrap_socket(sock) as tls:
            return _exchange(tls)


def _exchange(conn: socket.socket) -> bytes:
    conn.sendall(b"GET /products HTTP/1.1\r\nHost: product\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def client_context(cert_pem: bytes, key_pem: bytes, folder: Path, root: bytes | None) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    (folder / "key.pem").chmod(0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # an SVID names a SPIFFE URI, not a host
    if root is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=root.decode())
    ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return ctx


# ------------------------------------------------------------------ STRICT


async def test_strict_refuses_plaintext_and_foreign_certs_and_mesh_traffic_is_tls(
    mesh: Mesh, tmp_path: Path
) -> None:
    product = mesh.plan.of_service("product")[0]
    port = product.inbound_port
    listener = f"listener.127.0.0.1_{port}."
    # PERMISSIVE (no policy): the same plaintext request is served
    assert (await asyncio.to_thread(raw_http, port)).startswith(b"HTTP/1.1 200")

    await apply(mesh, STRICT)
    refused = await asyncio.to_thread(_plaintext_outcome, port)
    assert refused in ("closed", "reset"), refused

    other = CertificateAuthority.generate().issue(workload_identity("user"), 60)
    foreign = client_context(other.cert_pem, other.key_pem, tmp_path / "foreign", None)
    outcome = await asyncio.to_thread(_tls_outcome, port, foreign)
    assert not outcome.startswith("HTTP"), outcome
    print(f"\nSTRICT: plaintext → {refused}; certificate from another CA → {outcome}")

    # control: a certificate from the mesh's own CA gets in, over mTLS
    ours = mesh.certs.ca.issue(workload_identity("user"), 60)
    own = client_context(ours.cert_pem, ours.key_pem, tmp_path / "own", mesh.certs.ca.root_pem)
    assert (await _tls(own, port)).startswith("HTTP/1.1 200")

    # mesh traffic: an order crosses ingress → order → product/user/shipping, all mTLS
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            async with s.post(mesh.ingress_url + "/orders", json=ORDER) as r:
                assert r.status == 201
    order_side = await stats(mesh, "order-v1-0", r"cluster\.outbound_80__\w+\.ssl\.handshake$")
    product_side = await stats(
        mesh, product.name, r"(no_filter_chain_match|ssl\.handshake|ssl\.fail_verify_error)$"
    )
    gateway = await stats(mesh, "istio-ingressgateway", r"cluster\.\w+\.ssl\.handshake$")
    print("\norder sidecar (client side):", order_side)
    print(
        "product sidecar (server side):", {k: v for k, v in product_side.items() if listener in k}
    )
    print("ingress gateway (client side):", gateway)
    assert product_side[listener + "no_filter_chain_match"] >= 1  # the plaintext attempt
    assert product_side[listener + "ssl.fail_verify_error"] >= 1  # the foreign certificate
    assert product_side[listener + "ssl.handshake"] >= 2  # order's sidecar and our own client
    # connections are pooled: the handshakes may predate the switch, and STRICT kept them
    assert order_side["cluster.outbound_80__product.ssl.handshake"] >= 1
    assert gateway["cluster.outbound_80__order.ssl.handshake"] >= 1
    # and the callee saw who called, from the certificate. Envoy flushes its
    # access logs every second (--file-flush-interval-msec): wait for the
    # lines rather than sleep 1.2 s, which left 0.2 s for a late flush
    order_over_tls = ("spiffe://cluster.local/ns/default/sa/order", "TLSv1.2")
    log = mesh.run_dir / "logs" / f"{product.name}.inbound.jsonl"
    seen: set[tuple[str, str]] = set()
    deadline = asyncio.get_running_loop().time() + 10
    while order_over_tls not in seen and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        lines = log.read_text().splitlines() if log.exists() else []
        seen = {(json.loads(line)["peer"], json.loads(line)["tls"]) for line in lines}
    assert order_over_tls in seen, seen


def _plaintext_outcome(port: int) -> str:
    try:
        data = raw_http(port)
    except ConnectionResetError:
        return "reset"
    return "closed" if not data else data.decode(errors="replace")[:40]


def _tls_outcome(port: int, ctx: ssl.SSLContext) -> str:
    try:
        data = raw_http(port, ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        return f"refused: {exc!r}"
    return data.decode(errors="replace")[:40] or "closed"


async def _tls(ctx: ssl.SSLContext, port: int) -> str:
    return (await asyncio.to_thread(raw_http, port, ctx)).decode(errors="replace")


# ---------------------------------------------------- PERMISSIVE → STRICT, live


def test_permissive_to_strict_under_load_cuts_off_only_the_legacy_caller(tmp_path: Path) -> None:
    scenario = tmp_path / "switch.yaml"
    scenario.write_text(
        """
name: switch
mesh:
  legacy_clients: [{name: legacy, target: product, rps: 10, path: /products}]
load: {users: 10, spawn_rate: 20}
phases:
  - {name: permissive, duration: 6s}
  - name: strict
    duration: 8s
    apply:
      - apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: default, namespace: istio-system}
        spec: {mtls: {mode: STRICT}}
"""
    )
    run_dir = tmp_path / "run"
    result = run(scenario, RunOptions(run_dir=run_dir, ingress_port=0))
    assert result.status == "completed", result.error
    events = [json.loads(line) for line in (run_dir / "phases.jsonl").read_text().splitlines()]
    start = {e["phase"]: e["t"] for e in events if e["event"] == "phase_start"}
    end = {e["phase"]: e["t"] for e in events if e["event"] == "phase_end"}
    switched = next(e["t"] for e in events if e["event"] == "policy")  # push confirmed
    records = [r for r in read_records(run_dir / "records") if start["permissive"] <= r.t]
    records = [r for r in records if r.t <= end["strict"]]
    shoppers = [r for r in records if r.journey != "legacy"]
    legacy = [r for r in records if r.journey == "legacy"]
    before = [r for r in legacy if r.t < start["strict"]]
    after = [r for r in legacy if r.t >= switched]
    report = json.loads((run_dir / "report.json").read_text())
    edges = [e for p in report["phases"] for e in p["edges"]]
    print(
        f"\nshopper requests {len(shoppers)}, failed {sum(not r.ok for r in shoppers)}; "
        f"edges {sum(e['requests'] for e in edges)} calls, {sum(e['errors'] for e in edges)} "
        f"errors; legacy before switch {len(before)} ok {sum(r.ok for r in before)}; "
        f"after switch {len(after)} failed {sum(not r.ok for r in after)}; "
        f"switch took {(switched - start['strict']) * 1000:.0f} ms"
    )
    assert len(shoppers) > 200
    assert [r for r in shoppers if not r.ok] == []
    assert edges and sum(e["errors"] for e in edges) == 0
    assert before and all(r.ok for r in before)
    assert len(after) >= 50 and not any(r.ok for r in after)
    journeys = {p["name"]: p["journeys"] for p in report["phases"]}
    assert journeys["strict"]["legacy"]["error_rate"] > 0.9
    assert journeys["permissive"]["legacy"]["error_rate"] == 0


# ------------------------------------------------------ AuthorizationPolicy


def test_allow_for_order_principal_200_for_order_403_for_user_counted(tmp_path: Path) -> None:
    scenario = tmp_path / "lockdown.yaml"
    scenario.write_text(
        "name: lockdown\nload: {users: 6, spawn_rate: 20, journeys: {place_order: 1, browse: 1}}\n"
        "phases:\n  - {name: open, duration: 3s}\n"
        f"  - name: lockdown\n    duration: 300s\n    apply: [{json.dumps(PRODUCT_READERS)}]\n"
    )
    # The lockdown lasts until the six `exec`s are done (each a fresh Python
    # process: seconds apiece on a busy machine), then SIGINT ends the run; the
    # report of the interrupted phase is still written.
    run_dir = tmp_path / "run"
    with running_meshsim(
        "up", str(scenario), "--ingress-port", "0", "--run-dir", str(run_dir)
    ) as proc:
        wait_for(lambda: _policy_applied(run_dir), 60, "the lockdown policy")
        url = "http://product/products/2/stock"
        as_order = [meshsim("exec", "--as", "order", "--", "GET", url) for _ in range(3)]
        as_user = [meshsim("exec", "--as", "user", "--", "GET", url) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, out
    print("\n" + as_order[0].stdout + "\n" + as_user[0].stdout)
    assert [r.returncode for r in as_order] == [0, 0, 0], as_order[0].stdout + as_order[0].stderr
    assert all("HTTP 200" in r.stdout for r in as_order)
    assert [r.returncode for r in as_user] == [1, 1, 1], as_user[0].stdout + as_user[0].stderr
    assert all("HTTP 403" in r.stdout and "RBAC: access denied" in r.stdout for r in as_user)
    report = json.loads((run_dir / "report.json").read_text())
    lockdown = next(p for p in report["phases"] if p["name"] == "lockdown")
    edges = {(e["source"], e["destination"]): e for e in lockdown["edges"]}
    print("report.json edges (source→destination: requests, denied):")
    for (src, dst), e in sorted(edges.items()):
        print(f"  {src}→{dst}: {e['requests']}, {e['denied']}")
    order_edge, user_edge = edges[("order", "product")], edges[("user", "product")]
    assert order_edge["requests"] > 10 and order_edge["denied"] == 0
    assert user_edge["requests"] == 3 and user_edge["denied"] == 3
    assert edges[("istio-ingressgateway", "product")]["denied"] > 0  # browse is locked out
    authz = json.loads((run_dir / "authz.json").read_text())["phases"]["lockdown"]
    by_source = {(a["source"], a["destination"]): a for a in authz}
    # The two counts come from different places: edges from the caller's Envoy
    # counters, snapshotted a few ms after each phase boundary; authz from the
    # callee's access log, split at the boundary by timestamp. Requests inside
    # that skew (about rps × snapshot delay; 3 of 324 were seen on a busy CI
    # machine) land in different phases, so they agree to within a few percent.
    allowed = by_source[("order", "product")]["allowed"]
    assert abs(allowed - order_edge["requests"]) <= max(3, 0.05 * order_edge["requests"])
    assert by_source[("order", "product")]["denied"] == 0
    assert by_source[("user", "product")]["denied_by"] == {"none": 3}
    assert "lockdown" in out


def _policy_applied(run_dir: Path) -> bool:
    path = run_dir / "phases.jsonl"
    if not phase_started(run_dir, "lockdown"):
        return False
    return any(json.loads(line)["event"] == "policy" for line in path.read_text().splitlines())


async def test_istio_authorization_order_in_envoy(mesh: Mesh) -> None:
    """DENY before ALLOW; no ALLOW policy → allow; an ALLOW policy → must match
    one; an ALLOW policy without rules denies all; a `{}` rule allows all;
    `when` on a header; AUDIT never denies."""

    async def status(who: str, path: str, headers: dict[str, str] | None = None) -> int:
        r = await asyncio.to_thread(
            request_as, who, "GET", f"http://product{path}", headers=headers, plan=mesh.plan
        )
        return r.status

    selector = {"matchLabels": {"app": "product"}}

    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            **PRODUCT_READERS,
            "metadata": {"name": name},
            "spec": {"selector": selector, **spec},
        }

    assert await status("user", "/products/1") == 200  # no policy: allowed
    await apply(mesh, PRODUCT_READERS)
    assert (await status("order", "/products/1"), await status("user", "/products/1")) == (200, 403)
    deny = policy(
        "deny-two",
        {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/products/2*"]}}]}]},
    )
    await apply(mesh, deny)
    assert (await status("order", "/products/1"), await status("order", "/products/2")) == (
        200,
        403,
    )
    await apply(mesh, policy("allow-nothing", {}), remove=("AuthorizationPolicy/product-readers",))
    assert await status("order", "/products/1") == 403
    await apply(mesh, policy("allow-nothing", {"rules": [{}]}))
    assert await status("user", "/products/1") == 200
    header_deny = policy(
        "deny-two",
        {
            "action": "DENY",
            "rules": [{"when": [{"key": "request.headers[x-block]", "values": ["y*"]}]}],
        },
    )
    await apply(mesh, header_deny)
    assert await status("user", "/products/1", {"x-block": "yes"}) == 403
    assert await status("user", "/products/1", {"x-block": "no"}) == 200
    await apply(mesh, policy("audit", {"action": "AUDIT", "rules": [{}]}))
    assert await status("user", "/products/1") == 200
    counters = await stats(mesh, "product-v1-0", r"http\.inbound_0\.0\.0\.0_80\.rbac\.")
    print("\nproduct RBAC counters:", counters)
    assert counters["http.inbound_0.0.0.0_80.rbac.deny.denied"] >= 2
    assert counters["http.inbound_0.0.0.0_80.rbac.allow.denied"] >= 2
    # AUDIT (Envoy's LOG action) counts what it saw and never denies
    assert counters["http.inbound_0.0.0.0_80.rbac.audit.allowed"] >= 1
    assert counters["http.inbound_0.0.0.0_80.rbac.audit.denied"] == 0


# ------------------------------------------------------------ rotation


def test_30s_certificates_rotate_under_load_without_a_failed_request(tmp_path: Path) -> None:
    # Each certificate is renewed when half its 30 s have passed, counted from
    # its issue before Envoy starts, so before the phase: the second renewal
    # comes at most 30 s into the phase, 8 s before its end (the third, which
    # 50 s also saw, proved nothing more).
    scenario = tmp_path / "rotation.yaml"
    scenario.write_text(
        "name: rotation\nmesh: {cert_ttl: 30s}\nload: {users: 8, spawn_rate: 20}\n"
        "phases: [{name: steady, duration: 38s, expect: ['failures = 0']}]\n"
    )
    run_dir = tmp_path / "run"
    console = tmp_path / "console.txt"
    with console.open("w") as fh:  # a file, not a pipe: nobody reads it during the run
        proc = subprocess.Popen(
            [sys.executable, "-m", "meshsim.cli", "up", str(scenario), "--ingress-port", "0",
             "--run-dir", str(run_dir)],
            stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    served: dict[str, set[str]] = {}  # proxy → serial numbers Envoy presented
    try:
        wait_for(lambda: phase_started(run_dir, "steady"), 60, "the phase to start")
        plan = json.loads((run_dir / "plan.json").read_text())
        admins = {i["name"]: i["admin_port"] for i in plan["instances"]}
        admins[plan["ingress"]["name"]] = plan["ingress"]["admin_port"]
        while proc.poll() is None:
            for proxy, port in admins.items():
                for serial in _envoy_serials(port):
                    served.setdefault(proxy, set()).add(serial)
            time.sleep(2)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    assert proc.returncode == 0, console.read_text()
    report = json.loads((run_dir / "report.json").read_text())
    steady = report["phases"][0]
    events = [json.loads(line) for line in (run_dir / "certs.jsonl").read_text().splitlines()]
    rotations: dict[str, int] = {}
    for e in events:
        rotations[e["proxy"]] = rotations.get(e["proxy"], 0) + (e["event"] == "rotate")
    print(
        f"\n{steady['requests']} requests, {steady['failures']} failed; rotations per proxy "
        f"{rotations}; distinct certificates each Envoy served "
        f"{ {p: len(s) for p, s in served.items()} }"
    )
    assert steady["requests"] > 500 and steady["failures"] == 0
    assert all(n >= 2 for n in rotations.values()) and len(rotations) == 5
    assert all(len(s) >= 3 for s in served.values()) and len(served) == 5
    assert sum(e["errors"] for e in steady["edges"]) == 0


def _envoy_serials(admin_port: int) -> set[str]:
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{admin_port}/certs", timeout=2) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError):
        return set()
    return {
        c["serial_number"]
        for entry in data.get("certificates", [])
        for c in entry.get("cert_chain", [])
    }

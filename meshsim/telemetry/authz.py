"""Who called whom, and who was let in: authorization counts per caller → callee.

Every sidecar's inbound listener writes an access log line per request
(`logs/<instance>.inbound.jsonl`, see `meshsim.control.security`) with the
caller's principal, taken from its certificate, and the response code
details, which name the RBAC policy when the RBAC filter denied the request.
`authz_summary` splits these lines by phase and counts, per caller and
callee, the requests allowed and denied; `write_authz` puts the result in
the run directory as `authz.json`:

    {"phases": {"lockdown": [
        {"source": "order", "source_principal": "spiffe://cluster.local/ns/default/sa/order",
         "destination": "product", "destination_version": "v1", "requests": 120,
         "allowed": 120, "denied": 0, "plaintext": 0, "denied_by": {}},
        {"source": "user", "source_principal": "spiffe://cluster.local/ns/default/sa/user",
         "destination": "product", "destination_version": "v1", "requests": 3,
         "allowed": 0, "denied": 3, "plaintext": 0, "denied_by": {"none": 3}}]}}

`source` is the caller's service (`istio-ingressgateway` for the ingress), or
`plaintext` when the request came without mTLS (a legacy client, or any
caller of a workload in DISABLE mode): without a certificate nobody knows
who it was. `denied_by` names the RBAC policy that denied (`none`: an ALLOW
policy was in force and none matched).

When the run has `edges.json` (the callers' view, `meshsim.telemetry.recorder`),
`write_authz` also adds `denied` and `denied_by` to each of its edges, so that
report.json shows them per caller → callee beside the requests.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshsim import rundata
from meshsim.control.ca import INGRESS_IDENTITY
from meshsim.control.plan import INGRESS_NAME
from meshsim.control.writer import atomic_write
from meshsim.rundir import RunDir
from meshsim.telemetry.runfiles import read_plan
from meshsim.timeline import phase_windows, settled_window

PLAINTEXT = "plaintext"
INGRESS = INGRESS_NAME
_DENIED = re.compile(r"^rbac_access_denied_matched_policy\[(.*)\]$")
_SERVICE_ACCOUNT = re.compile(r"^spiffe://[^/]+/ns/[^/]+/sa/(.+)$")


@dataclass(frozen=True)
class InboundRequest:
    t: float
    source: str
    principal: str | None
    destination: str
    destination_version: str
    denied_by: str | None  # the RBAC policy that denied it; None when allowed
    plaintext: bool


def caller(principal: str | None, services: dict[str, str] | None = None) -> str:
    """A principal as a caller's name: the service whose identity it is (in
    `services`, identity → service), else the service account, `ingress`, or
    `plaintext`."""
    if not principal or principal == "-":
        return PLAINTEXT
    if principal == INGRESS_IDENTITY:
        return INGRESS
    if services and principal in services:
        return services[principal]
    m = _SERVICE_ACCOUNT.match(principal)
    return m.group(1) if m else principal


def _service_version(instance: str) -> tuple[str, str]:
    # product-v1-0 → (product, v1): instance names are <service>-<version>-<index>
    service, version, _ = instance.rsplit("-", 2)
    return service, version


def read_inbound_logs(logs_dir: Path) -> list[InboundRequest]:
    # A service's account may not be its name (Bookinfo's productpage runs as
    # bookinfo-productpage): name callers by service, as edges.json does.
    plan = read_plan(logs_dir.parent)
    services = {svc.identity: name for name, svc in plan.app.services.items()} if plan else {}
    out = []
    for path, proxy, direction in RunDir(logs_dir.parent).access_logs():
        if direction != "inbound":
            continue
        destination, version = _service_version(proxy)
        for line in rundata.iter_lines(path):  # plain, compressed or both
            try:
                raw = json.loads(line.decode("utf-8", errors="replace"))
                t = float(raw["t"])
            except (ValueError, KeyError, TypeError):
                continue  # a partial last line of a killed Envoy
            peer = raw.get("peer")
            principal = peer if isinstance(peer, str) and peer not in ("", "-") else None
            details = str(raw.get("details") or "")
            denied = _DENIED.match(details)
            tls = raw.get("tls")
            out.append(
                InboundRequest(
                    t=t,
                    source=caller(principal, services),
                    principal=principal,
                    destination=destination,
                    destination_version=version,
                    denied_by=denied.group(1) if denied else None,
                    plaintext=not tls or tls == "-",
                )
            )
    return out


def authz_summary(run_dir: Path) -> dict[str, Any]:
    """Allowed and denied requests per phase, caller and callee (see the module
    doc); `settled` counts, for each phase with a settle, from its settle point
    on (where its settled edges start)."""
    windows = phase_windows(run_dir)
    requests = read_inbound_logs(RunDir(run_dir).logs)
    phases = {w.name: _counts(requests, w.start, w.end) for w in windows}
    settled = {}
    for window in windows:
        part = settled_window(window)
        if part is not None and part.start is not None:
            settled[window.name] = _counts(requests, part.start, part.end)
    return {"phases": phases, "settled": settled}


def _counts(requests: list[InboundRequest], start: float, end: float) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in requests:
        if not start <= r.t < end:
            continue
        key = (r.source, r.destination, r.destination_version)
        entry = counts.setdefault(
            key,
            {
                "source": r.source,
                "source_principal": r.principal,
                "destination": r.destination,
                "destination_version": r.destination_version,
                "requests": 0,
                "allowed": 0,
                "denied": 0,
                "plaintext": 0,
                "denied_by": defaultdict(int),
            },
        )
        entry["requests"] += 1
        entry["plaintext"] += int(r.plaintext)
        if r.denied_by is None:
            entry["allowed"] += 1
        else:
            entry["denied"] += 1
            entry["denied_by"][r.denied_by] += 1
    return [{**e, "denied_by": dict(e["denied_by"])} for _, e in sorted(counts.items())]


def merge_into_edges(edges: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """edges.json's data with `denied`/`denied_by` added to each edge (a new
    dict), in its `phases` and, from each settle point on, in its `settled`.

    Each authz entry goes to one edge of the same caller and callee: the one
    for its destination version if there is one, else the one for the
    service as a whole.
    """
    out: dict[str, Any] = json.loads(json.dumps(edges))
    for key in ("phases", "settled"):  # whole phases, and from their settle points on
        for phase, entries in summary.get(key, {}).items():
            phase_edges = out.get(key, {}).get(phase)
            if isinstance(phase_edges, list):
                _merge_phase(phase_edges, entries)
    return out


def _merge_phase(phase_edges: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """One phase's authz entries into its edges (`denied`, `denied_by`)."""
    for edge in phase_edges:  # set, not added to: merging twice changes nothing
        edge["denied"] = 0
        edge["denied_by"] = {}
    for entry in entries:
        if not entry["denied"]:
            continue
        pair = [
            e
            for e in phase_edges
            if e.get("source") == entry["source"] and e.get("destination") == entry["destination"]
        ]
        exact = [e for e in pair if e.get("destination_version") == entry["destination_version"]]
        whole = [e for e in pair if e.get("destination_version") is None]
        target = next(iter(exact or whole or pair), None)
        if target is None:
            continue
        target["denied"] += entry["denied"]
        for policy, n in entry["denied_by"].items():
            target["denied_by"][policy] = target["denied_by"].get(policy, 0) + n


def write_authz(run_dir: Path) -> Path:
    """Write `authz.json` in the run directory (and merge it into edges.json)."""
    summary = authz_summary(run_dir)
    path = RunDir(run_dir).authz
    atomic_write(path, json.dumps(summary, indent=1) + "\n")
    edges_path = RunDir(run_dir).edges
    if edges_path.is_file():
        try:
            edges = json.loads(edges_path.read_text(encoding="utf-8"))
        except ValueError:
            return path
        if isinstance(edges, dict):
            atomic_write(edges_path, json.dumps(merge_into_edges(edges, summary), indent=1))
    return path

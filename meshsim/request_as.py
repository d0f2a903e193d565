"""One request as a workload of a running mesh: what `meshsim exec --as` does.

The request goes to the outbound listener of an instance's sidecar, exactly
as that instance's app sends its own calls (an HTTP proxy request for
`http://<service>/...`). The sidecar routes it and, when the destination
accepts mTLS, presents the instance's certificate, so the callee sees the
workload's identity (`spiffe://cluster.local/ns/default/sa/<service>`) and
its AuthorizationPolicies judge the request as they would the app's own.

>>> result = request_as("user", "GET", "http://product/products")  # doctest: +SKIP
>>> result.status, result.headers.get("content-type")  # doctest: +SKIP
(403, 'text/plain')
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from meshsim.control.plan import Instance, MeshPlan
from meshsim.errors import MeshError, UsageError
from meshsim.rundir import RunDir
from meshsim.runtime.registry import all_meshes

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Response headers worth showing: who answered, through what, and why not.
HEADERS_OF_INTEREST = (
    "content-type",
    "x-served-by",
    "x-version",
    "x-upstreams",
    "server",
    "x-envoy-upstream-service-time",
)


@dataclass
class ExecResult:
    instance: str  # the instance whose sidecar sent the request
    identity: str  # its SPIFFE ID
    method: str
    url: str
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def interesting_headers(self) -> list[tuple[str, str]]:
        return [(h, self.headers[h]) for h in HEADERS_OF_INTEREST if h in self.headers]


def running_plan(run_dir: Path | None = None) -> MeshPlan:
    """The plan of `run_dir`, or of the most recently started running mesh."""
    if run_dir is None:
        meshes = sorted(all_meshes(), key=lambda m: m.started_at)
        if not meshes:
            raise UsageError(
                "no mesh is running; start one with `meshsim up SCENARIO --keep` "
                "(or pass --run-dir)"
            )
        run_dir = Path(meshes[-1].run_dir)
    try:
        return MeshPlan.from_dict(json.loads(RunDir(run_dir).plan.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{run_dir}: cannot read the mesh plan (plan.json): {exc}") from exc


def pick_instance(plan: MeshPlan, who: str) -> Instance:
    """The first instance `who` names: `service`, `service:version` or an instance."""
    found = plan.select(who)
    if not found:
        services = ", ".join(sorted({i.service for i in plan.instances}))
        raise UsageError(
            f"--as {who}: not a workload of this mesh; expected a service ({services}), "
            "service:version or an instance name"
        )
    return found[0]


def request_as(
    who: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    plan: MeshPlan | None = None,
    run_dir: Path | None = None,
    timeout: float = 10.0,
) -> ExecResult:
    """Send one request through the sidecar of an instance of `who`."""
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"{method}: not an HTTP method; expected one of {', '.join(METHODS)}")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(
            f"{url}: expected an http:// URL naming a service, e.g. http://product/products "
            "(the sidecar adds mTLS itself)"
        )
    plan = plan or running_plan(run_dir)
    inst = pick_instance(plan, who)
    host, port = inst.outbound_address  # published on 127.0.0.1 under Docker
    proxy = f"http://{host}:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    start = time.perf_counter()
    result = ExecResult(inst.name, plan.app.identity_of(inst.service), method, url, 0, "")
    try:
        with opener.open(request, timeout=timeout) as resp:
            result.status, result.reason, result.body = resp.status, resp.reason, resp.read()
            result.headers = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        result.status, result.reason, result.body = exc.code, str(exc.reason), exc.read()
        result.headers = {k.lower(): v for k, v in exc.headers.items()}
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MeshError(
            f"the sidecar of {inst.name} at {proxy} did not answer ({reason}); "
            "is the mesh still running? (`meshsim status`)",
            component=f"{inst.name} sidecar",
        ) from exc
    result.elapsed_s = time.perf_counter() - start
    return result

"""The proxies' JSON access logs, read back and filtered. Pure (reads files).

Each proxy writes one line per request it handled into the run's `logs/`
(format: `meshsim.control.observe.ACCESS_LOG_FORMAT`):

- `<instance>.inbound.jsonl`: calls the sidecar received for its app;
- `<instance>.outbound.jsonl`: calls the app made through its sidecar;
- `istio-ingressgateway.ingress.jsonl`: requests that came in through the gateway.

Read back, every line is an `AccessLogEntry` seen as an edge of the graph:
`source` called `destination`. In an inbound log the source is the caller
(from its certificate: `plaintext` without mTLS, as in
`meshsim.telemetry.authz`); in an outbound or ingress log it is the proxy's
own service and the destination is the service its upstream cluster belongs
to (the Host header when no cluster was picked, e.g. a fault aborted the
call first). `upstream_instance` is the instance that answered, from the
upstream address and the run's plan.json.

`meshsim logs RUN_DIR` prints them; `filter_entries` does the selecting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from meshsim import rundata
from meshsim.control.plan import INGRESS_NAME
from meshsim.errors import UsageError
from meshsim.rundir import ACCESS_LOG_DIRECTIONS, RunDir
from meshsim.telemetry.authz import PLAINTEXT, caller
from meshsim.telemetry.runfiles import instance_addresses, read_plan
from meshsim.timeline import PhaseLookup, phase_windows

DIRECTIONS = ACCESS_LOG_DIRECTIONS
# Envoy's %RESPONSE_FLAGS% short names, as Envoy writes them (CORE_RESPONSE_FLAGS in
# source/common/stream_info/utility.h; 1.40 adds none since UDO). Extensions may
# register more: a flag seen in the run's logs is accepted as well.
RESPONSE_FLAGS = (
    "UH UF UO NR URX NC DT DC LH UT LR UR UC DI FI RL UAEX RLSE IH SI DPE UPE UMSDR "
    "RFCF NFCF OM DF DO DR UDO"
).split()
_STATUS = re.compile(r"^(?:([1-5])xx|([1-5]\d\d))$")


@dataclass(frozen=True)
class AccessLogEntry:
    t: float  # request start, epoch seconds
    proxy: str  # the proxy that wrote the line
    direction: str  # inbound | outbound | ingress
    source: str  # the caller's service (istio-ingressgateway, or plaintext: no mTLS)
    destination: str  # the service called
    method: str
    path: str
    status: int  # 0: no response
    flags: tuple[str, ...]  # Envoy's response flags: UF, UO, FI, DI, URX, ...
    duration_ms: float | None
    upstream_host: str | None
    upstream_instance: str | None
    upstream_cluster: str | None
    attempts: int | None
    details: str | None
    request_id: str | None
    trace_id: str | None
    phase: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flags"] = list(self.flags)
        return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text in ("", "-") else text


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "", "-") else None
    except (TypeError, ValueError):
        return None


def _service_of(cluster: str | None, authority: str | None) -> str:
    if cluster and cluster.startswith("outbound"):
        # outbound_80_v1_product, or outbound|80|v1|product.default.svc.cluster.local
        if "|" in cluster:
            return cluster.split("|")[3].split(".", 1)[0]
        return cluster.rsplit("_", 1)[-1]
    if authority:
        return authority.split(":", 1)[0].split(".", 1)[0]
    return "?"


def _instance_service(proxy: str) -> str:
    parts = proxy.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else proxy


def parse_line(
    raw: dict[str, Any], proxy: str, direction: str, addresses: dict[str, str]
) -> AccessLogEntry | None:
    """One access log line as an entry; None when it is not one."""
    try:
        t = float(raw["t"])
    except (KeyError, TypeError, ValueError):
        return None
    cluster = _text(raw.get("upstream_cluster"))
    host = _text(raw.get("upstream_host"))
    if direction == "inbound":
        source = caller(_text(raw.get("peer")))  # `plaintext` without a certificate
        destination = _instance_service(proxy)
        instance: str | None = proxy
    else:
        source = INGRESS_NAME if direction == "ingress" else _instance_service(proxy)
        destination = _service_of(cluster, _text(raw.get("authority")))
        instance = addresses.get(host or "") or _text(raw.get("served_by"))
    flags = _text(raw.get("flags"))
    attempts = _number(raw.get("attempts"))
    return AccessLogEntry(
        t=t,
        proxy=proxy,
        direction=direction,
        source=source,
        destination=destination,
        method=_text(raw.get("method")) or "",
        path=_text(raw.get("path")) or "",
        status=int(_number(raw.get("code")) or 0),
        flags=tuple(flags.split(",")) if flags else (),
        duration_ms=_number(raw.get("duration_ms")),
        upstream_host=host,
        upstream_instance=instance,
        upstream_cluster=cluster,
        attempts=int(attempts) if attempts is not None else None,
        details=_text(raw.get("details")),
        request_id=_text(raw.get("request_id")),
        trace_id=_text(raw.get("trace_id")),
    )


def read_access_logs(run_dir: Path) -> list[AccessLogEntry]:
    """Every entry of the run's access logs, by time, each with its phase."""
    run_dir = Path(run_dir)
    phase_of = PhaseLookup(phase_windows(run_dir))
    addresses = instance_addresses(run_dir)
    out = []
    for path, proxy, direction in RunDir(run_dir).access_logs():
        for line in rundata.iter_lines(path):  # plain, compressed or both
            try:
                raw = json.loads(line.decode("utf-8", errors="replace"))
            except ValueError:
                continue  # a partial last line of a killed Envoy
            entry = parse_line(raw, proxy, direction, addresses) if isinstance(raw, dict) else None
            if entry is not None:
                out.append(_with_phase(entry, phase_of))
    out.sort(key=lambda e: e.t)
    return out


def compress_access_logs(rd: RunDir) -> int:
    """Compress what is left plain of every access log (the last rotation's
    part, then the file Envoy wrote last: `meshsim.telemetry.logrotate`)
    into its `.gz`, once no Envoy writes them any more (the end of a run).
    Returns the compressed bytes written."""
    written = 0
    for path, _, _ in rd.access_logs():
        for part in (rundata.rotated_path(path), path):
            written += rundata.compress_file(part, rundata.gz_path(path))
    return written


def _with_phase(entry: AccessLogEntry, phase_of: PhaseLookup) -> AccessLogEntry:
    phase = phase_of(entry.t)
    if phase is None:
        return entry
    # replace, not asdict: asdict deep-copies every field and was 70 % of
    # `meshsim logs` on a long run
    return replace(entry, phase=phase)


def status_matcher(spec: str) -> set[str]:
    """`5xx,404` → what `filter_entries` compares statuses with; UsageError if unreadable."""
    classes: set[str] = set()
    codes: set[int] = set()
    for part in (p.strip().lower() for p in spec.split(",") if p.strip()):
        m = _STATUS.match(part)
        if m is None:
            raise UsageError(
                f"--status {spec}: expected classes or codes such as 5xx, 503 or 4xx,200"
            )
        if m.group(1):
            classes.add(m.group(1))
        else:
            codes.add(int(m.group(2)))
    return {*(f"{c}xx" for c in classes), *(str(c) for c in codes)}


def run_names(run_dir: Path) -> list[str]:
    """What `--service` may name in a run: its services, then its instances
    (from plan.json), the ingress gateway, and `plaintext` (callers without mTLS)."""
    plan = read_plan(Path(run_dir))
    names = [*plan.services, *(i.name for i in plan.instances)] if plan is not None else []
    return [*names, INGRESS_NAME, PLAINTEXT]


def filter_entries(
    entries: Iterable[AccessLogEntry],
    *,
    service: str | None = None,
    status: str | None = None,
    phase: str | None = None,
    flags: str | None = None,
    direction: str | None = None,
    known: Sequence[str] | None = None,
) -> list[AccessLogEntry]:
    """Entries matching every filter given; UsageError for a filter no entry
    could match.

    `service`: the source or destination (or the instance that wrote or
    answered it), checked against `known` (`run_names`) and the names in the
    entries when `known` is given; `status`: `5xx`, `503`, `4xx,200`; `flags`:
    any of `UF,URX` (Envoy's response flags); `direction`: inbound, outbound or
    ingress.
    """
    entries = list(entries)
    wanted = status_matcher(status) if status else None
    wanted_flags = {f.strip().upper() for f in flags.split(",") if f.strip()} if flags else None
    if direction is not None and direction not in DIRECTIONS:
        raise UsageError(f"--direction {direction}: expected one of {', '.join(DIRECTIONS)}")
    if wanted_flags:
        seen = {f for e in entries for f in e.flags}
        unknown = sorted(wanted_flags - set(RESPONSE_FLAGS) - seen)
        if unknown:
            raise UsageError(
                f"--flags {flags}: {', '.join(unknown)} is not an Envoy response flag; "
                f"expected some of {', '.join(RESPONSE_FLAGS)}, e.g. UF,URX"
            )
    if service and known is not None:
        names = {*known, *(n for e in entries for n in (e.source, e.destination, e.proxy))}
        if service not in names:
            raise UsageError(
                f"--service {service}: not a service or instance of this run; "
                f"expected one of {', '.join(known)}"
            )
    out = []
    for e in entries:
        if service and service not in (
            e.source,
            e.destination,
            e.proxy,
            e.upstream_instance,
        ):
            continue
        if wanted is not None and not ({str(e.status), f"{e.status // 100}xx"} & wanted):
            continue
        if phase is not None and e.phase != phase:
            continue
        if wanted_flags is not None and not (set(e.flags) & wanted_flags):
            continue
        if direction is not None and e.direction != direction:
            continue
        out.append(e)
    return out

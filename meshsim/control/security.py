"""mTLS and authorization: PeerAuthentication and AuthorizationPolicy compiled for Envoy.

Pure: which mode each workload runs in, which policies apply to it, and the
converters the builders (listeners.py, clusters.py, routes.py) call with what
`meshsim.control.inputs` makes of them, so a proxy's configuration is built
secure rather than patched afterwards:

- on each sidecar's inbound listener: the TLS inspector and one filter chain
  per accepted transport (mTLS, plaintext) as the workload's PeerAuthentication
  mode says; the mTLS chain requires a client certificate from the mesh CA;
- on each outbound cluster: Istio's auto mTLS, per endpoint (an endpoint whose
  workload accepts mTLS is marked `tlsMode: istio` and gets a TLS transport
  socket that presents the caller's certificate and checks the callee's
  SPIFFE ID; the others get plaintext);
- on the inbound (and ingress) HTTP connection manager: three RBAC filters,
  audit → deny → allow, empty by default; the rules themselves go on the route
  configuration (`RBACPerRoute`), so a policy change is a route update, never
  a listener drain;
- an inbound access log (`logs/<proxy>.inbound.jsonl`) naming each caller's
  principal, from which `meshsim.telemetry.authz` counts allowed and denied
  calls per caller → callee.

A PeerAuthentication change only adds or removes the plaintext chain: the mTLS
chain is the same in PERMISSIVE and STRICT, so Envoy updates the listener in
place and connections between sidecars are not drained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshsim.control.ca import INGRESS_IDENTITY, INGRESS_NAMESPACE, workload_identity
from meshsim.control.plan import MeshPlan
from meshsim.control.sds import SECRET_CERT, SECRET_ROOT, sds_secret_config
from meshsim.control.state import PolicyState
from meshsim.control.traffic import merge_policy
from meshsim.control.xds import Paths
from meshsim.rundir import RunDir
from meshsim.scenario.istio import short_host
from meshsim.scenario.istio_security import AuthorizationPolicy, PeerAuthentication
from meshsim.shop import NAMESPACE, SERVICE_PORT

ROOT_NAMESPACE = "istio-system"  # Istio's root namespace: policies here are mesh-wide
INGRESS_LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
STRICT, PERMISSIVE, DISABLE, UNSET = "STRICT", "PERMISSIVE", "DISABLE", "UNSET"

TLS_MODE_KEY = "envoy.transport_socket_match"
CHAIN_MTLS = "inbound-mtls"
CHAIN_PLAINTEXT = "inbound-plaintext"
T_DOWNSTREAM_TLS = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
T_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
T_RAW_BUFFER = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
T_TLS_INSPECTOR = (
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
)
T_FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"

# What the inbound access log records (read by meshsim.telemetry.authz).
INBOUND_LOG_FORMAT = {
    "t": "%START_TIME(%s.%6f)%",
    "peer": "%DOWNSTREAM_PEER_URI_SAN%",
    "tls": "%DOWNSTREAM_TLS_VERSION%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "code": "%RESPONSE_CODE%",
    "details": "%RESPONSE_CODE_DETAILS%",
}


@dataclass(frozen=True)
class Workload:
    """A proxy as the security policies see it: where it lives and who it is."""

    proxy: str
    namespace: str
    labels: dict[str, str]
    identity: str  # its SPIFFE ID
    service: str | None = None  # None for the ingress gateway


def workloads(plan: MeshPlan) -> dict[str, Workload]:
    """Every proxy of the mesh, the ingress gateway first."""
    out = {
        plan.ingress.name: Workload(
            plan.ingress.name, INGRESS_NAMESPACE, dict(INGRESS_LABELS), INGRESS_IDENTITY
        )
    }
    for inst in plan.instances:
        # A team's service may name its namespace and service account (its manifests).
        own = plan.app.services.get(inst.service)
        namespace = own.namespace if own is not None else NAMESPACE
        identity = plan.app.identity_of(inst.service)
        out[inst.name] = Workload(inst.name, namespace, inst.labels, identity, inst.service)
    return out


def identities(plan: MeshPlan) -> dict[str, str]:
    """Proxy → SPIFFE ID, for the certificate authority."""
    return {name: w.identity for name, w in workloads(plan).items()}


def inbound_log_path(paths_root: str, proxy: str) -> str:
    """`paths_root` is the xds directory of the run; logs live beside it."""
    return str(RunDir(Path(paths_root).parent).access_log(proxy, "inbound"))


def _selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match_labels.items())


# ---------------------------------------------------------- PeerAuthentication


@dataclass
class MtlsPolicies:
    """The PeerAuthentications that apply to one workload, by level."""

    mesh: PeerAuthentication | None = None
    namespace: PeerAuthentication | None = None
    workload: PeerAuthentication | None = None
    conflicts: list[str] = field(default_factory=list)


def _oldest(
    found: list[PeerAuthentication], what: str, conflicts: list[str]
) -> PeerAuthentication | None:
    if len(found) > 1:
        names = ", ".join(p.key for p in found)
        conflicts.append(f"{what}: {names} all apply; Istio uses the oldest, {found[0].key}")
    return found[0] if found else None


def mtls_policies(state: PolicyState, workload: Workload) -> MtlsPolicies:
    out = MtlsPolicies()
    pas = state.peer_authentications()
    out.mesh = _oldest(
        [p for p in pas if p.metadata.namespace == ROOT_NAMESPACE and not p.spec.has_selector],
        "mesh-wide PeerAuthentication",
        out.conflicts,
    )
    out.namespace = _oldest(
        [
            p
            for p in pas
            if p.metadata.namespace == workload.namespace
            and not p.spec.has_selector
            and p is not out.mesh
        ],
        f"PeerAuthentication for namespace {workload.namespace}",
        out.conflicts,
    )
    out.workload = _oldest(
        [
            p
            for p in pas
            if p.metadata.namespace == workload.namespace
            and p.spec.has_selector
            and p.spec.selector is not None
            and _selects(p.spec.selector.matchLabels, workload.labels)
        ],
        f"PeerAuthentication for workload {workload.proxy}",
        out.conflicts,
    )
    return out


def mtls_mode(state: PolicyState, workload: Workload, port: int = SERVICE_PORT) -> str:
    """The mode a workload's port runs in: STRICT, PERMISSIVE or DISABLE.

    Istio's inheritance: workload port level → workload → namespace → mesh →
    PERMISSIVE; UNSET (or no `mtls`) at a level means "as the level above".
    """
    found = mtls_policies(state, workload)
    mode = PERMISSIVE
    for level in (found.mesh, found.namespace, found.workload):
        if level is not None and level.spec.mtls is not None and level.spec.mtls.mode != UNSET:
            mode = level.spec.mtls.mode
    if found.workload is not None:
        port_level = found.workload.spec.portLevelMtls.get(port)
        if port_level is not None and port_level.mode != UNSET:
            mode = port_level.mode
    return mode


def _mtls_warnings(state: PolicyState, plan: MeshPlan) -> list[str]:
    warnings: list[str] = []
    wls = [w for w in workloads(plan).values() if w.service is not None]
    used: set[str] = set()
    for w in wls:
        found = mtls_policies(state, w)
        warnings += found.conflicts
        used.update(p.key for p in (found.mesh, found.namespace, found.workload) if p)
        if found.workload is not None:
            for port in found.workload.spec.portLevelMtls:
                if port != SERVICE_PORT:
                    warnings.append(
                        f"{found.workload.key}: portLevelMtls {port}: {w.service} serves only "
                        f"port {SERVICE_PORT} in meshsim; this entry has no effect"
                    )
    for pa in state.peer_authentications():
        if pa.key not in used:
            warnings.append(
                f"{pa.key}: applies to no sidecar of the mesh (workloads are in namespace "
                f"{NAMESPACE}; a selector in {ROOT_NAMESPACE} selects workloads there only)"
            )
    return warnings


# --------------------------------------------------------------- TLS contexts


def _sds(paths: Paths, proxy: str, name: str) -> dict[str, Any]:
    return sds_secret_config(name)


def server_tls(paths: Paths, proxy: str) -> dict[str, Any]:
    """The inbound mTLS transport socket: present our SVID, require the peer's."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": T_DOWNSTREAM_TLS,
            "common_tls_context": {
                "tls_certificate_sds_secret_configs": [_sds(paths, proxy, SECRET_CERT)],
                "combined_validation_context": {
                    "default_validation_context": {},
                    "validation_context_sds_secret_config": _sds(paths, proxy, SECRET_ROOT),
                },
            },
            "require_client_certificate": True,
        },
    }


def client_tls(paths: Paths, proxy: str, peer_identity: str, sni: str) -> dict[str, Any]:
    """The outbound mTLS transport socket: present our SVID, verify the peer's SPIFFE ID."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": T_UPSTREAM_TLS,
            "common_tls_context": {
                "tls_certificate_sds_secret_configs": [_sds(paths, proxy, SECRET_CERT)],
                "combined_validation_context": {
                    "default_validation_context": {
                        "match_typed_subject_alt_names": [
                            {"san_type": "URI", "matcher": {"exact": peer_identity}}
                        ]
                    },
                    "validation_context_sds_secret_config": _sds(paths, proxy, SECRET_ROOT),
                },
            },
            "sni": sni,
        },
    }


RAW_BUFFER = {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {"@type": T_RAW_BUFFER}}
TLS_INSPECTOR = {
    "name": "envoy.filters.listener.tls_inspector",
    "typed_config": {"@type": T_TLS_INSPECTOR},
}


# ------------------------------------------------------------- authorization


def applies_to(ap: AuthorizationPolicy, workload: Workload) -> bool:
    """Istio's scope: root namespace without selector → every workload (the
    ingress gateway too); otherwise the policy's namespace, narrowed by its selector."""
    ns = ap.metadata.namespace
    selector = ap.spec.selector.matchLabels if ap.spec.selector else {}
    if ns == ROOT_NAMESPACE and not selector:
        return True  # mesh-wide
    if ns != workload.namespace:
        return False
    return _selects(selector, workload.labels)


def _authz_warnings(state: PolicyState, plan: MeshPlan) -> list[str]:
    warnings = []
    wls = workloads(plan)
    for ap in state.authorization_policies():
        targets = [w for w in wls.values() if applies_to(ap, w)]
        if not targets:
            warnings.append(f"{ap.key}: applies to no workload of the mesh")
        uses_identity = any(
            f.source.principals or f.source.namespaces for r in ap.spec.rules for f in r.from_
        )
        for w in targets:
            if uses_identity and w.service is not None and mtls_mode(state, w) == DISABLE:
                warnings.append(
                    f"{ap.key}: matches callers by principal or namespace, but {w.proxy} has "
                    "mTLS DISABLEd, so no caller has one"
                )
    return warnings


# ------------------------------------------------------------- the converters


def inbound_access_log(path: str) -> dict[str, Any]:
    """The inbound access log authorization reads (meshsim.telemetry.authz)."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": T_FILE_LOG,
            "path": path,
            "log_format": {"json_format": INBOUND_LOG_FORMAT},
        },
    }


def inbound_chains(
    mode: str, filters: Callable[[], list[dict[str, Any]]], paths: Paths, proxy: str
) -> list[dict[str, Any]]:
    """The inbound listener's filter chains for a PeerAuthentication mode:
    mTLS (STRICT, PERMISSIVE) and plaintext (PERMISSIVE, DISABLE), each with
    the network filters `filters()` builds. The listener keeps the TLS
    inspector in every mode (`TLS_INSPECTOR`): a change of mode is then a
    change of filter chains only, which Envoy applies without draining the others."""
    chains = []
    if mode in (STRICT, PERMISSIVE):
        chains.append(
            {
                "name": CHAIN_MTLS,
                "filter_chain_match": {"transport_protocol": "tls"},
                "filters": filters(),
                "transport_socket": server_tls(paths, proxy),
            }
        )
    if mode in (PERMISSIVE, DISABLE):
        chains.append(
            {
                "name": CHAIN_PLAINTEXT,
                "filter_chain_match": {"transport_protocol": "raw_buffer"},
                "filters": filters(),
            }
        )
    return chains


def _sni(cluster_name: str) -> str:
    # Istio's SNI for auto mTLS: outbound_.<port>_.<subset>_.<host>
    _, port, subset, host = cluster_name.split("|")
    return f"outbound_.{port}_.{subset}_.{host}"


def destination_tls(state: PolicyState, cluster_name: str) -> str | None:
    """The DestinationRule's `tls.mode` for an outbound cluster (its subset and
    port merged as Istio merges them), or None: auto mTLS."""
    _, port, subset, host = cluster_name.split("|")
    dr = state.destination_rule(short_host(host))
    if dr is None or not port.isdigit():
        return None
    chosen = next((s.trafficPolicy for s in dr.spec.subsets if s.name == subset), None)
    policy = merge_policy(dr.spec.trafficPolicy, chosen if subset else None, int(port))
    return policy.tls.mode if policy is not None and policy.tls is not None else None


def auto_mtls(
    cluster: dict[str, Any],
    tls_endpoints: frozenset[tuple[str, int]],
    paths: Paths,
    proxy: str,
    mode: str | None = None,
    identity_of: Callable[[str], str] = workload_identity,
) -> dict[str, Any]:
    """An outbound cluster with Istio's auto mTLS: TLS to endpoints in
    `tls_endpoints`. A DestinationRule's `mode` overrides it, as in Istio:
    ISTIO_MUTUAL sends mTLS to every endpoint (one that accepts only plaintext
    then fails), DISABLE plaintext to every endpoint (a STRICT one then
    refuses it). `cluster` is not changed; what differs per proxy is new."""
    out = dict(cluster)
    service = short_host(out["name"].split("|")[3])

    def endpoint(lb: dict[str, Any]) -> dict[str, Any]:
        sock = lb["endpoint"]["address"]["socket_address"]
        auto = (sock["address"], sock["port_value"]) in tls_endpoints
        if mode == "ISTIO_MUTUAL" or (mode is None and auto):
            # a fresh dict per endpoint, built literally (deepcopy of one was
            # a third of a 100-proxy compile)
            return {**lb, "metadata": {"filter_metadata": {TLS_MODE_KEY: {"tlsMode": "istio"}}}}
        return lb

    if "load_assignment" in out:
        assignment = out["load_assignment"]
        out["load_assignment"] = {
            **assignment,
            "endpoints": [
                {**group, "lb_endpoints": [endpoint(lb) for lb in group.get("lb_endpoints", [])]}
                for group in assignment.get("endpoints", [])
            ],
        }
    out["transport_socket_matches"] = [
        {
            "name": "tlsMode-istio",
            "match": {"tlsMode": "istio"},
            "transport_socket": client_tls(paths, proxy, identity_of(service), _sni(out["name"])),
        },
        {"name": "tlsMode-disabled", "match": {}, "transport_socket": RAW_BUFFER},
    ]
    return out


def security_warnings(state: PolicyState, plan: MeshPlan) -> list[str]:
    """PeerAuthentication and AuthorizationPolicy setups that do not do what they seem to."""
    return _mtls_warnings(state, plan) + _authz_warnings(state, plan)

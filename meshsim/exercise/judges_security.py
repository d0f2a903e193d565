"""Judges of the zero-trust exercises (notebook 04): mTLS migration, authorization lockdown."""

from __future__ import annotations

from meshsim.exercise.evidence import (
    ROOT_NAMESPACE,
    Evidence,
    Finding,
    bad,
    good,
)
from meshsim.exercise.judges import journey_errors

# ------------------------------------------------------------ 6 mTLS legacy


def mtls_written(ev: Evidence, phase: str) -> list[Finding]:
    out = []
    mesh_wide, opened = None, []
    for pa in ev.resources(phase, "PeerAuthentication"):
        meta, spec = pa.get("metadata") or {}, pa.get("spec") or {}
        mode = ((spec.get("mtls") or {}).get("mode") or "PERMISSIVE").upper()
        labels = (spec.get("selector") or {}).get("matchLabels") or {}
        if meta.get("namespace") == ROOT_NAMESPACE and not labels:
            mesh_wide = mode
        elif not labels and mode != "STRICT":
            opened.append(f"namespace {meta.get('namespace') or 'default'}")
        elif mode != "STRICT" and labels.get("app") != "product":
            opened.append(f"app {labels.get('app', '?')}")
    if mesh_wide != "STRICT":
        out.append(
            bad(
                "the mesh-wide PeerAuthentication (istio-system) is no longer STRICT: every "
                "plaintext caller is let in, not only the legacy client's way to product"
            )
        )
    else:
        out.append(good("the mesh-wide policy is STRICT"))
    if opened:
        out.append(bad(f"plaintext is accepted beyond product: {', '.join(opened)}"))
    return out


def mtls_observed(ev: Evidence, phase: str) -> list[Finding]:
    return [
        journey_errors(ev, phase, "legacy", 0.01),
        journey_errors(ev, phase, "place_order", 0.01),
    ]


# -------------------------------------------------------- 7 authz lockdown


def authz_written(ev: Evidence, phase: str) -> list[Finding]:
    for ap in ev.resources(phase, "AuthorizationPolicy"):
        meta, spec = ap.get("metadata") or {}, ap.get("spec") or {}
        labels = (spec.get("selector") or {}).get("matchLabels") or {}
        namespace = meta.get("namespace") or "default"
        if labels.get("app") == "product" or (
            not labels and namespace in ("default", ROOT_NAMESPACE)
        ):
            return [good(f"AuthorizationPolicy {meta.get('name')} applies to product")]
    return [bad("no AuthorizationPolicy applies to product in this phase")]


def authz_observed(ev: Evidence, phase: str) -> list[Finding]:
    out = []
    user, order = ev.probe("user"), ev.probe("order")
    if user is None or user.status is None:
        out.append(bad(f"the probe as user got no answer: {user.error if user else 'not sent'}"))
    elif user.status == 403:
        out.append(good("a request to product made as user was refused (403)"))
    else:
        out.append(
            bad(
                f"a request to product made as user got {user.status}: user still reaches "
                "product; only order's identity (cluster.local/ns/default/sa/order) may"
            )
        )
    if order is None or order.status is None:
        out.append(bad(f"the probe as order got no answer: {order.error if order else 'not sent'}"))
    elif 200 <= order.status < 300:
        out.append(good(f"a request to product made as order was answered ({order.status})"))
    else:
        out.append(
            bad(f"a request to product made as order got {order.status}: order is locked out too")
        )
    out.append(journey_errors(ev, phase, "place_order", 0.01))
    return out

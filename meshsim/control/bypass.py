"""Where the local runtime's sidecar can be walked around (issue 16, item 7).

On the local runtime every app listens on its own 127.0.0.1 port, and
nothing stops a process on the machine from calling that port directly: the
request never meets the sidecar, so STRICT mTLS and AuthorizationPolicy,
which the sidecar enforces, do not apply to it. (On the Docker runtime the
pod's iptables rules refuse the app's port to anyone outside the pod.) Pure:
which workloads a policy in force protects, and the one-line note that says
so where it matters (`meshsim explain`, `meshsim status`).
"""

from __future__ import annotations

from meshsim.control.plan import MeshPlan
from meshsim.control.security import STRICT, applies_to, mtls_mode, workloads
from meshsim.control.state import PolicyState


def protected(state: PolicyState, plan: MeshPlan) -> list[str]:
    """Instances whose sidecar enforces STRICT mTLS or an AuthorizationPolicy."""
    out = []
    for name, wl in workloads(plan).items():
        if wl.service is None:
            continue  # the ingress gateway: its listener is the way in
        strict = mtls_mode(state, wl) == STRICT
        authz = any(applies_to(ap, wl) for ap in state.authorization_policies())
        if strict or authz:
            out.append(name)
    return out


def bypass_note(state: PolicyState, plan: MeshPlan) -> str | None:
    """The note for the local runtime, or None when no sidecar enforces anything."""
    names = protected(state, plan)
    if not names:
        return None
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (
        f"on the local runtime the app ports of {shown} answer any local process directly, "
        "bypassing the sidecar and with it STRICT mTLS and AuthorizationPolicy; the Docker "
        "runtime refuses them (docs/security.md)"
    )

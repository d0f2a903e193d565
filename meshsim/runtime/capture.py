"""Transparent capture in a Docker pod, as Istio's init container does it:
iptables rules in the pod's network namespace send the app's outbound TCP to
its sidecar, so an app that ignores the proxy variables is meshed too, and
refuse the app's port to anyone outside the pod, so the app is reached only
through its sidecar. Pure: the rules, the placeholder addresses that make
`http://<service>/` resolve inside a pod, and the init container's spec.

The rules (`iptables-restore` input), for a pod at 172.18.0.5::

    nat    OUTPUT tcp -> MESHSIM_OUTPUT
           MESHSIM_OUTPUT: gid 1337 (Envoy)             RETURN
                           out through lo (the pod itself) RETURN
                           anything else                 DNAT 172.18.0.5:15001
    filter INPUT  tcp -> MESHSIM_INBOUND
           MESHSIM_INBOUND: in through lo (the sidecar)  RETURN
                            to the app's port            REJECT (tcp-reset)

The destination does not matter to the outbound listener: it routes by the
Host header (what the app called, `prices`), for a captured request exactly
as for one sent to it as a proxy. Why DNAT to the pod's address rather than
Istio's REDIRECT: REDIRECT of a locally made connection goes to 127.0.0.1,
and the sidecar's listeners listen on the pod's address (as the local
runtime's do on theirs), so the control plane is the same for both runtimes.

Istio excludes its proxy by uid 1337; here Envoy runs as your uid (its access
logs land in the run directory, which belongs to you) and the sidecar's
group is the dedicated one, so the exclusion matches the group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from meshsim.shop import NAMESPACE, fqdn

# Istio's proxy uid/gid. The sidecar container runs in this group, and Envoy
# runs as your uid in it.
PROXY_GID = 1337
OUTBOUND_CHAIN = "MESHSIM_OUTPUT"
INBOUND_CHAIN = "MESHSIM_INBOUND"
# One placeholder address per service, from the range Istio's DNS proxy
# allocates its automatic VIPs from (class E: never a real host). A
# connection to one never leaves the pod: the rules above send it to Envoy.
VIP_NETWORK = ipaddress.IPv4Network("240.240.0.0/16")


def proxy_gid(user: tuple[int, int] | None) -> int:
    """The sidecar's group: 1337, unless the apps run in that group already
    (then the exclusion would exempt them too).

    >>> proxy_gid((1000, 1000)), proxy_gid((1000, 1337)), proxy_gid(None)
    (1337, 1338, 1337)
    """
    return PROXY_GID + 1 if user is not None and user[1] == PROXY_GID else PROXY_GID


def service_hosts(services: Iterable[str]) -> dict[str, str]:
    """`/etc/hosts` entries for the pod: every name the outbound listener
    routes (`prices`, `prices.default`, `prices.default.svc`,
    `prices.default.svc.cluster.local`) to the service's placeholder address.

    >>> service_hosts(["product", "order"])["product.default.svc.cluster.local"]
    '240.240.0.2'
    """
    hosts = {}
    for k, service in enumerate(sorted(set(services)), start=1):
        vip = str(VIP_NETWORK[k])
        for name in (service, f"{service}.{NAMESPACE}", f"{service}.{NAMESPACE}.svc"):
            hosts[name] = vip
        hosts[fqdn(service)] = vip
    return hosts


def rules(pod_ip: str, outbound_port: int, app_port: int, gid: int = PROXY_GID) -> str:
    """The pod's iptables rules, as `iptables-restore` reads them.

    >>> "-A MESHSIM_OUTPUT -p tcp -j DNAT --to-destination 172.18.0.5:15001" in rules(
    ...     "172.18.0.5", 15001, 8080
    ... )
    True
    """
    out, inb = OUTBOUND_CHAIN, INBOUND_CHAIN
    lines = [
        "*nat",
        f":{out} - [0:0]",
        f"-A OUTPUT -p tcp -j {out}",
        # the sidecar's own connections (Envoy's upstreams, its ADS stream)
        f"-A {out} -m owner --gid-owner {gid} -j RETURN",
        # within the pod: the proxy variable's 127.0.0.1/pod-IP hop, the app itself
        f"-A {out} -o lo -j RETURN",
        f"-A {out} -p tcp -j DNAT --to-destination {pod_ip}:{outbound_port}",
        "COMMIT",
        "*filter",
        f":{inb} - [0:0]",
        f"-A INPUT -p tcp -j {inb}",
        f"-A {inb} -i lo -j RETURN",
        f"-A {inb} -p tcp --dport {app_port} -j REJECT --reject-with tcp-reset",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


# iptables-nft where the kernel has nf_tables, the legacy backend otherwise
# (Debian's iptables package ships both). The rules come in $MESHSIM_RULES.
RESTORE_SCRIPT = (
    'printf "%s" "$MESHSIM_RULES" | iptables-restore 2>/tmp/nft'
    ' || { printf "%s" "$MESHSIM_RULES" | iptables-legacy-restore'
    " || { cat /tmp/nft >&2; exit 1; }; }"
)

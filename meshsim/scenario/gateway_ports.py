"""What meshsim's ingress does with a Gateway server's `port`, said where it
differs from a cluster.

On a cluster the ingress gateway's Envoy listens on each server's port (the
default istio-ingressgateway Service maps its port 80 to the pod's 8080 and
443 to 8443, and Istio's samples bind 80 or 8080), and a VirtualService
bound to the Gateway routes on every one of its ports. meshsim's ingress has
one plain-HTTP listener, at the run's ingress port, standing for that
Service's port 80: every server's hosts are served there. A server on
another port or protocol is valid Istio, so it is a warning naming the
field, not an error (Istio's own `istioctl analyze` warns of a port the
ingress Service does not expose as IST0162, GatewayPortNotDefinedOnService).
"""

from __future__ import annotations

from typing import Any

# The default istio-ingressgateway Service's HTTP port and its target port.
HTTP_PORTS = (80, 8080)
# Protocols Istio serves HTTP routes on, plain text here.
HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC")


def gateway_port_warnings(servers: list[Any]) -> list[tuple[str, str]]:
    """(field path, message) for each server whose `port` meshsim's ingress
    does not serve as written; `servers` as the Gateway's spec lists them."""
    out: list[tuple[str, str]] = []
    for i, server in enumerate(servers):
        port: dict[str, Any] = server.port
        base = f"spec.servers[{i}].port"
        number = port.get("number")
        if number is not None and number not in HTTP_PORTS:
            out.append(
                (
                    f"{base}.number",
                    f"{number}: meshsim's ingress has one listener, at the run's ingress port, "
                    "standing for the ingress Service's port 80 (target port 8080); this "
                    f"server's hosts are served there, not on {number}. On a cluster the "
                    f"default istio-ingressgateway Service exposes no port {number} "
                    "(istioctl analyze IST0162): use 80 or 8080",
                )
            )
        protocol = str(port.get("protocol", "HTTP"))
        if protocol.upper() not in HTTP_PROTOCOLS:
            out.append(
                (
                    f"{base}.protocol",
                    f"{protocol}: meshsim's ingress speaks plain HTTP; this server's hosts "
                    "are served over HTTP at the run's ingress port",
                )
            )
    return out

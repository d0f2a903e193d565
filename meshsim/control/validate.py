"""A proxy's configuration as one static bootstrap, for `envoy --mode validate`.

Validation reads no dynamic xDS files: every resource is inlined, TLS
contexts name static secrets made with a throwaway CA instead of SDS, and
access logs go to /dev/null instead of the run's logs.
"""

from __future__ import annotations

from typing import Any

from meshsim.control import envoy as e
from meshsim.control.sds import inline_secrets
from meshsim.control.security import T_FILE_LOG
from meshsim.control.writer import inline_resources
from meshsim.control.xds import ProxyConfig


def static_bootstrap(cfg: ProxyConfig, admin_port: int = 0) -> dict[str, Any]:
    """The same configuration with every resource inlined, for
    `envoy --mode validate` (which does not read dynamic xDS files)."""
    listeners, clusters = inline_resources(cfg)
    static: dict[str, Any] = {"listeners": listeners, "clusters": clusters}
    # Certificates and access logs are files at run time; validation gets neither.
    secrets = for_validation(listeners + clusters)
    if secrets:
        static["secrets"] = secrets
    return {
        "node": {"id": cfg.name, "cluster": cfg.name},
        "admin": {"address": e.socket_address("127.0.0.1", admin_port)},
        "static_resources": static,
    }


def for_validation(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make listeners and clusters checkable by `envoy --mode validate`, in place:
    TLS contexts name static secrets (returned, to go in the bootstrap) instead
    of SDS files, and access logs go to /dev/null instead of the run's logs."""

    def visit(node: dict[str, Any]) -> None:
        if node.get("@type") == T_FILE_LOG:
            node["path"] = "/dev/null"

    e.walk_dicts(resources, visit)
    return inline_secrets(resources)

"""Each proxy's bootstrap, and a readable record of what it was served.

Envoy gets its listeners, clusters, routes and secrets over ADS
(meshsim.control.ads); the only file it reads is `xds/<proxy>/bootstrap.json`,
which names the control plane's ADS address and nothing else. The writer also
keeps `xds/<proxy>/{cds,lds,rds_<name>}.json` up to date with what the
proxy was last served (never secrets), for `meshsim config` and for reading a
run afterwards; nothing watches them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from meshsim.control import envoy as e
from meshsim.control.encode import Encoded
from meshsim.control.xds import Paths, ProxyConfig

KIND_CDS = "cds"
KIND_LDS = "lds"


def atomic_write(path: Path, data: str) -> None:
    """Write `data` to `path` so a reader (Envoy) never sees a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=False)


class ConfigWriter:
    """Writes the record files under `root/<proxy>/` and remembers what each
    holds, so an unchanged file is never rewritten."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = Paths(str(root))
        self._written: dict[tuple[str, str], str] = {}
        self._version = 0

    def file(self, proxy: str, kind: str) -> Path:
        return Path(self.paths.file(proxy, kind))

    def _write(
        self, proxy: str, kind: str, resources: list[dict[str, Any]], encoded: Encoded
    ) -> bool:
        # Every file of every changed proxy is compared on a push: compact JSON
        # runs in json's C encoder, ~8x faster than the indented form (pure
        # Python); `encoded` has already encoded each resource the push sent.
        body = encoded.array(resources)
        if self._written.get((proxy, kind)) == body:
            return False
        self._version += 1
        path = self.file(proxy, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Compact, as compared: `meshsim config` pretty-prints what it shows, and
        # indenting (pure-Python json) cost ~15 ms a file, 1.5 s a 100-proxy push.
        atomic_write(path, f'{{"version_info":"{self._version}","resources":{body}}}')
        self._written[(proxy, kind)] = body
        return True

    def write_clusters(self, cfg: ProxyConfig, encoded: Encoded | None = None) -> bool:
        return self._write(cfg.name, KIND_CDS, cfg.clusters, encoded or Encoded())

    def write_routes(self, cfg: ProxyConfig, encoded: Encoded | None = None) -> list[str]:
        """Write each route configuration; returns the names that changed."""
        enc = encoded or Encoded()
        return [
            name
            for name, rc in cfg.routes.items()
            if self._write(cfg.name, f"rds_{name}", [rc], enc)
        ]

    def write_listeners(self, cfg: ProxyConfig, encoded: Encoded | None = None) -> bool:
        return self._write(cfg.name, KIND_LDS, cfg.listeners, encoded or Encoded())

    def write_all(self, cfg: ProxyConfig, encoded: Encoded | None = None) -> None:
        """Record every resource type of `cfg` (unchanged files are left alone);
        `encoded`: the compile's JSON memo (meshsim.control.encode)."""
        enc = encoded or Encoded()
        self.write_clusters(cfg, enc)
        self.write_routes(cfg, enc)
        self.write_listeners(cfg, enc)

    def write_bootstrap(
        self,
        proxy: str,
        admin_port: int,
        service: str,
        ads: tuple[str, int],
        admin_host: str = "127.0.0.1",
        extra: dict[str, Any] | None = None,
        token: str = "",
    ) -> Path:
        """Write `xds/<proxy>/bootstrap.json` (0600: it holds the proxy's ADS
        token): the node, the admin port and the control plane's ADS address
        (`ads`: host and port as the proxy reaches them), nothing else; `extra`
        adds top-level keys (meshsim.control.observe.bootstrap_fields)."""
        path = self.root / proxy / "bootstrap.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        admin = e.socket_address(admin_host, admin_port)
        bootstrap = ads_bootstrap(proxy, service, ads, admin, token)
        bootstrap.update(extra or {})
        atomic_write(path, dumps(bootstrap))
        return path


XDS_CLUSTER = "xds-grpc"  # Istio's name for the cluster that reaches istiod
# How soon an Envoy retries a lost ADS stream (Envoy's default starts at 500 ms
# and backs off to 30 s): a restarted control plane is back within a second.
XDS_RETRY = {"retry_back_off": {"base_interval": "0.05s", "max_interval": "1s"}}


def ads_bootstrap(
    proxy: str,
    service: str,
    ads: tuple[str, int],
    admin_address: dict[str, Any],
    token: str = "",
) -> dict[str, Any]:
    """A bootstrap whose every resource comes over one ADS stream to `ads`.

    The control plane's host may be a name (Docker Desktop's
    host.docker.internal): the cluster is then resolved by DNS. `token`: the
    proxy's bearer token, sent as the stream's `authorization` metadata
    (meshsim.control.ads checks it: only this proxy gets this proxy's keys)."""
    host, port = ads
    grpc_service: dict[str, Any] = {
        "envoy_grpc": {"cluster_name": XDS_CLUSTER, "retry_policy": XDS_RETRY}
    }
    if token:
        grpc_service["initial_metadata"] = [{"key": "authorization", "value": f"Bearer {token}"}]
    return {
        "node": {
            "id": f"{proxy}.default",
            "cluster": service,
            "metadata": {"NAME": proxy, "NAMESPACE": "default", "APP": service},
        },
        "admin": {"address": admin_address},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [grpc_service],
            },
            "cds_config": e.ads_source(),
            "lds_config": e.ads_source(),
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS_CLUSTER,
                    "type": "STATIC" if e.is_ip(host) else "STRICT_DNS",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": e.T_HTTP_OPTIONS,
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": XDS_CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": e.socket_address(host, port)}}
                                ]
                            }
                        ],
                    },
                }
            ]
        },
    }


def inline_resources(cfg: ProxyConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Deep copies of a proxy's listeners and clusters as static resources:
    no `@type`, and each listener's RDS reference replaced by its route
    configuration inline."""
    listeners = json.loads(json.dumps(cfg.listeners))
    for lst in listeners:
        lst.pop("@type", None)
        for chain in lst["filter_chains"]:
            for flt in chain["filters"]:
                hcm = flt["typed_config"]
                if "rds" in hcm:
                    rc = dict(cfg.routes[hcm.pop("rds")["route_config_name"]])
                    rc.pop("@type", None)
                    hcm["route_config"] = rc
    clusters = [
        {k: v for k, v in c.items() if k != "@type"} for c in json.loads(json.dumps(cfg.clusters))
    ]
    return listeners, clusters

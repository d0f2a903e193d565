"""Certificates to Envoy over SDS on the ADS stream, and their rotation.

Each proxy asks for two secrets, named as in Istio:

- `default`: its own certificate chain and private key;
- `ROOTCA`: the mesh's root certificate, to verify peers with.

The listeners' and clusters' TLS contexts name these secrets with an `ads`
config source, so Envoy asks for them on its one ADS stream
(meshsim.control.ads). A rotation is a new version of `default` on that
stream: Envoy swaps the certificate under the listener without changing (or
draining) anything else.

Private keys exist only in the control plane's memory and on the stream; the
run directory holds the root certificate (`pki/root-cert.pem`) and
`certs.jsonl` (serials and lifetimes, no key material). `meshsim export
compose`, which has no control plane, writes its secrets as files
(`file_sources`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim.control import envoy as e
from meshsim.control.ca import DEFAULT_CERT_TTL_S, CertificateAuthority, Svid
from meshsim.control.writer import atomic_write
from meshsim.control.xds import Paths
from meshsim.control.xds_proto import T_SECRET
from meshsim.rundir import RunDir

if TYPE_CHECKING:  # the compiler imports this module; only the live side needs grpc
    from meshsim.control.ads import AdsServer

SECRET_CERT = "default"
SECRET_ROOT = "ROOTCA"
# Istio renews a workload certificate when half its lifetime is left.
ROTATE_AT = 0.5


def sds_dir(paths: Paths, proxy: str) -> str:
    return f"{paths.dir(proxy)}/sds"


def secret_file(paths: Paths, proxy: str, name: str) -> str:
    return f"{sds_dir(paths, proxy)}/{name.lower()}.json"


def sds_secret_config(name: str) -> dict[str, Any]:
    """An SdsSecretConfig: the secret `name`, asked for on the ADS stream."""
    return {"name": name, "sds_config": e.ads_source()}


def file_sources(resources: list[dict[str, Any]], paths: Paths, proxy: str) -> None:
    """Point every SDS reference in `resources` (in place) at the secret's file
    under `paths` instead of the ADS stream: for a mesh with no control plane
    (`meshsim export compose`)."""

    def visit(node: dict[str, Any]) -> None:
        if "sds_config" in node and node.get("name") in (SECRET_CERT, SECRET_ROOT):
            node["sds_config"] = e.path_source(
                secret_file(paths, proxy, node["name"]), sds_dir(paths, proxy)
            )

    e.walk_dicts(resources, visit)


def cert_secret(svid: Svid) -> dict[str, Any]:
    return {
        "@type": T_SECRET,
        "name": SECRET_CERT,
        "tls_certificate": {
            "certificate_chain": {"inline_string": svid.cert_pem.decode()},
            "private_key": {"inline_string": svid.key_pem.decode()},
        },
    }


def root_secret(root_pem: bytes) -> dict[str, Any]:
    return {
        "@type": T_SECRET,
        "name": SECRET_ROOT,
        "validation_context": {"trusted_ca": {"inline_string": root_pem.decode()}},
    }


class CertRotator:
    """Issues each proxy's certificate before Envoy starts, then renews it at
    half its lifetime for as long as the mesh runs.

    `identities` maps proxy name → SPIFFE ID. Each proxy's secrets are
    resources of the ADS server `ads`; every issue and renewal is appended to
    `run_dir/certs.jsonl` (no key material).

    Example::

        certs = CertRotator(ca, ads, {"product-v1-0": workload_identity("product")},
                            run_dir, ttl_s=30)
        certs.issue_all()      # before the sidecars start
        certs.start()          # renews in the background, pushed on each stream
        ...
        await certs.stop()
    """

    def __init__(
        self,
        ca: CertificateAuthority,
        ads: AdsServer,
        identities: dict[str, str],
        run_dir: Path,
        ttl_s: float = DEFAULT_CERT_TTL_S,
    ) -> None:
        self.ca = ca
        self.ads = ads
        self.identities = identities
        self.run_dir = run_dir
        self.ttl_s = ttl_s
        self.current: dict[str, Svid] = {}
        self.rotations = 0
        self._task: asyncio.Task[None] | None = None

    def issue_all(self) -> None:
        pki = RunDir(self.run_dir).pki
        pki.mkdir(parents=True, exist_ok=True)
        atomic_write(pki / "root-cert.pem", self.ca.root_pem.decode())
        for proxy in self.identities:
            self._issue(proxy, "issue")

    def _issue(self, proxy: str, why: str) -> Svid:
        svid = self.ca.issue(self.identities[proxy], self.ttl_s)
        secrets = {SECRET_CERT: cert_secret(svid), SECRET_ROOT: root_secret(self.ca.root_pem)}
        self.ads.set_resources(proxy, T_SECRET, {n: _untyped(s) for n, s in secrets.items()})
        self.current[proxy] = svid
        event = {
            "event": why,
            "t": round(time.time(), 3),
            "proxy": proxy,
            "spiffe_id": svid.spiffe_id,
            "serial": format(svid.serial, "x"),
            "not_before": svid.not_before,
            "not_after": svid.not_after,
        }
        with RunDir(self.run_dir).certs.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
        return svid

    def due(self, proxy: str) -> float:
        """When `proxy`'s certificate is renewed (epoch seconds)."""
        svid = self.current[proxy]
        return svid.not_before + svid.ttl_s * ROTATE_AT

    def rotate_due(self, now: float | None = None) -> list[str]:
        """Renew every certificate that is due; returns the proxies renewed."""
        now = time.time() if now is None else now
        renewed = [p for p in self.current if self.due(p) <= now]
        for proxy in renewed:
            self._issue(proxy, "rotate")
            self.rotations += 1
        return renewed

    async def _run(self) -> None:
        while True:
            renewed = self.rotate_due()
            # sent on each stream at once; a proxy not connected gets it when it connects
            await asyncio.gather(*(self.ads.send(p, T_SECRET) for p in renewed))
            wait = min(self.due(p) for p in self.current) - time.time()
            await asyncio.sleep(max(0.05, wait))

    def start(self) -> None:
        if self._task is None and self.current:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _untyped(secret: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in secret.items() if k != "@type"}


def inline_secrets(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For `envoy --mode validate`, which reads no SDS files: drop every SDS
    file reference from `resources` (in place), so each TLS context names a
    static secret, and return those secrets, made with a throwaway CA."""
    names: set[str] = set()

    def visit(node: dict[str, Any]) -> None:
        if "sds_config" in node and node.get("name") in (SECRET_CERT, SECRET_ROOT):
            del node["sds_config"]
            names.add(node["name"])

    e.walk_dicts(resources, visit)
    if not names:
        return []
    ca = CertificateAuthority.generate()
    secrets = [cert_secret(ca.issue("spiffe://cluster.local/ns/default/sa/validate", 3600))]
    secrets.append(root_secret(ca.root_pem))
    return [{k: v for k, v in s.items() if k != "@type"} for s in secrets if s["name"] in names]

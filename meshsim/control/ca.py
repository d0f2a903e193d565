"""The mesh's certificate authority: one root per run, one SPIFFE SVID per workload.

Like Istio's, each workload certificate (an X.509 SVID) carries exactly one
URI SAN, `spiffe://cluster.local/ns/<namespace>/sa/<service account>`, and an
empty subject; sidecars authenticate each other by that URI, not by names.
Keys are ECDSA P-256. Nothing here touches files: `meshsim.control.sds`
delivers certificates to Envoy and rotates them.

>>> ca = CertificateAuthority.generate()
>>> svid = ca.issue(workload_identity("product"), ttl_s=60)
>>> svid.spiffe_id
'spiffe://cluster.local/ns/default/sa/product'
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshsim.application import TRUST_DOMAIN
from meshsim.shop import NAMESPACE

# Istio's default workload certificate lifetime; scenarios may shorten it (mesh.cert_ttl).
DEFAULT_CERT_TTL_S = 24 * 3600.0
ROOT_LIFETIME_S = 365 * 24 * 3600.0
INGRESS_NAMESPACE = "istio-system"
INGRESS_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"


def spiffe_id(namespace: str, service_account: str, trust_domain: str = TRUST_DOMAIN) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def workload_identity(service: str) -> str:
    """A shop service's identity: its service account is named after it."""
    return spiffe_id(NAMESPACE, service)


INGRESS_IDENTITY = spiffe_id(INGRESS_NAMESPACE, INGRESS_SERVICE_ACCOUNT)


@dataclass(frozen=True)
class Svid:
    """A workload's certificate and private key, PEM encoded."""

    spiffe_id: str
    cert_pem: bytes
    key_pem: bytes
    serial: int
    not_before: float  # epoch seconds
    not_after: float

    @property
    def ttl_s(self) -> float:
        return self.not_after - self.not_before


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """Signs workload certificates with a self-signed root made for one run."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    @classmethod
    def generate(
        cls, trust_domain: str = TRUST_DOMAIN, now: float | None = None
    ) -> CertificateAuthority:
        """A fresh root, valid for a year from now (a run never needs longer)."""
        start = math.floor(time.time() if now is None else now)
        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                x509.NameAttribute(NameOID.COMMON_NAME, "meshsim root CA"),
            ]
        )
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_time(start))
            .not_valid_after(_time(start + ROOT_LIFETIME_S))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def root_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, identity: str, ttl_s: float, now: float | None = None) -> Svid:
        """A certificate for `identity` (a spiffe:// URI), valid from now for `ttl_s` seconds.

        X.509 times have one-second precision: the start is rounded down, so
        the certificate is valid at once, and the end is start + ttl.
        """
        if not identity.startswith("spiffe://"):
            raise ValueError(f"{identity!r} is not a SPIFFE ID (spiffe://<trust domain>/...)")
        start = math.floor(time.time() if now is None else now)
        end = start + math.ceil(ttl_s)
        key = _new_key()
        public = key.public_key()
        issuer_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))  # Istio's SVIDs: identity only in the SAN
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(serial)
            .not_valid_before(_time(start))
            .not_valid_after(_time(end))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]),
                critical=True,  # required with an empty subject (RFC 5280 4.2.1.6)
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,  # ECDSA keys sign; they never encipher
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return Svid(
            spiffe_id=identity,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            serial=serial,
            not_before=float(start),
            not_after=float(end),
        )

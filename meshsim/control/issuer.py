"""The run's local JWT issuer: one key pair per run, its JWKS, signed tokens.

Istio's RequestAuthentication names an issuer and where its public keys are
(`jwksUri`, or `jwks` inline); istiod fetches the keys and hands them to
Envoy inline. A meshsim mesh runs offline on loopback, so it fetches
nothing: the run's local issuer stands in for every issuer a
RequestAuthentication names without inline `jwks`, and its JWKS is what Envoy
checks signatures against (`meshsim.control.jwt_authn`). A token is then valid
when this key signed it and its `iss` is an issuer a RequestAuthentication
names: `meshsim token --iss testing@secure.istio.io --sub jason` makes one,
and so does a cohort's `jwt` (docs/security.md).

Keys and tokens come from maintained libraries (cryptography, PyJWT). The
key is ECDSA P-256 (ES256), which Envoy's jwt_authn checks as it checks
Istio's RS256 samples, and which takes no noticeable time to make at every
mesh start (an RSA key can take a tenth of a second or more on a busy
machine). It is kept in the run directory (`jwt/issuer.pem`, owner-only) so
that `meshsim token` signs for a running mesh.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import base64url_encode

ALGORITHM = "ES256"
DEFAULT_TOKEN_TTL_S = 24 * 3600.0
# An expired token expired this long ago: beyond Envoy's default clock skew (60 s).
EXPIRED_AGO_S = 3600.0
ISSUER_DIR = "jwt"
KEY_FILE = "issuer.pem"
JWKS_FILE = "jwks.json"


def _kid(public_jwk: dict[str, Any]) -> str:
    # RFC 7638 thumbprint: a key id that names this key and no other.
    canonical = json.dumps(
        {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return base64url_encode(digest.finalize()).decode()


@dataclass(frozen=True)
class Issuer:
    """A signing key and the JWKS that publishes its public half."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> Issuer:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes) -> Issuer:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the issuer key is not an ECDSA private key")
        return cls(key)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk["kid"] = _kid(jwk)
        jwk["alg"] = ALGORITHM
        jwk["use"] = "sig"
        return jwk

    def jwks(self) -> str:
        """The JWKS (RFC 7517) as JSON text, as Envoy's `local_jwks` takes it."""
        return json.dumps({"keys": [self.public_jwk()]}, separators=(",", ":"), sort_keys=True)

    def token(
        self,
        iss: str,
        sub: str | None = None,
        claims: dict[str, Any] | None = None,
        *,
        expired: bool = False,
        ttl_s: float = DEFAULT_TOKEN_TTL_S,
        now: float | None = None,
    ) -> str:
        """A signed JWT (compact form). `claims` add to or override iss/sub/iat/exp."""
        t = time.time() if now is None else now
        iat = t - 2 * EXPIRED_AGO_S if expired else t
        exp = t - EXPIRED_AGO_S if expired else t + ttl_s
        payload: dict[str, Any] = {"iss": iss, "iat": int(iat), "exp": int(exp)}
        if sub is not None:
            payload["sub"] = sub
        payload.update(claims or {})
        return jwt.encode(
            payload, self.key, algorithm=ALGORITHM, headers={"kid": self.public_jwk()["kid"]}
        )


def foreign_token(iss: str, sub: str | None = None, claims: dict[str, Any] | None = None) -> str:
    """A token with the right shape signed by a key no RequestAuthentication trusts."""
    return Issuer.generate().token(iss, sub, claims)


# ------------------------------------------------------------ the run directory


def save(issuer: Issuer, run_dir: Path) -> Path:
    """Keep the key (owner-only) and its JWKS in `run_dir/jwt/`."""
    where = run_dir / ISSUER_DIR
    where.mkdir(parents=True, exist_ok=True)
    key_path = where / KEY_FILE
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(issuer.key_pem())
    (where / JWKS_FILE).write_text(issuer.jwks() + "\n", encoding="utf-8")
    return key_path


def load(run_dir: Path) -> Issuer:
    """The run's issuer. OSError or ValueError when `run_dir` has none."""
    return Issuer.from_pem((run_dir / ISSUER_DIR / KEY_FILE).read_bytes())

"""RequestAuthentication and JWT authorization, judged by a real Envoy.

The ingress gateway's compiled configuration (jwt_authn before RBAC) runs in
Envoy; requests with the tokens Istio's "authorization with JWT" task sends
get what Istio's docs say: an invalid, expired, foreign-signed or
foreign-issuer token 401, no token through authentication and then judged by
authorization (403 where a rule needs a principal or a claim).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshsim.control.issuer import Issuer, foreign_token
from meshsim.control.plan import build_plan
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.control.xds import Paths
from meshsim.runtime.commands import envoy_binary
from meshsim.scenario.istio import parse_resource
from tests.control.test_security import SHOP

ISS = "testing@secure.istio.io"
GATEWAY = {"namespace": "istio-system"}
SELECT_GATEWAY = {"selector": {"matchLabels": {"istio": "ingressgateway"}}}

REQUEST_AUTHN = {
    "apiVersion": "security.istio.io/v1",
    "kind": "RequestAuthentication",
    "metadata": {"name": "jwt-example", **GATEWAY},
    "spec": {
        **SELECT_GATEWAY,
        "jwtRules": [
            {
                "issuer": ISS,
                "jwksUri": "https://raw.githubusercontent.com/istio/istio/release-1.24/"
                "security/tools/jwt/samples/jwks.json",
            }
        ],
    },
}


P = "/products"  # routed by the gateway: a route's per-filter config is what RBAC applies


def _rule(path: str, **rest: Any) -> dict[str, Any]:
    return {"to": [{"operation": {"paths": [P + path + "*"]}}], **rest}


AUTHZ = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "require-jwt", **GATEWAY},
    "spec": {
        **SELECT_GATEWAY,
        "action": "ALLOW",
        "rules": [
            _rule("/open"),
            _rule("/principal", **{"from": [{"source": {"requestPrincipals": [f"{ISS}/{ISS}"]}}]}),
            _rule("/anyone", **{"from": [{"source": {"requestPrincipals": ["*"]}}]}),
            _rule("/issuer", **{"from": [{"source": {"requestPrincipals": [f"{ISS}/*"]}}]}),
            _rule(
                "/groups",
                when=[{"key": "request.auth.claims[groups]", "values": ["group1"]}],
            ),
            _rule(
                "/nested",
                when=[{"key": "request.auth.claims[realm][role]", "values": ["admin"]}],
            ),
        ],
    },
}
DENY_ANONYMOUS = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "deny-anonymous", **GATEWAY},
    "spec": {
        **SELECT_GATEWAY,
        "action": "DENY",
        "rules": [
            _rule("/open/private", **{"from": [{"source": {"notRequestPrincipals": ["*"]}}]})
        ],
    },
}


class Gateway:
    def __init__(self, port: int) -> None:
        self.port = port

    def status(self, path: str, token: str | None = None, header: str = "Authorization") -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            req.add_header(header, f"Bearer {token}" if header == "Authorization" else token)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.generate()


def _start(tmp: Path, issuer: Issuer, *resources: dict[str, Any]) -> Iterator[Gateway]:
    plan = build_plan(SHOP, ingress_port=0)
    state = PolicyState.initial()
    state.local_jwks = issuer.jwks()
    state.apply([parse_resource(r) for r in resources])
    cfg = compile_mesh(plan, state, Paths(str(tmp / "xds")))[plan.ingress.name]
    boot = static_bootstrap(cfg, admin_port=plan.ingress.admin_port)
    path = tmp / "bootstrap.json"
    path.write_text(json.dumps(boot))
    log = (tmp / "envoy.log").open("w")
    proc = subprocess.Popen(
        [envoy_binary(), "-c", str(path), "--disable-hot-restart", "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        gw = Gateway(plan.ingress.port)
        deadline = time.monotonic() + 30
        while True:
            try:
                gw.status("/ready-probe")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp / "envoy.log").read_text()) from None
                time.sleep(0.05)
        yield gw
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def authn_only(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Gateway]:
    yield from _start(tmp_path_factory.mktemp("authn"), issuer, REQUEST_AUTHN)


@pytest.fixture(scope="module")
def with_authz(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Gateway]:
    yield from _start(
        tmp_path_factory.mktemp("authz"), issuer, REQUEST_AUTHN, AUTHZ, DENY_ANONYMOUS
    )


PASSED = 503  # past authentication and authorization: product, behind the route, is not running


def test_request_authentication_alone(authn_only: Gateway, issuer: Issuer) -> None:
    gw = authn_only
    assert gw.status(P + "/x") == PASSED  # no token: passes authentication
    assert gw.status(P + "/x", issuer.token(ISS, ISS)) == PASSED
    assert gw.status(P + "/x", "invalidToken") == 401
    assert gw.status(P + "/x", issuer.token(ISS, ISS, expired=True)) == 401
    assert gw.status(P + "/x", foreign_token(ISS, ISS)) == 401  # signed by a key nobody trusts
    assert gw.status(P + "/x", issuer.token("someone-else", ISS)) == 401  # an issuer none names


def test_request_principals(with_authz: Gateway, issuer: Issuer) -> None:
    gw = with_authz
    valid = issuer.token(ISS, ISS)
    assert gw.status(P + "/principal") == 403  # no token: authenticated, then denied
    assert gw.status(P + "/principal", valid) == PASSED
    assert gw.status(P + "/principal", issuer.token(ISS, "jason")) == 403
    assert gw.status(P + "/principal", "invalidToken") == 401
    assert gw.status(P + "/anyone") == 403
    assert gw.status(P + "/anyone", issuer.token(ISS, "jason")) == PASSED
    assert gw.status(P + "/issuer", issuer.token(ISS, "anyone")) == PASSED
    assert gw.status(P + "/open") == PASSED


def test_claims_strings_and_lists(with_authz: Gateway, issuer: Issuer) -> None:
    gw = with_authz
    assert gw.status(P + "/groups") == 403
    assert (
        gw.status(P + "/groups", issuer.token(ISS, ISS, {"groups": ["group1", "group2"]})) == PASSED
    )
    assert gw.status(P + "/groups", issuer.token(ISS, ISS, {"groups": "group1"})) == PASSED
    assert gw.status(P + "/groups", issuer.token(ISS, ISS, {"groups": ["group2"]})) == 403
    assert gw.status(P + "/groups", issuer.token(ISS, ISS)) == 403
    nested = issuer.token(ISS, ISS, {"realm": {"role": "admin"}})
    assert gw.status(P + "/nested", nested) == PASSED
    assert gw.status(P + "/nested", issuer.token(ISS, ISS, {"realm": {"role": "user"}})) == 403


def test_not_request_principals_denies_the_anonymous(with_authz: Gateway, issuer: Issuer) -> None:
    gw = with_authz
    assert gw.status(P + "/open/private") == 403
    assert gw.status(P + "/open/private", issuer.token(ISS, "jason")) == PASSED

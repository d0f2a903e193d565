"""`meshsim token` and `load.cohorts[].jwt`: tokens from the run's local issuer."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.control import issuer as jwt_issuer
from meshsim.control.issuer import Issuer
from meshsim.errors import ScenarioError, ScenarioErrors, UsageError
from meshsim.load.tokens import with_tokens
from meshsim.scenario import load_scenario_text
from meshsim.scenario.jwt import FALLBACK_ISSUER, scenario_issuers
from meshsim.token import make_token, parse_claims
from tests.live.helpers import meshsim

ISS = "testing@secure.istio.io"


def _ra(*issuers: str) -> str:
    rules = "".join(f"\n              - issuer: {i}" for i in issuers)
    return f"""
      - apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {{name: jwt}}
        spec:
          jwtRules:{rules}"""


def scenario_text(cohorts: str, *issuers: str) -> str:
    apply = f"\n    apply:{_ra(*issuers)}" if issuers else ""
    return f"""
name: jwt
load:
  users: 4
  cohorts:
{cohorts}
phases:
  - name: one
    duration: 5s{apply}
"""


def _decode(token: str, issuer: Issuer, **options: bool) -> dict[str, object]:
    key = issuer.key.public_key()
    decoded: dict[str, object] = jwt.decode(
        token, key, algorithms=["ES256"], options={"verify_exp": True, **options}
    )
    return decoded


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "scenario.yaml").write_text(scenario_text("    - {name: a, share: 10%}", ISS))
    jwt_issuer.save(Issuer.generate(), tmp_path)
    return tmp_path


def test_key_is_owner_only_and_reloads(run_dir: Path) -> None:
    key = run_dir / "jwt" / "issuer.pem"
    assert key.stat().st_mode & 0o077 == 0
    issuer = jwt_issuer.load(run_dir)
    assert (run_dir / "jwt" / "jwks.json").read_text().strip() == issuer.jwks()


def test_token_defaults_to_the_scenarios_issuer(run_dir: Path) -> None:
    token = make_token("jason", {"groups": ["group1"]}, run_dir=run_dir)
    claims = _decode(token, jwt_issuer.load(run_dir))
    assert claims["iss"] == ISS and claims["sub"] == "jason"
    assert claims["groups"] == ["group1"]
    header = jwt.get_unverified_header(token)
    assert header["kid"] == jwt_issuer.load(run_dir).public_jwk()["kid"]


def test_expired_token_is_expired(run_dir: Path) -> None:
    token = make_token("jason", {}, expired=True, run_dir=run_dir)
    with pytest.raises(jwt.ExpiredSignatureError):
        _decode(token, jwt_issuer.load(run_dir))


def test_foreign_token_fails_the_runs_key(run_dir: Path) -> None:
    token = jwt_issuer.foreign_token(ISS, "jason")
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(token, jwt_issuer.load(run_dir))


def test_ambiguous_issuer_needs_iss(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(scenario_text("    - {name: a, share: 10%}", "a", "b"))
    jwt_issuer.save(Issuer.generate(), tmp_path)
    with pytest.raises(UsageError, match="name 2 issuers .a, b.; say which with --iss"):
        make_token("jason", {}, run_dir=tmp_path)
    assert _decode(make_token("j", {}, iss="b", run_dir=tmp_path), jwt_issuer.load(tmp_path))


def test_no_issuer_in_the_run_dir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no JWT issuer"):
        make_token("jason", {}, run_dir=tmp_path)


def test_claims_parse_json_values_and_text() -> None:
    assert parse_claims(['groups=["g1","g2"]', "scope=read write", "n=3", "ok=true"]) == {
        "groups": ["g1", "g2"],
        "scope": "read write",
        "n": 3,
        "ok": True,
    }
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_claims(["groups"])


def test_cli_prints_only_the_token(run_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["token", "--sub", "jason", "--claim", 'groups=["group1"]', "--run-dir", str(run_dir)]
    )
    assert result.exit_code == 0, result.output
    claims = _decode(result.output.strip(), jwt_issuer.load(run_dir))
    assert claims["groups"] == ["group1"]
    bad = meshsim("token", "--sub", "j", "--run-dir", str(run_dir / "nope"))
    assert bad.returncode == 2 and "no JWT issuer" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr


# ----------------------------------------------------------------- cohorts


def test_cohort_tokens_go_in_the_authorization_header() -> None:
    cohorts = """\
    - {name: tester, share: 25%, jwt: {sub: jason, claims: {groups: [group1]}}}
    - {name: stale, share: 25%, jwt: {sub: jason, expired: true}}
    - {name: forged, share: 25%, jwt: {token: invalidToken}}
    - {name: plain, share: 10%, headers: {end-user: x}}"""
    scenario = load_scenario_text(scenario_text(cohorts, ISS))
    issuer = Issuer.generate()
    load = with_tokens(scenario.load, issuer, scenario_issuers(scenario))
    tester, stale, forged, plain = load.cohorts
    claims = _decode(tester.headers["Authorization"].removeprefix("Bearer "), issuer)
    assert claims["iss"] == ISS and claims["groups"] == ["group1"]
    with pytest.raises(jwt.ExpiredSignatureError):
        _decode(stale.headers["Authorization"].removeprefix("Bearer "), issuer)
    assert forged.headers == {"Authorization": "Bearer invalidToken"}
    assert plain.headers == {"end-user": "x"}


def test_cohort_without_request_authentication_gets_the_fallback_issuer() -> None:
    scenario = load_scenario_text(scenario_text("    - {name: a, share: 10%, jwt: {sub: j}}"))
    issuer = Issuer.generate()
    (cohort,) = with_tokens(scenario.load, issuer, scenario_issuers(scenario)).cohorts
    assert _decode(cohort.headers["Authorization"][7:], issuer)["iss"] == FALLBACK_ISSUER


@pytest.mark.parametrize(
    ("cohort", "issuers", "message"),
    [
        ("{name: a, share: 10%, jwt: {sub: j}}", ("x", "y"), "say which with jwt.iss"),
        ("{name: a, share: 10%, jwt: {token: abc, sub: j}}", (), "token is sent as written"),
        ("{name: a, share: 10%, jwt: {sub: j, expired: true, foreign: true}}", (), "not both"),
        ("{name: a, share: 10%, jwt: {token: 'a b'}}", (), "is not a bearer token"),
        ("{name: a, share: 10%, jwt: {subject: j}}", (), "subject"),
        (
            "{name: a, share: 10%, headers: {authorization: x}, jwt: {sub: j}}",
            (),
            "remove it from headers",
        ),
    ],
)
def test_cohort_jwt_errors_name_the_field(
    cohort: str, issuers: tuple[str, ...], message: str
) -> None:
    with pytest.raises((ScenarioError, ScenarioErrors)) as err:
        load_scenario_text(scenario_text(f"    - {cohort}", *issuers), file="s.yaml")
    text = str(err.value)
    assert "load.cohorts[0].jwt" in text and message in text, text

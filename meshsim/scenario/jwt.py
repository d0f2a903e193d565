"""`load.cohorts[].jwt`: a cohort whose requests carry a JWT, as a logged-in user's do.

Every request of the cohort's shoppers carries `Authorization: Bearer
<token>`; the token is signed at the start of the run by the run's local
issuer (`meshsim.control.issuer`), which every RequestAuthentication without
inline `jwks` trusts. So Istio's "authorization with JWT" task reads:

    load:
      cohorts:
        - {name: tester, share: 50%, jwt: {sub: testing@secure.istio.io}}
        - {name: group1, share: 25%, jwt: {sub: alice, claims: {groups: [group1]}}}
        - {name: forged, share: 25%, jwt: {token: invalidToken}}

`iss` defaults to the one issuer the scenario's RequestAuthentications name.
Pure: this module validates and describes; the runner signs (`cohort_headers`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from meshsim.scenario.services import Strict

if TYPE_CHECKING:
    from meshsim.scenario.model import Scenario

# The issuer of a cohort's tokens when the scenario names none (nothing checks them then).
FALLBACK_ISSUER = "meshsim.local"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")  # RFC 6750 b64token


class CohortJwt(Strict):
    """The JWT a cohort's shoppers send (`Authorization: Bearer <token>`)."""

    sub: str | None = Field(
        None, min_length=1, description="The token's subject; its request principal is iss/sub."
    )
    iss: str | None = Field(
        None,
        min_length=1,
        description="The token's issuer (default: the one issuer the scenario's "
        "RequestAuthentications name).",
    )
    claims: dict[str, Any] = Field(
        default_factory=dict,
        description="More claims, e.g. {groups: [group1], scope: read}; they may override "
        "iss, sub, exp.",
    )
    expired: bool = Field(
        False, description="Sign a token that expired an hour ago (Istio answers 401)."
    )
    foreign: bool = Field(
        False,
        description="Sign with a key no RequestAuthentication trusts (Istio answers 401).",
    )
    token: str | None = Field(
        None,
        min_length=1,
        description="Send this text as the token instead, e.g. invalidToken (Istio answers 401).",
    )

    @field_validator("token")
    @classmethod
    def _bearer_token(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN_CHARS.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a bearer token; use letters, digits and -._~+/= (RFC 6750)"
            )
        return value

    @model_validator(mode="after")
    def _literal_alone(self) -> CohortJwt:
        signed = (
            self.sub,
            self.iss,
            self.claims or None,
            self.expired or None,
            self.foreign or None,
        )
        if self.token is not None and any(v is not None for v in signed):
            raise ValueError(
                "token is sent as written; it excludes sub, iss, claims, expired, foreign"
            )
        if self.expired and self.foreign:
            raise ValueError("give expired or foreign, not both")
        return self


def scenario_issuers(scenario: Scenario) -> list[str]:
    """The issuers named by the RequestAuthentications of every phase, in order, once each."""
    out: list[str] = []
    for phase in scenario.phases:
        for raw in phase.apply:
            if not isinstance(raw, dict) or raw.get("kind") != "RequestAuthentication":
                continue
            spec = raw.get("spec")
            rules = spec.get("jwtRules") if isinstance(spec, dict) else None
            for rule in rules if isinstance(rules, list) else []:
                iss = rule.get("issuer") if isinstance(rule, dict) else None
                if isinstance(iss, str) and iss not in out:
                    out.append(iss)
    return out


def default_issuer(issuers: list[str]) -> str | None:
    """The issuer a token without `iss` gets, or None when the choice is ambiguous."""
    if len(issuers) > 1:
        return None
    return issuers[0] if issuers else FALLBACK_ISSUER


def cohort_jwt_problems(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for cohort tokens whose issuer cannot be chosen, or whose
    Authorization header would be set twice."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    issuers = scenario_issuers(scenario)
    for i, cohort in enumerate(scenario.load.cohorts):
        jwt = cohort.jwt
        if jwt is None:
            continue
        path: tuple[str | int, ...] = ("load", "cohorts", i, "jwt")
        if any(h.lower() == "authorization" for h in cohort.headers):
            out.append((path, "jwt sets the Authorization header; remove it from headers"))
        if jwt.token is None and jwt.iss is None and default_issuer(issuers) is None:
            out.append(
                (
                    path,
                    f"the scenario's RequestAuthentications name {len(issuers)} issuers "
                    f"({', '.join(issuers)}); say which with jwt.iss",
                )
            )
    return out

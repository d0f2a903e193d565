"""Signing the tokens of `load.cohorts[].jwt` at the start of a run.

The cohort's headers gain `Authorization: Bearer <token>`, and from there the
locustfile sends them as any cohort's headers (`meshsim.load.cohorts`).
"""

from __future__ import annotations

from meshsim.control.issuer import Issuer, foreign_token
from meshsim.scenario.jwt import CohortJwt, default_issuer
from meshsim.scenario.model import LoadSpec


def token_for(jwt: CohortJwt, issuer: Issuer, issuers: list[str]) -> str:
    """The token a cohort sends; `issuers` are those the scenario names."""
    if jwt.token is not None:
        return jwt.token
    iss = jwt.iss or default_issuer(issuers)
    if iss is None:  # meshsim validate refuses this; a clear error if it gets here
        raise ValueError(f"jwt.iss is needed: the scenario names issuers {', '.join(issuers)}")
    if jwt.foreign:
        return foreign_token(iss, jwt.sub, jwt.claims)
    return issuer.token(iss, jwt.sub, jwt.claims, expired=jwt.expired)


def with_tokens(load: LoadSpec, issuer: Issuer, issuers: list[str]) -> LoadSpec:
    """`load` with each jwt cohort's token in its headers (unchanged without any)."""
    if not any(c.jwt is not None for c in load.cohorts):
        return load
    cohorts = [
        c
        if c.jwt is None
        else c.model_copy(
            update={
                "headers": {
                    **c.headers,
                    "Authorization": f"Bearer {token_for(c.jwt, issuer, issuers)}",
                }
            }
        )
        for c in load.cohorts
    ]
    return load.model_copy(update={"cohorts": cohorts})

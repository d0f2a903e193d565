"""AuthorizationPolicy's JWT attributes as Envoy RBAC principals. Pure.

`requestPrincipals`, `notRequestPrincipals` and the `when` keys
`request.auth.principal`, `request.auth.audiences`, `request.auth.presenter`
and `request.auth.claims[...]` are matched, as Istio matches them, against
the payload of the token jwt_authn validated (`meshsim.control.jwt_authn`
puts it in the dynamic metadata). A request without a valid token has no
payload, so none of them matches it: an ALLOW that needs a principal denies
it (403), `notRequestPrincipals: ["*"]` matches it.

A request principal is `<iss>/<sub>`. Envoy's metadata matchers see the
claims one at a time, so meshsim splits the principal at its last `/`, the
separator when the subject has no `/` of its own (docs/security.md):
`iss/sub`, `iss/*`, `*/sub`, `*`, and the other prefix and suffix forms
then match exactly what Istio's would.
"""

from __future__ import annotations

import re
from typing import Any

JWT_FILTER = "envoy.filters.http.jwt_authn"
PAYLOAD_KEY = "payload"  # where jwt_authn puts a valid token's payload
AUTH_CLAIMS = re.compile(r"^request\.auth\.claims((?:\[[^\[\]]+\])+)$")
# The other request.auth keys, as the claim each names.
AUTH_KEY_CLAIMS = {"request.auth.audiences": "aud", "request.auth.presenter": "azp"}
REQUEST_PRINCIPAL = "request.auth.principal"


def _string(value: str) -> dict[str, Any]:
    """Istio's wildcard string (exact, prefix*, *suffix) as an Envoy StringMatcher."""
    if value.endswith("*"):
        return {"prefix": value[:-1]}
    if value.startswith("*"):
        return {"suffix": value[1:]}
    return {"exact": value}


def _claim(path: list[str], value: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "filter": JWT_FILTER,
            "path": [{"key": PAYLOAD_KEY}, *({"key": k} for k in path)],
            "value": value,
        }
    }


def _present(claim: str) -> dict[str, Any]:
    return _claim([claim], {"present_match": True})


def _is(claim: str, value: str) -> dict[str, Any]:
    return _claim([claim], {"string_match": _string(value)})


def _and(ids: list[dict[str, Any]]) -> dict[str, Any]:
    return ids[0] if len(ids) == 1 else {"and_ids": {"ids": ids}}


def request_principal_id(principal: str) -> dict[str, Any]:
    """An Istio request principal (`<iss>/<sub>`, wildcards allowed) as an RBAC Principal."""
    if principal == "*":
        return _and([_present("iss"), _present("sub")])
    if principal.endswith("*"):
        stem = principal[:-1]
        iss, sep, sub = stem.rpartition("/")
        starts_in_iss = _and([_is("iss", stem + "*"), _present("sub")])
        if not sep:
            return starts_in_iss
        # The separator is the stem's last '/', or comes after the stem.
        at_sep = _and([_is("iss", iss), _is("sub", sub + "*") if sub else _present("sub")])
        return {"or_ids": {"ids": [at_sep, starts_in_iss]}}
    if principal.startswith("*"):
        stem = principal[1:]
        iss, sep, sub = stem.rpartition("/")
        if not sep:
            return _and([_present("iss"), _is("sub", "*" + stem)])
        return _and([_is("iss", "*" + iss) if iss else _present("iss"), _is("sub", sub)])
    iss, sep, sub = principal.rpartition("/")
    if not sep:
        return {"not_id": {"any": True}}  # no '/': no token's principal looks like this
    return _and([_is("iss", iss), _is("sub", sub)])


def claim_value_id(path: list[str], value: str) -> dict[str, Any]:
    """A claim (a string, or a list of strings, at `path`) that equals or holds `value`."""
    if value == "*":
        return _claim(path, {"present_match": True})
    matcher = _string(value)
    return {
        "or_ids": {
            "ids": [
                _claim(path, {"string_match": matcher}),
                _claim(path, {"list_match": {"one_of": {"string_match": matcher}}}),
            ]
        }
    }


def claim_path(key: str) -> list[str] | None:
    """`request.auth.claims[a][b]` → ["a", "b"]; the audiences and presenter
    keys → their claim; None for any other key."""
    m = AUTH_CLAIMS.match(key)
    if m:
        return re.findall(r"\[([^\[\]]+)\]", m.group(1))
    claim = AUTH_KEY_CLAIMS.get(key)
    return [claim] if claim else None


def auth_value_id(key: str, value: str) -> dict[str, Any] | None:
    """One value of a `when` condition on a request.auth key, or None for another key."""
    if key == REQUEST_PRINCIPAL:
        return request_principal_id(value)
    path = claim_path(key)
    return claim_value_id(path, value) if path is not None else None

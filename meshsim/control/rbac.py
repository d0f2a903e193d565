"""AuthorizationPolicy → Envoy's RBAC HTTP filter. Pure: policies in, dicts out.

Istio's semantics, as Istio compiles them:

- each rule of a policy becomes one Envoy policy, named
  `ns[<namespace>]-policy[<name>]-rule[<index>]` (RBAC puts that name in the
  response code details of a denied request);
- a rule matches when one of its `from`, one of its `to` and every `when`
  match; inside a source or an operation every field must match, and a field
  matches when one of its values does (`not*` fields: when none does);
- principals and namespaces come from the caller's certificate (the URI SAN),
  so they only ever match requests that arrived over mTLS;
- strings take Istio's wildcards: exact, `prefix*`, `*suffix`, `*`.

Every inbound HTTP connection manager carries three RBAC filters, AUDIT
(Envoy's LOG action), DENY and ALLOW, in that order and without rules; the
rules of the policies that select a workload go on its route configuration as
`RBACPerRoute`, so that changing a policy never changes a listener.
"""

from __future__ import annotations

import re
from typing import Any

from meshsim.control.jwt_rbac import auth_value_id, request_principal_id
from meshsim.scenario.istio_security import (
    WHEN_HEADER,
    AuthorizationPolicy,
    Condition,
    Operation,
    Rule,
    Source,
)
from meshsim.shop import SERVICE_PORT

SPIFFE = "spiffe://"
RBAC_ACTIONS = ("AUDIT", "DENY", "ALLOW")  # the order Envoy runs them in
T_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
T_RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"


def _wild(value: str, prefix: str = "") -> dict[str, Any]:
    """Istio's wildcard string (exact, prefix*, *suffix, *) as an Envoy StringMatcher."""
    if value == "*":
        return {"safe_regex": {"regex": ".+"}}
    if value.endswith("*"):
        return {"prefix": prefix + value[:-1]}
    if value.startswith("*"):
        return {"suffix": value[1:]}
    return {"exact": prefix + value}


def _and_ids(ids: list[dict[str, Any]]) -> dict[str, Any]:
    if not ids:
        return {"any": True}
    return ids[0] if len(ids) == 1 else {"and_ids": {"ids": ids}}


def _and_rules(rules: list[dict[str, Any]]) -> dict[str, Any]:
    if not rules:
        return {"any": True}
    return rules[0] if len(rules) == 1 else {"and_rules": {"rules": rules}}


def _or_ids(ids: list[dict[str, Any]]) -> dict[str, Any]:
    return ids[0] if len(ids) == 1 else {"or_ids": {"ids": ids}}


def _or_rules(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return rules[0] if len(rules) == 1 else {"or_rules": {"rules": rules}}


def principal_id(principal: str) -> dict[str, Any]:
    """Istio principal (`cluster.local/ns/default/sa/order`, wildcards allowed)."""
    return {"authenticated": {"principal_name": _wild(principal, SPIFFE)}}


def namespace_id(namespace: str) -> dict[str, Any]:
    """A caller in `namespace`: matched on the /ns/<namespace>/ part of its principal."""
    if namespace == "*":
        part = "[^/]+"
    elif namespace.endswith("*"):
        part = re.escape(namespace[:-1]) + "[^/]*"
    elif namespace.startswith("*"):
        part = "[^/]*" + re.escape(namespace[1:])
    else:
        part = re.escape(namespace)
    regex = f"{re.escape(SPIFFE)}[^/]+/ns/{part}/.*"
    return {"authenticated": {"principal_name": {"safe_regex": {"regex": regex}}}}


def header_match(name: str, value: str) -> dict[str, Any]:
    if value == "*":
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": _wild(value)}


def path_perm(path: str) -> dict[str, Any]:
    matcher = {"prefix": "/"} if path == "*" else _wild(path)
    return {"url_path": {"path": matcher}}


def port_perm(port: str) -> dict[str, Any]:
    # Every meshsim workload serves one port, SERVICE_PORT (80): each request to
    # it arrives on the sidecar's inbound listener, whatever its local port.
    return {"any": True} if int(port) == SERVICE_PORT else {"not_rule": {"any": True}}


def _ids(values: list[str], negated: list[str], build: Any) -> list[dict[str, Any]]:
    out = []
    if values:
        out.append(_or_ids([build(v) for v in values]))
    if negated:
        out.append({"not_id": _or_ids([build(v) for v in negated])})
    return out


def _perms(values: list[str], negated: list[str], build: Any) -> list[dict[str, Any]]:
    out = []
    if values:
        out.append(_or_rules([build(v) for v in values]))
    if negated:
        out.append({"not_rule": _or_rules([build(v) for v in negated])})
    return out


def source_ids(src: Source) -> list[dict[str, Any]]:
    return (
        _ids(src.principals, src.notPrincipals, principal_id)
        + _ids(src.requestPrincipals, src.notRequestPrincipals, request_principal_id)
        + _ids(src.namespaces, src.notNamespaces, namespace_id)
    )


def operation_perms(op: Operation) -> list[dict[str, Any]]:
    return (
        _perms(op.methods, op.notMethods, lambda m: {"header": header_match(":method", m)})
        + _perms(op.paths, op.notPaths, path_perm)
        + _perms(op.ports, op.notPorts, port_perm)
    )


def condition_ids(cond: Condition) -> list[dict[str, Any]]:
    """A `when` condition on the caller or the request headers (a Principal)."""
    header = WHEN_HEADER.match(cond.key)
    if header:
        name = header.group(1)
        return _ids(cond.values, cond.notValues, lambda v: {"header": header_match(name, v)})
    if cond.key == "source.principal":
        return _ids(cond.values, cond.notValues, principal_id)
    if cond.key == "source.namespace":
        return _ids(cond.values, cond.notValues, namespace_id)
    if auth_value_id(cond.key, "*") is not None:  # request.auth.*: the token's payload
        return _ids(cond.values, cond.notValues, lambda v: auth_value_id(cond.key, v))
    return []


def condition_perms(cond: Condition) -> list[dict[str, Any]]:
    """A `when` condition on the destination (a Permission)."""
    if cond.key == "destination.port":
        return _perms(cond.values, cond.notValues, port_perm)
    return []


def rule_policy(rule: Rule) -> dict[str, Any]:
    """One Istio rule as one Envoy RBAC policy.

    Istio: a rule matches when one of its `from`, one of its `to` and every
    `when` match; an absent `from`/`to` matches anything. Envoy: a policy
    matches when one of its permissions and one of its principals match, so
    the `when` conditions are ANDed into each of them.
    """
    when_ids = [i for c in rule.when for i in condition_ids(c)]
    when_perms = [p for c in rule.when for p in condition_perms(c)]
    if rule.to:
        permissions = [_and_rules(operation_perms(t.operation) + when_perms) for t in rule.to]
    else:
        permissions = [_and_rules(when_perms)]
    if rule.from_:
        principals = [_and_ids(source_ids(f.source) + when_ids) for f in rule.from_]
    else:
        principals = [_and_ids(when_ids)]
    return {"permissions": permissions, "principals": principals}


def policy_name(ap: AuthorizationPolicy, index: int) -> str:
    """Istio's name for a rule's Envoy policy; shown in RBAC's response code details."""
    return f"ns[{ap.metadata.namespace}]-policy[{ap.metadata.name}]-rule[{index}]"


def rbac_rules(policies: list[AuthorizationPolicy], action: str) -> dict[str, Any] | None:
    """The Envoy RBAC rules for every policy of one action, or None when there is none.

    An ALLOW policy without rules contributes no Envoy policy, so the ALLOW
    filter denies everything (Istio's "allow nothing"); a `{}` rule matches
    every request.
    """
    chosen = [ap for ap in policies if ap.spec.action == action]
    if not chosen:
        return None
    envoy_action = "LOG" if action == "AUDIT" else action
    compiled = {
        policy_name(ap, i): rule_policy(rule)
        for ap in chosen
        for i, rule in enumerate(ap.spec.rules)
    }
    return {"action": envoy_action, "policies": compiled}


def rbac_filter_name(action: str) -> str:
    return f"envoy.filters.http.rbac.{action.lower()}"


def rbac_stat_prefix(action: str) -> str:
    return action.lower()


def rbac_http_filters() -> list[dict[str, Any]]:
    """The RBAC filters every inbound HTTP connection manager carries, empty:
    without rules an RBAC filter lets every request through."""
    return [
        {
            "name": rbac_filter_name(action),
            "typed_config": {"@type": T_RBAC, "rules_stat_prefix": rbac_stat_prefix(action)},
        }
        for action in RBAC_ACTIONS
    ]


def rbac_per_route(policies: list[AuthorizationPolicy]) -> dict[str, Any]:
    """`typed_per_filter_config` entries for a route configuration's virtual hosts."""
    out: dict[str, Any] = {}
    for action in RBAC_ACTIONS:
        rules = rbac_rules(policies, action)
        if rules is not None:
            out[rbac_filter_name(action)] = {
                "@type": T_RBAC_PER_ROUTE,
                "rbac": {"rules": rules, "rules_stat_prefix": rbac_stat_prefix(action)},
            }
    return out

"""Zero trust, the pure parts: the CA, PeerAuthentication, AuthorizationPolicy → Envoy."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.control.ads import AdsServer
from meshsim.control.ca import (
    INGRESS_IDENTITY,
    CertificateAuthority,
    workload_identity,
)
from meshsim.control.plan import build_plan
from meshsim.control.rbac import rbac_filter_name
from meshsim.control.sds import CertRotator, file_sources
from meshsim.control.security import (
    CHAIN_MTLS,
    CHAIN_PLAINTEXT,
    TLS_MODE_KEY,
    identities,
    mtls_mode,
    workloads,
)
from meshsim.control.state import PolicyState
from meshsim.control.translate import compile_mesh
from meshsim.control.validate import static_bootstrap
from meshsim.control.xds import Paths, ProxyConfig
from meshsim.control.xds_proto import T_SECRET
from meshsim.errors import UsageError
from meshsim.runtime.commands import envoy_binary
from meshsim.scenario import load_scenario, load_scenario_text
from meshsim.scenario.istio import check_resource, parse_resource
from meshsim.telemetry.authz import caller, merge_into_edges, write_authz

SHOP = {"user": {"v1": 1}, "product": {"v1": 1, "v2": 1}, "order": {"v1": 1}, "shipping": {"v1": 1}}
REPO = Path(__file__).resolve().parents[2]


def pa(
    name: str = "default",
    namespace: str = "default",
    mode: str | None = None,
    labels: dict[str, str] | None = None,
    ports: dict[int, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if labels:
        spec["selector"] = {"matchLabels": labels}
    if ports:
        spec["portLevelMtls"] = {p: {"mode": m} for p, m in ports.items()}
    return {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def ap(spec: dict[str, Any], name: str = "policy", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def state_of(*resources: dict[str, Any]) -> PolicyState:
    state = PolicyState.initial()
    state.apply([parse_resource(r) for r in resources])
    return state


PLAN = build_plan(SHOP, ingress_port=0)  # compiling only: the ports are never bound


def compiled(*resources: dict[str, Any], root: str = "/tmp/meshsim-test/xds") -> dict[str, Any]:
    return compile_mesh(PLAN, state_of(*resources), Paths(root))


def inbound(cfg: ProxyConfig) -> dict[str, Any]:
    return next(lst for lst in cfg.listeners if lst["name"] == "virtualInbound")


def cluster(cfg: ProxyConfig, name: str) -> dict[str, Any]:
    return next(c for c in cfg.clusters if c["name"] == name)


# ----------------------------------------------------------------------- the CA


def test_svid_has_exactly_one_uri_san_and_no_subject() -> None:
    ca = CertificateAuthority.generate()
    svid = ca.issue(workload_identity("product"), ttl_s=30)
    cert = x509.load_pem_x509_certificate(svid.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert list(san.value) == [
        x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/product")
    ]
    assert len(cert.subject) == 0
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("ttl", [30, 3600, 86400])
def test_svid_lives_for_its_ttl(ttl: int) -> None:
    ca = CertificateAuthority.generate(now=1_700_000_000.7)
    svid = ca.issue(workload_identity("order"), ttl_s=ttl, now=1_700_000_000.7)
    cert = x509.load_pem_x509_certificate(svid.cert_pem)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.total_seconds() == ttl == svid.ttl_s
    assert cert.not_valid_before_utc.timestamp() == 1_700_000_000  # valid at once


def test_chain_verifies_against_the_root_and_not_another() -> None:
    ca, other = CertificateAuthority.generate(), CertificateAuthority.generate()
    cert = x509.load_pem_x509_certificate(ca.issue(INGRESS_IDENTITY, 60).cert_pem)
    cert.verify_directly_issued_by(ca.cert)
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises several kinds
        cert.verify_directly_issued_by(other.cert)


def test_issue_refuses_what_is_not_a_spiffe_id() -> None:
    with pytest.raises(ValueError, match="SPIFFE"):
        CertificateAuthority.generate().issue("product", 60)


def test_keys_are_served_over_sds_never_written(tmp_path: Path) -> None:
    plan = build_plan(SHOP, ingress_port=0)
    ads = AdsServer(plan.proxies)
    certs = CertRotator(CertificateAuthority.generate(), ads, identities(plan), tmp_path, 30)
    certs.issue_all()
    for proxy in plan.proxies:
        served = ads.proxies[proxy].resources[T_SECRET]
        assert sorted(served) == ["ROOTCA", "default"]
        secret = Secret.FromString(served["default"].value)
        assert "PRIVATE KEY" in secret.tls_certificate.private_key.inline_string
    keyed = [p for p in tmp_path.rglob("*") if p.is_file() and "PRIVATE KEY" in p.read_text()]
    assert keyed == []
    assert (tmp_path / "pki" / "root-cert.pem").read_text().startswith("-----BEGIN CERTIFICATE")


def test_rotation_renews_at_half_life_and_logs_it(tmp_path: Path) -> None:
    plan = build_plan({"product": {"v1": 1}}, ingress_port=0)
    ads = AdsServer(plan.proxies)
    certs = CertRotator(CertificateAuthority.generate(), ads, identities(plan), tmp_path, 30)
    certs.issue_all()
    assert ads.version("product-v1-0", T_SECRET) == 1
    first = certs.current["product-v1-0"]
    assert certs.due("product-v1-0") == first.not_before + 15
    assert certs.rotate_due(now=first.not_before + 14) == []
    assert sorted(certs.rotate_due(now=first.not_before + 15)) == sorted(plan.proxies)
    assert certs.current["product-v1-0"].serial != first.serial
    assert ads.version("product-v1-0", T_SECRET) == 2  # a new version for the stream
    events = [json.loads(line) for line in (tmp_path / "certs.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("rotate") == 2
    assert all("KEY" not in json.dumps(e) for e in events)


# ----------------------------------------------------------- PeerAuthentication

MESH, NS = "istio-system", "default"
PRODUCT = {"app": "product"}

INHERITANCE = [
    # (resources, expected mode of product-v1-0's port 80)
    ([], "PERMISSIVE"),  # Istio's default
    ([pa(namespace=MESH, mode="UNSET")], "PERMISSIVE"),
    ([pa(namespace=MESH, mode="STRICT")], "STRICT"),
    ([pa(namespace=MESH, mode="DISABLE")], "DISABLE"),
    ([pa(namespace=MESH, mode="STRICT"), pa(mode="UNSET")], "STRICT"),
    ([pa(namespace=MESH, mode="STRICT"), pa()], "STRICT"),  # no mtls: inherit
    ([pa(namespace=MESH, mode="STRICT"), pa(mode="DISABLE")], "DISABLE"),
    ([pa(mode="STRICT")], "STRICT"),  # namespace only
    ([pa(namespace=MESH, mode="DISABLE"), pa("p", mode="STRICT", labels=PRODUCT)], "STRICT"),
    ([pa(mode="STRICT"), pa("p", mode="UNSET", labels=PRODUCT)], "STRICT"),
    ([pa(mode="STRICT"), pa("p", mode="PERMISSIVE", labels={"app": "user"})], "STRICT"),
    ([pa(mode="STRICT"), pa("p", labels=PRODUCT, ports={80: "DISABLE"})], "DISABLE"),
    ([pa(mode="DISABLE"), pa("p", labels=PRODUCT, ports={80: "UNSET"})], "DISABLE"),
    ([pa("p", mode="STRICT", labels=PRODUCT, ports={80: "UNSET"})], "STRICT"),
    ([pa("p", mode="STRICT", labels=PRODUCT, ports={8080: "DISABLE"})], "STRICT"),
    ([pa(mode="DISABLE"), pa("p", labels=PRODUCT, ports={80: "STRICT"})], "STRICT"),
    ([pa("p", mode="STRICT", labels={"app": "product", "version": "v2"})], "PERMISSIVE"),
    # a selector in the root namespace selects workloads there only (the ingress)
    ([pa("p", namespace=MESH, mode="STRICT", labels=PRODUCT)], "PERMISSIVE"),
    # a policy in another namespace is not ours
    ([pa(namespace="shop", mode="STRICT")], "PERMISSIVE"),
    # two mesh-wide policies: the oldest wins
    ([pa("a", namespace=MESH, mode="DISABLE"), pa("b", namespace=MESH, mode="STRICT")], "DISABLE"),
]


@pytest.mark.parametrize(("resources", "expected"), INHERITANCE)
def test_peer_authentication_inheritance(resources: list[dict[str, Any]], expected: str) -> None:
    plan = build_plan(SHOP, ingress_port=0)
    product = workloads(plan)["product-v1-0"]
    assert mtls_mode(state_of(*resources), product) == expected


def test_security_resources_are_keyed_by_namespace_outside_default() -> None:
    state = state_of(pa(namespace=MESH, mode="STRICT"), pa(mode="DISABLE"))
    assert {"PeerAuthentication/istio-system/default", "PeerAuthentication/default"} <= set(
        state.resources
    )
    assert len(state.peer_authentications()) == 2
    assert state.remove(["PeerAuthentication/istio-system/default"]) == []


def test_conflicts_and_dead_port_entries_are_warned() -> None:
    cfg = compiled(
        pa("a", namespace=MESH, mode="DISABLE"),
        pa("b", namespace=MESH, mode="STRICT"),
        pa("p", labels=PRODUCT, ports={8080: "DISABLE"}),
    )["order-v1-0"]
    text = "\n".join(cfg.warnings)
    assert "Istio uses the oldest, PeerAuthentication/istio-system/a" in text
    assert "portLevelMtls 8080" in text


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (pa(ports={80: "STRICT"}), "spec", "needs a workload selector"),
        (pa(mode="ON"), "spec.mtls.mode", "STRICT"),
        (
            {**pa(), "spec": {"mtls": {"mode": "STRICT"}, "action": "x"}},
            "spec.action",
            "unknown field 'action' (not an Istio field here); expected one of selector, mtls",
        ),
    ],
)
def test_peer_authentication_errors(raw: dict[str, Any], field: str, message: str) -> None:
    problems = check_resource(raw)
    assert any(f == field and message in m for f, m in problems), problems


def test_inbound_listener_follows_the_mode() -> None:
    for resources, chains in [
        ((), [CHAIN_MTLS, CHAIN_PLAINTEXT]),
        ((pa(namespace=MESH, mode="STRICT"),), [CHAIN_MTLS]),
        ((pa(namespace=MESH, mode="DISABLE"),), [CHAIN_PLAINTEXT]),
    ]:
        lst = inbound(compiled(*resources)["product-v1-0"])
        assert [c["name"] for c in lst["filter_chains"]] == chains
        assert [f["name"] for f in lst["listener_filters"]] == [
            "envoy.filters.listener.tls_inspector"
        ]
    strict = inbound(compiled(pa(namespace=MESH, mode="STRICT"))["product-v1-0"])
    tls = strict["filter_chains"][0]
    assert tls["filter_chain_match"] == {"transport_protocol": "tls"}
    ctx = tls["transport_socket"]["typed_config"]
    assert ctx["require_client_certificate"] is True
    assert ctx["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"] == "default"
    validation = ctx["common_tls_context"]["combined_validation_context"]
    assert validation["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    # PERMISSIVE → STRICT changes chains only, and not the mTLS one: Envoy
    # updates the listener in place without draining mesh connections.
    permissive = inbound(compiled()["product-v1-0"])
    assert permissive["filter_chains"][0] == tls
    assert {k: v for k, v in permissive.items() if k != "filter_chains"} == {
        k: v for k, v in strict.items() if k != "filter_chains"
    }


def test_secrets_come_over_the_ads_stream_or_files_for_compose() -> None:
    lst = inbound(compiled(root="/run/x/xds")["product-v1-0"])
    ref = lst["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"][
        "tls_certificate_sds_secret_configs"
    ][0]
    assert ref == {"name": "default", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    file_sources([lst], Paths("/run/x/xds"), "product-v1-0")
    assert ref["sds_config"]["path_config_source"] == {
        "path": "/run/x/xds/product-v1-0/sds/default.json",
        "watched_directory": {"path": "/run/x/xds/product-v1-0/sds"},
    }


def test_auto_mtls_per_endpoint_with_the_callee_identity() -> None:
    # product v2 is DISABLEd: calls to it go in plaintext, to v1 in mTLS.
    cfgs = compiled(pa("p2", mode="DISABLE", labels={"app": "product", "version": "v2"}))
    plan_ports = {
        ep["endpoint"]["address"]["socket_address"]["port_value"]: ep.get("metadata")
        for ep in cluster(cfgs["order-v1-0"], "outbound|80||product.default.svc.cluster.local")[
            "load_assignment"
        ]["endpoints"][0]["lb_endpoints"]
    }
    tagged = [m for m in plan_ports.values() if m]
    assert len(plan_ports) == 2 and len(tagged) == 1
    assert tagged[0]["filter_metadata"][TLS_MODE_KEY] == {"tlsMode": "istio"}
    c = cluster(cfgs["order-v1-0"], "outbound|80||product.default.svc.cluster.local")
    istio, disabled = c["transport_socket_matches"]
    assert istio["match"] == {"tlsMode": "istio"}
    assert disabled["match"] == {} and "raw_buffer" in disabled["transport_socket"]["name"]
    ctx = istio["transport_socket"]["typed_config"]["common_tls_context"]
    sans = ctx["combined_validation_context"]["default_validation_context"][
        "match_typed_subject_alt_names"
    ]
    assert sans == [
        {"san_type": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/default/sa/product"}}
    ]
    # the caller presents its own certificate: `default` on its own ADS stream
    own = ctx["tls_certificate_sds_secret_configs"][0]
    assert own == {"name": "default", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    ingress = cluster(cfgs["istio-ingressgateway"], c["name"])
    ingress_ctx = ingress["transport_socket_matches"][0]["transport_socket"]["typed_config"]
    assert ingress_ctx["common_tls_context"]["tls_certificate_sds_secret_configs"] == [own]


def test_identities_follow_istio_conventions() -> None:
    ids = identities(build_plan(SHOP, ingress_port=0))
    assert ids["product-v2-0"] == "spiffe://cluster.local/ns/default/sa/product"
    assert ids["istio-ingressgateway"] == (
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    )


# ------------------------------------------------------------ AuthorizationPolicy


def rbac(cfg: ProxyConfig, action: str, route: str = "inbound") -> dict[str, Any] | None:
    vhost = cfg.routes[route]["virtual_hosts"][0]
    per = vhost.get("typed_per_filter_config", {}).get(rbac_filter_name(action))
    return per["rbac"]["rules"] if per else None


def only_policy(spec: dict[str, Any], proxy: str = "product-v1-0") -> dict[str, Any]:
    cfg = compiled(ap({"selector": {"matchLabels": PRODUCT}, **spec}))[proxy]
    rules = rbac(cfg, spec.get("action", "ALLOW"))
    assert rules is not None
    (policy,) = rules["policies"].values()
    return dict(policy)


def test_every_inbound_hcm_has_audit_deny_allow_filters_before_the_router() -> None:
    cfg = compiled()["product-v1-0"]
    for chain in inbound(cfg)["filter_chains"]:
        hcm = chain["filters"][0]["typed_config"]
        names = [f["name"] for f in hcm["http_filters"]]
        assert names[:3] == [rbac_filter_name(a) for a in ("AUDIT", "DENY", "ALLOW")]
        assert names[-1] == "envoy.filters.http.router"
        assert all("rules" not in f["typed_config"] for f in hcm["http_filters"][:3])
        assert hcm["access_log"][0]["typed_config"]["path"].endswith(
            "/logs/product-v1-0.inbound.jsonl"
        )
    assert rbac(cfg, "ALLOW") is None  # no policy: nothing on the routes either


def test_policy_goes_on_the_route_and_only_to_selected_workloads() -> None:
    cfgs = compiled(ap({"selector": {"matchLabels": PRODUCT}, "rules": [{}]}, "product"))
    assert rbac(cfgs["product-v1-0"], "ALLOW") is not None
    assert rbac(cfgs["product-v2-0"], "ALLOW") is not None
    assert rbac(cfgs["order-v1-0"], "ALLOW") is None
    rules = rbac(cfgs["product-v1-0"], "ALLOW")
    assert rules is not None and list(rules["policies"]) == ["ns[default]-policy[product]-rule[0]"]
    # a mesh-wide policy (root namespace, no selector) reaches the ingress too
    mesh_wide = compiled(ap({"action": "DENY", "rules": [{}]}, "all", namespace=MESH))
    for proxy in ("order-v1-0", "product-v2-0"):
        assert rbac(mesh_wide[proxy], "DENY") is not None
    assert rbac(mesh_wide["istio-ingressgateway"], "DENY", route="ingress") is not None


def test_actions_and_empty_rules() -> None:
    cfgs = compiled(
        ap({"selector": {"matchLabels": PRODUCT}}, "allow-nothing"),
        ap({"selector": {"matchLabels": PRODUCT}, "action": "DENY", "rules": [{}]}, "deny-all"),
        ap({"selector": {"matchLabels": PRODUCT}, "action": "AUDIT", "rules": [{}]}, "audit"),
    )
    product = cfgs["product-v1-0"]
    allow = rbac(product, "ALLOW")
    assert allow == {"action": "ALLOW", "policies": {}}  # ALLOW without rules denies all
    deny = rbac(product, "DENY")
    assert deny is not None and deny["action"] == "DENY"
    assert deny["policies"]["ns[default]-policy[deny-all]-rule[0]"] == {
        "permissions": [{"any": True}],
        "principals": [{"any": True}],
    }
    audit = rbac(product, "AUDIT")
    assert audit is not None and audit["action"] == "LOG"


def test_custom_is_rejected_with_a_clear_message() -> None:
    problems = check_resource(ap({"action": "CUSTOM", "provider": {"name": "opa"}, "rules": [{}]}))
    assert problems == [
        (
            "spec",
            "action CUSTOM (an external authorizer through ext_authz) is not supported by "
            "meshsim; use ALLOW, DENY or AUDIT",
        )
    ]


def test_principals_and_not_principals() -> None:
    policy = only_policy(
        {
            "rules": [
                {
                    "from": [
                        {
                            "source": {
                                "principals": [
                                    "cluster.local/ns/default/sa/order",
                                    "cluster.local/ns/default/*",
                                    "*/sa/user",
                                ],
                                "notPrincipals": ["*"],
                            }
                        }
                    ]
                }
            ]
        }
    )
    assert policy["permissions"] == [{"any": True}]
    (principal,) = policy["principals"]
    ids = principal["and_ids"]["ids"]
    assert ids[0] == {
        "or_ids": {
            "ids": [
                {
                    "authenticated": {
                        "principal_name": {"exact": "spiffe://cluster.local/ns/default/sa/order"}
                    }
                },
                {
                    "authenticated": {
                        "principal_name": {"prefix": "spiffe://cluster.local/ns/default/"}
                    }
                },
                {"authenticated": {"principal_name": {"suffix": "/sa/user"}}},
            ]
        }
    }
    assert ids[1] == {
        "not_id": {"authenticated": {"principal_name": {"safe_regex": {"regex": ".+"}}}}
    }


@pytest.mark.parametrize(
    ("namespace", "matches", "misses"),
    [
        (
            "default",
            "spiffe://cluster.local/ns/default/sa/order",
            "spiffe://cluster.local/ns/shop/sa/x",
        ),
        (
            "istio-*",
            "spiffe://cluster.local/ns/istio-system/sa/gw",
            "spiffe://cluster.local/ns/default/sa/a",
        ),
        (
            "*-system",
            "spiffe://cluster.local/ns/istio-system/sa/gw",
            "spiffe://cluster.local/ns/default/sa/a",
        ),
        ("*", "spiffe://cluster.local/ns/default/sa/a", "spiffe://cluster.local/sa/a"),
    ],
)
def test_namespaces_match_the_principal(namespace: str, matches: str, misses: str) -> None:
    policy = only_policy({"rules": [{"from": [{"source": {"namespaces": [namespace]}}]}]})
    regex = policy["principals"][0]["authenticated"]["principal_name"]["safe_regex"]["regex"]
    assert re.fullmatch(regex, matches)
    assert not re.fullmatch(regex, misses)


def test_operations_methods_paths_ports() -> None:
    policy = only_policy(
        {
            "rules": [
                {
                    "to": [
                        {
                            "operation": {
                                "methods": ["GET", "HEAD"],
                                "paths": ["/products", "/products/*", "*/stock", "*"],
                                "notPaths": ["/products/9"],
                                "ports": ["80"],
                            }
                        },
                        {"operation": {"notMethods": ["DELETE"], "notPorts": ["8080"]}},
                    ]
                }
            ]
        }
    )
    first, second = policy["permissions"]
    methods, paths, not_paths, ports = first["and_rules"]["rules"]
    assert methods == {
        "or_rules": {
            "rules": [
                {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                {"header": {"name": ":method", "string_match": {"exact": "HEAD"}}},
            ]
        }
    }
    assert paths["or_rules"]["rules"] == [
        {"url_path": {"path": {"exact": "/products"}}},
        {"url_path": {"path": {"prefix": "/products/"}}},
        {"url_path": {"path": {"suffix": "/stock"}}},
        {"url_path": {"path": {"prefix": "/"}}},
    ]
    assert not_paths == {"not_rule": {"url_path": {"path": {"exact": "/products/9"}}}}
    assert ports == {"any": True}  # 80 is the port every workload serves
    assert second["and_rules"]["rules"] == [
        {"not_rule": {"header": {"name": ":method", "string_match": {"exact": "DELETE"}}}},
        {"not_rule": {"not_rule": {"any": True}}},  # not 8080: always true
    ]
    assert policy["principals"] == [{"any": True}]


def test_when_conditions() -> None:
    policy = only_policy(
        {
            "action": "DENY",
            "rules": [
                {
                    "from": [{"source": {"namespaces": ["default"]}}],
                    "to": [{"operation": {"methods": ["POST"]}}],
                    "when": [
                        {"key": "request.headers[x-canary]", "values": ["yes", "beta*"]},
                        {"key": "request.headers[x-debug]", "notValues": ["*"]},
                        {"key": "source.principal", "values": ["cluster.local/ns/default/sa/user"]},
                        {"key": "source.namespace", "notValues": ["istio-system"]},
                        {"key": "destination.port", "values": ["80"]},
                    ],
                }
            ],
        }
    )
    (permission,) = policy["permissions"]
    assert permission["and_rules"]["rules"][1] == {"any": True}  # destination.port 80
    ids = policy["principals"][0]["and_ids"]["ids"]
    assert ids[1] == {
        "or_ids": {
            "ids": [
                {"header": {"name": "x-canary", "string_match": {"exact": "yes"}}},
                {"header": {"name": "x-canary", "string_match": {"prefix": "beta"}}},
            ]
        }
    }
    assert ids[2] == {"not_id": {"header": {"name": "x-debug", "present_match": True}}}
    assert ids[3]["authenticated"]["principal_name"] == {
        "exact": "spiffe://cluster.local/ns/default/sa/user"
    }
    assert "not_id" in ids[4]


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"rules": [{"when": [{"key": "source.ip", "values": ["10.0.0.1"]}]}]},
         "spec.rules[0].when[0].key", "not supported by meshsim"),
        ({"rules": [{"when": [{"key": "source.ip", "values": ["10.0.0.1"]}]}]},
         "spec.rules[0].when[0].key", "not supported by meshsim"),
        ({"rules": [{"when": [{"key": "source.principle", "values": ["x"]}]}]},
         "spec.rules[0].when[0].key",
         "unknown when key 'source.principle' (not an Istio condition); "
         "did you mean 'source.principal'?"),
        ({"rules": [{"when": [{"key": "request.header[x-a]", "values": ["x"]}]}]},
         "spec.rules[0].when[0].key", "did you mean 'request.headers[<name>]'?"),
        ({"rules": [{"from": [{"source": {"principal": ["x"]}}]}]},
         "spec.rules[0].from[0].source.principal",
         "unknown field 'principal'; did you mean 'principals'?"),
        ({"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}]},
         "spec.rules[0].from[0].source.ipBlocks", "not supported by meshsim"),
        ({"rules": [{"from": [{"source": {}}]}]},
         "spec.rules[0].from[0].source", "at least one field"),
        ({"rules": [{"to": [{"operation": {"paths": ["/a*b*"]}}]}]},
         "spec.rules[0].to[0].operation.paths", "start or the end"),
        ({"rules": [{"to": [{"operation": {"paths": ["products"]}}]}]},
         "spec.rules[0].to[0].operation.paths", "starts with '/'"),
        ({"rules": [{"to": [{"operation": {"ports": ["http"]}}]}]},
         "spec.rules[0].to[0].operation.ports", "not a port"),
        ({"rules": [{"to": [{"operation": {"methods": ["FETCH"]}}]}]},
         "spec.rules[0].to[0].operation.methods", "not an HTTP method"),
        ({"rules": [{"when": [{"key": "source.principal"}]}]},
         "spec.rules[0].when[0]", "values or notValues"),
        ({"action": "REJECT"}, "spec.action",
         "expected one of ALLOW, DENY, AUDIT, CUSTOM; got 'REJECT'"),
    ],
)  # fmt: skip
def test_authorization_policy_errors(spec: dict[str, Any], field: str, message: str) -> None:
    problems = check_resource(ap(spec))
    assert any(f == field and message in m for f, m in problems), problems


def test_principals_without_mtls_are_warned() -> None:
    cfg = compiled(
        pa(mode="DISABLE"),
        ap(
            {
                "selector": {"matchLabels": PRODUCT},
                "rules": [
                    {"from": [{"source": {"principals": ["cluster.local/ns/default/sa/order"]}}]}
                ],
            }
        ),
    )["order-v1-0"]
    assert any("mTLS DISABLEd" in w for w in cfg.warnings)


# ------------------------------------------------------------------ Envoy agrees


def test_envoy_validates_tls_and_rbac(tmp_path: Path) -> None:
    """`envoy --mode validate` on a sidecar and the ingress with every construct."""
    everything = ap(
        {
            "selector": {"matchLabels": PRODUCT},
            "rules": [
                {
                    "from": [
                        {
                            "source": {
                                "principals": ["cluster.local/ns/default/sa/order", "*/sa/user"],
                                "notNamespaces": ["shop*"],
                            }
                        }
                    ],
                    "to": [
                        {
                            "operation": {
                                "methods": ["GET"],
                                "paths": ["/products/*"],
                                "notPaths": ["*/secret"],
                                "ports": ["80"],
                            }
                        }
                    ],
                    "when": [
                        {"key": "request.headers[x-canary]", "values": ["*"]},
                        {"key": "source.namespace", "values": ["default"]},
                        {"key": "destination.port", "notValues": ["8080"]},
                    ],
                }
            ],
        },
        "everything",
    )
    cfgs = compiled(
        pa(namespace=MESH, mode="STRICT"),
        pa("p", labels={"app": "product", "version": "v2"}, ports={80: "PERMISSIVE"}),
        everything,
        ap(
            {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]},
            "d",
            MESH,
        ),
        ap({"selector": {"matchLabels": PRODUCT}, "action": "AUDIT", "rules": [{}]}, "audit"),
    )
    for name in ("istio-ingressgateway", "product-v1-0", "product-v2-0"):
        bootstrap = static_bootstrap(cfgs[name])
        assert {s["name"] for s in bootstrap["static_resources"]["secrets"]} == {
            "default",
            "ROOTCA",
        }
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bootstrap))
        proc = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------- scenario, report


def test_shipped_security_scenarios_validate() -> None:
    """As `meshsim validate` checks them: loaded, every phase compiled to Envoy
    configuration, and not one warning (an unknown field, a policy that
    selects nothing, an expectation that cannot be judged)."""
    from meshsim.control.advice import compile_warnings, scenario_warnings

    kinds = {"mtls-migration": "PeerAuthentication", "authz-lockdown": "AuthorizationPolicy"}
    for name, kind in kinds.items():
        scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml")
        applied = {r["kind"] for p in scenario.phases for r in p.apply}
        assert kind in applied, applied
        assert scenario_warnings(scenario) + compile_warnings(scenario) == [], name


def test_scenario_legacy_clients_and_namespaced_remove() -> None:
    text = """
name: s
mesh:
  cert_ttl: 30s
  legacy_clients: [{name: old_app, target: "product:v1", rps: 2, path: /products}]
phases:
  - name: a
    duration: 5s
    apply:
      - {apiVersion: security.istio.io/v1, kind: PeerAuthentication,
         metadata: {name: default, namespace: istio-system}, spec: {mtls: {mode: STRICT}}}
      - {apiVersion: security.istio.io/v1, kind: PeerAuthentication,
         metadata: {name: default}, spec: {mtls: {mode: PERMISSIVE}}}
    expect: ["journey(old_app).error_rate > 90%"]
  - name: b
    duration: 5s
    remove: [PeerAuthentication/istio-system/default]
"""
    scenario = load_scenario_text(text)
    assert scenario.mesh.cert_ttl == 30
    assert scenario.mesh.legacy_clients[0].target == "product:v1"


@pytest.mark.parametrize(
    ("mesh", "message"),
    [
        ("{legacy_clients: [{target: nope}]}", "'nope' is not in the mesh"),
        ("{legacy_clients: [{name: browse, target: product}]}", "is a shopper journey"),
        ("{legacy_clients: [{target: product, path: products}]}", "is not a request path"),
        ("{cert_ttl: 2s}", "must be at least 10"),
    ],
)
def test_scenario_security_errors(mesh: str, message: str) -> None:
    with pytest.raises(Exception, match=re.escape(message)):
        load_scenario_text(f"name: s\nmesh: {mesh}\nphases: [{{name: a, duration: 1s}}]")


def test_unknown_legacy_journey_in_an_expectation_is_an_error() -> None:
    with pytest.raises(Exception, match="unknown journey 'legacy'"):
        load_scenario_text(
            "name: s\nphases: [{name: a, duration: 1s, expect: ['journey(legacy).failures = 0']}]"
        )


def test_callers_by_principal() -> None:
    assert caller("spiffe://cluster.local/ns/default/sa/order") == "order"
    assert caller(INGRESS_IDENTITY) == "istio-ingressgateway"
    assert caller(None) == caller("-") == "plaintext"
    # a service whose account is not its name (Bookinfo's): named by its service
    sa = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    assert caller(sa, {sa: "productpage"}) == "productpage"
    assert caller(sa) == "bookinfo-productpage"


def test_denials_are_merged_into_the_edges_once() -> None:
    edges = {
        "phases": {
            "p": [
                {
                    "source": "user",
                    "destination": "product",
                    "destination_version": "v1",
                    "requests": 4,
                },
                {
                    "source": "user",
                    "destination": "product",
                    "destination_version": "v2",
                    "requests": 2,
                },
                {
                    "source": "order",
                    "destination": "product",
                    "destination_version": None,
                    "requests": 9,
                },
            ]
        }
    }
    summary = {
        "phases": {
            "p": [
                {"source": "user", "destination": "product", "destination_version": "v2",
                 "denied": 2, "denied_by": {"none": 2}},
                {"source": "order", "destination": "product", "destination_version": "v1",
                 "denied": 1, "denied_by": {"ns[default]-policy[d]-rule[0]": 1}},
            ]
        }
    }  # fmt: skip
    merged = merge_into_edges(merge_into_edges(edges, summary), summary)
    v1, v2, order = merged["phases"]["p"]
    assert (v1["denied"], v2["denied"], order["denied"]) == (0, 2, 1)
    assert v2["denied_by"] == {"none": 2}


def test_exec_without_a_running_mesh_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["exec", "--as", "user", "--", "GET", "http://product/"])
    assert isinstance(result.exception, UsageError)  # main() maps it to exit code 2
    assert "no mesh is running" in str(result.exception)


def test_authz_summary_counts_per_phase_caller_and_callee(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    events = [
        {"event": "run_start", "t": 100.0},
        {"event": "phase_start", "t": 100.0, "phase": "open", "index": 0},
        {"event": "phase_end", "t": 110.0, "phase": "open", "index": 0, "status": "completed"},
        {"event": "phase_start", "t": 110.0, "phase": "locked", "index": 1},
        {"event": "phase_end", "t": 120.0, "phase": "locked", "index": 1, "status": "completed"},
        {"event": "run_end", "t": 121.0, "status": "completed"},
    ]
    (tmp_path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    order, user = workload_identity("order"), workload_identity("user")
    denied = "rbac_access_denied_matched_policy[none]"
    lines = [
        {"t": "105.5", "peer": order, "tls": "TLSv1.2", "code": 200, "details": "via_upstream"},
        {"t": "111.0", "peer": order, "tls": "TLSv1.2", "code": 200, "details": "via_upstream"},
        {"t": "112.0", "peer": user, "tls": "TLSv1.2", "code": 403, "details": denied},
        {"t": "113.0", "peer": None, "tls": None, "code": 403, "details": denied},
        {"t": "119.0", "peer": INGRESS_IDENTITY, "tls": "TLSv1.3", "code": 503, "details": "x"},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"t": "11'  # a torn last line
    (tmp_path / "logs" / "product-v2-0.inbound.jsonl").write_text(text)
    write_authz(tmp_path)
    phases = json.loads((tmp_path / "authz.json").read_text())["phases"]
    assert [(e["source"], e["allowed"], e["denied"]) for e in phases["open"]] == [("order", 1, 0)]
    locked = {e["source"]: e for e in phases["locked"]}
    assert set(locked) == {"order", "user", "plaintext", "istio-ingressgateway"}
    assert locked["user"]["denied_by"] == {"none": 1}
    assert locked["user"]["destination"] == "product"
    assert locked["user"]["destination_version"] == "v2"
    assert locked["plaintext"]["plaintext"] == 1 and locked["plaintext"]["denied"] == 1
    assert locked["istio-ingressgateway"]["allowed"] == 1  # a 503 is not a denial


def test_denials_after_a_settle_point_reach_the_settled_edges(tmp_path: Path) -> None:
    """`edge(a->b).denied` in a phase with a settle is judged on the settled
    edges: authz.json counts from the settle point too, and write_authz
    merges those into edges.json's `settled` (a denial before it is left out)."""
    (tmp_path / "logs").mkdir()
    events = [
        {"event": "run_start", "t": 100.0},
        {"event": "phase_start", "t": 100.0, "phase": "locked", "index": 0, "settle_s": 2.0},
        {"event": "phase_settled", "t": 102.0, "phase": "locked", "index": 0, "settle_s": 2.0},
        {"event": "phase_end", "t": 110.0, "phase": "locked", "index": 0, "status": "completed"},
        {"event": "run_end", "t": 111.0, "status": "completed"},
    ]
    (tmp_path / "phases.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    user, denied = workload_identity("user"), "rbac_access_denied_matched_policy[none]"
    lines = [
        {"t": t, "peer": user, "tls": "TLSv1.3", "code": 403, "details": denied}
        for t in ("101.0", "103.0", "104.0")
    ]
    log = tmp_path / "logs" / "product-v1-0.inbound.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    edge = {"source": "user", "destination": "product", "destination_version": None}
    (tmp_path / "edges.json").write_text(
        json.dumps({"phases": {"locked": [dict(edge)]}, "settled": {"locked": [dict(edge)]}})
    )
    write_authz(tmp_path)
    edges = json.loads((tmp_path / "edges.json").read_text())
    assert edges["phases"]["locked"][0]["denied"] == 3
    assert edges["settled"]["locked"][0]["denied"] == 2
    assert json.loads((tmp_path / "authz.json").read_text())["settled"]["locked"][0]["denied"] == 2

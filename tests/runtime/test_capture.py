"""The capture rules, as text: what each rule lets through and where it sends
the rest (the live check is tests/live/test_docker.py)."""

from __future__ import annotations

from meshsim.runtime import capture


def _chain(rules: str, chain: str) -> list[str]:
    return [line for line in rules.splitlines() if line.startswith(f"-A {chain} ")]


def test_outbound_exempts_the_sidecar_and_the_pod_then_sends_the_rest_to_envoy() -> None:
    rules = capture.rules("10.0.0.7", 15001, 8080, gid=1337)
    out = _chain(rules, capture.OUTBOUND_CHAIN)
    assert out == [
        "-A MESHSIM_OUTPUT -m owner --gid-owner 1337 -j RETURN",
        "-A MESHSIM_OUTPUT -o lo -j RETURN",
        "-A MESHSIM_OUTPUT -p tcp -j DNAT --to-destination 10.0.0.7:15001",
    ]
    assert "-A OUTPUT -p tcp -j MESHSIM_OUTPUT" in rules.splitlines()


def test_inbound_refuses_the_apps_port_except_from_inside_the_pod() -> None:
    rules = capture.rules("10.0.0.7", 15001, 9000)
    assert _chain(rules, capture.INBOUND_CHAIN) == [
        "-A MESHSIM_INBOUND -i lo -j RETURN",
        "-A MESHSIM_INBOUND -p tcp --dport 9000 -j REJECT --reject-with tcp-reset",
    ]


def test_rules_are_complete_tables_for_iptables_restore() -> None:
    lines = capture.rules("10.0.0.7", 15001, 8080).splitlines()
    assert lines.count("COMMIT") == 2
    assert lines[0] == "*nat" and "*filter" in lines


def test_proxy_group_never_is_the_apps_group() -> None:
    assert capture.proxy_gid((0, 0)) == 1337
    assert capture.proxy_gid((1337, 1337)) != 1337


def test_service_hosts_are_stable_and_distinct() -> None:
    a = capture.service_hosts(["b", "a", "c"])
    assert a == capture.service_hosts(["c", "b", "a"])
    assert len({a["a"], a["b"], a["c"]}) == 3
    assert a["a.default"] == a["a.default.svc"] == a["a"]

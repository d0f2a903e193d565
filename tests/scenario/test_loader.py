"""Loading scenario files: valid ones load; every malformed one names file, line, field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshsim.errors import ScenarioError, ScenarioErrors
from meshsim.scenario import (
    Scenario,
    check_scenario,
    load_scenario,
    load_scenario_text,
    resolve_mesh,
)

FIXTURES = Path(__file__).with_name("fixtures")
ROOT = Path(__file__).parents[2]
FILE = "broken.yaml"


def test_full_example_loads() -> None:
    scenario = load_scenario(FIXTURES / "canary.yaml")
    assert scenario.name == "product-canary"
    assert [p.name for p in scenario.phases] == ["baseline", "canary-10", "chaos"]
    assert [p.duration for p in scenario.phases] == [15.0, 30.0, 60.0]
    assert scenario.load.users == 20
    assert resolve_mesh(scenario)["product"] == {"v1": 2, "v2": 1}
    kill, restart = scenario.phases[2].actions
    assert (kill.verb, kill.target, kill.at) == ("kill", "product-v1-1", 10.0)
    assert (restart.verb, restart.at) == ("restart", 40.0)
    assert scenario.phases[1].expectations[1].tolerance == pytest.approx(0.03)


def test_minimal_gets_defaults() -> None:
    scenario = load_scenario(str(FIXTURES / "minimal.yaml"))
    assert scenario.load.users == 10
    assert scenario.load.journeys["browse"] == 3
    assert scenario.mesh.services == {}
    assert scenario.phases[0].apply == []


def test_anchors_and_merge_keys_work() -> None:
    text = (
        "name: x\n"
        "phases:\n"
        "  - &base {name: a, duration: 5s, expect: ['p99 < 1s']}\n"
        "  - <<: *base\n"
        "    name: b\n"
    )
    scenario = load_scenario_text(text)
    assert [p.name for p in scenario.phases] == ["a", "b"]
    assert scenario.phases[1].expect == ["p99 < 1s"]


def test_apply_then_remove_across_phases() -> None:
    text = (
        "name: x\n"
        "phases:\n"
        "  - name: a\n"
        "    duration: 1s\n"
        "    apply:\n"
        "      - {apiVersion: networking.istio.io/v1, kind: DestinationRule,\n"
        "         metadata: {name: product}, spec: {host: product}}\n"
        "  - {name: b, duration: 1s, remove: [DestinationRule/product, VirtualService/shop]}\n"
    )
    assert len(load_scenario_text(text).phases) == 2


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match="no such file") as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert info.value.line is None


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a directory") as info:
        load_scenario(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(path)


def test_several_problems_are_reported_together() -> None:
    text = (
        "name: x\n"
        "mesh:\n"
        "  services:\n"
        "    payment: {}\n"
        "phases:\n"
        "  - {name: a, duration: 1s}\n"
        "  - {name: a, duration: 1s, remove: [nonsense]}\n"
    )
    with pytest.raises(ScenarioErrors) as info:
        load_scenario_text(text, FILE)
    assert [(e.line, e.field) for e in info.value.errors] == [
        (4, "mesh.services.payment"),
        (7, "phases[1].name"),
        (7, "phases[1].remove[0]"),
    ]
    assert str(info.value).count(FILE) == 3


def test_check_scenario_without_yaml_has_no_lines() -> None:
    scenario = Scenario.model_validate(
        {"name": "x", "phases": [{"name": "a", "duration": 1, "actions": [{"kill": "nope"}]}]}
    )
    (error,) = check_scenario(scenario)
    assert (error.line, error.field) == (None, "phases[0].actions[0].kill")


def _doc_example() -> str:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- full-example -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, "docs/scenarios.md lost its full example"
    return match.group(1)


def test_docs_full_example_loads() -> None:
    load_scenario_text(_doc_example(), "docs/scenarios.md")


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    load_scenario(path)


P = "name: demo\nphases:\n  - name: a\n    duration: 10s\n"  # a valid head; phases[0] on line 3
C = "name: demo\nload:\n  cohorts:\n"  # cohorts[0] on line 4

# (id, yaml text, line, field, message substring)
MALFORMED: list[tuple[str, str, int | None, str | None, str]] = [
    ("yaml-syntax", "name: demo\nphases: [\n  {name: a\n", 4, None, "invalid YAML"),
    ("tab-indent", "name: demo\nphases:\n\t- name: a\n", 3, None, "does not allow tabs"),
    ("bad-indent", "name: demo\n  load: 1\nphases: []\n", 2, None, "invalid YAML"),
    ("empty-file", "", 1, None, "the file is empty"),
    ("only-comments", "# nothing here\n", 1, None, "the file is empty"),
    ("top-level-list", "- name: a\n- name: b\n", 1, None, "found a list"),
    ("top-level-text", "just text\n", 1, None, "found text 'just text'"),
    ("duplicate-key", "name: a\nname: b\nphases: []\n", 2, "name", "duplicate key 'name'"),
    ("unknown-top-key", P + "nmae: x\n", 5, "nmae", "did you mean 'name'"),
    (
        "unknown-phase-key",
        P + "    expct: []\n",
        5,
        "phases[0].expct",
        "unknown key; expected one of name, duration, description, apply, remove, actions, expect",
    ),
    ("missing-name", "phases:\n  - {name: a, duration: 1s}\n", 1, "name", "required key"),
    ("missing-phases", "name: demo\n", 1, "phases", "required key is missing"),
    ("empty-phases", "name: demo\nphases: []\n", 2, "phases", "list at least one phase"),
    ("phases-mapping", "name: demo\nphases:\n  a: 1\n", 2, "phases", "expected a list"),
    ("missing-duration", "name: demo\nphases:\n  - name: a\n", 3, "phases[0].duration", "required"),
    (
        "users-many",
        "name: demo\nload:\n  users: many\n" + P[11:],
        3,
        "load.users",
        "'many' is not a whole number",
    ),
    ("users-negative", "name: demo\nload: {users: -1}\n" + P[11:], 2, "load.users", "at least 0"),
    (
        "bad-journey",
        "name: demo\nload:\n  journeys:\n    fly: 1\n" + P[11:],
        4,
        "load.journeys.fly",
        "'fly' is not a journey",
    ),
    (
        "cohort-share-number",
        C + "    - {name: beta, share: 25}\n" + P[11:],
        4,
        "load.cohorts[0].share",
        "share 25 is not a fraction; write 25% or 0.25",
    ),
    (
        "cohort-bad-name",
        C + "    - name: Beta Testers\n      share: 25%\n" + P[11:],
        4,
        "load.cohorts[0].name",
        "'Beta Testers' is not a valid cohort name",
    ),
    (
        "cohort-duplicate-name",
        C + "    - {name: beta, share: 10%}\n    - name: beta\n      share: 10%\n" + P[11:],
        5,
        "load.cohorts[1].name",
        "duplicate cohort name 'beta' (already used by cohorts[0])",
    ),
    (
        "cohort-shares-over-100",
        C + "    - {name: a, share: 60%}\n    - {name: b, share: 0.5}\n" + P[11:],
        3,
        "load.cohorts",
        "the cohorts' shares add up to 110% (a 60% + b 50%); at most 100%",
    ),
    (
        "cohort-bad-header-name",
        C + "    - name: beta\n      share: 25%\n      headers:\n        end user: x\n" + P[11:],
        7,
        "load.cohorts[0].headers.end user",
        "'end user' is not a valid header name",
    ),
    (
        "cohort-hop-by-hop-header",
        C
        + "    - name: beta\n      share: 25%\n      headers:\n        Connection: close\n"
        + P[11:],
        7,
        "load.cohorts[0].headers.Connection",
        "'Connection' cannot be set by a cohort",
    ),
    (
        "cohort-host-header",
        C + "    - name: beta\n      share: 25%\n      headers: {host: evil}\n" + P[11:],
        6,
        "load.cohorts[0].headers.host",
        "'host' cannot be set by a cohort",
    ),
    (
        "cohort-header-twice",
        C + "    - name: beta\n      share: 25%\n      headers:\n        End-User: a\n"
        "        end-user: b\n" + P[11:],
        8,
        "load.cohorts[0].headers.end-user",
        "'end-user' repeats 'End-User'; header names ignore case",
    ),
    (
        "cohort-header-number",
        C + "    - name: beta\n      share: 25%\n      headers:\n        end-user: 7\n" + P[11:],
        7,
        "load.cohorts[0].headers.end-user",
        "expected text; found the number 7",
    ),
    (
        "bad-duration",
        "name: demo\nphases:\n  - name: a\n    duration: fast\n",
        4,
        "phases[0].duration",
        "'fast' is not a duration; expected e.g. 15s, 500ms or 1m30s",
    ),
    (
        "negative-duration",
        "name: demo\nphases:\n  - name: a\n    duration: -5\n",
        4,
        "phases[0].duration",
        "greater than zero",
    ),
    (
        "bad-phase-name",
        "name: demo\nphases:\n  - name: my phase\n    duration: 1s\n",
        3,
        "phases[0].name",
        "not a valid phase name",
    ),
    (
        "phase-name-number",
        "name: demo\nphases:\n  - name: 2024\n    duration: 1s\n",
        3,
        "phases[0].name",
        "expected text; found the number 2024",
    ),
    (
        "duplicate-phase",
        P + "  - name: a\n    duration: 5s\n",
        5,
        "phases[1].name",
        "duplicate phase name 'a' (already used by phases[0])",
    ),
    (
        "unknown-service",
        "name: demo\nmesh:\n  services:\n    payment: {}\n" + P[11:],
        4,
        "mesh.services.payment",
        "unknown service 'payment'; the shop has user, product, shipping, order",
    ),
    (
        "unknown-version",
        "name: demo\nmesh:\n  services:\n    user:\n      versions:\n        v2: {}\n" + P[11:],
        6,
        "mesh.services.user.versions.v2",
        "user has no version 'v2'; expected one of v1",
    ),
    (
        "zero-replicas",
        "name: demo\nmesh:\n  services:\n    product:\n      versions:\n"
        "        v1: {replicas: 0}\n" + P[11:],
        6,
        "mesh.services.product.versions.v1.replicas",
        "must be at least 1",
    ),
    (
        "no-versions",
        "name: demo\nmesh:\n  services:\n    product:\n      versions: {}\n" + P[11:],
        5,
        "mesh.services.product.versions",
        "at least one version",
    ),
    (
        "two-verbs",
        P + "    actions:\n      - kill: product\n        pause: user\n",
        6,
        "phases[0].actions[0]",
        "exactly one of kill, pause, resume, restart",
    ),
    (
        "action-not-mapping",
        P + "    actions: [kill product]\n",
        5,
        "phases[0].actions[0]",
        "expected a mapping such as {kill: product:v2}",
    ),
    (
        "unknown-instance",
        P + "    actions:\n      - {kill: user}\n      - kill: product-v1-1\n",
        7,
        "phases[0].actions[1].kill",
        "'product-v1-1' is not in the mesh",
    ),
    (
        "unknown-version-target",
        P + "    actions:\n      - pause: product:v2\n",
        6,
        "phases[0].actions[0].pause",
        "'product:v2' is not in the mesh",
    ),
    (
        "action-after-end",
        P + "    actions:\n      - kill: user\n        at: 1m\n",
        7,
        "phases[0].actions[0].at",
        "60s is not within the phase, which lasts 10s",
    ),
    (
        "settle-not-shorter",
        P + "    settle: 10s\n",
        5,
        "phases[0].settle",
        "10s is not shorter than the phase, which lasts 10s",
    ),
    ("settle-not-a-duration", P + "    settle: soon\n", 5, "phases[0].settle", "not a duration"),
    ("settle-negative", P + "    settle: -1\n", 5, "phases[0].settle", "must not be negative"),
    (
        "default-settle-too-long",
        "name: demo\nsettle: 12s\nphases:\n  - {name: a, duration: 10s}\n"
        "  - {name: b, duration: 30s}\n  - {name: c, duration: 5s, settle: 1s}\n",
        2,
        "settle",
        "12s is not shorter than phase a (10s); give such a phase a settle of its own",
    ),
    (
        "bad-remove",
        P + "    remove:\n      - product\n",
        6,
        "phases[0].remove[0]",
        "'product' is not Kind/name; expected e.g. VirtualService/product",
    ),
    (
        "remove-not-in-force",
        P + "    remove: [DestinationRule/product]\n",
        5,
        "phases[0].remove[0]",
        "DestinationRule/product is not in force when this phase starts",
    ),
    (
        "apply-not-mapping",
        P + "    apply:\n      - VirtualService/product\n",
        6,
        "phases[0].apply[0]",
        "expected an Istio resource (a mapping); found text",
    ),
    (
        "apply-without-kind",
        P + "    apply:\n      - apiVersion: networking.istio.io/v1\n"
        "        metadata: {name: product}\n        spec: {host: product}\n",
        6,
        "phases[0].apply[0].kind",
        "required key is missing; an Istio resource needs apiVersion, kind, metadata.name",
    ),
    (
        "apply-without-name",
        P + "    apply:\n      - apiVersion: networking.istio.io/v1\n"
        "        kind: DestinationRule\n        metadata: {}\n        spec: {host: product}\n",
        8,
        "phases[0].apply[0].metadata.name",
        "must be a non-empty name",
    ),
    (
        "apply-unknown-kind",
        P + "    apply:\n      - apiVersion: networking.istio.io/v1\n"
        "        kind: ServiceEntry\n        metadata: {name: x}\n        spec: {}\n",
        7,
        "phases[0].apply[0].kind",
        "'ServiceEntry'",
    ),
    (
        "apply-twice",
        P + "    apply:\n"
        "      - {apiVersion: networking.istio.io/v1, kind: DestinationRule,"
        " metadata: {name: p}, spec: {host: product}}\n"
        "      - {apiVersion: networking.istio.io/v1, kind: DestinationRule,"
        " metadata: {name: p}, spec: {host: product}}\n",
        7,
        "phases[0].apply[1]",
        "DestinationRule/p is applied twice in this phase",
    ),
    (
        "bad-metric",
        P + "    expect:\n      - p99 < 300ms\n      - latency < 300ms\n",
        7,
        "phases[0].expect[1]",
        "unknown metric 'latency'",
    ),
    (
        "bad-unit",
        P + "    expect: ['p99 < 5%']\n",
        5,
        "phases[0].expect[0]",
        "p99 is a latency",
    ),
    (
        "expect-unknown-version",
        P + "    expect: ['version(product:v2).share = 10% ± 3%']\n",
        5,
        "phases[0].expect[0]",
        "product has no version 'v2' in this mesh; it runs v1",
    ),
    (
        "expect-unknown-journey",
        P + "    expect:\n      - journey(checkout).error_rate < 1%\n",
        6,
        "phases[0].expect[0]",
        "unknown journey 'checkout'",
    ),
    (
        "expect-unknown-cohort",
        P + "    expect:\n      - cohort(beta).error_rate < 1%\n",
        6,
        "phases[0].expect[0]",
        "unknown cohort 'beta'; load.cohorts has none",
    ),
    (
        "expect-unknown-cohort-names-the-known",
        C + "    - {name: staff, share: 5%}\n" + P[11:] + "    expect: ['cohort(beta).rps > 1']\n",
        8,
        "phases[0].expect[0]",
        "unknown cohort 'beta'; load.cohorts has staff",
    ),
    (
        "expect-unknown-edge",
        P + "    expect:\n      - edge(order->payment).error_rate < 1%\n",
        6,
        "phases[0].expect[0]",
        "unknown service 'payment' in edge",
    ),
    (
        "expect-not-text",
        P + "    expect:\n      - {p99: 300ms}\n",
        6,
        "phases[0].expect[0]",
        "expected text; found a mapping",
    ),
    (
        "legacy-client-method",
        "name: demo\nmesh:\n  legacy_clients:\n    - {name: vm, target: product, method: FETCH}\n"
        + P[11:],
        4,
        "mesh.legacy_clients[0].method",
        "expected one of GET, HEAD, POST, PUT, DELETE; got 'FETCH'",
    ),
    # PyYAML's complaints get a hint in plain words
    (
        "yaml-list-item-indent",
        P + "  - name: b\n   duration: 5s\n - name: c\n",
        6,
        None,
        "wrong indentation: this line does not line up with the lines it belongs to",
    ),
    (
        "yaml-key-under-indent",
        P + "   expect: []\n",
        5,
        None,
        "wrong indentation",
    ),
    (
        "yaml-key-over-indent",
        "name: demo\n  load: 1\nphases: []\n",
        2,
        None,
        "this key is indented deeper than the key above it",
    ),
    ("yaml-dash-without-space", P + "  -name: b\n", 5, None, "needs a space after its '-'"),
    (
        "yaml-missing-colon",
        "name: demo\nphases:\n  - name: a\n    duration 5s\n    expect: []\n",
        5,
        None,
        "line 4 has no ':' after its key; write key: value",
    ),
    (
        "yaml-no-space-after-colon",
        "name: demo\nphases:\n  - name:a\n    duration: 5s\n",
        4,
        None,
        "the line above has no space after its ':'",
    ),
    (
        "yaml-colon-in-value",
        "name: demo\ndescription: note: this\n" + P[11:],
        2,
        None,
        "a value that contains ': ' must be quoted",
    ),
    (
        "yaml-unclosed-quote",
        'name: "demo\nphases: []\n',
        3,
        None,
        "the quote opened on line 1 is never closed",
    ),
    (
        "yaml-unclosed-bracket",
        "name: demo\nphases: [{name: a, duration: 5s}\n",
        3,
        None,
        "the '[' opened on line 2 is not closed with ']'",
    ),
    (
        "yaml-unclosed-brace",
        "name: demo\nload: {users: 1\nphases: []\n",
        3,
        None,
        "the '{' opened on line 2 is not closed with '}'",
    ),
    ("yaml-at-sign", "name: @demo\nphases: []\n", 1, None, "must be quoted"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed(text: str, line: int | None, field: str | None, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, FILE)
    error = info.value
    assert (error.line, error.field) == (line, field), str(error)
    assert message in error.detail, str(error)
    assert str(error).startswith(f"{FILE}:{line}: ")


def test_cohorts_load_with_their_headers() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "header-routing.yaml")
    (beta,) = scenario.load.cohorts
    assert (beta.name, beta.share, beta.headers) == ("beta", 0.25, {"end-user": "beta-tester"})


def test_malformed_file_on_disk_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(P + "    duration: 5s\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}:5: phases[0].duration: duplicate key")

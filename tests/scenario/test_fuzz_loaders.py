"""Property: whatever YAML reaches a loader, it is accepted or refused with a
meshsim error naming the file, never another exception (an internal error is
exit 3, "a bug in meshsim").

test_hostile.py mutates whole scenarios through `meshsim validate`; this file
goes past validation into what the other commands do with what validation
let through (the control plane's compile, `analyze`, `explain`), and feeds the
other loaders: Kubernetes manifests (`mesh.manifests`), compose files
(`init --from-compose`), any YAML value at all, and argument lists of the CLI.

Deterministic: `derandomize=True` draws the same examples on every run (CI
cannot flake on a new one); `MESHSIM_HYPOTHESIS_EXAMPLES=2000` with
`MESHSIM_HYPOTHESIS_RANDOM=1` explores. A case found is pinned in a test of
its own (test_from_compose.py, tests/control/test_gateway_binding.py).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshsim.analyze import analyze_file
from meshsim.cli import main
from meshsim.control.advice import compile_warnings, scenario_warnings
from meshsim.errors import MeshsimError
from meshsim.explain import explain
from meshsim.from_compose import scenario_from_compose
from meshsim.scenario import load_scenario

REPO = Path(__file__).parents[2]
HERE = Path(__file__).parent


def fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=int(os.environ.get("MESHSIM_HYPOTHESIS_EXAMPLES", examples)),
        derandomize=not os.environ.get("MESHSIM_HYPOTHESIS_RANDOM"),
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def _scenarios() -> list[dict[str, Any]]:
    """Every scenario of the repository with Istio resources to mutate."""
    out = []
    for p in sorted([*(REPO / "scenarios").rglob("*.yaml"), *(REPO / "examples").rglob("*.yaml")]):
        text = p.read_text(encoding="utf-8")
        if "\nphases:" not in text:
            continue
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or "manifests" in str(data.get("mesh")):
            continue
        if any(isinstance(ph, dict) and ph.get("apply") for ph in data.get("phases") or []):
            out.append(data)
    return out


SCENARIOS = _scenarios()
ODD: list[Any] = [
    *["", " ", "*", "-1", "0s", "-5s", "1e400", "NaN", "999999999h", "é" * 70, "v9"],
    *["product", "meshsim-gateway", "mesh", "default/x", "*.local", "/", "STRICT", "DENY"],
    *[None, True, 0, -1, 2**63, 10**30, 1.5, math.inf, math.nan, [], {}, [1], ["*"]],
    *[{"exact": "x"}, {"prefix": "/"}, {"regex": "("}, {"name": "v1"}, [{"name": "v1"}]],
]
ODD_VALUE = st.sampled_from(ODD).map(copy.deepcopy)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def mutate(draw: st.DrawFn, data: Any) -> None:
    """One change somewhere inside `data`: drop, replace, wrap or unwrap, copy, add."""
    path = draw(st.sampled_from(_paths(data)[1:] or [()]))
    if not path:
        return
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    how = draw(st.sampled_from(["drop", "swap", "wrap", "copy", "add"]))
    if how == "drop":
        del parent[key]
    elif how == "swap":
        parent[key] = draw(ODD_VALUE)
    elif how == "wrap":
        now = parent[key]
        parent[key] = (now[0] if now else {}) if isinstance(now, list) else [now]
    elif how == "copy" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif isinstance(parent, dict):
        field = draw(st.sampled_from(["name", "host", "port", "weight", "subset", "match", "x"]))
        parent[field] = draw(ODD_VALUE)
    else:
        parent.insert(key, draw(ODD_VALUE))


@st.composite
def istio_mutated(draw: st.DrawFn) -> str:
    data = copy.deepcopy(draw(st.sampled_from(SCENARIOS)))
    phase = draw(st.sampled_from([p for p in data["phases"] if p.get("apply")]))
    resource = draw(st.sampled_from(phase["apply"]))
    for _ in range(draw(st.integers(1, 2))):
        mutate(draw, resource)
    return yaml.safe_dump(data, sort_keys=False)


def assert_meshsim_error(exc: MeshsimError, path: Path) -> None:
    assert str(path) in str(exc), f"the error does not name the file: {exc}"


def every_command(path: Path) -> None:
    """What validate, a run's start, analyze and explain do with a scenario."""
    scenario = load_scenario(path)
    scenario_warnings(scenario)
    compile_warnings(scenario)
    analyze_file(path)
    explain(scenario)


@fuzz_settings(40)
@given(text=istio_mutated())
def test_istio_resources_past_validation(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        every_command(path)
    except MeshsimError as exc:
        assert_meshsim_error(exc, path)


# ------------------------------------------------------------- manifests

MANIFESTS = {
    p.name: p.read_text(encoding="utf-8")
    for p in sorted((REPO / "examples" / "k8s-user-service" / "k8s").glob("*.yaml"))
}
MANIFEST_SCENARIO = """\
name: m
mesh: {manifests: [k8s/], expose: frontend}
load: {users: 1, requests: [{name: home, path: /}]}
phases: [{name: a, duration: 5s}]
"""


@st.composite
def manifests_mutated(draw: st.DrawFn) -> dict[str, str]:
    files = dict(MANIFESTS)
    name = draw(st.sampled_from(sorted(files)))
    docs = [d for d in yaml.safe_load_all(files[name]) if d is not None]
    doc = draw(st.sampled_from(docs))
    for _ in range(draw(st.integers(1, 2))):
        mutate(draw, doc)
    files[name] = yaml.safe_dump_all(docs, sort_keys=False)
    return files


@fuzz_settings(15)
@given(files=manifests_mutated())
def test_kubernetes_manifests(tmp_path: Path, files: dict[str, str]) -> None:
    (tmp_path / "k8s").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / "k8s" / name).write_text(text, encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(MANIFEST_SCENARIO, encoding="utf-8")
    try:
        every_command(path)
    except MeshsimError as exc:
        assert str(tmp_path) in str(exc), f"the error does not name a file: {exc}"


# ---------------------------------------------------- any YAML, any loader

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(ODD),
)
KEYS = st.sampled_from(
    ["name", "kind", "apiVersion", "spec", "metadata", "services", "image", "ports", "phases"]
) | st.text(max_size=6)
ANY_YAML = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def yaml_bytes(draw: st.DrawFn) -> bytes:
    """Random documents, several or none, with aliases, duplicate keys or junk."""
    docs = draw(st.lists(ANY_YAML, min_size=0, max_size=3))
    text = "---\n".join(yaml.safe_dump(d, allow_unicode=True) for d in docs)
    extra = draw(
        st.sampled_from(
            [
                "",
                "a: &x [1, 2]\nb: *x\n",
                "kind: A\nkind: B\n",
                "---\n---\n",
                "x: *nope\n",
                "<<: {a: 1}\n",
                "!!python/object:os.system {}\n",
            ]
        )
    )
    data = (text + extra).encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    return data


@fuzz_settings(40)
@given(data=yaml_bytes())
def test_any_yaml_as_a_manifest(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "k8s").mkdir(exist_ok=True)
    (tmp_path / "k8s" / "app.yaml").write_bytes(data)
    path = tmp_path / "scenario.yaml"
    path.write_text(MANIFEST_SCENARIO, encoding="utf-8")
    try:
        load_scenario(path)
    except MeshsimError as exc:
        assert str(tmp_path) in str(exc), f"the error does not name a file: {exc}"


@fuzz_settings(40)
@given(data=yaml_bytes())
def test_any_yaml_as_a_compose_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "compose.yml"
    path.write_bytes(data)
    try:
        scenario_from_compose(path)
    except MeshsimError as exc:
        assert_meshsim_error(exc, path)


@st.composite
def compose_mutated(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted((HERE / "compose").glob("*.yml"))))
    data = yaml.safe_load(name.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        mutate(draw, data)
    return yaml.safe_dump(data, sort_keys=False)


@fuzz_settings(30)
@given(text=compose_mutated())
def test_compose_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(text, encoding="utf-8")
    try:
        scenario_from_compose(path)
    except MeshsimError as exc:
        assert_meshsim_error(exc, path)


@fuzz_settings(40)
@given(data=yaml_bytes())
def test_any_yaml_as_a_scenario(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(data)
    try:
        every_command(path)
    except MeshsimError as exc:
        assert_meshsim_error(exc, path)


# ------------------------------------------------------------------ the CLI

# Commands that start nothing and touch no mesh (never up, down or exec:
# other tests and people share this machine).
COMMANDS = ["validate", "analyze", "explain", "report", "graph", "traces", "logs", "config"]
ARGS = [
    "--phase",
    "--json",
    "--raw",
    "--instance",
    "--strict",
    "--max-attempts-warn",
    "--max-attempts-error",
    "--run-dir",
    "--kind",
    "--format",
    "--out",
    "-",
    "--",
    "0",
    "-1",
    "1e400",
    "canary",
    "baseline",
    "no-such-scenario",
    "product-v1-0",
    "istio-ingressgateway",
    "é\u202e",
    "",
    "{SCENARIO}",
    "{DIR}",
    "{JUNK}",
]


@contextlib.contextmanager
def argv(args: list[str]) -> Iterator[io.StringIO]:
    out = io.StringIO()
    old = sys.argv
    sys.argv = ["meshsim", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield out
    finally:
        sys.argv = old


@fuzz_settings(25)
@given(
    command=st.sampled_from(COMMANDS),
    rest=st.lists(st.sampled_from(ARGS), max_size=5),
)
def test_cli_arguments(tmp_path: Path, command: str, rest: list[str]) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"name: [\x00\xff")
    places = {"{SCENARIO}": str(REPO / "scenarios" / "canary.yaml"), "{DIR}": str(tmp_path)}
    args = [command] + [places.get(a, str(junk) if a == "{JUNK}" else a) for a in rest]
    with argv(args) as out:
        try:
            main()
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
    output = out.getvalue()
    assert code in (0, 1, 2, None), f"meshsim {' '.join(args)}: exit {code}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output


def test_the_corpus_of_scenarios_is_not_empty() -> None:
    assert len(SCENARIOS) >= 10 and len(MANIFESTS) >= 3


def test_the_manifests_load_unmutated(tmp_path: Path) -> None:
    """The property tests start from files that load: else every example is an error."""
    (tmp_path / "k8s").mkdir()
    for n, text in MANIFESTS.items():
        (tmp_path / "k8s" / n).write_text(text, encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text(MANIFEST_SCENARIO, encoding="utf-8")
    every_command(tmp_path / "scenario.yaml")

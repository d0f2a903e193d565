"""`meshsim analyze`: one scenario that triggers each finding and one that
does not, figures checked against hand-computed examples, the library clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshsim.analyze import Thresholds, analyze_file
from meshsim.errors import ScenarioError

ROOT = Path(__file__).parents[1]
LIBRARY = sorted(
    [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("scenarios/istio-tasks/*.yaml")]
    + list(ROOT.glob("examples/*/*.yaml"))
)


def vs(name: str, http: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": spec.pop("hosts", [name]), "http": http, **spec},
    }


def dr(host: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": host},
        "spec": {"host": host, **spec},
    }


def gateway_vs(http: list[dict[str, Any]]) -> dict[str, Any]:
    return vs("shop", http, hosts=["*"], gateways=["meshsim-gateway"])


SUBSETS = [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
TWO_VERSIONS = {"services": {"product": {"versions": {"v1": {}, "v2": {}}}}}


def scenario(
    tmp_path: Path, apply: list[dict[str, Any]], mesh: dict[str, Any] | None = None
) -> Path:
    doc: dict[str, Any] = {
        "name": "t",
        "phases": [{"name": "p", "duration": "5s", "apply": apply}],
    }
    if mesh is not None:
        doc["mesh"] = mesh
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def codes(path: Path, **kw: Any) -> list[str]:
    return [f.code for f in analyze_file(path, **kw).findings]


def route_to(host: str, **extra: Any) -> dict[str, Any]:
    return {"route": [{"destination": {"host": host, **extra}}]}


# (code, the resources that trigger it, the ones that do not, mesh)
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]] = [
    ("MSA101", [vs("product", [route_to("prodcut")])], [vs("product", [route_to("product")])], None),
    (
        "MSA102",
        [vs("product", [route_to("product", subset="v3")]), dr("product", subsets=SUBSETS)],
        [vs("product", [route_to("product", subset="v2")]), dr("product", subsets=SUBSETS)],
        TWO_VERSIONS,
    ),
    ("MSA103", [dr("prodcut")], [dr("product")], None),
    (
        "MSA104",
        [vs("product", [route_to("product")], gateways=["my-gateway"])],
        [vs("product", [route_to("product")], gateways=["mesh"])],
        None,
    ),
    ("MSA105", [vs("warehouse", [route_to("product")])], [vs("user", [route_to("user")])], None),
    (
        "MSA106",
        [
            vs("product", [route_to("product", subset="v3")]),
            dr("product", subsets=[*SUBSETS, {"name": "v3", "labels": {"version": "v3"}}]),
        ],
        [vs("product", [route_to("product", subset="v1")]), dr("product", subsets=SUBSETS)],
        TWO_VERSIONS,
    ),
    (
        "MSA107",
        [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "r"},
                "spec": {
                    "parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
                    "rules": [{"backendRefs": [{"name": "product", "port": 80}]}],
                },
            }
        ],
        [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "r"},
                "spec": {
                    "parentRefs": [{"group": "", "kind": "Service", "name": "product"}],
                    "rules": [{"backendRefs": [{"name": "product", "port": 80}]}],
                },
            }
        ],
        None,
    ),
    (
        "MSA109",
        [vs("product", [route_to("product")]), vs("product-b", [route_to("product")], hosts=["product"])],
        [vs("product", [route_to("product")]), vs("user", [route_to("user")])],
        None,
    ),
    (
        "MSA401",
        [vs("product", [route_to("product"), {"match": [{"uri": {"prefix": "/x"}}], **route_to("product")}])],
        [vs("product", [{"match": [{"uri": {"prefix": "/x"}}], **route_to("product")}, route_to("product")])],
        None,
    ),
    (
        "MSA301",
        [
            dr("product", subsets=SUBSETS),
            vs("product", [{"route": [
                {"destination": {"host": "product", "subset": "v1"}, "weight": 90},
                {"destination": {"host": "product", "subset": "v2"}, "weight": 10}]}]),
        ],
        [dr("product", subsets=SUBSETS), vs("product", [route_to("product", subset="v1")])],
        TWO_VERSIONS,
    ),
    (
        "MSA302",
        [dr("product", trafficPolicy={"outlierDetection": {"consecutive5xxErrors": 1, "maxEjectionPercent": 100}})],
        [dr("product", trafficPolicy={"outlierDetection": {
            "consecutive5xxErrors": 1, "maxEjectionPercent": 100, "minHealthPercent": 50}})],
        None,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("code", "bad", "good", "mesh"), CASES, ids=[c[0] for c in CASES])
def test_each_finding_has_a_case_that_triggers_it_and_one_that_does_not(
    tmp_path: Path,
    code: str,
    bad: list[dict[str, Any]],
    good: list[dict[str, Any]],
    mesh: dict[str, Any] | None,
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    assert code in codes(scenario(tmp_path / "bad", bad, mesh))
    assert code not in codes(scenario(tmp_path / "good", good, mesh))


def test_strict_mtls_with_a_legacy_client(tmp_path: Path) -> None:
    strict = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "product"},
        "spec": {"selector": {"matchLabels": {"app": "product"}}, "mtls": {"mode": "STRICT"}},
    }
    mesh = {"legacy_clients": [{"name": "legacy", "target": "product"}]}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert "MSA303" in codes(scenario(tmp_path / "a", [strict], mesh))
    permissive = json.loads(json.dumps(strict).replace("STRICT", "PERMISSIVE"))
    assert "MSA303" not in codes(scenario(tmp_path / "b", [permissive], mesh))


def amplified(retries_gateway: int, retries_order: int, **order_route: Any) -> list[dict[str, Any]]:
    return [
        gateway_vs(
            [
                {
                    "match": [{"uri": {"prefix": "/orders"}}],
                    "retries": {"attempts": retries_gateway, "retryOn": "5xx"},
                    **route_to("order"),
                    **order_route,
                },
                route_to("product"),
            ]
        ),
        vs(
            "product",
            [{"retries": {"attempts": retries_order, "retryOn": "5xx"}, **route_to("product")}],
        ),
    ]


def test_retry_amplification_against_a_hand_computed_example(tmp_path: Path) -> None:
    """5 retries at the gateway (6 attempts) and 5 between order and product
    (6): one request to /orders can make 6 × 6 = 36 attempts at product."""
    result = analyze_file(scenario(tmp_path, amplified(5, 5)))
    table = result.amplification["p"]
    assert table["product"] == {
        "attempts": 36,
        "path": ["istio-ingressgateway", "order", "product"],
    }
    assert table["order"]["attempts"] == 6
    # user and shipping keep Istio's default between order and them: 6 × 3
    assert table["user"]["attempts"] == 18 and table["shipping"]["attempts"] == 18
    [f] = [f for f in result.findings if f.code.startswith("MSA20")]
    assert f.code == "MSA201" and "up to 36 attempts at product" in f.message
    assert "6 (istio-ingressgateway → order, VirtualService/shop) × 6" in f.message
    # thresholds: 36 is an error above 30, nothing at all under 40
    assert "MSA202" in codes(scenario(tmp_path, amplified(5, 5)), thresholds=Thresholds(10, 30))
    assert not {"MSA201", "MSA202"} & set(
        codes(scenario(tmp_path, amplified(5, 5)), thresholds=Thresholds(40, 100))
    )
    # Istio's defaults (3 attempts a hop, two hops): 9, no finding
    assert not {"MSA201", "MSA202"} & set(codes(scenario(tmp_path, amplified(2, 2))))


def test_timeout_budgets_against_a_hand_computed_example(tmp_path: Path) -> None:
    """The gateway gives order 1 s; order may retry product 4 times at 0.5 s
    each = 2 s (MSA204). And 4 × 0.5 s does not fit product's own 1.2 s route
    timeout: 2 attempts can finish (MSA203)."""
    apply = [
        gateway_vs(
            [{"match": [{"uri": {"prefix": "/orders"}}], "timeout": "1s", **route_to("order")}]
        ),
        vs(
            "product",
            [{"retries": {"attempts": 3, "perTryTimeout": "500ms"}, **route_to("product")}],
        ),
    ]
    found = {f.code: f for f in analyze_file(scenario(tmp_path, apply)).findings}
    assert "after 1s, while order may spend up to 2s" in found["MSA204"].message
    assert "MSA203" not in found
    apply[1]["spec"]["http"][0]["timeout"] = "1200ms"
    (tmp_path / "b").mkdir()
    found = {f.code: f for f in analyze_file(scenario(tmp_path / "b", apply)).findings}
    assert (
        "4 attempts × perTryTimeout 0.5s = 2s do not fit in the route timeout 1.2s: "
        "at most 2 attempts can finish" in found["MSA203"].message
    )
    # order's 1.2 s is still over the gateway's 1 s
    assert "may spend up to 1.2s" in found["MSA204"].message
    # a gateway timeout of 3 s leaves room: no budget finding
    apply[0]["spec"]["http"][0]["timeout"] = "3s"
    (tmp_path / "c").mkdir()
    assert "MSA204" not in codes(scenario(tmp_path / "c", apply))


def test_findings_name_file_line_and_phase(tmp_path: Path) -> None:
    path = scenario(tmp_path, [vs("product", [route_to("prodcut")])])
    [f] = analyze_file(path).findings
    assert (f.file, f.line, f.phase, f.resource) == (str(path), 6, "p", "VirtualService/product")
    assert f.text().startswith(f"{path}:6: MSA101 [p] VirtualService/product: destination host")


def test_the_library_analyzes_with_no_error() -> None:
    """(How quickly: benchmarks/analyze_library.py, docs/benchmarks.md.)"""
    assert len(LIBRARY) > 20
    for path in LIBRARY:
        errors = [f.text() for f in analyze_file(path).findings if f.level == "error"]
        assert errors == [], path


def _meshsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exit_codes_json_and_strict(tmp_path: Path) -> None:
    bad = scenario(tmp_path, [vs("product", [route_to("prodcut")])])
    done = _meshsim("analyze", str(bad))
    assert done.returncode == 1, done.stderr
    assert "MSA101" in done.stderr and "Traceback" not in done.stderr
    out = json.loads(_meshsim("analyze", str(bad), "--json").stdout)
    assert out["exit_code"] == 1 and out["findings"][0]["istioctl"].startswith("IST0101")
    warn = ROOT / "scenarios" / "fault-abort.yaml"  # a justified warning (MSA301)
    assert _meshsim("analyze", str(warn)).returncode == 0
    assert _meshsim("analyze", str(warn), "--strict").returncode == 1
    assert _meshsim("analyze", str(warn), "--phase", "nope").returncode == 2
    (tmp_path / "broken.yaml").write_text("name: x\nphases: 3\n")
    broken = _meshsim("analyze", str(tmp_path / "broken.yaml"))
    assert broken.returncode == 2 and "broken.yaml:2" in broken.stderr


def test_bad_input_is_a_scenario_error(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: x\nphases: []\n")
    with pytest.raises(ScenarioError):
        analyze_file(tmp_path / "x.yaml")


def test_up_is_told_the_errors_and_what_makes_its_verdict_unreliable(tmp_path: Path) -> None:
    """What `meshsim up` prints before it starts (and a file that does not load: nothing)."""
    from meshsim.analyze import run_findings

    path = scenario(tmp_path, [vs("product", [route_to("prodcut")])])
    [line] = run_findings(path)
    assert "MSA101" in line and f"{path}:6" in line
    assert run_findings(ROOT / "scenarios" / "fault-abort.yaml") == []  # warnings only
    # ...and a settle the run's time scale makes too short for a delay in
    # flight: the run's own verdict may not hold
    task = ROOT / "scenarios" / "istio-tasks" / "request-timeouts.yaml"
    assert run_findings(task) == []
    scaled = run_findings(task, 0.5)  # both phases that add the delay
    assert len(scaled) == 2 and all("MSA501" in line for line in scaled)
    (tmp_path / "broken.yaml").write_text("name: x\n")
    assert run_findings(tmp_path / "broken.yaml") == []


def _settled(tmp_path: Path, settle: str, expect: list[str], delay: str = "2s") -> Path:
    """A delay on shipping's calls, judged on order → shipping after `settle`."""
    fault = {"fault": {"delay": {"percentage": {"value": 100}, "fixedDelay": delay}}}
    doc = {
        "name": "t",
        "phases": [
            {"name": "calm", "duration": "5s"},
            {
                "name": "slow",
                "duration": "8s",
                "settle": settle,
                "apply": [vs("shipping", [{**fault, **route_to("shipping")}])],
                "expect": expect,
            },
            # the delay is gone, but calls that met it end 2 s into this phase
            {"name": "after", "duration": "8s", "remove": ["VirtualService/shipping"],
             "settle": settle, "expect": expect},
        ],
    }  # fmt: skip
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_settle_shorter_than_a_delay_in_flight_is_found(tmp_path: Path) -> None:
    """MSA501: an edge is judged from Envoy's counters at the settle point, so
    a call caught by the change with a 2 s delay ends after a 2 s settle and
    counts (the request-timeouts task failed CI on exactly that). Both the
    phase that adds the delay and the one after it that removes it."""
    edge = ["edge(order->shipping).error_rate < 1%"]
    found = analyze_file(_settled(tmp_path / "a", "2s", edge)).findings
    assert [(f.code, f.phase, f.line) for f in found] == [("MSA501", "slow, after", 9)]
    assert "settle at least 2.5s" in found[0].message
    # long enough, no settle at all, or no edge judged (calls counted by when
    # they were sent, so a settle leaves them out): nothing to say
    assert "MSA501" not in codes(_settled(tmp_path / "b", "2.5s", edge))
    assert "MSA501" not in codes(_settled(tmp_path / "c", "0s", edge))
    assert "MSA501" not in codes(_settled(tmp_path / "d", "1s", ["journey(place_order).p50 < 1s"]))


def test_a_time_scale_shortens_the_settle_but_not_the_delay(tmp_path: Path) -> None:
    """`--time-scale` scales a phase's settle; Envoy's fault delays stay as
    written, so a settle long enough as written can be too short in a scaled
    (CI) run, and the finding says what to write for that scale."""
    edge = ["edge(order->shipping).error_rate < 1%"]
    path = _settled(tmp_path, "3s", edge)
    assert "MSA501" not in codes(path)
    (found,) = analyze_file(path, time_scale=0.5).findings
    assert found.code == "MSA501"
    assert "settles 1.5s into the phase at --time-scale 0.5" in found.message
    assert "settle at least 2.5s (write `settle: 5s` to run at --time-scale 0.5)" in found.message
    assert "MSA501" not in [f.code for f in analyze_file(path, time_scale=0.9).findings]
    cli = _meshsim("analyze", str(path), "--time-scale", "0.5")
    assert cli.returncode == 0 and "at --time-scale 0.5" in cli.stderr + cli.stdout
    assert _meshsim("analyze", str(path), "--time-scale", "0").returncode == 2

"""Scenarios of one's own services: the keys, how they resolve, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.application import Application
from meshsim.control.plan import MeshPlan, build_plan
from meshsim.control.state import PolicyState
from meshsim.errors import ScenarioError, ScenarioErrors
from meshsim.scenario import (
    is_own_application,
    load_scenario,
    load_scenario_text,
    resolve_application,
    resolve_mesh,
)
from meshsim.shop import SHOP_APP
from meshsim.topology import declared_graph

OWN = """\
name: quotes
mesh:
  services:
    prices:
      command: ["python3", "prices.py"]
      image: acme/prices:1.4
      health: /healthz
      env: {LOG_LEVEL: info}
      versions:
        v1: {env: {PRICES_VERSION: v1}}
        v2: {env: {PRICES_VERSION: v2, PRICE_FACTOR: "2"}, image: acme/prices:1.5, replicas: 2, args: [--fast], env_fields: {POD: metadata.name}}
    quotes:
      command: ["uvicorn", "quotes:app", "--port", "{port}"]
      health: /healthz
      calls: [prices]
      expose: true
load:
  users: 5
  requests:
    - {name: quote, method: GET, path: /quotes/42, weight: 3}
    - {name: health, path: /healthz}
phases:
  - name: a
    duration: 5s
    expect:
      - version(prices:v2).share = 50% ± 10%
      - edge(quotes->prices).error_rate < 1%
      - endpoint(GET /quotes/42).p99 < 1s
      - journey(quote).error_rate < 1%
"""


def _errors(text: str) -> list[ScenarioError]:
    with pytest.raises((ScenarioError, ScenarioErrors)) as info:
        load_scenario_text(text, file="own.yaml")
    exc = info.value
    return exc.errors if isinstance(exc, ScenarioErrors) else [exc]


def test_own_services_resolve_into_an_application(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(OWN)
    scenario = load_scenario(tmp_path / "s.yaml")
    assert is_own_application(scenario)
    assert resolve_mesh(scenario) == {"prices": {"v1": 1, "v2": 2}, "quotes": {"v1": 1}}
    app = resolve_application(scenario)
    assert app.workdir == str(tmp_path.resolve())
    prices, quotes = app.services["prices"], app.services["quotes"]
    assert prices.env_of("v2") == {"LOG_LEVEL": "info", "PRICES_VERSION": "v2", "PRICE_FACTOR": "2"}
    assert prices.image_of("v2") == "acme/prices:1.5" and prices.image_of("v1") == "acme/prices:1.4"
    assert quotes.argv("v1", 4242) == ["uvicorn", "quotes:app", "--port", "4242"]
    assert quotes.expose == "/" and prices.expose is None
    assert app.ready.path == "/healthz" and app.ready.status == 200
    # The ingress routes to the exposed service; the graph has the declared call.
    vs = app.gateway_virtual_service("meshsim-gateway")
    assert vs["metadata"]["name"] == "app"
    assert vs["spec"]["http"] == [
        {"match": [{"uri": {"prefix": "/"}}], "route": [{"destination": {"host": "quotes"}}]}
    ]
    graph = declared_graph(app=app)
    assert set(graph.edges) == {("istio-ingressgateway", "quotes"), ("quotes", "prices")}
    assert "VirtualService/app" in PolicyState.initial(app).resources


def test_the_plan_carries_the_application_through_plan_json(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(OWN)
    scenario = load_scenario(tmp_path / "s.yaml")
    plan = build_plan(resolve_mesh(scenario), 0, resolve_application(scenario))
    again = MeshPlan.from_dict(plan.to_dict())
    assert again.app == plan.app
    assert again.app.services["prices"].versions["v2"].env_fields == {"POD": "metadata.name"}
    assert isinstance(again.app, Application) and not again.app.builtin
    # The shop round-trips as the built-in application itself.
    shop = build_plan({"user": {"v1": 1}}, 0)
    assert MeshPlan.from_dict(shop.to_dict()).app is SHOP_APP


def test_a_scenario_without_commands_runs_the_shop() -> None:
    scenario = load_scenario_text(
        "name: x\nmesh: {services: {product: {versions: {v1: {}, v2: {}}}}}\n"
        "phases: [{name: a, duration: 1}]"
    )
    assert not is_own_application(scenario)
    assert resolve_application(scenario) is SHOP_APP
    assert list(resolve_mesh(scenario)) == ["user", "product", "shipping", "order"]


def test_a_command_given_as_text_is_split() -> None:
    scenario = load_scenario_text(
        "name: x\nmesh: {services: {a: {command: 'python3 app.py --port {port}'}}}\n"
        "load: {requests: [{name: r, path: /}]}\nphases: [{name: a, duration: 1}]"
    )
    assert scenario.mesh.services["a"].command == ["python3", "app.py", "--port", "{port}"]
    app = resolve_application(scenario)
    assert app.services["a"].expose == "/"  # the only service is the front
    assert app.ready.path == "/" and app.ready.status is None  # no health: any real answer


def test_unknown_key_in_a_service_names_file_and_line() -> None:
    text = OWN.replace("      calls: [prices]\n", "      calls: [prices]\n      comand: [x]\n")
    (err,) = _errors(text)
    assert err.file == "own.yaml" and err.line == 16
    assert "unknown key" in str(err) and "command" in str(err)
    (err,) = _errors(OWN.replace("v1: {env:", "v1: {envs:"))
    assert err.line == 10 and "unknown key" in str(err)


def test_mixing_a_shop_service_into_own_services_is_an_error() -> None:
    text = OWN.replace("    quotes:\n", "    product: {}\n    quotes:\n")
    (err,) = _errors(text)
    assert "product has no command or image" in str(err)
    assert err.field == "mesh.services.product"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("calls: [prices]", "calls: [pricess]"), "unknown service 'pricess'"),
        (("calls: [prices]", "calls: [quotes]"), "cannot call itself"),
        (("expose: true", "expose: quotes"), "not a path prefix"),
        (("health: /healthz\n      calls", "health: healthz\n      calls"), "does not match"),
        (("    quotes:\n", "    Quotes_1:\n"), "not a valid service name"),
        (("        v2: {env", "        v2-beta: {env"), "not a valid version name"),
        (("requests:", "journeys: {browse: 1}\n  requests:"), "journeys weigh"),
        (("  requests:", "  locustfile: nowhere.py\n  requests:"), "not both"),
        (("edge(quotes->prices)", "edge(quotes->nope)"), "unknown service 'nope' in edge"),
        (("journey(quote)", "journey(browse)"), "unknown journey 'browse'"),
        (('command: ["python3", "prices.py"]', "command: []"), "must not be empty"),
        (
            (
                "      calls: [prices]",
                "      versions: {v1: {entrypoint: [run]}}\n      calls: [prices]",
            ),
            "replaces an image's ENTRYPOINT or CMD, and quotes v1 has no image",
        ),
    ],
)
def test_own_service_errors(change: tuple[str, str], message: str) -> None:
    assert change[0] in OWN
    errors = _errors(OWN.replace(*change))
    assert any(message in str(e) for e in errors), [str(e) for e in errors]


def test_own_services_need_own_load() -> None:
    text = OWN.split("load:")[0] + "phases: [{name: a, duration: 1}]\n"
    (err,) = _errors(text)
    assert "load.locustfile" in str(err) and err.field == "load"


def test_two_services_on_one_prefix_is_an_error() -> None:
    text = OWN.replace("      health: /healthz\n      env", "      expose: true\n      env")
    errors = _errors(text)
    assert any("/ is already exposed by prices" in str(e) for e in errors)


def test_a_locustfile_must_exist_beside_the_scenario(tmp_path: Path) -> None:
    text = OWN.replace("  requests:\n", "  locustfile: load/mine.py\n  old:\n").split("  old:")[0]
    text += "phases: [{name: a, duration: 1}]\n"
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ScenarioError, match="no such file .*load/mine.py"):
        load_scenario(tmp_path / "s.yaml")
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "mine.py").write_text("")
    assert load_scenario(tmp_path / "s.yaml").load.locustfile == "load/mine.py"

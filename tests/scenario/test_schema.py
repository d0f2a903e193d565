"""The committed JSON Schema is the generated one, and accepts real scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from meshsim.scenario.schema import SCHEMA_PATH, main, render_schema, scenario_json_schema

FIXTURES = Path(__file__).with_name("fixtures")


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "meshsim/scenario/scenario.schema.json is stale; run: python -m meshsim.scenario.schema"
    )


def test_schema_is_valid_json_schema() -> None:
    schema = scenario_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "meshsim scenario"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(render_schema()) == schema


@pytest.mark.parametrize("name", ["canary.yaml", "minimal.yaml"])
def test_valid_scenarios_validate_against_schema(name: str) -> None:
    data = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(scenario_json_schema()).validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x"},
        {"name": "x", "phases": [{"name": "a", "duration": "fast"}]},
        {"name": "x", "phases": [{"name": "a", "duration": "1s", "expct": []}]},
        {"name": "x", "mesh": {"services": {"payment": {}}}, "phases": []},
    ],
)
def test_schema_rejects_bad_shapes(data: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(scenario_json_schema()).validate(data)


def test_check_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0


def test_cohorts_validate_against_schema() -> None:
    path = Path(__file__).parents[2] / "scenarios" / "header-routing.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(scenario_json_schema())
    validator.validate(data)
    for share in ("25%", " 12.5 % ", 0.25, 1):
        data["load"]["cohorts"][0]["share"] = share
        validator.validate(data)
    for share in (25, "25", "-5%", "a quarter"):
        data["load"]["cohorts"][0]["share"] = share
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(data)

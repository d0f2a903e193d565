"""Scenarios: the model, loading YAML with line numbers, validation, expectations.

The JSON Schema lives in `meshsim.scenario.schema` (imported on demand).

>>> from meshsim.scenario import load_scenario_text
>>> load_scenario_text("name: demo\\nphases: [{name: a, duration: 5s}]").name
'demo'
"""

from meshsim.scenario.application import resolve_application
from meshsim.scenario.expect import Expectation, parse_expectation
from meshsim.scenario.loader import (
    DEFAULT_RESOURCES,
    check_scenario,
    load_scenario,
    load_scenario_text,
)
from meshsim.scenario.model import (
    Action,
    Cohort,
    LoadSpec,
    MeshSpec,
    Phase,
    Scenario,
    instance_names,
    is_own_application,
    parse_duration,
    resolve_mesh,
    resolve_target,
)
from meshsim.scenario.services import ServiceSpec, VersionSpec

__all__ = [
    "DEFAULT_RESOURCES",
    "Action",
    "Cohort",
    "Expectation",
    "LoadSpec",
    "MeshSpec",
    "Phase",
    "Scenario",
    "ServiceSpec",
    "VersionSpec",
    "check_scenario",
    "instance_names",
    "is_own_application",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
    "parse_expectation",
    "resolve_application",
    "resolve_mesh",
    "resolve_target",
]

"""Scenarios: the model, loading YAML with line numbers, validation, expectations.

The JSON Schema lives in `meshsim.scenario.schema` (imported on demand).

>>> from meshsim.scenario import load_scenario_text
>>> load_scenario_text("name: demo\\nphases: [{name: a, duration: 5s}]").name
'demo'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshsim.lazy import lazy_names

if TYPE_CHECKING:
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

# public name → the module that defines it. Loaded on first use (PEP 562): a
# command that needs only `meshsim.scenario.expect` (the report) does not pay
# for the loader's Istio, Gateway API and manifest models.
_EXPORTS = {
    "resolve_application": "meshsim.scenario.application",
    "Expectation": "meshsim.scenario.expect",
    "parse_expectation": "meshsim.scenario.expect",
    "DEFAULT_RESOURCES": "meshsim.scenario.loader",
    "check_scenario": "meshsim.scenario.loader",
    "load_scenario": "meshsim.scenario.loader",
    "load_scenario_text": "meshsim.scenario.loader",
    "Action": "meshsim.scenario.model",
    "Cohort": "meshsim.scenario.model",
    "LoadSpec": "meshsim.scenario.model",
    "MeshSpec": "meshsim.scenario.model",
    "Phase": "meshsim.scenario.model",
    "Scenario": "meshsim.scenario.model",
    "instance_names": "meshsim.scenario.model",
    "is_own_application": "meshsim.scenario.model",
    "parse_duration": "meshsim.scenario.model",
    "resolve_mesh": "meshsim.scenario.model",
    "resolve_target": "meshsim.scenario.model",
    "ServiceSpec": "meshsim.scenario.services",
    "VersionSpec": "meshsim.scenario.services",
}

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


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())

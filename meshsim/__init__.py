"""meshsim: a service mesh on your laptop.

The Python API (docs/python-api.md), for notebooks and scripts:

>>> import meshsim
>>> result = meshsim.run("scenarios/canary.yaml", time_scale=0.2)   # doctest: +SKIP
>>> result.phases_df()                                             # doctest: +SKIP
>>> meshsim.plot_timeline(result)                                  # doctest: +SKIP
>>> from meshsim.explain import explain
>>> print(explain("scenarios/canary.yaml", phase="canary-10").text())  # doctest: +SKIP

Names are loaded on first use, so `import meshsim` stays light (and never
imports rich, locust, pandas or matplotlib).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshsim.lazy import lazy_names

__version__ = "0.1.0"

if TYPE_CHECKING:
    from meshsim.api import (
        CallbackEvents,
        RunEvent,
        RunOptions,
        RunReport,
        Scenario,
        load_report,
        load_scenario,
        run,
    )
    from meshsim.errors import MeshError, MeshsimError, ScenarioError, ScenarioErrors, UsageError
    from meshsim.events import Progress, RunEventHandler, RunInfo
    from meshsim.plots import plot_service_graph, plot_timeline
    from meshsim.report import Report

# public name → the module that defines it
_EXPORTS = {
    "CallbackEvents": "meshsim.api",
    "RunEvent": "meshsim.api",
    "RunOptions": "meshsim.api",
    "RunReport": "meshsim.api",
    "Scenario": "meshsim.api",
    "load_report": "meshsim.api",
    "load_scenario": "meshsim.api",
    "run": "meshsim.api",
    "MeshError": "meshsim.errors",
    "MeshsimError": "meshsim.errors",
    "ScenarioError": "meshsim.errors",
    "ScenarioErrors": "meshsim.errors",
    "UsageError": "meshsim.errors",
    "Progress": "meshsim.events",
    "RunEventHandler": "meshsim.events",
    "RunInfo": "meshsim.events",
    "plot_service_graph": "meshsim.plots",
    "plot_timeline": "meshsim.plots",
    "Report": "meshsim.report",
}

__all__ = [
    "CallbackEvents",
    "MeshError",
    "MeshsimError",
    "Progress",
    "Report",
    "RunEvent",
    "RunEventHandler",
    "RunInfo",
    "RunOptions",
    "RunReport",
    "Scenario",
    "ScenarioError",
    "ScenarioErrors",
    "UsageError",
    "__version__",
    "load_report",
    "load_scenario",
    "plot_service_graph",
    "plot_timeline",
    "run",
]


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())

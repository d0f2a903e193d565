"""What a command imports before it does anything: its start-up cost.

`meshsim report` on a soak's run directory spent more time importing than
building (issue #21: 1.2-1.7 s of 2.4 s). Each test runs a real command in a
fresh interpreter and lists the modules it loaded, so an eager import that
creeps back (a package `__init__` re-exporting its heavy modules, a type
imported for an annotation only) fails here rather than in a benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.report.large_run import write_large_run

# runs `meshsim <args>` in this interpreter, then prints the modules it loaded
_PROBE = """
import json, sys
from meshsim import cli
sys.argv = ["meshsim", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

# What `meshsim report` never needs: certificates, Prometheus scrapes, Locust's
# runner, the run itself, access logs, DataFrames and plots.
NOT_FOR_REPORT = (
    "cryptography",
    "prometheus_client",
    "locust",
    "aiohttp",
    "pandas",
    "matplotlib",
    "meshsim.control.ca",
    "meshsim.load.runner",
    "meshsim.mesh",
    "meshsim.runner",
    "meshsim.telemetry.accesslog",
    "meshsim.telemetry.authz",
)

# What `meshsim --help` (and any command's --help) never needs.
NOT_FOR_HELP = (
    "rich",
    "networkx",
    "yaml",
    "cryptography",
    "meshsim.console",
    "meshsim.report",
    "meshsim.scenario",
    "meshsim.topology",
)


def _modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    last = result.stderr.strip().splitlines()[-1]
    return set(json.loads(last))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_report_imports_only_what_it_needs(tmp_path: Path) -> None:
    run = write_large_run(tmp_path / "run", requests=200, phases=2, traces=True)
    modules = _modules("report", str(run), "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "report.json").exists()  # the command did run
    assert "meshsim.report.build" in modules  # and the probe sees what it imported
    assert _loaded(modules, NOT_FOR_REPORT) == []


def test_help_is_lean() -> None:
    modules = _modules("--help")
    assert "meshsim.cli" in modules
    assert _loaded(modules, NOT_FOR_HELP) == []
    sub = _modules("report", "--help")
    assert _loaded(sub, NOT_FOR_HELP) == []


def test_the_lazy_packages_still_export_their_names() -> None:
    """`from meshsim.scenario import load_scenario` and the like still work
    (PEP 562 `__getattr__`), and an unknown name is still an AttributeError."""
    import meshsim.load
    import meshsim.report
    import meshsim.scenario

    for package in (meshsim.scenario, meshsim.report, meshsim.load):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
        assert set(package.__all__) <= set(dir(package))
        try:
            package.no_such_name  # type: ignore[attr-defined]  # noqa: B018
        except AttributeError:
            pass
        else:
            raise AssertionError(f"{package.__name__}.no_such_name did not raise")

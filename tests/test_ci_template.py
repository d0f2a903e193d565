"""docs/examples/github-actions-drill.yml: valid YAML, the steps docs/ci.md
describes, and `meshsim` commands the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer.main
import yaml

from meshsim.cli import app
from meshsim.library import resolve_scenario

REPO = Path(__file__).parents[1]
WORKFLOW = REPO / "docs" / "examples" / "github-actions-drill.yml"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _steps() -> list[dict[str, Any]]:
    jobs = _workflow()["jobs"]
    assert list(jobs) == ["drill"]
    steps = jobs["drill"]["steps"]
    assert isinstance(steps, list)
    return steps


def _uses(name: str) -> dict[str, Any]:
    found = [s for s in _steps() if str(s.get("uses", "")).split("@")[0] == name]
    assert len(found) == 1, f"one step uses {name}"
    assert re.fullmatch(r"v\d+", found[0]["uses"].split("@")[1]), "pinned to a major version"
    return found[0]


def test_triggers_and_permissions() -> None:
    data = _workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert data["permissions"]["checks"] == "write"
    assert data["jobs"]["drill"]["strategy"]["fail-fast"] is False


def test_the_expected_steps_in_order() -> None:
    uses = [str(s.get("uses", "run")).split("@")[0] for s in _steps()]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "run",  # install
        "run",  # validate
        "run",  # the drill
        "actions/upload-artifact",
        "mikepenz/action-junit-report",
    ]
    assert _uses("actions/setup-python")["with"]["python-version"] == "3.11"


def test_reports_are_kept_pass_or_fail() -> None:
    upload = _uses("actions/upload-artifact")
    assert upload["if"] == "always()"
    paths = upload["with"]["path"]
    for name in ("report.html", "report.json", "junit.xml", "summary.md"):
        assert f"drill-report/{name}" in paths
    junit = _uses("mikepenz/action-junit-report")
    assert junit["if"] == "always()"
    assert junit["with"]["report_paths"] == "drill-report/junit.xml"


def test_the_drill_step_writes_where_the_others_read() -> None:
    drill = next(s for s in _steps() if s.get("id") == "drill")
    assert "--report-dir drill-report" in drill["run"]
    assert "--ingress-port 0" in drill["run"]
    assert "continue-on-error" not in drill, "a failed drill must fail the job"


def test_meshsim_commands_parse() -> None:
    """Each `meshsim ...` line, with the matrix filled in, is accepted by the CLI."""
    drills = _workflow()["jobs"]["drill"]["strategy"]["matrix"]["drill"]
    for drill in drills:
        assert resolve_scenario(drill).exists(), drill  # a library name or a file
    command: Any = typer.main.get_command(app)  # a click group (typer may vendor click)
    runs = [s["run"] for s in _steps() if str(s.get("run", "")).startswith("meshsim ")]
    assert len(runs) == 2
    for run in runs:
        args = shlex.split(run.replace("${{ matrix.drill }}", drills[0]))
        assert args[0] == "meshsim"
        sub = command.commands[args[1]]
        with sub.make_context(args[1], args[2:]) as ctx:  # raises on an unknown flag
            assert ctx.params


def test_installs_the_pinned_version() -> None:
    """A user's repository is not meshsim's: the workflow installs a pinned
    release, not the checkout, and its drills are library names or own files."""
    version = _workflow()["env"]["MESHSIM_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    install = next(s for s in _steps() if s.get("name") == "Install meshsim")
    assert install["run"] == 'python -m pip install "meshsim==$MESHSIM_VERSION"'
    drills = _workflow()["jobs"]["drill"]["strategy"]["matrix"]["drill"]
    assert all("/" not in d for d in drills), "library names, found wherever meshsim is installed"

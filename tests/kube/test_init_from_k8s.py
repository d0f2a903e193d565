"""`meshsim init --from-k8s DIR`: a scenario around the manifests that validates."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.scenario import load_scenario, resolve_application

MANIFESTS = Path(__file__).parents[2] / "examples" / "k8s-user-service" / "k8s"


def test_init_writes_a_scenario_that_runs_the_manifests(tmp_path: Path) -> None:
    out = tmp_path / "drills" / "ours.yaml"
    result = CliRunner().invoke(app, ["init", "--from-k8s", str(MANIFESTS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    app_ = resolve_application(scenario)
    assert set(app_.services) == {"frontend", "user-service"}
    assert app_.services["frontend"].expose == "/"  # the LoadBalancer Service
    assert scenario.load.requests is not None and scenario.load.requests[0].path == "/healthz"
    again = CliRunner().invoke(app, ["init", "--from-k8s", str(MANIFESTS), "--out", str(out)])
    assert again.exit_code != 0  # an existing file is kept without --force

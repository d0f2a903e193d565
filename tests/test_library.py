"""The scenario library: found by name wherever meshsim runs, listed with the
lessons of scenarios/README.md; `meshsim init` copies one to edit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meshsim.errors import UsageError
from meshsim.library import library, library_dir, names, resolve_scenario
from meshsim.scenario import load_scenario
from meshsim.scenario.schema import SCHEMA_PATH
from meshsim.starter import init_scenario, schema_location, with_schema_comment

REPO = Path(__file__).parents[1]


def _meshsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from meshsim.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_a_checkout_uses_its_own_scenarios_directory() -> None:
    assert library_dir().resolve() == (REPO / "scenarios").resolve()


def test_every_library_file_is_listed_with_its_lesson() -> None:
    entries = library()
    files = sorted((REPO / "scenarios").rglob("*.yaml"))
    assert sorted(e.path.resolve() for e in entries) == [p.resolve() for p in files]
    lessons = {e.name: e.lesson for e in entries}
    assert lessons["baseline"].startswith("The shop as it is")
    assert lessons["istio-tasks/retries"].startswith("Retries")
    assert all(len(lesson) > 10 and "`" not in lesson for lesson in lessons.values()), lessons


def test_a_name_is_a_library_scenario_and_a_path_always_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("canary") == library_dir() / "canary.yaml"
    (tmp_path / "canary").write_text("name: mine\n")
    assert resolve_scenario("canary") == Path("canary")
    # something that looks like a path stays one, for the loader to report
    assert resolve_scenario("missing.yaml") == Path("missing.yaml")
    assert resolve_scenario("drills/canary") == Path("drills/canary")
    # a library scenario in a subdirectory, by its path in the library
    tasks = library_dir() / "istio-tasks"
    assert resolve_scenario("istio-tasks/retries") == tasks / "retries.yaml"


def test_an_unknown_name_lists_the_library() -> None:
    with pytest.raises(UsageError) as err:
        resolve_scenario("canery")
    assert "canery: no such scenario file, nor a library scenario" in str(err.value)
    assert all(name in str(err.value) for name in names())


def test_cli_scenarios_lists_names_and_lessons() -> None:
    proc = _meshsim("scenarios")
    assert proc.returncode == 0, proc.stderr
    for entry in library():
        assert entry.name in proc.stdout
    assert "Outlier detection ejects a dead instance" in proc.stdout


def test_cli_takes_a_library_name_where_a_file_is_expected(tmp_path: Path) -> None:
    proc = _meshsim("validate", "canary", "baseline", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "scenario 'canary'" in proc.stdout and "scenario 'baseline'" in proc.stdout
    proc = _meshsim("validate", "canery", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such scenario file, nor a library scenario" in proc.stderr
    assert "circuit-breaker" in proc.stderr and "Traceback" not in proc.stderr
    proc = _meshsim("up", "canery", "--time-scale", "0.1", cwd=tmp_path)
    assert proc.returncode == 2 and "the library has" in proc.stderr
    proc = _meshsim("explain", "baseline", "--phase", "steady", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_init_writes_the_baseline_with_the_schema_comment(tmp_path: Path) -> None:
    written = init_scenario(directory=tmp_path / "drills")
    assert written == tmp_path / "drills" / "baseline.yaml"
    first, _, rest = written.read_text().partition("\n")
    # outside the checkout the schema is named by its absolute path
    assert first == f"# yaml-language-server: $schema={SCHEMA_PATH.resolve().as_posix()}"
    assert rest == (library_dir() / "baseline.yaml").read_text().partition("\n")[2]
    assert load_scenario(written).name == "baseline"


def test_inside_the_checkout_the_schema_path_is_relative() -> None:
    assert schema_location(REPO / "scenarios") == "../meshsim/scenario/scenario.schema.json"
    # the library's own files carry exactly what init would write there
    for entry in library():
        text = entry.path.read_text()
        assert with_schema_comment(text, entry.path.parent) == text, entry.name


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    target = tmp_path / "canary.yaml"
    target.write_text("# mine\n")
    with pytest.raises(UsageError, match="already exists; --force overwrites it"):
        init_scenario("canary", tmp_path)
    assert target.read_text() == "# mine\n"
    init_scenario("canary", tmp_path, force=True)
    assert yaml.safe_load(target.read_text())["name"] == "canary"


def test_cli_init(tmp_path: Path) -> None:
    proc = _meshsim("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "baseline.yaml").is_file()
    assert "meshsim up baseline.yaml" in proc.stdout
    proc = _meshsim("init", cwd=tmp_path)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    proc = _meshsim("init", "retries", "--dir", "drills", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _meshsim("validate", "drills/retries.yaml", cwd=tmp_path).returncode == 0
    proc = _meshsim("init", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "the library has" in proc.stderr


def test_the_python_api_takes_library_names_too() -> None:
    from meshsim.api import run

    with pytest.raises(UsageError, match="the library has .*baseline"):
        run("canery")

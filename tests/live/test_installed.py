"""Installed, not cloned: meshsim as a user gets it from the package index.

The sdist is built from this checkout and the wheel from the sdist (as
`python -m build` does, so the sdist provably builds the wheel); `twine check`
passes both. The wheel goes into a fresh virtualenv (no system site packages,
dependencies from the package index or pip's cache), and from an empty
directory outside the checkout the installed `meshsim` lists its library,
validates and copies a library scenario and runs a real (shortened) drill to a
PASS. Nothing from the repository is on the path or in the directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).parents[2]


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        cwd=out,
        env=dict(os.environ),
        timeout=600,
    )
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())],
         cwd=out, env=dict(os.environ), timeout=120)  # fmt: skip
    return out


def test_the_sdist_builds_the_same_wheel_as_the_checkout(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    direct = tmp_path_factory.mktemp("direct")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(direct), str(REPO)],
         cwd=direct, env=dict(os.environ), timeout=600)  # fmt: skip
    (from_sdist,) = dist.glob("*.whl")
    (from_tree,) = direct.glob("*.whl")
    assert from_sdist.name == from_tree.name
    with zipfile.ZipFile(from_sdist) as a, zipfile.ZipFile(from_tree) as b:
        files = sorted(n for n in a.namelist() if not n.endswith("/RECORD"))
        assert files == sorted(n for n in b.namelist() if not n.endswith("/RECORD"))
        assert all(a.read(n) == b.read(n) for n in files)


def _user_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a user's shell with only the new virtualenv on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    env["MESHSIM_HOME"] = str(home)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def test_the_wheel_carries_the_library_and_what_a_run_needs(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (REPO / "scenarios").rglob("*"):
        if shipped.is_file():
            assert f"meshsim/{shipped.relative_to(REPO).as_posix()}" in names, shipped
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        assert f"meshsim/notebooks/{nb.name}" in names
    for shipped in (REPO / "exercises").rglob("*"):  # `meshsim exercise` from a wheel
        if shipped.is_file():
            assert f"meshsim/{shipped.relative_to(REPO).as_posix()}" in names, shipped
    for needed in (
        "meshsim/scenarios/README.md",
        "meshsim/scenario/scenario.schema.json",
        "meshsim/load/locustfile.py",
        "meshsim/runtime/Dockerfile",
        "sample_services/order.py",
    ):
        assert needed in names, needed
    assert any(n.endswith("/LICENSE") and ".dist-info/" in n for n in names), "the licence text"
    # every module of the checkout, so a new subpackage cannot be left out
    for py in list((REPO / "meshsim").rglob("*.py")) + list(
        (REPO / "sample_services").rglob("*.py")
    ):
        assert py.relative_to(REPO).as_posix() in names, py


def test_installed_meshsim_runs_a_drill_from_an_empty_directory(dist: Path, tmp_path: Path) -> None:
    assert REPO not in tmp_path.parents
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=dict(os.environ), timeout=120)
    env = _user_env(venv, tmp_path / "meshsim-home")
    (wheel,) = dist.glob("*.whl")
    # --no-compile: the byte code is a cache Python writes on first import; pip
    # compiling every installed module ahead (8 s of CPU of 48) proves nothing more
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
         cwd=tmp_path, env=env, timeout=600)  # fmt: skip

    work = tmp_path / "work"
    work.mkdir()

    def meshsim(*args: str, timeout: float = 60) -> str:
        return _run([str(venv / "bin" / "meshsim"), *args], cwd=work, env=env, timeout=timeout)

    where = _run([str(venv / "bin" / "python"), "-c", "import meshsim; print(meshsim.__file__)"],
                 cwd=work, env=env, timeout=60)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where

    assert "Envoy 1." in meshsim("--version")
    listing = meshsim("scenarios")
    assert "baseline" in listing and "The shop as it is" in listing
    assert "circuit-breaker" in listing
    assert "OK — scenario 'canary'" in meshsim("validate", "baseline", "canary")
    assert "OK — scenario 'istio-retries'" in meshsim("validate", "istio-tasks/retries")

    meshsim("init")
    written = work / "baseline.yaml"
    schema = venv.glob("lib/python*/site-packages/meshsim/scenario/scenario.schema.json")
    assert written.read_text().splitlines()[0] == (
        f"# yaml-language-server: $schema={next(schema).resolve().as_posix()}"
    )
    meshsim("validate", "baseline.yaml")

    out = meshsim(
        "up", "baseline", "--time-scale", "0.25", "--ingress-port", "0",
        "--report-dir", "out", timeout=300,
    )  # fmt: skip
    assert "PASS" in out
    report = json.loads((work / "out" / "report.json").read_text())
    assert report["verdict"] == "pass"
    assert all(p["requests"] > 0 for p in report["phases"])
    assert sorted(p.name for p in work.iterdir()) == ["baseline.yaml", "meshsim-runs", "out"]

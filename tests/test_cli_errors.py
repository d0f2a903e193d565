"""`meshsim` errors and help through the real command line, that start no
mesh (fast: they run with the unit tests)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.live.helpers import meshsim

ROOT = Path(__file__).resolve().parents[1]


def test_ingress_port_in_use_exits_3_naming_the_component(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = meshsim("up", str(ROOT / "scenarios/baseline.yaml"), "--ingress-port", str(port))
    assert out.returncode == 3
    assert f"port {port} is already in use" in out.stderr
    assert "ingress gateway" in out.stderr
    assert "Traceback" not in out.stderr


def test_envoy_that_cannot_start_exits_3_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "envoy"
    fake.write_text("#!/bin/sh\necho 'simulated crash' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = meshsim(
        "up",
        str(ROOT / "scenarios/baseline.yaml"),
        "--ingress-port",
        "0",
        "--run-dir",
        str(tmp_path / "run"),
        env={"MESHSIM_ENVOY": str(fake)},
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "exited during start-up" in out.stderr
    assert ".envoy.log" in out.stderr
    assert "Traceback" not in out.stderr


def test_validate_reports_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphases:\n  - name: a\n    duration: fast\n")
    out = meshsim("validate", str(bad))
    assert out.returncode == 2
    assert f"{bad}:4" in out.stderr and "phases[0].duration" in out.stderr
    assert "Traceback" not in out.stderr
    ok = meshsim("validate", str(ROOT / "scenarios/baseline.yaml"))
    assert ok.returncode == 0, ok.stderr


def test_version_and_help() -> None:
    assert meshsim("--version").stdout.startswith("meshsim ")
    help_text = meshsim("up", "--help").stdout
    assert "Example" in help_text and "--keep" in help_text


def test_ctrl_c_while_the_command_loads_is_exit_130_without_a_traceback() -> None:
    """A SIGINT in the first tenth of a second landed in `import typer` and
    printed the import machinery's traceback (found by the hardening work).
    Here the Ctrl-C comes exactly there: an import hook raises it for typer."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "from meshsim.cli import main\n"  # what the console script does
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 130, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr

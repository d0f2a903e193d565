"""docs/tutorial.md, command by command: every ```sh block marked
`<!-- tested -->` (or `<!-- tested: exit N -->`) runs, in order, in one
working directory, as a reader would type it.

What differs from a reader's terminal, so that it fits a test: `meshsim up`
gets a free ingress port and a time scale (`--ingress-port 0 --time-scale`),
and `pip install` only checks that the install would work (`--dry-run`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
TUTORIAL = REPO / "docs" / "tutorial.md"
TIME_SCALE = "0.25"
BLOCK = re.compile(
    r"<!-- tested(?::\s*exit\s+(?P<exit>\d+))?\s*-->\s*\n```sh\n(?P<body>.*?)\n```", re.S
)


@dataclass
class Block:
    line: int
    body: str
    exit_code: int


def marked_blocks(text: str) -> list[Block]:
    return [
        Block(text.count("\n", 0, m.start()) + 1, m["body"], int(m["exit"] or 0))
        for m in BLOCK.finditer(text)
    ]


def adapt(body: str) -> str:
    """The block as the test runs it (see the module's docstring)."""
    lines = []
    in_heredoc = None
    for line in body.splitlines():
        if in_heredoc is not None:
            lines.append(line)
            if line.strip() == in_heredoc:
                in_heredoc = None
            continue
        heredoc = re.search(r"<<\s*'?(\w+)'?", line)
        if heredoc:
            in_heredoc = heredoc.group(1)
        elif re.match(r"\s*meshsim up\b", line):
            line += f" --ingress-port 0 --time-scale {TIME_SCALE}"
        elif re.match(r"\s*pip install\b", line):
            line = line.replace(
                "pip install",
                f"{sys.executable} -m pip install --dry-run --no-deps --no-build-isolation",
                1,
            )
            line = re.sub(r"(-e\s+)\.(\s|$)", rf"\g<1>{REPO}\g<2>", line)
        lines.append(line)
    return "\n".join(lines)


def test_the_tutorial_has_marked_blocks_and_no_untested_shell() -> None:
    text = TUTORIAL.read_text()
    blocks = marked_blocks(text)
    assert len(blocks) >= 8
    assert text.count("```sh") == len(blocks), "every ```sh block in the tutorial is tested"
    assert [b.exit_code for b in blocks].count(1) == 1  # the failed drill


def test_adapt_overrides_ports_and_install() -> None:
    script = adapt(
        "meshsim up x.yaml --keep\ncat > a <<'EOF'\nmeshsim up inside\nEOF\npip install -e ."
    )
    assert "meshsim up x.yaml --keep --ingress-port 0 --time-scale" in script
    assert "meshsim up inside\n" in script  # heredoc content is left alone
    assert f"--dry-run --no-deps --no-build-isolation -e {REPO}" in script


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_tutorial_command_runs(tmp_path: Path) -> None:
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
    }
    env.pop("GITHUB_STEP_SUMMARY", None)  # a test must not write to the CI job summary
    try:
        for block in marked_blocks(TUTORIAL.read_text()):
            script = adapt(block.body)
            prefix = "set -e\n" if block.exit_code == 0 else ""
            done = subprocess.run(
                ["bash", "-c", prefix + script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert done.returncode == block.exit_code, (
                f"docs/tutorial.md:{block.line}: exit {done.returncode}, "
                f"expected {block.exit_code}\n{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
    finally:
        subprocess.run(
            [sys.executable, "-m", "meshsim.cli", "down"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
        )

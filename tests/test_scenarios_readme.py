"""scenarios/README.md lists every scenario, each with its lesson, what to look
at and the expected outcome, and names no file that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

SCENARIOS = Path(__file__).parents[1] / "scenarios"
ROW = re.compile(r"^\| \[`(?P<file>[\w.-]+\.yaml)`\]\((?P<link>[\w.-]+)\) \|(?P<rest>.*)\|\s*$")


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in (SCENARIOS / "README.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            assert m["file"] == m["link"], line
            rows[m["file"]] = [cell.strip() for cell in m["rest"].split(" | ")]
    return rows


def test_every_scenario_is_in_the_table() -> None:
    files = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
    rows = _rows()
    assert sorted(rows) == files, (
        f"missing: {sorted(set(files) - set(rows))}, unknown: {sorted(set(rows) - set(files))}"
    )


def test_each_row_has_a_lesson_what_to_look_at_and_an_outcome() -> None:
    for name, cells in _rows().items():
        assert len(cells) == 3 and all(len(c) > 10 for c in cells), (name, cells)

"""The control plane's output for the whole scenario library, pinned.

Fails when what any proxy is given in any phase of any library scenario
changes (see tests/control/golden.py). A deliberate change: regenerate with
`MESHSIM_UPDATE_GOLDEN=1 pytest tests/control/test_golden.py` and say in the
commit message what changed in the output and why.
"""

from __future__ import annotations

import difflib
import json
import os
from typing import Any

import pytest

from tests.control import golden

SCENARIOS = golden.scenarios()
MAX_DIFF_LINES = 80


def _first_difference(want: Any, got: Any, where: str = "") -> tuple[str, Any, Any]:
    """The innermost object or list where two JSON trees differ, as a readable path."""
    if isinstance(want, dict) and isinstance(got, dict) and list(want) == list(got):
        for key in want:
            if want[key] != got[key] and isinstance(want[key], dict | list):
                return _first_difference(want[key], got[key], f"{where}/{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            if w != g and isinstance(w, dict | list):
                label = w.get("phase") or w.get("name") if isinstance(w, dict) else None
                return _first_difference(w, g, f"{where}[{label or i}]")
    return where or "/", want, got


def _explain(name: str, want_text: str, got_text: str) -> str:
    want, got = json.loads(want_text), json.loads(got_text)
    if want == got:
        where, w, g = "(key order or formatting only)", want, got
    else:
        where, w, g = _first_difference(want, got)
    diff = list(
        difflib.unified_diff(
            golden.text(w).splitlines(),
            golden.text(g).splitlines(),
            "golden",
            "compiled now",
            lineterm="",
        )
    )
    shown = "\n".join(diff[:MAX_DIFF_LINES])
    more = f"\n... {len(diff) - MAX_DIFF_LINES} more lines" if len(diff) > MAX_DIFF_LINES else ""
    return (
        f"compiled output of {name} changed at {where}:\n{shown}{more}\n"
        f"If the change is deliberate: {golden.UPDATE_ENV}=1 pytest tests/control/test_golden.py "
        "and explain it in the commit message."
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_compiled_output_matches_golden(name: str) -> None:
    got = golden.text(golden.compiled(SCENARIOS[name]))
    if os.environ.get(golden.UPDATE_ENV) == "1":
        golden.write_golden(name, got)
    want = golden.read_golden(name)
    assert want is not None, (
        f"no golden file for {name}: {golden.UPDATE_ENV}=1 pytest tests/control/test_golden.py"
    )
    if want != got:
        pytest.fail(_explain(name, want, got), pytrace=False)


def test_every_golden_file_belongs_to_a_scenario() -> None:
    files = {
        p.relative_to(golden.GOLDEN_DIR).as_posix().removesuffix(".json.xz")
        for p in golden.GOLDEN_DIR.rglob("*.json.xz")
    }
    assert files - set(SCENARIOS) == set(), "golden files of scenarios no longer in the library"


def test_a_change_is_reported_where_it_happens() -> None:
    name = "baseline"
    text = golden.text(golden.compiled(SCENARIOS[name]))
    data = json.loads(text)
    cluster = data["phases"][0]["pushed"]["istio-ingressgateway"]["clusters"][0]
    cluster["connect_timeout"] = "99s"
    message = _explain(name, golden.text(data), text)
    assert "/phases[" in message and "/istio-ingressgateway/clusters[" in message
    assert '- "connect_timeout": "99s",' in message
    assert '+ "connect_timeout": "10s",' in message

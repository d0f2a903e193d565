"""Text I/O names its encoding: without one, Python uses the locale's (cp1252
on Windows, where "→" and the report's other symbols break). Binary modes and
os.devnull are left alone."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT_CALLS = {"open", "read_text", "write_text", "fdopen"}


def _mode(call: ast.Call) -> str:
    pos = 1 if isinstance(call.func, ast.Name) or getattr(call.func, "attr", "") == "fdopen" else 0
    for kw in call.keywords:
        if kw.arg == "mode" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    if len(call.args) > pos and isinstance(call.args[pos], ast.Constant):
        return str(call.args[pos].value)
    return "r"


def unspecified(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in TEXT_CALLS:
            continue
        if isinstance(func, ast.Attribute) and name == "open":
            owner = ast.unparse(func.value)
            if owner in {"os", "webbrowser", "opener", "self.opener", "urllib.request"}:
                continue
        if name in {"open", "fdopen"} and "b" in _mode(node):
            continue
        if any(kw.arg == "encoding" for kw in node.keywords):
            continue
        if node.args and ast.unparse(node.args[0]) == "os.devnull":
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_every_text_read_and_write_names_utf8() -> None:
    problems = []
    for pkg in ("meshsim", "sample_services"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            problems += unspecified(path)
    assert not problems, "\n".join(problems)

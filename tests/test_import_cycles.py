"""No import cycle among the control plane's and the scenario's modules.

Every import statement counts, at the top of a module or inside a function
(an import placed in a function is how a cycle hides), and so does
`importlib.import_module("meshsim...")`; only imports under
`if TYPE_CHECKING:` are left out, since they never run. Importing
`meshsim.a.b` runs `meshsim/a/__init__.py` first, so it counts as importing
the package too: a package `__init__` that re-exports a module which imports
back into the package is a cycle Python trips over at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import meshsim

ROOT = Path(meshsim.__file__).resolve().parent
CHECKED = ("meshsim.control", "meshsim.scenario")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names of the modules (or packages) a module imports, as written."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imported(tree, name, path.name == "__init__.py"):
            if target not in modules:
                continue  # a name inside a module (`from m import f`), or not meshsim's
            # importing meshsim.a.b first runs meshsim/a/__init__.py
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                parent = ".".join(parts[:i])
                if parent in modules and parent != name and not name.startswith(parent + "."):
                    graph.add_edge(name, parent)
    return graph


def _cycles_through(graph: nx.DiGraph, prefixes: tuple[str, ...]) -> list[list[str]]:
    out = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 and any(m.startswith(prefixes) for m in component):
            sub = graph.subgraph(component)
            out.append(next(iter(nx.simple_cycles(sub))))
    return out


def test_no_import_cycle_among_control_and_scenario_modules() -> None:
    cycles = _cycles_through(import_graph(), CHECKED)
    assert not cycles, "import cycles: " + "; ".join(
        " -> ".join([*c, c[0]]) for c in sorted(cycles)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    import meshsim.control.translate\n", {"meshsim.control.translate"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import meshsim.cli\n", set()),
        ("import importlib\nimportlib.import_module('meshsim.cli')\n", {"meshsim.cli"}),
        ("from . import envoy\n", {"meshsim.control.envoy"}),
    ],
)
def test_the_graph_sees_hidden_imports(source: str, expected: set[str]) -> None:
    found = _imported(ast.parse(source), "meshsim.control.x", is_package=False)
    assert expected <= {f for f in found if f.startswith("meshsim")}
    assert not ({f for f in found if f.startswith("meshsim")} - expected - {"meshsim.control"})


def test_a_cycle_through_a_package_init_is_found() -> None:
    graph = nx.DiGraph(
        [
            ("meshsim.control.istio", "meshsim.scenario"),  # via meshsim.scenario.model
            ("meshsim.scenario", "meshsim.scenario.loader"),
            ("meshsim.scenario.loader", "meshsim.control.istio"),
        ]
    )
    assert _cycles_through(graph, CHECKED)

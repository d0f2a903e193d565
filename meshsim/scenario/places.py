"""Where a scenario's Istio resources were written, for warnings: a warning
about `VirtualService/product http[0]` in phase canary-10 names the file and
line of the `apply` entry that put that resource in force (the scenario's,
or the manifest's for resources `mesh.manifests` brought), as the loader's
errors name theirs.

The loader records the places (`Scenario.places`); a scenario built in code
or read without its YAML has none, and its warnings are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshsim.scenario.yamlpos import Located, YamlPath, render_path, split_path

if TYPE_CHECKING:
    from meshsim.scenario.k8s_objects import K8sObject
    from meshsim.scenario.model import Scenario

# What compile warnings start with: the resource (`Kind/name`), then maybe a
# field of its spec (`http[0]`, `servers[1].port`), after a space or ": ".
_NAMED = re.compile(
    r"^(?P<key>[A-Z][A-Za-z]+/[a-z0-9][-a-z0-9.]*)"
    r"(?:(?: |: )(?P<path>[a-z][A-Za-z]*\[\d+\](?:\.[a-z][A-Za-z]*(?:\[\d+\])?)*)(?=[: ]))?"
)


@dataclass(frozen=True)
class ResourcePlaces:
    """The scenario file and its parsed YAML, and which entries of the first
    phase's `apply` came from a manifest (index → the manifest's object)."""

    file: str
    doc: Located
    manifests: dict[int, K8sObject] = field(default_factory=dict)

    def where(self, phase: int, index: int, path: YamlPath = ()) -> str:
        """`file:line: field` of `path` inside `phases[phase].apply[index]`."""
        obj = self.manifests.get(index) if phase == 0 else None
        if obj is not None:
            return obj.where(path)
        full = ("phases", phase, "apply", index, *path)
        return f"{self.file}:{self.doc.line_of(full)}: {render_path(full)}"


def applied_by(scenario: Scenario, phase: int) -> dict[str, tuple[int, int]]:
    """`Kind/name` → (phase, apply index) of the entry that put each resource
    in force by phase `phase` (counted from 0)."""
    out: dict[str, tuple[int, int]] = {}
    for i, step in enumerate(scenario.phases[: phase + 1]):
        for removed in step.remove:
            kind, _, rest = str(removed).partition("/")
            out.pop(f"{kind}/{rest.rpartition('/')[2]}", None)  # Kind/namespace/name too
        for j, raw in enumerate(step.apply):
            meta = raw.get("metadata") if isinstance(raw, dict) else None
            if isinstance(meta, dict):
                out[f"{raw.get('kind')}/{meta.get('name')}"] = (i, j)
    return out


def place_of(scenario: Scenario, phase: int, warning: str) -> str | None:
    """The `file:line: field` where the resource a warning starts with (in
    force in phase `phase`) is written, or the field of it the warning names;
    None when it names none or the scenario has no places.

    "VirtualService/product http[0]: subset 'v3' ..." →
    "canary.yaml:31: phases[1].apply[0].spec.http[0]"
    """
    places = scenario.places
    named = _NAMED.match(warning)
    if places is None or named is None:
        return None
    at = applied_by(scenario, phase).get(named["key"])
    if at is None:
        return None
    path = ("spec", *split_path(named["path"])) if named["path"] else ()
    return places.where(*at, path)


def placed(scenario: Scenario, phase: int, warning: str, text: str | None = None) -> str:
    """`text` (the warning itself by default) led by the `file:line: field`
    of the resource `warning` names (`place_of`), as errors are; as it is
    when it names none."""
    where = place_of(scenario, phase, warning)
    shown = warning if text is None else text
    return shown if where is None else f"{where}: {shown}"

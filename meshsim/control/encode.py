"""Compact JSON of compiled resources, once per distinct resource per compile.

A compile shares one dict among every proxy that gets the same resource (the
outbound clusters, a calling service's outbound routes: meshsim.control.
translate). The delivery side needs each resource as compact JSON twice —
to tell a changed set from an unchanged one (meshsim.control.ads) and for the
record files `meshsim config` reads (meshsim.control.writer) — so a push to
100 proxies would otherwise encode the same clusters 100 times. `Encoded`
remembers each dict's JSON by identity for as long as it holds the dict
(holding it keeps its id from being reused by another object).
"""

from __future__ import annotations

import json
from typing import Any


def compact(obj: Any) -> str:
    """`obj` as compact JSON (json's C encoder; the indented form is pure Python)."""
    return json.dumps(obj, separators=(",", ":"))


class Encoded:
    """Compact JSON by object identity: one per compile, never across compiles
    (the compiler builds new dicts each time; a dict is not changed after)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, str]] = {}

    def __call__(self, obj: dict[str, Any]) -> str:
        hit = self._seen.get(id(obj))
        if hit is not None:
            return hit[1]
        text = compact(obj)
        self._seen[id(obj)] = (obj, text)
        return text

    def array(self, items: list[dict[str, Any]]) -> str:
        """`compact(items)`, built from each item's remembered JSON."""
        return "[" + ",".join(self(i) for i in items) + "]"

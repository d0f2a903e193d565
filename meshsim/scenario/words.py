"""Pydantic's validation errors in plain words, for a scenario file and the
Istio resources it carries.

Below both the loader (which adds file and line) and the Istio models in
`meshsim.scenario.istio` (which word their own unknown fields): neither has to
import the other to say what is wrong.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from meshsim.errors import ScenarioError
from meshsim.scenario.model import JOURNEYS, FieldError, Scenario
from meshsim.scenario.yamlpos import Located, YamlPath, render_path


def from_pydantic(err: ErrorDetails, doc: Located, file: str) -> ScenarioError:
    loc: YamlPath = tuple(err["loc"])
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, FieldError):  # a check of the whole field that knows which part
        loc = (*loc, *error.at)
    path, is_key = _key_path(loc)
    return ScenarioError(
        _describe(err, path, is_key),
        file=file,
        line=doc.line_of(path),
        field=render_path(path) or None,
    )


def _describe(err: ErrorDetails, path: YamlPath, is_key: bool) -> str:
    kind, value = err["type"], err["input"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    where = [p for p in path if not isinstance(p, int)]
    if kind == "extra_forbidden":
        return _unknown_key(path)
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if is_key and where[:2] == ["load", "journeys"]:
        return f"{value!r} is not a journey; expected one of {', '.join(JOURNEYS)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if where[-1:] == ["apply"]:
            return f"expected an Istio resource (a mapping); found {kind_of(value)}"
        if where[-1:] == ["actions"]:
            return f"expected a mapping such as {{kill: product:v2}}; found {kind_of(value)}"
        return f"expected a mapping; found {kind_of(value)}"
    if kind == "list_type":
        return f"expected a list; found {kind_of(value)}"
    if kind == "string_type":
        return f"expected text; found {kind_of(value)} (quote it if it is meant as text)"
    if kind in ("int_parsing", "int_type"):
        return f"{_show(value)} is not a whole number; expected e.g. 20"
    if kind == "int_from_float":
        return f"{_show(value)} must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{_show(value)} is not a number; expected e.g. 10 or 2.5"
    if kind in ("bool_type", "bool_parsing"):
        return "expected true or false"
    if kind == "invalid_key":
        return f"a key must be text; found {kind_of(value)}"
    if kind == "finite_number":
        return f"{value} is not a finite number; .inf and .nan mean nothing here"
    if kind == "too_long":
        return (
            f"has {ctx.get('actual_length')} entries; at most {ctx.get('max_length')} are "
            "allowed (see Limits in docs/scenarios.md)"
        )
    if kind == "string_too_long":
        return (
            f"is {len(value) if isinstance(value, str) else '?'} characters long; at most "
            f"{ctx.get('max_length')} are allowed"
        )
    bounds = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "greater than"),
              "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}  # fmt: skip
    if kind in bounds:
        key, words = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty" + (
                "; list at least one phase" if where == ["phases"] else ""
            )
        return f"needs at least {ctx.get('min_length')} items"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        if where[-2:] == ["phases", "name"]:
            return f"{value!r} is not a valid phase name; use letters, digits, '_', '.' and '-'"
        if where[-2:] == ["cohorts", "name"]:
            return (
                f"{value!r} is not a valid cohort name; use lowercase letters, digits, '_' "
                "and '-', starting with a letter"
            )
        if where[-2:] == ["legacy_clients", "path"]:
            return (
                f"{value!r} is not a request path; expected '/' then path and query "
                "characters without spaces (percent-encode others), e.g. /products?page=2"
            )
        return f"{value!r} does not match the pattern {ctx.get('pattern')}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or [ctx.get("expected")]
        return f"expected one of {', '.join(map(str, choices))}; got {_show(value)}"
    return str(err["msg"])


def describe_error(err: ErrorDetails) -> str:
    """A pydantic error in plain words, without its path ("must be at most 100",
    "expected a list; found text 'product'"). Unknown and missing keys are the
    caller's to word: this module says "key", the Istio models "field"."""
    return _describe(err, *_key_path(tuple(err["loc"])))


def _key_path(loc: YamlPath) -> tuple[YamlPath, bool]:
    """Pydantic's location without its "[key]" marker, and whether it was there
    (the error is about a mapping's key, which then names the place)."""
    is_key = bool(loc) and loc[-1] == "[key]"
    return (loc[:-1] if is_key else loc), is_key


def _unknown_key(path: YamlPath) -> str:
    model = model_at(path[:-1])
    if model is None:
        return "unknown key"
    allowed = list(model.model_fields)
    message = f"unknown key; expected one of {', '.join(allowed)}"
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def model_at(path: YamlPath, root: type[BaseModel] = Scenario) -> type[BaseModel] | None:
    """The model class at a data path below `root`, e.g. ("phases", 0) → Phase;
    fields are found by name or alias ("from")."""
    tp: Any = root
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part)) or next(
                (f for f in tp.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) not in (list, dict) and len(args) == 1:
        return args[0]
    return tp


def kind_of(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"{type(value).__name__} {value!r}"


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else kind_of(value)

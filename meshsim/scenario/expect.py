"""Expectations: what must hold in a phase, written so it reads like English.

Grammar (spaces are optional around every token)::

    expectation := [scope "(" target ")" "."] metric op value [tolerance]
    scope       := endpoint | edge | version | journey | cohort
    metric      := error_rate | p50 | p90 | p95 | p99 | p999 | max | mean
                 | rps | requests | failures | share
                 | retries | ejections | mirrored | denied (edge scope only)
    op          := "<" | "<=" | ">" | ">=" | "==" | "="
    value       := number [unit]
    tolerance   := ("±" | "+-" | "+/-") number [unit]      (only with "=" / "==")

Units:

* latency metrics (p50 … p999, max, mean) need a time unit: ``us`` (or ``µs``),
  ``ms`` or ``s``; held in milliseconds.
* rates (error_rate, share) take a percentage (``1%``) or a fraction from 0
  to 1 (``0.01``); held as a fraction.
* counts (rps, requests, failures; the edge counters retries, ejections,
  mirrored and denied) are plain numbers.

Scopes narrow what is measured (without one, every request of the phase):

* ``endpoint(GET /products)``: requests the load sent to that method and path
* ``edge(order->product)``: calls from one service to another, seen by the mesh;
  the ingress gateway is ``istio-ingressgateway`` (``ingress`` is accepted and
  read as that, the one name every report and edge uses)
* ``version(product:v2)``: requests served by that version of a service;
  ``share`` is the fraction of the service's requests that version served
* ``journey(place_order)``: requests made by that shopper journey
* ``cohort(beta)``: requests made by the shoppers of that cohort (``load.cohorts``)

Examples::

    p99 < 300ms
    error_rate < 1%
    rps > 50
    endpoint(GET /products).p99 < 200ms
    edge(order->product).error_rate < 1%
    version(product:v2).share = 10% ± 3%
    cohort(beta).error_rate < 1%
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
RATE_METRICS = ("error_rate", "share")
# Envoy's own counters on a caller's edge: what a policy did that the
# requests alone may not show (retries that hid a failure, an ejected host,
# copies a mirror sent). Only with edge(...).
EDGE_METRICS = ("retries", "ejections", "mirrored", "denied")
COUNT_METRICS = ("rps", "requests", "failures", *EDGE_METRICS)
METRICS = ("error_rate", *LATENCY_METRICS, "rps", "requests", "failures", "share", *EDGE_METRICS)
SCOPES = ("endpoint", "edge", "version", "journey", "cohort")
OPERATORS = ("<", "<=", ">", ">=", "==")

_TIME_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
_SCOPED = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*\.\s*(.*)$")
_OPERATOR = re.compile(r"<=|>=|==|!=|=<|=>|<|>|=")
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([^\d\s.]*)$")
_TOLERANCE = re.compile(r"±|\+/-|\+-")
_NAME = r"[a-z][a-z0-9_-]*"
GATEWAY = "istio-ingressgateway"  # the gateway's name in edges, traces and logs
GATEWAY_ALIASES = ("ingress", GATEWAY)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_EXAMPLES = "e.g. 'p99 < 300ms', 'error_rate < 1%' or 'endpoint(GET /products).p99 < 200ms'"


@dataclass(frozen=True)
class Expectation:
    """One parsed expectation; `value` and `tolerance` are normalised (see module doc)."""

    text: str
    metric: str
    op: str
    value: float
    tolerance: float | None = None
    scope: str = "all"
    target: str | None = None

    @property
    def unit(self) -> str:
        """The unit `value` is held in: "ms", "fraction" or ""."""
        if self.metric in LATENCY_METRICS:
            return "ms"
        return "fraction" if self.metric in RATE_METRICS else ""

    def check(self, observed: float) -> bool:
        """Whether an observed value (in the same unit as `value`) meets the expectation.

        >>> parse_expectation("p99 < 300ms").check(212.5)
        True
        """
        if math.isnan(observed):
            return False
        if self.op == "<":
            return observed < self.value
        if self.op == "<=":
            return observed <= self.value
        if self.op == ">":
            return observed > self.value
        if self.op == ">=":
            return observed >= self.value
        slack = self.tolerance if self.tolerance is not None else 1e-9
        return abs(observed - self.value) <= slack + 1e-12

    def format(self, value: float) -> str:
        """Render a value of this metric for people: "212.5ms", "1.25%", "52.3"."""
        if self.unit == "ms":
            return f"{value:.1f}ms"
        if self.unit == "fraction":
            return f"{value * 100:.2f}%"
        return f"{value:g}" if value == int(value) else f"{value:.1f}"

    def __str__(self) -> str:
        return self.text


def parse_expectation(text: str) -> Expectation:
    """Parse one expectation, or raise ValueError saying what was expected.

    >>> parse_expectation("version(product:v2).share = 10% ± 3%").tolerance
    0.03
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"an expectation must be a non-empty text; expected {_EXAMPLES}")
    scope, target, rest = "all", None, text.strip()
    if m := _SCOPED.match(rest):
        scope, target = _parse_scope(m.group(1), m.group(2))
        rest = m.group(3)
    elif "(" in rest or ")" in rest:
        raise ValueError(
            f"cannot read {text!r}; a scope is written like endpoint(GET /products).p99 "
            "or edge(order->product).error_rate"
        )
    op_match = _OPERATOR.search(rest)
    if op_match is None:
        raise ValueError(f"no comparison in {text!r}; expected {_EXAMPLES}")
    op = op_match.group(0)
    if op == "!=":
        raise ValueError("'!=' is not supported; use <, <=, >, >=, or = with a tolerance (±)")
    op = {"=": "==", "=<": "<=", "=>": ">="}.get(op, op)
    metric = rest[: op_match.start()].strip()
    _check_metric(metric, scope)
    value_text, tolerance_text = _split_tolerance(rest[op_match.end() :].strip())
    value = _parse_value(metric, value_text)
    tolerance = None
    if tolerance_text is not None:
        if op != "==":
            raise ValueError(
                f"a tolerance (±) only goes with '=', as in 'share = 10% ± 3%'; not {op}"
            )
        tolerance = _parse_value(metric, tolerance_text)
    return Expectation(text, metric, op, value, tolerance, scope, target)


def _parse_scope(scope: str, raw: str) -> tuple[str, str]:
    target = raw.strip()
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    if scope == "endpoint":
        method, _, path = target.partition(" ")
        path = path.strip()
        if method.upper() not in _METHODS or not path.startswith("/") or " " in path:
            raise ValueError(
                f"endpoint({target}) is not METHOD /path; expected e.g. endpoint(GET /products)"
            )
        return scope, f"{method.upper()} {path}"
    if scope == "edge":
        source, arrow, destination = (part.strip() for part in target.partition("->"))
        if not (arrow and re.fullmatch(_NAME, source) and re.fullmatch(_NAME, destination)):
            raise ValueError(
                f"edge({target}) is not source->destination; expected e.g. edge(order->product)"
            )
        source, destination = (
            GATEWAY if side in GATEWAY_ALIASES else side for side in (source, destination)
        )
        return scope, f"{source}->{destination}"
    if scope == "version":
        service, colon, version = (part.strip() for part in target.partition(":"))
        if not (colon and re.fullmatch(_NAME, service) and re.fullmatch(_NAME, version)):
            raise ValueError(
                f"version({target}) is not service:version; expected e.g. version(product:v2)"
            )
        return scope, f"{service}:{version}"
    if scope == "cohort":
        if not re.fullmatch(_NAME, target):
            raise ValueError(f"cohort({target}) is not a cohort name; expected e.g. cohort(beta)")
        return scope, target
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", target):
        raise ValueError(f"journey({target}) is not a journey name; expected e.g. journey(browse)")
    return scope, target


def _check_metric(metric: str, scope: str) -> None:
    if not metric:
        raise ValueError(f"missing metric before the comparison; expected {_EXAMPLES}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if metric in EDGE_METRICS and scope != "edge":
        raise ValueError(
            f"{metric} is an Envoy counter on one caller's edge; "
            f"write it as edge(order->product).{metric} > 0"
        )
    if metric == "share" and scope != "version":
        raise ValueError(
            "share is the part of a service's requests one version served; "
            "write it as version(product:v2).share = 10% ± 3%"
        )


def parse_rate(value: object) -> float:
    """A rate written as an expectation writes one, as a fraction: a percentage
    (``"25%"``) or a fraction from 0 to 1 (``0.25``). ValueError otherwise.

    >>> parse_rate("25%"), parse_rate(0.25)
    (0.25, 0.25)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {_unit_hint('share')}")
    return _parse_value("share", str(value).strip())


def _split_tolerance(text: str) -> tuple[str, str | None]:
    parts = _TOLERANCE.split(text)
    if len(parts) > 2:
        raise ValueError(f"more than one tolerance in {text!r}")
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    return text, None


def _parse_value(metric: str, text: str) -> float:
    m = _NUMBER.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a value for {metric}; expected {_unit_hint(metric)}")
    number, unit = float(m.group(1)), m.group(2)
    if not math.isfinite(number):  # 400 digits read as a float are infinite
        raise ValueError(f"{m.group(1)[:20]}... is too large a number for {metric}")
    if metric in LATENCY_METRICS:
        if unit not in _TIME_UNITS:
            got = f"{text!r} has no time unit" if not unit else f"{unit!r} is not a time unit"
            raise ValueError(f"{metric} is a latency; {got}; expected {_unit_hint(metric)}")
        return number * _TIME_UNITS[unit]
    if metric in RATE_METRICS:
        if unit == "%":
            if number > 100:
                raise ValueError(f"{text} is more than 100%")
            return number / 100
        if unit:
            raise ValueError(
                f"{metric} is a rate; {unit!r} is not allowed; expected {_unit_hint(metric)}"
            )
        if number > 1:
            raise ValueError(
                f"{metric} {text} is not a fraction; write {text}% or {number / 100:g}"
            )
        return number
    if unit:
        raise ValueError(
            f"{metric} is a count; {unit!r} is not allowed; expected {_unit_hint(metric)}"
        )
    return number


def _unit_hint(metric: str) -> str:
    if metric in LATENCY_METRICS:
        return "a time such as 300ms, 1.5s or 800us"
    if metric in RATE_METRICS:
        return "a percentage such as 1% or a fraction such as 0.01"
    return "a plain number such as 50"

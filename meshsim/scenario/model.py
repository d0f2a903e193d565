"""The scenario model: what a scenario file may say, with real types.

Every model forbids unknown keys, so a typo is an error where it is read.
Durations are given as "15s", "1m30s", "500ms" or a number of seconds and are
held as float seconds. Checks that need more than one field (services of the
shop, action targets, resources in force) live in `meshsim.scenario.loader`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from meshsim.scenario.expect import Expectation, parse_expectation, parse_rate
from meshsim.scenario.jwt import CohortJwt
from meshsim.scenario.places import ResourcePlaces
from meshsim.scenario.services import SERVICE_NAME_PATTERN, ServiceSpec
from meshsim.scenario.services import Strict as _Strict
from meshsim.shop import SHOP

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h))+\s*$"

# Caps (docs/scenarios.md, "Limits"): far above any real scenario, low enough
# that a hostile one cannot make `validate` slow or a run never end.
MAX_DURATION_S = 365 * 24 * 3600.0  # any duration, Istio's timeouts included
MAX_PHASE_S = 24 * 3600.0
# Istio's own ceiling (istiod --max-workload-cert-ttl, 90 days), well within
# the life of meshsim's root CA (meshsim.control.ca.ROOT_LIFETIME_S, a year).
MAX_CERT_TTL_S = 90 * 24 * 3600.0
MAX_PHASES = 100
MAX_PER_PHASE = 50  # resources applied or removed, actions, expectations
MAX_INSTANCES = 100
MAX_NAME = 100
MAX_TEXT = 10_000
# Control characters but tab and newline, bidirectional overrides and lone
# surrogates: they fake or garble what terminals and reports show.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Turn "1m30s", "500ms", "15s" or a plain number of seconds into seconds.

    `allow_zero` accepts `0` and `0s` (a `settle` of nothing).

    >>> parse_duration("1m30s")
    90.0
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 500ms or 1m30s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration; expected e.g. 15s, 500ms or 1m30s")
    else:
        raise ValueError("expected a duration such as 15s, 500ms or 1m30s")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration; expected e.g. 15s, 500ms or 1m30s")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError("a duration must be greater than zero")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{seconds:g}s is longer than a year (8760h), the longest duration")
    return seconds


def _at_most(limit: float, what: str) -> AfterValidator:
    def check(seconds: float) -> float:
        if seconds > limit:
            raise ValueError(f"{seconds:g}s is longer than {_hours(limit)}, {what}")
        return seconds

    return AfterValidator(check)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h"


def _single_line(text: str) -> str:
    """A name: printable text on one line (it heads terminal lines and reports)."""
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        raise ValueError(
            f"{text!r} contains U+{ord(bad):04X}, which is not printable; a name is printable "
            "text on one line"
        )
    return text


def _printable(text: str) -> str:
    """Free text (a description): printable, tabs and line breaks allowed."""
    bad = _CONTROL.search(text)
    if bad is not None:
        raise ValueError(
            f"contains U+{ord(bad.group()):04X}, a control character; text in a scenario "
            "must be printable"
        )
    return text


def _parse_settle(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError("a settle must not be negative; 0 judges the whole phase")
    return parse_duration(value, allow_zero=True)


class FieldError(ValueError):
    """A ValueError about one part of the value being validated; `at` is the path
    below the field (e.g. `(1, "name")`), so the loader points at that line."""

    def __init__(self, message: str, *at: str | int) -> None:
        super().__init__(message)
        self.at = at


def _check_expectation(text: str) -> str:
    parse_expectation(text)  # raises ValueError with a message meant for a person
    return text


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "A duration such as 15s, 500ms, 1m30s, or a number of seconds.",
        }
    ),
]
# How long a phase settles before its expectations are judged; 0: not at all.
Settle = Annotated[
    float,
    BeforeValidator(_parse_settle),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration such as 2s or 500ms, or a number of seconds; "
            "0 judges the whole phase.",
        }
    ),
]
ExpectationText = Annotated[str, AfterValidator(_check_expectation)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_single_line)]
Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_printable)]
Share = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*%\s*$"},
                {"type": "number", "minimum": 0, "maximum": 1},
            ],
            "description": "A percentage such as 25% or a fraction such as 0.25.",
        }
    ),
]


class LegacyClient(_Strict):
    """A workload outside the mesh: no sidecar, no certificate. It calls a
    service's sidecar inbound port directly in plaintext, so it gets through
    under PERMISSIVE and DISABLE and is refused under STRICT. Its requests are
    recorded with the client's name as their journey."""

    name: str = Field(
        "legacy",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Unique name, also its journey in the report: lowercase letters, digits, '_'.",
    )
    target: str = Field(
        description="Whose sidecar it calls: `service`, `service:version` or an instance; "
        "several instances are called in turn."
    )
    rps: float = Field(5.0, gt=0, le=500, description="Requests per second (open loop).")
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE"] = Field(
        "GET", description="HTTP method."
    )
    path: str = Field(
        "/",
        max_length=2048,
        # origin-form (RFC 9112 3.2.1): "/" then path and query characters (RFC 3986)
        pattern=r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$",
        description="Request path, e.g. /products: a path and query as sent on the "
        "request line, without spaces (percent-encode them).",
    )


class MeshSpec(_Strict):
    services: dict[str, ServiceSpec] = Field(
        default_factory=dict,
        description="Services to run. Without any `command` or `image`, the sample shop's "
        "(a shop service left out runs one v1 instance); with one, your own services "
        "and only them.",
        json_schema_extra={"propertyNames": {"pattern": SERVICE_NAME_PATTERN}},
    )
    ingress_port: int | None = Field(
        None, ge=1, le=65535, description="Local port of the ingress gateway (default 8080)."
    )
    cert_ttl: Annotated[Duration, _at_most(MAX_CERT_TTL_S, "Istio's maximum")] | None = Field(
        None,
        ge=10,
        description="Lifetime of each workload certificate (default 24h, as in Istio; at "
        "most 2160h, 90 days); each is renewed when half of it has passed.",
    )
    legacy_clients: list[LegacyClient] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description="Workloads outside the mesh that call a sidecar directly in plaintext.",
    )
    manifests: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description="Kubernetes manifests (files or directories of .yaml/.yml, relative to the "
        "scenario file): their Deployments, StatefulSets, ReplicaSets, Services and "
        "ServiceAccounts become services of your own, their Istio resources the policies "
        "the first phase applies (docs/kubernetes.md).",
    )
    expose: str | None = Field(
        None,
        pattern=SERVICE_NAME_PATTERN,
        description="The service the ingress gateway routes every path to (with manifests: "
        "a Service's name).",
    )


Journey = Literal["browse", "view_product", "view_user", "place_order"]
JOURNEYS: tuple[str, ...] = get_args(Journey)
_DEFAULT_JOURNEYS: dict[Journey, float] = {
    "browse": 3,
    "view_product": 3,
    "view_user": 1,
    "place_order": 2,
}


# Hop-by-hop headers (RFC 9110, 7.6.1) belong to one connection and `host` picks
# the virtual host; content-length frames the body. A cohort setting one would
# change how its requests travel, not who sends them.
RESERVED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_HEADER_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, spaces, tabs


def _check_header_name(name: str) -> str:
    if not _HEADER_TOKEN.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid header name; use letters, digits and '-', e.g. end-user"
        )
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(
            f"{name!r} cannot be set by a cohort: it is a hop-by-hop or framing header "
            "(or host, which picks the route); use a header of your own, e.g. end-user"
        )
    return name


def header_problem(name: str, value: str) -> str | None:
    """What is wrong with a header as HTTP writes it (RFC 9110), or None: a token
    for the name, printable ASCII without line breaks for the value (a CR LF
    would start a header of its own)."""
    if not _HEADER_TOKEN.fullmatch(name):
        return f"{name!r} is not a valid header name; use letters, digits and '-'"
    if not _HEADER_VALUE.fullmatch(value):
        return f"{value!r} is not a valid header value; use printable ASCII without line breaks"
    return None


def _check_header_value(value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid header value; use printable ASCII without line breaks"
        )
    return value


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderValue = Annotated[str, AfterValidator(_check_header_value)]


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


class Cohort(_Strict):
    """Shoppers who send the same headers on every request, as a logged-in user
    does: Istio's Bookinfo routes the requests of `end-user: jason` to reviews
    v2. Each shopper Locust starts joins at most one cohort, the one furthest
    behind its share, so the shoppers split as closely as whole shoppers allow."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="Unique name, the cohort's key in the report and in cohort(NAME) "
        "expectations: lowercase letters, digits, '_', '-'.",
    )
    share: Share = Field(
        description="Part of the shoppers in this cohort: a percentage such as 25% or "
        "a fraction such as 0.25."
    )
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict,
        description="Headers these shoppers send on every request, e.g. {end-user: jason}. "
        "A VirtualService `match` sees them at the ingress, and on later hops as far "
        "as the apps forward them (order forwards end-user).",
        json_schema_extra={"propertyNames": {"pattern": _HEADER_TOKEN.pattern}},
    )

    jwt: CohortJwt | None = Field(
        None,
        description="A JWT on every request (Authorization: Bearer), signed by the run's "
        "local issuer, e.g. {sub: jason, claims: {groups: [group1]}}; or {expired: true}, "
        "{foreign: true}, {token: invalidToken} for the tokens Istio refuses with 401.",
    )

    @field_validator("headers")
    @classmethod
    def _distinct_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name in headers:
            if name.lower() in seen:
                raise FieldError(
                    f"{name!r} repeats {seen[name.lower()]!r}; header names ignore case", name
                )
            seen[name.lower()] = name
        return headers


class LoadRequest(_Strict):
    """One request of `load.requests`: load on your own services without Python."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="Its name, the journey in the report and in journey(NAME): lowercase "
        "letters, digits, '_', '-'.",
    )
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    path: str = Field(
        pattern=r"^/\S*$",
        description="Path (and query) sent to the ingress, e.g. /quotes/42; the endpoint in "
        "the report is `METHOD path`.",
    )
    weight: float = Field(1.0, ge=0, description="Relative weight among the requests.")
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, description="Headers sent with it."
    )
    body: Any = Field(None, description="A JSON body (a mapping, list, text or number).")


class LoadSpec(_Strict):
    users: int = Field(10, ge=0, le=1000, description="Concurrent simulated shoppers.")
    spawn_rate: float = Field(10.0, gt=0, description="Shoppers started per second.")
    journeys: dict[Journey, Annotated[float, Field(le=1_000_000)]] = Field(
        default_factory=lambda: dict(_DEFAULT_JOURNEYS),
        description="Relative weights of the shopper journeys.",
    )
    cohorts: list[Cohort] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description="Groups of shoppers that send headers on every request, e.g. "
        "{name: beta, share: 25%, headers: {end-user: beta-tester}}; the shares add up "
        "to 100% at most and the other shoppers send no extra headers.",
    )
    locustfile: str | None = Field(
        None,
        min_length=1,
        description="Your own Locust file (HttpUser or FastHttpUser), relative to the "
        "scenario file; its host is the ingress gateway (docs/own-services.md).",
    )
    requests: list[LoadRequest] | None = Field(
        None,
        min_length=1,
        description="Requests the simulated users send at random by weight, without Python, "
        "e.g. [{name: quote, method: GET, path: /quotes/42, weight: 3}].",
    )
    arrival_rate: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="Open loop: requests per second, sent at that rate whatever the answers "
        "do (a hang shows as late or failed requests); `users` is then the most requests in "
        "flight at once, and one that would exceed it counts as failed "
        "(ConcurrencyCapReached). Unset: closed loop, `users` shoppers each waiting for "
        "their answer (docs/scenarios.md, open and closed loop).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Locust worker processes (Locust's master/worker mode on 127.0.0.1), "
        "for more load than one process sends; the users, or the arrival rate, are "
        "split between them. Unset: one Locust process.",
    )

    @property
    def own(self) -> bool:
        """Load of the user's own: a locustfile or a request list, not the shop's journeys."""
        return self.locustfile is not None or self.requests is not None

    @field_validator("requests")
    @classmethod
    def _request_names(cls, requests: list[LoadRequest] | None) -> list[LoadRequest] | None:
        first: dict[str, int] = {}
        for j, request in enumerate(requests or ()):
            if request.name in first:
                raise FieldError(
                    f"duplicate request name {request.name!r} (already used by "
                    f"requests[{first[request.name]}])",
                    j,
                    "name",
                )
            first[request.name] = j
        if requests is not None and not any(r.weight > 0 for r in requests):
            raise ValueError("at least one request needs a weight above zero")
        return requests

    @field_validator("cohorts")
    @classmethod
    def _cohort_shares(cls, cohorts: list[Cohort]) -> list[Cohort]:
        first: dict[str, int] = {}
        for j, cohort in enumerate(cohorts):
            if cohort.name in first:
                raise FieldError(
                    f"duplicate cohort name {cohort.name!r} (already used by "
                    f"cohorts[{first[cohort.name]}])",
                    j,
                    "name",
                )
            first[cohort.name] = j
        total = sum(c.share for c in cohorts)
        if total > 1 + 1e-9:
            parts = " + ".join(f"{c.name} {_percent(c.share)}" for c in cohorts)
            raise ValueError(
                f"the cohorts' shares add up to {_percent(total)} ({parts}); at most 100% "
                "of the shoppers can be in a cohort"
            )
        return cohorts

    @model_validator(mode="after")
    def _weights(self) -> LoadSpec:
        if self.locustfile is not None and self.requests is not None:
            raise ValueError("give load.locustfile or load.requests, not both")
        if self.own and "journeys" in self.model_fields_set:
            raise ValueError(
                "journeys weigh the sample shop's journeys; with load.locustfile or "
                "load.requests, weigh your own requests there"
            )
        if self.locustfile is not None and self.cohorts:
            raise ValueError(
                "cohorts need meshsim's users (the shop's journeys or load.requests); "
                "with your own locustfile, send the headers from it"
            )
        if self.arrival_rate is not None and self.locustfile is not None:
            raise ValueError(
                "arrival_rate drives meshsim's users (the shop's journeys or load.requests); "
                "with your own locustfile, pace it there (e.g. constant_throughput)"
            )
        if self.arrival_rate is not None and self.users == 0:
            raise ValueError(
                "arrival_rate needs users above zero: with an arrival rate, users is the "
                "most requests in flight at once"
            )
        if any(w < 0 for w in self.journeys.values()):
            raise ValueError("journey weights must not be negative")
        if self.users and not any(w > 0 for w in self.journeys.values()):
            raise ValueError("at least one journey needs a weight above zero")
        return self


Verb = Literal["kill", "pause", "resume", "restart"]  # a chaos action
VERBS: tuple[Verb, ...] = get_args(Verb)
_TARGET = "`service`, `service:version` or an instance such as `product-v2-0`"


class Action(_Strict):
    """Chaos on instances. Exactly one verb; the target is `service`,
    `service:version` or an instance name such as `product-v2-0`."""

    kill: str | None = Field(
        None, description=f"Kill {_TARGET} abruptly; it stays down until restarted."
    )
    pause: str | None = Field(
        None, description=f"Freeze {_TARGET}: it stops answering but keeps its connections."
    )
    resume: str | None = Field(None, description=f"Unfreeze paused {_TARGET}.")
    restart: str | None = Field(None, description=f"Stop and start {_TARGET} again.")
    at: Duration | None = Field(None, description="Offset into the phase (default: its start).")

    @model_validator(mode="after")
    def _one_verb(self) -> Action:
        verbs = [v for v in VERBS if getattr(self, v)]
        if len(verbs) != 1:
            raise ValueError("an action needs exactly one of kill, pause, resume, restart")
        return self

    @property
    def verb(self) -> Verb:
        for v in VERBS:
            if getattr(self, v):
                return v
        raise AssertionError("validated")

    @property
    def target(self) -> str:
        value = getattr(self, self.verb)
        assert isinstance(value, str)
        return value


class Phase(_Strict):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Unique name: letters, digits, '_', '.', '-'.",
    )
    duration: Annotated[Duration, _at_most(MAX_PHASE_S, "the longest a phase may last")] = Field(
        description="How long the phase lasts, at most 24h."
    )
    description: Text | None = None
    apply: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description="Istio resources (and Gateway API HTTPRoutes), verbatim; in force until removed.",
    )
    remove: list[str] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description='"Kind/name" of resources to withdraw.',
    )
    actions: list[Action] = Field(
        default_factory=list, max_length=MAX_PER_PHASE, description="Chaos on instances."
    )
    expect: list[ExpectationText] = Field(
        default_factory=list,
        max_length=MAX_PER_PHASE,
        description='Assertions such as "p99 < 300ms" or "journey(place_order).error_rate < 1%".',
    )
    noop: str | None = Field(
        None,
        min_length=1,
        description="Why this phase's change (apply, remove, actions) is meant to show in "
        "none of its own expectations: e.g. it only sets up what a later phase judges, or it "
        "demonstrates a policy that changes nothing here. The library's ablation test "
        "(tests/live/test_ablation.py) accepts such a phase; any other must fail one of its "
        "expectations when its change is left out.",
    )
    settle: Settle | None = Field(
        None,
        description="Judge the expectations only on the part of the phase after this much "
        "of it has passed (e.g. 2s), leaving out the transition at its start: routes "
        "reaching every proxy, a killed instance being ejected, a restarted app starting. "
        "Shorter than the phase; 0 judges the whole phase. Default: the scenario's settle.",
    )

    @property
    def expectations(self) -> list[Expectation]:
        """The `expect` entries, parsed."""
        return [parse_expectation(text) for text in self.expect]


class TraceKeepSpec(_Strict):
    """Which traces the collector keeps on disk (meshsim.telemetry.keeping):
    every error, the slowest per phase and endpoint, a sample of the rest."""

    keep_errors: bool = Field(
        True, description="Keep every trace with a failed span (5xx, no response)."
    )
    keep_slowest: int = Field(
        10,
        ge=0,
        le=1000,
        description="Keep the N slowest traces of each phase and endpoint (default 10; "
        "0: none by speed).",
    )
    keep_sample: float = Field(
        10.0,
        ge=0,
        le=100,
        description="Percentage of the other traces kept, chosen uniformly at random "
        "(default 10; 100 keeps every trace).",
    )


class TelemetrySpec(_Strict):
    """What the run collects besides the load's own records (docs/observability.md).
    `MESHSIM_TELEMETRY=off` or `meshsim up --no-telemetry` turn all of it off."""

    metrics: bool = Field(
        True, description="Scrape every proxy's /stats/prometheus into metrics.jsonl."
    )
    scrape_interval: Duration = Field(
        2.0,
        ge=0.5,
        le=3600,
        description="Time between two scrapes of every proxy (default 2s, at most 1h).",
    )
    tracing: bool = Field(
        True, description="Envoy's Zipkin tracer on every proxy; spans go to traces.jsonl."
    )
    sampling: float = Field(
        100.0, ge=0, le=100, description="Percentage of requests traced (default 100)."
    )
    access_logs: bool = Field(
        True, description="JSON access logs of every sidecar (inbound, outbound) and the ingress."
    )
    traces: TraceKeepSpec = Field(
        default_factory=TraceKeepSpec,
        description="Which of the traced requests are kept on disk (traces.jsonl.gz).",
    )
    compress: bool = Field(
        True,
        description="Write records, traces and access logs gzip-compressed (default true; "
        "every meshsim command reads either form).",
    )


class Scenario(_Strict):
    name: Name = Field(
        description="Name of the scenario, shown in reports: printable text on one line, "
        "at most 100 characters."
    )
    description: Text | None = None
    mesh: MeshSpec = Field(default_factory=MeshSpec, description="Which instances run.")
    load: LoadSpec = Field(default_factory=LoadSpec, description="The shoppers Locust simulates.")
    telemetry: TelemetrySpec = Field(
        default_factory=TelemetrySpec,
        description="Metrics, traces and access logs the run collects.",
    )
    settle: Settle | None = Field(
        None,
        description="The settle of every phase that does not give its own (default 0: "
        "expectations judge the whole phase).",
    )
    phases: list[Phase] = Field(
        min_length=1,
        max_length=MAX_PHASES,
        description="Run one after another, in order (at most 100).",
    )
    # The scenario file's directory: own services' commands and load.locustfile
    # are relative to it. Set by the loader; None (text without a file): the
    # current directory.
    _base_dir: Path | None = PrivateAttr(None)
    # What `mesh.manifests` could not honour, each naming its manifest's
    # file:line and field (meshsim.scenario.from_manifests).
    _notes: tuple[str, ...] = PrivateAttr(())
    # Where its `apply` entries were written (meshsim.scenario.places), for
    # warnings that name file:line; None when not read from YAML.
    _places: ResourcePlaces | None = PrivateAttr(None)

    @property
    def notes(self) -> tuple[str, ...]:
        """Warnings about the scenario's inputs that are not errors."""
        return self._notes

    @property
    def places(self) -> ResourcePlaces | None:
        """Where its resources were written, when it was read from YAML."""
        return self._places

    @property
    def base_dir(self) -> Path:
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def located_at(self, base_dir: Path) -> Scenario:
        """This scenario, read from a file in `base_dir` (returns self)."""
        self._base_dir = base_dir
        return self

    def settle_of(self, phase: Phase) -> float:
        """Seconds at the start of `phase` its expectations leave out: its own
        `settle`, else the scenario's, else 0 (the whole phase is judged)."""
        if phase.settle is not None:
            return phase.settle
        return self.settle or 0.0


def is_own_application(scenario: Scenario) -> bool:
    """True when the scenario runs services of its own (any service with a
    `command` or an `image`): then only the services it declares run, and
    none of the sample shop's."""
    return any(spec.own for spec in scenario.mesh.services.values())


def resolve_mesh(scenario: Scenario) -> dict[str, dict[str, int]]:
    """Service → version → replicas for the whole mesh.

    The shop: services the scenario does not mention run one v1 instance; a
    mentioned service runs exactly the versions it lists. Own services: exactly
    the services and versions declared.

    >>> scenario = Scenario.model_validate({"name": "x", "phases": [{"name": "a", "duration": 1}]})
    >>> resolve_mesh(scenario)
    {'user': {'v1': 1}, 'product': {'v1': 1}, 'shipping': {'v1': 1}, 'order': {'v1': 1}}
    """
    declared = scenario.mesh.services
    if is_own_application(scenario):
        return {
            name: {version: v.replicas for version, v in spec.versions.items()}
            for name, spec in declared.items()
        }
    out: dict[str, dict[str, int]] = {}
    for name in [*SHOP, *(s for s in declared if s not in SHOP)]:
        spec = declared.get(name)
        if spec is None:
            out[name] = {"v1": 1}
        else:
            out[name] = {version: v.replicas for version, v in spec.versions.items()}
    return out


def instance_names(scenario: Scenario) -> list[str]:
    """Every instance of the resolved mesh: `product-v1-0`, `product-v2-0`, ..."""
    return [
        f"{service}-{version}-{index}"
        for service, versions in resolve_mesh(scenario).items()
        for version, replicas in versions.items()
        for index in range(replicas)
    ]


def resolve_target(scenario: Scenario, target: str) -> list[str]:
    """The instance names an action target addresses, or ValueError.

    `product` → every product instance; `product:v2` → every v2 instance;
    `product-v2-0` → that instance.
    """
    mesh = resolve_mesh(scenario)
    service, colon, version = target.partition(":")
    if service in mesh and (version in mesh[service] if colon else True):
        versions = [version] if version else list(mesh[service])
        return [f"{service}-{v}-{i}" for v in versions for i in range(mesh[service][v])]
    if target in instance_names(scenario):
        return [target]
    names = instance_names(scenario)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(
        f"{target!r} is not in the mesh; expected a service (e.g. product), "
        "service:version (e.g. product:v2) or an instance name (e.g. product-v1-0); "
        f"instances: {shown}"
    )

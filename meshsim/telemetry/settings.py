"""Which telemetry a run collects, from the scenario, the environment and the CLI.

Three switches, most specific last:

1. the scenario's `telemetry:` key (docs/scenarios.md), default everything on;
2. `MESHSIM_TELEMETRY=off` in the environment turns all of it off (`on`
   leaves the scenario's choice);
3. `meshsim up --no-telemetry` turns all of it off; `--telemetry` keeps the
   scenario's choice whatever the environment says.

"Off" means: no periodic `/stats/prometheus` scrapes (`metrics.jsonl`, and
edges without latency), no tracing (no collector, no `tracing` in Envoy's
configuration), no access logs beyond the inbound one authorization needs.
The edge counters taken at phase boundaries stay: they cost a handful of
admin calls per phase.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from meshsim.errors import UsageError

ENV = "MESHSIM_TELEMETRY"
DEFAULT_SCRAPE_INTERVAL_S = 2.0


@dataclass(frozen=True)
class TelemetrySettings:
    metrics: bool = True
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    tracing: bool = True
    sampling: float = 100.0  # percent of requests traced
    access_logs: bool = True
    # which traces are kept (meshsim.telemetry.keeping), percent for the sample
    keep_errors: bool = True
    keep_slowest: int = 10
    keep_sample: float = 10.0
    compress: bool = True  # records, traces and access logs gzip-compressed

    @classmethod
    def off(cls) -> TelemetrySettings:
        return cls(metrics=False, tracing=False, access_logs=False)

    @property
    def enabled(self) -> bool:
        return self.metrics or self.tracing or self.access_logs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_telemetry(
    spec: Any | None,
    *,
    cli: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> TelemetrySettings:
    """The settings for a run: `spec` is the scenario's `telemetry` (a
    `meshsim.scenario.model.TelemetrySpec` or None), `cli` the `--telemetry`
    flag (None when not given)."""
    settings = TelemetrySettings()
    if spec is not None:
        settings = TelemetrySettings(
            metrics=spec.metrics,
            scrape_interval_s=spec.scrape_interval,
            tracing=spec.tracing,
            sampling=spec.sampling,
            access_logs=spec.access_logs,
            keep_errors=spec.traces.keep_errors,
            keep_slowest=spec.traces.keep_slowest,
            keep_sample=spec.traces.keep_sample,
            compress=spec.compress,
        )
    env = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    if env not in ("", "on", "off"):
        raise UsageError(f"{ENV}={env!r}: expected 'on' or 'off'")
    if cli is False or (cli is None and env == "off"):
        return replace(
            TelemetrySettings.off(),
            scrape_interval_s=settings.scrape_interval_s,
            compress=settings.compress,
        )
    return settings

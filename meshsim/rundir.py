"""The run directory: the names of what meshsim writes in it, and its manifest.

A run directory is recognised by its manifest, `.meshsim-run`, written when
meshsim takes an empty (or new) directory for a run: a format tag and the
entries meshsim owns there. Replacing an earlier run deletes those entries
and nothing else; anything else in the directory (a user's `notes.txt`, a
`src/`) makes meshsim refuse, so it never deletes what it did not write.

A run directory from before the manifest existed is replaced only when it
holds a meshsim `run.json` and nothing but entries meshsim writes.

Every path inside a run directory is spelled here and nowhere else: the
runner, the runtimes, the control plane (which tells Envoy where to log), the
telemetry readers, the report and `status` all ask a `RunDir`. The control
plane builds paths as seen from inside a container too (`RunDir(Path(
"/etc/meshsim"))`), so nothing here touches the filesystem but the manifest.

>>> rd = RunDir(Path("meshsim-runs/x"))
>>> rd.envoy_log("product-v1-0").relative_to(rd.path).as_posix()
'logs/product-v1-0.envoy.log'
>>> rd.access_log("istio-ingressgateway", "outbound").relative_to(rd.path).as_posix()
'logs/istio-ingressgateway.outbound.jsonl'
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from meshsim.errors import UsageError

MANIFEST = ".meshsim-run"
FORMAT = "meshsim-run/1"

# Every top-level entry a run (and `meshsim report` on it) may write.
RUN_JSON = "run.json"
PHASES = "phases.jsonl"
RECORDS = "records"
LOGS = "logs"
XDS = "xds"
PKI = "pki"
CERTS = "certs.jsonl"
PLAN = "plan.json"
EDGES = "edges.json"
METRICS = "metrics.jsonl"
TRACES = "traces.jsonl"
AUTHZ = "authz.json"
SCENARIO = "scenario.yaml"
REPORT_JSON = "report.json"
JUNIT = "junit.xml"
SUMMARY = "summary.md"
REPORT_HTML = "report.html"

ENTRIES = frozenset(
    {
        RUN_JSON,
        PHASES,
        RECORDS,
        LOGS,
        XDS,
        PKI,
        CERTS,
        PLAN,
        EDGES,
        METRICS,
        TRACES,
        AUTHZ,
        SCENARIO,
        REPORT_JSON,
        JUNIT,
        SUMMARY,
        REPORT_HTML,
    }
)
ACCESS_LOG_SUFFIX = ".jsonl"
# A line file's compressed form (`meshsim.rundata`): records, access logs, traces.
GZ_SUFFIX = ".gz"
# An access log renamed away from its Envoy, to be compressed (`meshsim.telemetry.logrotate`).
ROTATED_SUFFIX = ".rotated"
# An access log's direction (the HTTP connection manager it logs): "inbound"
# (toward the app), "outbound" (from it) or "ingress" (the gateway's listener).
ACCESS_LOG_DIRECTIONS = ("inbound", "outbound", "ingress")

# atomic_write's temporary files (".<name>.<random>.tmp"), left behind by a killed run
_TEMP = re.compile(r"^\.(?P<name>[^/]+)\.[A-Za-z0-9_]+\.tmp$")
_SHOWN = 10  # unknown entries named in a refusal


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; the one place that spells its entry names."""

    path: Path

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def phases(self) -> Path:
        return self.path / PHASES

    @property
    def records(self) -> Path:
        """The load generator's request records (`meshsim.load.records`)."""
        return self.path / RECORDS

    @property
    def logs(self) -> Path:
        """Every process's log, and the proxies' access logs."""
        return self.path / LOGS

    @property
    def xds(self) -> Path:
        """Each proxy's xDS files, `xds/<proxy>/` (docs/architecture.md)."""
        return self.path / XDS

    @property
    def pki(self) -> Path:
        """The run's CA and each proxy's certificate (docs/security.md)."""
        return self.path / PKI

    @property
    def certs(self) -> Path:
        return self.path / CERTS

    @property
    def plan(self) -> Path:
        return self.path / PLAN

    @property
    def edges(self) -> Path:
        return self.path / EDGES

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def traces(self) -> Path:
        return self.path / TRACES

    @property
    def authz(self) -> Path:
        return self.path / AUTHZ

    @property
    def scenario(self) -> Path:
        return self.path / SCENARIO

    def report_file(self, name: str) -> Path:
        """One of the report's files (`REPORT_JSON`, `JUNIT`, ...) in this directory."""
        return self.path / name

    def envoy_log(self, proxy: str) -> Path:
        """Envoy's own log (stderr) of a sidecar or the ingress."""
        return self.logs / f"{proxy}.envoy.log"

    def app_log(self, instance: str) -> Path:
        return self.logs / f"{instance}.app.log"

    def access_log(self, proxy: str, direction: str) -> Path:
        """A proxy's JSON access log of one direction (docs/telemetry.md)."""
        return self.logs / f"{proxy}.{direction}{ACCESS_LOG_SUFFIX}"

    def access_logs(self) -> list[tuple[Path, str, str]]:
        """(path, proxy, direction) of every access log here, by name. `path`
        is the plain name (`x.inbound.jsonl`) whether the log is plain,
        compressed (`x.inbound.jsonl.gz`), rotated or all: read it with
        `meshsim.rundata.iter_lines`."""
        names = {p.name for p in self.logs.glob(f"*{ACCESS_LOG_SUFFIX}")}
        for suffix in (GZ_SUFFIX, ROTATED_SUFFIX):
            names |= {
                p.name.removesuffix(suffix) for p in self.logs.glob(f"*{ACCESS_LOG_SUFFIX}{suffix}")
            }
        out = []
        for name in sorted(names):
            proxy, _, direction = name.removesuffix(ACCESS_LOG_SUFFIX).rpartition(".")
            if proxy and direction in ACCESS_LOG_DIRECTIONS:
                out.append((self.logs / name, proxy, direction))
        return out

    @property
    def locust_log(self) -> Path:
        return self.logs / "locust.log"

    @property
    def generator_log(self) -> Path:
        """`meshsim bench`'s load generator process."""
        return self.logs / "generator.log"

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    def is_run(self) -> bool:
        """A meshsim run directory: it has a manifest or a run.json."""
        return self.manifest.is_file() or self.run_json.is_file()

    def write_manifest(self, extra: tuple[str, ...] = ()) -> None:
        """Claim the entries meshsim writes here (call on an empty directory).
        `extra`: more top-level names this run writes (a --report-dir inside it)."""
        entries = sorted(ENTRIES | set(extra))
        self.manifest.write_text(
            json.dumps({"format": FORMAT, "entries": entries}, indent=1) + "\n", encoding="utf-8"
        )

    def owned(self) -> frozenset[str]:
        """The entries meshsim may delete here; UsageError when the directory
        is not recognisably a meshsim run (no manifest and no meshsim run.json,
        or a manifest meshsim cannot read)."""
        if self.manifest.exists():
            try:
                raw = json.loads(self.manifest.read_text(encoding="utf-8"))
                ok = isinstance(raw, dict) and raw.get("format") == FORMAT
                entries = raw["entries"] if ok else None
            except (OSError, ValueError, KeyError, UnicodeDecodeError):
                entries = None
            if not isinstance(entries, list) or not all(_plain(e) for e in entries):
                raise UsageError(
                    f"--run-dir {self.path}: {MANIFEST} is not a manifest this meshsim "
                    f"writes (expected format {FORMAT!r}); give an empty or new directory"
                )
            return frozenset(entries)
        if not _meshsim_run_json(self.run_json):
            raise UsageError(
                f"--run-dir {self.path}: the directory is not empty and holds no meshsim run "
                f"(no {MANIFEST}, no meshsim run.json); give an empty or new directory"
            )
        return ENTRIES  # from before the manifest: only what meshsim writes

    def unknown(self, owned: frozenset[str]) -> list[str]:
        """Entries here that meshsim did not write (the manifest itself aside)."""
        out = []
        for entry in sorted(p.name for p in self.path.iterdir()):
            temp = _TEMP.match(entry)
            if entry == MANIFEST or entry in owned or (temp and temp["name"] in owned):
                continue
            out.append(entry)
        return out

    def replace_earlier_run(self) -> None:
        """Delete an earlier run's entries, or refuse (UsageError) and delete
        nothing when anything here is not meshsim's."""
        owned = self.owned()
        unknown = self.unknown(owned)
        if unknown:
            shown = ", ".join(unknown[:_SHOWN]) + (" …" if len(unknown) > _SHOWN else "")
            raise UsageError(
                f"--run-dir {self.path}: holds entries meshsim did not write ({shown}); "
                "meshsim deletes nothing it did not write: give an empty or new directory"
            )
        for entry in sorted(self.path.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _plain(entry: object) -> bool:
    """A manifest entry names a direct child: no separators, no `.`/`..`."""
    return (
        isinstance(entry, str)
        and entry not in ("", ".", "..")
        and "/" not in entry
        and "\\" not in entry
        and "\0" not in entry
    )


def _meshsim_run_json(path: Path) -> bool:
    """run.json as meshsim writes it (an object with a run_id), not any file of that name."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(raw, dict) and isinstance(raw.get("run_id"), str)

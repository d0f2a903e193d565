"""The sidecar agent: fetches its proxy's configuration from the control plane
and renames it into place in a container-local directory that Envoy watches,
then runs Envoy beside it (Istio's pilot-agent sits beside Envoy the same way).

Why not a bind mount of the run directory? On Docker Desktop (macOS, Windows)
file-change events on bind mounts may never reach a container, and Envoy's
filesystem xDS reacts only to moves it sees. Here every move happens inside
the container, so Envoy sees each one wherever Docker runs.

Protocol (HTTP long-poll, one GET at a time)::

    GET /v1/proxies/<proxy>?after=<generation>&wait=<seconds>
    Authorization: Bearer <token of this proxy>
    -> {"generation": 7, "files": {"cds.json": "...", "sds/default.json": "..."}}

`files` holds only the files that changed after `after`; the answer comes as
soon as something changes, or after `wait` seconds with no files. Files are
written in dependency order (secrets, clusters, routes, listeners), each to a
temporary file in the same directory and renamed into place.

With `--probe-port`, the agent also answers readiness probes for the app
from inside the pod (Istio's pilot-agent rewrites a pod's probes the same
way): the app's port is refused outside the pod, so meshsim asks
`GET <health path>` on the probe port and the agent asks the app.

Standard library only: the sidecar image has Envoy and a bare Python, no
meshsim. Run it as::

    python3 agent.py --control http://HOST:PORT --proxy product-v1-0 \\
        --dir /abs/xds/product-v1-0 --log /abs/logs/product-v1-0.envoy.log \\
        -- envoy -c /abs/xds/product-v1-0/bootstrap.json
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

TOKEN_ENV = "MESHSIM_AGENT_TOKEN"
BOOTSTRAP = "bootstrap.json"
LONG_POLL_S = 25.0
START_TIMEOUT_S = 120.0
# Longer than any caller's probe (readiness 1 s, chaos 0.5 s): a frozen app
# leaves the caller without an answer until the caller gives up, as it would.
PROBE_TIMEOUT_S = 5.0


def write_order(names: Iterable[str]) -> list[str]:
    """The order a batch of files is renamed into place: what a resource refers
    to lands before the resource (secrets, clusters, routes, then listeners).

    >>> write_order(["lds.json", "rds_inbound.json", "cds.json", "sds/default.json"])
    ['sds/default.json', 'cds.json', 'rds_inbound.json', 'lds.json']
    """

    def rank(name: str) -> tuple[int, str]:
        base = name.rsplit("/", 1)[-1]
        if name.startswith("sds/"):
            return (0, name)
        if base == "cds.json":
            return (1, name)
        if base.startswith("rds_"):
            return (2, name)
        if base == "lds.json":
            return (3, name)
        if base == BOOTSTRAP:
            return (5, name)
        return (4, name)

    return sorted(names, key=rank)


def safe_relative(name: str) -> bool:
    """A file name the control plane may write: relative, no '..', no dotfiles."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p and p[0] != "." for p in parts)


class Mirror:
    """Keeps `dest` equal to what the control plane serves for one proxy."""

    def __init__(
        self,
        control: str,
        proxy: str,
        dest: Path,
        token: str,
        owner: tuple[int, int] | None = None,
        log: IO[str] | None = None,
    ) -> None:
        self.url = f"{control.rstrip('/')}/v1/proxies/{proxy}"
        self.dest = dest
        self.token = token
        self.owner = owner
        self.log = log or sys.stderr
        self.generation = 0
        self.written: dict[str, str] = {}  # name -> sha256 of what is in place
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.log.write(f"[{stamp}] meshsim-agent: {message}\n")
        self.log.flush()

    def fetch(self, wait: float) -> dict[str, str]:
        """One long-poll; returns the changed files and advances the generation."""
        req = urllib.request.Request(
            f"{self.url}?after={self.generation}&wait={wait:g}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with self.opener.open(req, timeout=wait + 10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        files = {str(k): str(v) for k, v in dict(body.get("files", {})).items()}
        self.generation = int(body.get("generation", self.generation))
        return files

    def _mkdirs(self, path: Path) -> None:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir(mode=0o700)
            if self.owner is not None:
                os.chown(d, *self.owner)

    def apply(self, files: dict[str, str]) -> list[str]:
        """Rename each changed file into place, in dependency order."""
        changed = []
        for name in write_order(files):
            if not safe_relative(name):
                self.say(f"ignored a file outside the proxy's directory: {name!r}")
                continue
            data = files[name]
            digest = hashlib.sha256(data.encode()).hexdigest()
            if self.written.get(name) == digest:
                continue
            target = self.dest / name
            self._mkdirs(target.parent)
            tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            if self.owner is not None:
                os.chown(tmp, *self.owner)
            os.replace(tmp, target)  # Envoy reacts to the move
            self.written[name] = digest
            changed.append(name)
        return changed

    def initial(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until the control plane serves a complete configuration
        (the bootstrap is written last) and put it in place."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            try:
                self.apply(self.fetch(wait=2.0))
                if BOOTSTRAP in self.written:
                    self.say(f"configuration in place (generation {self.generation})")
                    return
            except (OSError, ValueError) as exc:
                if str(exc) != last_error:
                    self.say(f"waiting for the control plane at {self.url}: {exc}")
                    last_error = str(exc)
                time.sleep(0.2)
            if time.monotonic() > deadline:
                raise SystemExit(f"meshsim-agent: no configuration after {timeout:.0f}s")

    def follow(self, stop: threading.Event) -> None:
        """Long-poll for changes until `stop` is set. A control plane that went
        away (meshsim was killed) leaves Envoy running on its last configuration."""
        backoff = 0.1
        while not stop.is_set():
            try:
                changed = self.apply(self.fetch(wait=LONG_POLL_S))
                if changed:
                    self.say(f"generation {self.generation}: {', '.join(changed)}")
                backoff = 0.1
            except (OSError, ValueError) as exc:
                self.say(f"control plane unreachable ({exc}); retrying")
                stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)


class _ProbeHandler(http.server.BaseHTTPRequestHandler):
    """GET of the app's health path -> the app's own status. An app that
    refuses or does not answer gets the caller's connection closed without an
    answer, so a caller (readiness, chaos checks) sees what it would see at
    the app's own port: refused, or silence. Only that path: the probe port is
    published on the host, and must not become a way around the sidecar."""

    app_health = ""  # http://<pod ip>:<app port><path>; a path of "/" with no health: TCP
    tcp_only = False
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        target = urllib.parse.urlsplit(self.app_health)
        if urllib.parse.urlsplit(self.path).path != (target.path or "/"):
            self._answer(404, b"the probe answers the app's health path only\n")
            return
        answer = self._ask(target)
        if answer is not None:
            self._answer(*answer)
        # else: no answer; the connection closes (HTTP/1.0), as the app's would

    def _ask(self, target: urllib.parse.SplitResult) -> tuple[int, bytes] | None:
        if self.tcp_only:
            try:
                socket.create_connection(
                    (target.hostname or "", target.port or 80), PROBE_TIMEOUT_S
                ).close()
            except OSError:
                return None
            return 200, b"app port accepts connections\n"
        try:
            with self.opener.open(self.app_health, timeout=PROBE_TIMEOUT_S) as resp:
                return int(resp.status), resp.read(4096)
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except (OSError, ValueError):
            return None

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # one line per probe every 20 ms would drown the log


def serve_probe(port: int, app_health: str, tcp_only: bool = False) -> http.server.HTTPServer:
    """Answer probes on `port` (all addresses of the pod) in a daemon thread."""
    handler = type("Probe", (_ProbeHandler,), {"app_health": app_health, "tcp_only": tcp_only})
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probe", daemon=True).start()
    return server


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: agent.py [options] -- envoy ARGS...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="meshsim-agent")
    parser.add_argument("--control", required=True, help="the control plane's base URL")
    parser.add_argument("--proxy", required=True, help="this proxy's name")
    parser.add_argument("--dir", required=True, type=Path, help="where Envoy reads its files")
    parser.add_argument("--log", type=Path, help="append Envoy's and the agent's output here")
    parser.add_argument("--uid", type=int, help="run Envoy as this user")
    parser.add_argument("--gid", type=int, help="... and group")
    parser.add_argument("--probe-port", type=int, help="answer the app's readiness probes here")
    parser.add_argument("--app-health", help="the app's health URL (http://IP:PORT/PATH)")
    parser.add_argument(
        "--app-tcp", action="store_true", help="the app has no health path: probe its port"
    )
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def main(argv: list[str] | None = None) -> int:
    args, envoy = _parse(sys.argv[1:] if argv is None else argv)
    if not envoy:
        raise SystemExit("meshsim-agent: no Envoy command after --")
    owner = (args.uid, args.gid) if args.uid is not None and args.gid is not None else None
    if owner is not None and os.geteuid() != 0:
        owner = None  # not root: everything already belongs to us
    log: IO[str] = args.log.open("a", buffering=1, encoding="utf-8") if args.log else sys.stderr
    if args.log and owner is not None:
        os.chown(args.log, *owner)  # the log is on the host: leave it to the host's user
    mirror = Mirror(args.control, args.proxy, args.dir, os.environ.get(TOKEN_ENV, ""), owner, log)
    stopping = threading.Event()
    proc: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if args.probe_port and args.app_health:
        serve_probe(args.probe_port, args.app_health, args.app_tcp)
    mirror.initial()
    drop: dict[str, Any] = {}
    if owner is not None:
        drop = {"user": owner[0], "group": owner[1], "extra_groups": []}
    mirror.say(f"starting {' '.join(envoy)}")
    proc = subprocess.Popen(envoy, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **drop)
    threading.Thread(target=mirror.follow, args=(stopping,), daemon=True).start()
    code = proc.wait()
    stopping.set()
    mirror.say(f"Envoy exited with {code}")
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())

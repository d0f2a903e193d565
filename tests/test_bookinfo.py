"""examples/bookinfo: its scenarios load, compile and analyze clean with
Istio's task YAML as written, and its app behaves as the tasks rely on
(reviews' versions, the end-user header forwarded, a failed dependency
degrading the page, not failing it). The live runs: tests/live/test_bookinfo.py."""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meshsim.analyze import analyze_file
from meshsim.explain import explain
from meshsim.scenario import load_scenario

BOOKINFO = Path(__file__).parents[1] / "examples" / "bookinfo"
SCENARIOS = sorted(BOOKINFO.glob("*.yaml"))
# What Istio itself says of these files on a mesh without ratings v2, details
# v2 and so on: their subsets select nothing, and VirtualService/productpage
# (virtual-service-all-v1.yaml) does not apply to the gateway's calls.
EXPECTED_WARNINGS = ("selects no instance", "made by sidecars")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_the_scenarios_compile_with_only_istios_own_warnings(path: Path) -> None:
    scenario = load_scenario(path)
    assert set(scenario.mesh.services) == {"productpage", "details", "reviews", "ratings"}
    result = explain(path)
    assert [p.phase for p in result.phases] == [p.name for p in scenario.phases]
    for phase in result.phases:
        unexpected = [w for w in phase.warnings if not any(e in w for e in EXPECTED_WARNINGS)]
        assert unexpected == [], (path.name, phase.phase)
    assert [f.text() for f in analyze_file(path).findings] == []  # no warning either


def test_the_gateway_is_istios_bookinfo_gateway() -> None:
    """bookinfo-gateway.yaml as Istio ships it: port 8080, productpage on 9080."""
    first = load_scenario(BOOKINFO / "request-routing.yaml").phases[0]
    applied = {f"{r['kind']}/{r['metadata']['name']}": r for r in first.apply}
    gateway = applied["Gateway/bookinfo-gateway"]["spec"]
    assert gateway["selector"] == {"istio": "ingressgateway"}
    assert gateway["servers"][0]["port"] == {"number": 8080, "name": "http", "protocol": "HTTP"}
    route = applied["VirtualService/bookinfo"]["spec"]["http"][0]
    assert route["route"] == [{"destination": {"host": "productpage", "port": {"number": 9080}}}]
    assert {"uri": {"exact": "/productpage"}} in route["match"]


def _load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bookinfo_app", BOOKINFO / "bookinfo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Proxy(BaseHTTPRequestHandler):
    """Stands in for the sidecar: answers the peers' calls (absolute-form
    requests) from `answers`, and keeps the headers each call carried."""

    answers: dict[str, tuple[int, object]] = {}
    seen: list[tuple[str, dict[str, str]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        _Proxy.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        host = self.path.split("/")[2].split(":")[0]
        status, body = _Proxy.answers.get(host, (503, {}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        return resp.status, resp.read().decode()


def _role(app: ModuleType, role: str) -> type[BaseHTTPRequestHandler]:
    return type(f"{role}Handler", (app.Handler,), {"role": role})


def test_reviews_versions_and_ratings(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _load_app()
    _Proxy.answers = {"ratings": (200, {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})}
    with _serve(_Proxy) as proxy, _serve(_role(app, "reviews")) as reviews:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("ENABLE_RATINGS", "false")
        body = json.loads(_get(reviews, "/reviews/0")[1])
        assert all("rating" not in r for r in body["reviews"])  # v1: no stars
        monkeypatch.setenv("ENABLE_RATINGS", "true")
        monkeypatch.setenv("STAR_COLOR", "red")
        _Proxy.seen.clear()
        body = json.loads(_get(reviews, "/reviews/0", {"end-user": "jason"})[1])
        assert body["reviews"][0]["rating"] == {"stars": 5, "color": "red"}  # v3
        assert _Proxy.seen[0][0] == "http://ratings:9080/ratings/0"
        assert _Proxy.seen[0][1].get("end-user") == "jason"  # forwarded for the VS match
        _Proxy.answers = {"ratings": (500, {})}  # the abort task's fault
        body = json.loads(_get(reviews, "/reviews/0")[1])
        assert body["reviews"][0]["rating"] == {"error": "Ratings service is currently unavailable"}


def test_productpage_degrades_and_tries_reviews_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _load_app()
    _Proxy.answers = {"details": (200, app.DETAILS)}  # reviews: 503
    _Proxy.seen.clear()
    with _serve(_Proxy) as proxy, _serve(_role(app, "productpage")) as page:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        status, html = _get(page, "/productpage", {"end-user": "jason", "x-request-id": "r1"})
    assert status == 200
    assert "William Shakespeare" in html
    assert "Sorry, product reviews are currently unavailable for this book." in html
    calls = [path for path, _ in _Proxy.seen]
    assert calls.count("http://reviews:9080/reviews/0") == 2
    assert all(h.get("x-request-id") == "r1" for _, h in _Proxy.seen)


def test_the_api_answers_with_the_status_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unlike the page: what the authorization task's expectations read."""
    app = _load_app()
    _Proxy.answers = {"details": (403, {}), "reviews": (200, {"reviews": []})}
    with _serve(_Proxy) as proxy, _serve(_role(app, "productpage")) as page:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with pytest.raises(urllib.error.HTTPError) as denied:
            _get(page, "/api/v1/products/0")
        denied.value.close()
        assert denied.value.code == 403
        assert _get(page, "/api/v1/products/0/reviews")[0] == 200

"""A real headless Chromium for the dashboard's tests, and the dashboard's URL.

The browser is Debian's `chromium` (`/usr/bin/chromium`, installed by `.ci/run`)
driven by Playwright for Python through `executable_path`: Playwright's own
browser download (`playwright install`) needs the internet, which CI does not
have. Without a chromium the tests skip, saying why; with `CI` set they fail
instead (like the Docker tests, `skip_unless_ci`): a skipped browser test would
hide a dashboard nobody has looked at.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests.live.helpers import skip_unless_ci

if TYPE_CHECKING:
    from playwright.sync_api import Page

DASHBOARD_LINE = re.compile(r"^dashboard: (http://127\.0\.0\.1:\d+/)\s*$", re.MULTILINE)


def chromium_path() -> str:
    """The Chromium to drive: $MESHSIM_CHROMIUM, else `chromium` on PATH."""
    chosen = os.environ.get("MESHSIM_CHROMIUM")
    path = chosen or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        where = (
            f"MESHSIM_CHROMIUM={chosen} is not an executable" if chosen else "no chromium on PATH"
        )
        skip_unless_ci(f"{where} (Debian: apt-get install chromium; .ci/run installs it)")
    assert path is not None
    return path


def artefact_dir(tmp_path: Path, name: str) -> Path:
    """Where a test keeps its run directory: under $MESHSIM_TEST_ARTEFACTS when
    set (`.ci/run` sets it, so the screenshots outlive pytest's temporary
    directories as CI artefacts), else under the test's tmp_path."""
    root = os.environ.get("MESHSIM_TEST_ARTEFACTS")
    if not root:
        return tmp_path / name
    path = Path(root) / name
    if path.exists():
        shutil.rmtree(path)  # the previous CI run's: a run directory must start empty
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    """A page in a fresh headless Chromium, closed on every way out."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # the dev extras install it
        skip_unless_ci("playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox
        browser = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            yield page
        finally:
            browser.close()


def screenshot(page: Page, run_dir: Path, name: str) -> Path:
    """A full-page PNG under RUN_DIR/dashboard-screenshots/, kept with the run."""
    path = run_dir / "dashboard-screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def meshsim_background(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`meshsim ARGS` in the background, its output into `log` (a file, not a
    pipe: nothing has to keep reading it); stopped on every way out."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("wb") as out,
        subprocess.Popen(
            [sys.executable, "-m", "meshsim.cli", *args], stdout=out, stderr=subprocess.STDOUT
        ) as proc,
    ):
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()  # meshsim stops its mesh on SIGTERM
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def dashboard_url(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """The URL from the `dashboard: http://127.0.0.1:PORT/` line meshsim prints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = DASHBOARD_LINE.search(text)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"meshsim exited {proc.returncode} before serving:\n{text}")
        time.sleep(0.1)
    raise AssertionError(f"no dashboard line within {timeout}s:\n{log.read_text()}")

"""Shared test setup.

No test ever uses the developer's MESHSIM_HOME (default `~/.meshsim`): the
whole session runs under a temporary one, set before any fixture of any scope,
so a module-scoped mesh (`baseline` in tests/live/test_observability.py) is
neither listed by the developer's `meshsim status` nor stopped by their
`meshsim down`. On top of that every test gets its own MESHSIM_HOME, so a
test's `meshsim down` or leftover cleanup can never touch a mesh that another
test (or a module-scoped fixture) is running.

The suite runs on two pytest-xdist workers (`addopts` in pyproject.toml), and
live meshes never overlap. Every slow test joins one xdist group, handed out
first, so they run in collection order on one worker while the unit tests share
the other; and each slow test holds a lock file shared by the workers from
setup to teardown, so even a scheduler that stopped grouping (pytest-xdist#1386)
could only make them wait, never run side by side. When the session has live
tests, a worker lowers its CPU priority for unit tests, so a mesh's timing
never waits on a unit test's CPU.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

LIVE_GROUP = "live"
UNIT_NICENESS = 10  # CFS gives a nice-0 thread about 9x the CPU of a nice-10 one
_BASE_NICENESS = os.getpriority(os.PRIO_PROCESS, 0)
_LIVE_IN_SESSION = pytest.StashKey[bool]()


def _on_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


@pytest.hookimpl(tryfirst=True)  # before xdist's hook reads the group into the node id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group(LIVE_GROUP))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if not _on_worker() or not item.get_closest_marker("slow"):
        return (yield)
    # xdist gives each worker the basetemp pytest-N/popen-gwK: they share the parent
    lock = Path(item.config.option.basetemp).parent / "live-tests.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
        return (yield)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Every worker collects the whole session: it knows whether a live test may
    # run beside its unit tests. Without one (`-m "not slow"`) nothing is niced.
    session.config.stash[_LIVE_IN_SESSION] = any(
        i.get_closest_marker("slow") for i in session.items
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _on_worker() or not item.config.stash.get(_LIVE_IN_SESSION, False):
        return  # a plain `pytest -n0` leaves the shell's priority alone
    wanted = _BASE_NICENESS if item.get_closest_marker("slow") else UNIT_NICENESS
    if os.getpriority(os.PRIO_PROCESS, 0) != wanted:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, wanted)
        except PermissionError:
            pass  # lowering it back needs root; the live group runs first anyway


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Session-scoped and autouse: pytest sets it up before every module- or
    # class-scoped fixture, which run before the function-scoped one below.
    home = tmp_path_factory.mktemp("meshsim-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MESHSIM_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "meshsim-home"
    monkeypatch.setenv("MESHSIM_HOME", str(home))
    return home

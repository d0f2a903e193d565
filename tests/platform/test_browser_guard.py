"""The guard that keeps the dashboard's browser tests from skipping in CI:
without a chromium, tests/live/browser.py skips on a laptop and fails when
`CI` is set (as the Docker tests do, tests/runtime/test_docker_guard.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.browser import chromium_path


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no chromium on it
    monkeypatch.delenv("MESHSIM_CHROMIUM", raising=False)


def test_without_chromium_ci_fails_the_browser_tests(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    # a skip is caught too, so that a guard which skips fails this test instead of skipping it
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        chromium_path()
    assert raised.type is pytest.fail.Exception, raised.value
    assert raised.match("no chromium on PATH.*CI is set")


def test_without_chromium_a_laptop_skips_them(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium on PATH"):
        chromium_path()


def test_a_named_chromium_that_is_not_there_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("MESHSIM_CHROMIUM", str(tmp_path / "chromium"))
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        chromium_path()
    assert raised.type is pytest.fail.Exception, raised.value
    assert raised.match("MESHSIM_CHROMIUM=.* is not an executable")


def test_a_chromium_on_path_is_the_one_driven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MESHSIM_CHROMIUM", raising=False)
    assert chromium_path() == str(chromium)

"""The host a mesh starts on: what is refused before anything starts (native
Windows), and what is adjusted (the open-file limit). `meshsim up` calls
`prepare_host()` first; `meshsim doctor` reports the same facts.

Why native Windows is refused rather than tried: the runner's signal handlers
(`loop.add_signal_handler`), process groups (`os.killpg`) and SIGSTOP/SIGCONT
chaos do not exist there, and upstream Envoy has dropped Windows. WSL2 is a
real Linux, where everything works as tested (docs/install.md).
"""

from __future__ import annotations

import os
import sys

from meshsim.errors import MeshError

WSL2_HOWTO = (
    "native Windows is not supported (no process groups, POSIX signals or Envoy build). "
    "Use WSL2: in PowerShell `wsl --install -d Ubuntu`, reboot, open Ubuntu, then "
    "`sudo apt install python3-venv`, `python3 -m venv ~/meshsim && . ~/meshsim/bin/activate`, "
    "`pip install meshsim`, `meshsim up baseline` (docs/install.md#windows-through-wsl2). "
    "validate, explain, analyze and report work natively"
)

# Envoy, the apps and Locust each keep a pool of 512 connections; macOS's
# default soft limit (256) is below one pool.
WANT_OPEN_FILES = 8192


def native_windows() -> bool:
    """True on Windows' own Python (not WSL2, whose Python says linux)."""
    return sys.platform == "win32" or os.name == "nt"


def check_supported_host() -> None:
    """A MeshError (exit 3) with the WSL2 path on native Windows."""
    if native_windows():
        raise MeshError(WSL2_HOWTO, component="platform")


def open_file_limits() -> tuple[int, int] | None:
    """(soft, hard) RLIMIT_NOFILE, or None where there is no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_open_file_limit(want: int = WANT_OPEN_FILES) -> int | None:
    """Raise the soft open-file limit toward `want`, never above the hard limit
    (children, Envoy included, inherit it). Returns the soft limit now in force,
    or None where there is none. Never lowers it; a refusal leaves it as it was."""
    limits = open_file_limits()
    if limits is None:
        return None
    import resource

    soft, hard = limits
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):  # macOS refuses above kern.maxfilesperproc
            return soft
    return soft


def prepare_host() -> None:
    """What `meshsim up` does before anything else: refuse native Windows, then
    raise the open-file limit."""
    check_supported_host()
    raise_open_file_limit()

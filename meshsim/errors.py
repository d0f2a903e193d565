"""Errors a user can hit, each with the exit code the CLI maps it to.

Exit codes (a contract, see docs/architecture.md): 0 every expectation held,
1 an expectation failed, 2 bad input or usage, 3 the mesh could not run,
130/143 interrupted by SIGINT/SIGTERM (set by the runner, not by an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class MeshsimError(Exception):
    """Base class: an expected failure with a message meant for a person."""

    exit_code = 2


class UsageError(MeshsimError):
    """Bad input or usage that is not tied to a place in a scenario file."""

    exit_code = 2


def write_failure(what: str, exc: OSError) -> str:
    """One line for an OSError while writing (a full disk, a read-only
    directory): what, which file, why. Raised as a MeshError: exit 3."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"{what}: could not write{where}: {exc.strerror or exc}"


def check_phase(phase: str | None, known: Sequence[str]) -> None:
    """A `--phase` option names one of `known` (None: no phase asked for)."""
    if phase is not None and phase not in known:
        raise UsageError(f"--phase {phase}: no such phase; expected one of {', '.join(known)}")


class ScenarioError(MeshsimError):
    """A scenario file is invalid; names the file, line and field path."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.detail}"
        return f"{where}: {self.detail}"


class ScenarioErrors(MeshsimError):
    """Several scenario problems found at once; the message lists each."""

    exit_code = 2

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class MeshError(MeshsimError):
    """The mesh could not run: names the component and the log to read."""

    exit_code = 3

    def __init__(
        self, message: str, *, component: str | None = None, log: str | Path | None = None
    ) -> None:
        self.component = component
        self.log = str(log) if log is not None else None
        text = f"{component}: {message}" if component else message
        if self.log:
            text += f" (log: {self.log})"
        super().__init__(text)

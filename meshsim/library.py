"""The scenario library: the runnable scenarios that ship with meshsim, each
teaching one thing, found by name.

In a checkout they are `scenarios/` at the top of the repository, where users
of a clone look for them; the wheel carries the same files inside the package,
as `meshsim/scenarios/` (setup.py maps one onto the other). Either way
`library_dir()` finds them, so `meshsim up baseline` works from anywhere.

A scenario's name is its path in the library without `.yaml`: `baseline`,
`istio-tasks/retries`. Its one-line lesson is the second column of its row in
the README.md table of its directory, the line a reader of the repository sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import meshsim
from meshsim.errors import UsageError

_PACKAGE = Path(meshsim.__file__).resolve().parent

# A row of scenarios/README.md's table: | [`name.yaml`](name.yaml) | lesson | ... |
_ROW = re.compile(r"^\| \[`(?P<file>[\w.-]+\.yaml)`\]\([\w.-]+\) \| (?P<lesson>[^|]*?) \|")
_MARKUP = re.compile(r"[`*]")


def shipped_dir(name: str) -> Path:
    """A directory of files that ship with meshsim (`scenarios`, `notebooks`):
    inside the installed package, else at the top of the checkout."""
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def library_dir() -> Path:
    """Where the library's scenario files are."""
    return shipped_dir("scenarios")


@dataclass(frozen=True)
class LibraryScenario:
    name: str  # as `meshsim up NAME` takes it: baseline, istio-tasks/retries
    path: Path
    lesson: str


def _lessons(directory: Path) -> dict[str, str]:
    readme = directory / "README.md"
    if not readme.is_file():
        return {}
    lessons = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            lessons[m["file"]] = _MARKUP.sub("", m["lesson"]).strip()
    return lessons


def library() -> list[LibraryScenario]:
    """Every library scenario with its one-line lesson: the top level first,
    then each subdirectory's, each sorted by name."""
    where = library_dir()
    found = []
    for directory in [where, *sorted(d for d in where.iterdir() if d.is_dir())]:
        lessons = _lessons(directory)
        for p in sorted(directory.glob("*.yaml")):
            name = p.relative_to(where).with_suffix("").as_posix()
            found.append(LibraryScenario(name, p, lessons.get(p.name, "")))
    return found


def names() -> list[str]:
    return [s.name for s in library()]


def library_scenario(name: str) -> LibraryScenario:
    """The library scenario called `name`; a UsageError (exit 2) listing the
    valid names when there is none."""
    for s in library():
        if s.name == name:
            return s
    raise UsageError(
        f"{name}: no such scenario file, nor a library scenario; the library has "
        f"{', '.join(names())} (`meshsim scenarios` lists them with their lessons)"
    )


def resolve_scenario(arg: str | Path) -> Path:
    """What a SCENARIO argument means: a path that exists always wins; else a
    name without a .yaml suffix is a library scenario (an unknown one without a
    directory part is a UsageError listing the library); anything else is left
    as a path, for the loader to report as missing."""
    path = Path(arg)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    text = path.as_posix()
    if "/" in text:
        entry = next((s for s in library() if s.name == text), None)
        return entry.path if entry else path
    return library_scenario(text).path

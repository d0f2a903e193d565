"""`meshsim init`: write a starting scenario to edit.

The text is a library scenario's (the baseline unless asked otherwise), its
first line pointing editors at the JSON Schema that ships with this meshsim
(docs/scenarios.md, "Editor support"). Other starting points (a scenario made
from a docker-compose file) go through the same `with_schema_comment` and
`write_scenario`, so every written file gets the same comment and the same
refusal to overwrite.
"""

from __future__ import annotations

import os
from pathlib import Path

from meshsim.errors import ScenarioError, ScenarioErrors, UsageError
from meshsim.library import library_scenario
from meshsim.scenario import load_scenario_text
from meshsim.scenario.schema import SCHEMA_PATH

DEFAULT_STARTER = "baseline"
SCHEMA_MARK = "# yaml-language-server:"


def schema_location(directory: Path) -> str:
    """The schema as a file in `directory` should name it: relative within the
    tree that holds meshsim (a checkout: `../meshsim/scenario/...`, as the
    library's own files say), absolute otherwise (an installed meshsim lives in
    a virtualenv no relative path should depend on)."""
    schema = SCHEMA_PATH.resolve()
    here = directory.resolve()
    root = schema.parents[2]  # the checkout, or site-packages
    if here == root or root in here.parents:
        return Path(os.path.relpath(schema, here)).as_posix()
    return schema.as_posix()


def with_schema_comment(text: str, directory: Path) -> str:
    """`text` with its first line the schema comment for a file in `directory`
    (replacing one that is there already)."""
    comment = f"{SCHEMA_MARK} $schema={schema_location(directory)}\n"
    first, sep, rest = text.partition("\n")
    if first.startswith(SCHEMA_MARK):
        return comment + rest
    return comment + text


def write_scenario(text: str, dest: Path, *, force: bool = False) -> Path:
    """Write `text` to `dest`, creating its directory; an existing file is
    kept unless `force` (a UsageError, exit 2, says so)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with dest.open("w" if force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise UsageError(f"{dest}: already exists; --force overwrites it") from None
    except IsADirectoryError:
        raise UsageError(f"{dest}: is a directory") from None
    return dest


def write_generated_scenario(text: str, dest: Path, *, force: bool = False) -> Path:
    """Write a scenario meshsim generated (from a compose file, from
    manifests) with its schema comment, then validate it as `meshsim
    validate` would. A result that does not validate is kept for editing,
    and a UsageError (exit 2) says what to fix."""
    written = write_scenario(with_schema_comment(text, dest.parent), dest, force=force)
    try:
        load_scenario_text(written.read_text(encoding="utf-8"), str(written), written.parent)
    except (ScenarioError, ScenarioErrors) as exc:
        raise UsageError(f"wrote {written}, but it does not validate yet; edit it:\n{exc}") from exc
    return written


def init_scenario(
    name: str = DEFAULT_STARTER, directory: Path = Path("."), *, force: bool = False
) -> Path:
    """Copy the library scenario `name` into `directory` as NAME.yaml, ready to edit."""
    source = library_scenario(name)
    text = source.path.read_text(encoding="utf-8")
    return write_scenario(
        with_schema_comment(text, directory), directory / source.path.name, force=force
    )

"""`meshsim token`: a JWT from a run's local issuer, for curl or `meshsim exec`.

The run's issuer (`meshsim.control.issuer`) signs it; a RequestAuthentication
of that run accepts it when its `iss` is one the RequestAuthentication names,
which is why `--iss` defaults to the one issuer the run's scenario names.

>>> parse_claims(["groups=[\\"group1\\",\\"group2\\"]", "scope=read", "level=3"])
{'groups': ['group1', 'group2'], 'scope': 'read', 'level': 3}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.control import issuer as jwt_issuer
from meshsim.errors import UsageError
from meshsim.rundir import RunDir


def parse_claims(items: list[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that reads as JSON (a list, a number, true)
    is taken as that, any other as text."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--claim {item!r}: expected NAME=VALUE, e.g. groups='[\"group1\"]'")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        out[name.strip()] = value
    return out


def _running_run_dir() -> Path:
    from meshsim.runtime.registry import all_meshes

    meshes = sorted(all_meshes(), key=lambda m: m.started_at)
    if not meshes:
        raise UsageError(
            "no mesh is running; start one with `meshsim up SCENARIO --keep` (or pass --run-dir)"
        )
    return Path(meshes[-1].run_dir)


def _scenario_issuers(run_dir: Path) -> list[str]:
    from meshsim.scenario import load_scenario
    from meshsim.scenario.jwt import scenario_issuers

    try:
        return scenario_issuers(load_scenario(RunDir(run_dir).scenario, check_files=False))
    except Exception:  # a damaged copy only costs the default issuer
        return []


def make_token(
    sub: str | None,
    claims: dict[str, Any],
    *,
    iss: str | None = None,
    expired: bool = False,
    run_dir: Path | None = None,
) -> str:
    """A token signed by the issuer of `run_dir` (default: the running mesh's)."""
    from meshsim.scenario.jwt import default_issuer

    run_dir = run_dir or _running_run_dir()
    try:
        issuer = jwt_issuer.load(run_dir)
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{run_dir}: no JWT issuer ({run_dir / jwt_issuer.ISSUER_DIR}: {exc}); "
            "is it a run directory of a mesh started by this meshsim?"
        ) from None
    if iss is None:
        named = _scenario_issuers(run_dir)
        iss = default_issuer(named)
        if iss is None:
            raise UsageError(
                f"the run's RequestAuthentications name {len(named)} issuers "
                f"({', '.join(named)}); say which with --iss"
            )
    return issuer.token(iss, sub, claims, expired=expired)

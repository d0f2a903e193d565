"""The JSON Schema of scenario files, generated from the pydantic model.

Editors use it for completion and inline errors (see docs/scenarios.md). The
committed copy, `scenario.schema.json` beside this module, is rewritten with::

    python -m meshsim.scenario.schema          # rewrite the file
    python -m meshsim.scenario.schema --check  # exit 1 if it is stale

The schema checks shapes only; `meshsim validate` also checks what spans
fields (shop services, action targets, Istio resources, expectations).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from meshsim.scenario.model import Scenario

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) a scenario file must satisfy."""
    body = Scenario.model_json_schema()
    body.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "meshsim scenario",
        "description": (
            "A meshsim scenario: the mesh to run, the load to drive through it and the "
            "phases, each with the Istio resources in force, chaos actions and expectations."
        ),
        **body,
    }


def render_schema() -> str:
    """The schema as the text committed in scenario.schema.json."""
    return json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render_schema()
    if "--check" in args:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale; run: python -m meshsim.scenario.schema")
            return 1
        return 0
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

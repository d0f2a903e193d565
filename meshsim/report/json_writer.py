"""report.json: the machine-readable report (keys in docs/report.md)."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim import rundir
from meshsim.report.model import Report

FILENAME = rundir.REPORT_JSON


def write_json(report: Report, out_dir: Path) -> Path:
    path = out_dir / FILENAME
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path

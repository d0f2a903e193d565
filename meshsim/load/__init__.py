"""Load: the shop's shopper journeys driven by Locust in a subprocess.

Nothing here imports locust; `locustfile.py` runs only inside the `locust`
process that `LocustRunner` starts, and reports every request as a JSON line
that `read_records` and `RecordTail` read back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshsim.lazy import lazy_names

if TYPE_CHECKING:
    from meshsim.load.records import RECORD_GLOB, RecordTail, RequestRecord, read_records
    from meshsim.load.runner import LOCUSTFILE, LocustRunner

# public name → the module that defines it. Loaded on first use (PEP 562): the
# report reads records without the runner (and the scenario model it imports).
_EXPORTS = {
    "RECORD_GLOB": "meshsim.load.records",
    "RecordTail": "meshsim.load.records",
    "RequestRecord": "meshsim.load.records",
    "read_records": "meshsim.load.records",
    "LOCUSTFILE": "meshsim.load.runner",
    "LocustRunner": "meshsim.load.runner",
}

__all__ = [
    "LOCUSTFILE",
    "RECORD_GLOB",
    "LocustRunner",
    "RecordTail",
    "RequestRecord",
    "read_records",
]


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())

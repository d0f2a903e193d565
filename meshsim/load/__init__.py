"""Load: the shop's shopper journeys driven by Locust in a subprocess.

Nothing here imports locust; `locustfile.py` runs only inside the `locust`
process that `LocustRunner` starts, and reports every request as a JSON line
that `read_records` and `RecordTail` read back.
"""

from meshsim.load.records import RECORD_GLOB, RecordTail, RequestRecord, read_records
from meshsim.load.runner import LOCUSTFILE, LocustRunner

__all__ = [
    "LOCUSTFILE",
    "RECORD_GLOB",
    "LocustRunner",
    "RecordTail",
    "RequestRecord",
    "read_records",
]

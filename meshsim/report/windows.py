"""Requests to phases: each request of the load belongs to the phase whose
window (`meshsim.timeline`) holds its start time."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from meshsim.load.records import RequestRecord
from meshsim.timeline import PhaseWindow


def assign_to_phases(
    requests: Sequence[RequestRecord], phases: Sequence[PhaseWindow]
) -> list[list[RequestRecord]]:
    """Split requests by the phase whose window holds their start time.

    A request at the very instant one phase ends and the next starts belongs
    to the next one. Requests outside every window (warm-up, drain) belong to
    no phase.
    """
    order = sorted(range(len(phases)), key=lambda i: phases[i].start)
    starts = [phases[i].start for i in order]
    buckets: list[list[RequestRecord]] = [[] for _ in phases]
    for request in requests:
        pos = bisect.bisect_right(starts, request.t) - 1
        if pos < 0:
            continue
        # Every later phase starts after request.t, so an inclusive end is safe.
        if request.t <= phases[order[pos]].end:
            buckets[order[pos]].append(request)
    return buckets

"""How late does an asyncio timer fire? epoll (asyncio's default) against select().

An open-loop generator sleeps until each request's due time; whatever the
sleep overshoots is counted as latency (it is measured from the due time).
epoll_wait takes its timeout in whole milliseconds, select() in microseconds.

    python benchmarks/timer_precision.py

Results belong in docs/benchmarks.md (the generator uses select(): see
meshsim/bench/generator.py).
"""

from __future__ import annotations

import asyncio
import selectors


async def lateness(n: int = 400, interval: float = 0.005) -> list[float]:
    loop = asyncio.get_running_loop()
    late = []
    start = loop.time() + 0.01
    for i in range(n):
        due = start + i * interval
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        late.append((loop.time() - due) * 1e6)
    return sorted(late)


def main() -> None:
    print("| selector | p50 µs | p90 µs | p99 µs |")
    print("|---|---:|---:|---:|")
    for name, selector in (
        ("epoll", selectors.EpollSelector()),
        ("select", selectors.SelectSelector()),
    ):
        loop = asyncio.SelectorEventLoop(selector)
        try:
            late = loop.run_until_complete(lateness())
        finally:
            loop.close()
        n = len(late)
        print(
            f"| {name} | {late[n // 2]:.0f} | {late[int(n * 0.9)]:.0f} | {late[int(n * 0.99)]:.0f} |"
        )


if __name__ == "__main__":
    main()

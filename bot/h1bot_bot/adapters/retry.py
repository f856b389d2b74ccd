"""The one retry schedule of the bot: exponential backoff, capped, with optional jitter.

Used wherever the bot tries again: the model client's attempts (adapters/llm.py), the SlackBot watch's reconnects
(adapters/kube.py) and storing the live configuration (engine/live_config.py).
"""

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: `initial`, doubled after each failure, never above `maximum`; `jitter` adds up to
    that fraction of a delay at random (so that many clients do not retry in step)."""

    initial: float
    maximum: float
    jitter: float = 0.0

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1 for the first)."""
        exponential = self.initial * (2 ** max(0, failures - 1))
        return min(self.maximum, exponential * (1 + random.random() * self.jitter))

    def delays(self) -> Iterator[float]:
        failures = 0
        while True:
            failures += 1
            yield self.delay(failures)


async def retry_until(attempt: Callable[[], Awaitable[bool]], backoff: Backoff,
                      sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> int:
    """Wait, then call `attempt` until it returns True, waiting longer after each False; returns the attempts made.
    Exceptions from `attempt` propagate (an attempt that can fail says so by returning False)."""
    for tries, delay in enumerate(backoff.delays(), start=1):
        await sleep(delay)
        if await attempt():
            return tries
    raise AssertionError("unreachable")

"""Polling with deadlines, for tests that wait on something a real process does (never a bare sleep).

The default deadlines are generous on purpose: a green run never reaches them, and a loaded 2-core machine (other
test runs at once) must not turn a slow start into a failure. Wait for a final state, never a transient one.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any


def _timed_out(timeout: float, message: str, predicate: Callable[[], Any], value: Any) -> AssertionError:
    return AssertionError(f"timed out after {timeout}s waiting for: {message or predicate} (last: {value!r})")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, message: str = "") -> Any:
    """Poll until the predicate returns something truthy; fail with the message (and last value) at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(timeout, message, predicate, value)
        time.sleep(interval)
    return value


async def eventually(predicate: Callable[[], Any], timeout: float = 20.0, message: str = "") -> Any:  # noqa: ASYNC109
    """`wait_until` without blocking the event loop (for code under test that runs in the same loop)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(timeout, message, predicate, value)
        await asyncio.sleep(0.03)
    return value

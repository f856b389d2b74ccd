"""The one retry schedule: how long the bot waits between attempts (model calls, the watch, saving the config)."""

from h1bot_bot.adapters.retry import Backoff, retry_until


def test_the_wait_doubles_after_each_failure_up_to_the_cap():
    assert [Backoff(0.5, 3.0).delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_only_lengthens_a_wait_and_never_past_the_cap():
    waits = [Backoff(1.0, 5.0, jitter=0.25).delay(2) for _ in range(200)]
    assert all(2.0 <= w <= 2.5 for w in waits) and len(set(waits)) > 1
    assert all(w <= 5.0 for w in (Backoff(1.0, 5.0, jitter=0.25).delay(3) for _ in range(200)))


async def test_retry_until_waits_before_each_attempt_and_stops_at_the_first_success():
    slept, outcomes = [], iter([False, False, True, True])

    async def sleep(seconds):
        slept.append(seconds)

    async def attempt():
        return next(outcomes)

    assert await retry_until(attempt, Backoff(1.0, 10.0), sleep=sleep) == 3
    assert slept == [1.0, 2.0, 4.0]


def test_h1bot_api_reads_no_clock():
    """The shared API package takes `now` from its callers (each side's clock adapter)."""
    import ast
    from pathlib import Path

    import h1bot_api

    readers = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter"}
    for path in Path(h1bot_api.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in readers, f"h1bot_api/{path.name}:{node.lineno} reads the clock"

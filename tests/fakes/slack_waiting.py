"""Waiting on the fake Slack: every change in it (`_notify`) wakes `wait_for`, which re-checks a test's condition.

A bot reply is written in steps (a placeholder, interim updates ending with the typing mark, an open stream), so
`final_replies`/`wait_for_replies` give a thread's bot replies only once none is `being_written`.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from h1bot_bot.adapters.streaming import PLACEHOLDER, TYPING_MARK

WAIT_TIMEOUT = 10.0  # generous: a loaded 2-core machine; a green run never waits this long


def being_written(message: dict[str, Any]) -> bool:
    """A bot message a user still sees changing: an open stream, the placeholder, or an interim update."""
    text = message.get("text") or ""
    return bool(message.get("streaming")) or text == PLACEHOLDER or text.endswith(TYPING_MARK)


class Waiting:
    """Mixed into FakeSlack (uses its `_changed` event and its workspace's `bot_replies`)."""

    _changed: asyncio.Event
    bot_replies: Callable[[str, str], list[dict[str, Any]]]

    def _notify(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT_TIMEOUT) -> Any:  # noqa: ASYNC109
        """Wait until `predicate()` is truthy (re-checked on every change in the fake); returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s (last: {value!r})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    def final_replies(self, channel: str, thread_ts: str, count: int = 1) -> list[dict[str, Any]] | None:
        """The bot's replies in the thread once there are at least `count` and none is still being written
        (placeholder, typing mark, open stream); None before. A reply of several messages counts each one."""
        replies = self.bot_replies(channel, thread_ts)
        if len(replies) >= count and not any(being_written(m) for m in replies):
            return replies
        return None

    async def wait_for_replies(self, channel: str, thread_ts: str, count: int = 1,
                               timeout: float = WAIT_TIMEOUT) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait for `final_replies`: the thread's bot replies as a user sees them once the bot has written them."""
        try:
            return await self.wait_for(lambda: self.final_replies(channel, thread_ts, count), timeout)
        except TimeoutError:
            shown = [m["text"][-80:] for m in self.bot_replies(channel, thread_ts)]
            raise TimeoutError(f"no {count} final bot repl{'y' if count == 1 else 'ies'} in {channel}/{thread_ts} "
                               f"within {timeout}s; the thread's bot messages end with: {shown!r}") from None

    async def wait_for_texts(self, channel: str, thread_ts: str, count: int = 1,
                             timeout: float = WAIT_TIMEOUT) -> list[str]:  # noqa: ASYNC109
        """The texts of `wait_for_replies`."""
        return [m["text"] for m in await self.wait_for_replies(channel, thread_ts, count, timeout)]

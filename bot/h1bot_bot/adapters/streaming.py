"""A reply streamed into a Slack thread: a placeholder at once, throttled `chat.update`s, follow-up messages when the
text outgrows one Slack message, and a final update with the whole text.

Interim updates are best effort (a failed one is skipped; the next or the final one carries the text); the final
text is always written, as Markdown converted to mrkdwn and split into parts that Slack accepts.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from h1bot_bot.adapters.slack_api import SlackGateway
from h1bot_bot.core.conversation import reply_metadata
from h1bot_bot.core.formatting import SLACK_MESSAGE_LIMIT, split_message, to_mrkdwn

log = logging.getLogger(__name__)

PLACEHOLDER = "_Thinking…_"
TYPING_MARK = " …"


class ReplyStream:
    def __init__(self, slack: SlackGateway, channel: str, thread_ts: str, interval: float = 1.0,
                 limit: int = SLACK_MESSAGE_LIMIT, clock: Callable[[], float] = time.monotonic,
                 allow_user_mentions: bool = False, owner: str = "", until: float = 0.0,
                 in_flight: set[str] | None = None):
        self.slack = slack
        self.allow_user_mentions = allow_user_mentions
        # Who writes the reply and by when (epoch seconds): the messages' metadata says so while they stream, so
        # a restarted bot knows an unfinished reply (core/conversation.interrupted_replies). No owner: no metadata.
        self.owner, self.until = owner, until
        self.in_flight = in_flight if in_flight is not None else set()  # ts of the messages being written now
        self._states: list[str] = []  # the state each message's metadata says now
        self.channel = channel
        self.thread_ts = thread_ts
        self.interval = interval
        self.limit = limit
        self.clock = clock
        self.markdown = ""
        self.message_ts: list[str] = []  # the reply's messages, in order
        self._shown: list[str] = []  # the text each message shows now
        self._last_flush = float("-inf")
        self._last_update = float("-inf")  # the last chat.update of an interim flush
        self._lock = asyncio.Lock()
        self._placeholder: asyncio.Task[str] | None = None

    def start(self) -> None:
        """Post the placeholder in the background (the thread fetch and the model call run meanwhile)."""
        self._placeholder = asyncio.ensure_future(self.slack.post(self.channel, self.thread_ts, PLACEHOLDER,
                                                                  self._metadata("streaming")))
        self._last_flush = self.clock()

    def _metadata(self, state: str) -> dict | None:
        return reply_metadata(state, self.owner, self.until) if self.owner else None

    def adopt(self, message_ts: str, markdown: str) -> None:
        """Go on in the bot's existing message `message_ts` (showing `markdown` so far) instead of a placeholder."""
        self.message_ts, self._shown, self.markdown = [message_ts], [markdown], markdown
        self._states = ["unknown"]
        self.in_flight.add(message_ts)
        self._last_flush = self.clock()

    async def _ensure_placeholder(self) -> None:
        if self.message_ts:
            return
        if self._placeholder is None:
            self.start()
        ts = await self._placeholder
        self.message_ts.append(ts)
        self._shown.append(PLACEHOLDER)
        self._states.append("streaming")
        self.in_flight.add(ts)

    async def append(self, piece: str) -> None:
        """Add streamed Markdown; flushes to Slack when the throttle interval has passed."""
        self.markdown += piece
        if self.clock() - self._last_flush >= self.interval and not self._lock.locked():
            await self._flush(final=False)

    async def finish(self, suffix: str = "") -> None:
        """Write the whole text (plus `suffix`, e.g. a note or an error message) for good."""
        if suffix:
            self.markdown = f"{self.markdown.rstrip()}\n\n{suffix}" if self.markdown.strip() else suffix
        # Slack's advice: about one update per second per message, the final one included.
        wait = self.interval - (self.clock() - self._last_update)
        if wait > 0:
            await asyncio.sleep(wait)
        await self._flush(final=True)

    async def _flush(self, final: bool) -> None:
        async with self._lock:
            await self._ensure_placeholder()
            text = to_mrkdwn(self.markdown, self.allow_user_mentions) or ("_(no answer)_" if final else PLACEHOLDER)
            parts = split_message(text, self.limit)
            if not final:
                parts[-1] = parts[-1] + TYPING_MARK
            state = "done" if final else "streaming"
            metadata = self._metadata(state)
            for index, part in enumerate(parts):
                try:
                    if index < len(self.message_ts):
                        if self._shown[index] != part or (metadata and self._states[index] != state):
                            await self.slack.update(self.channel, self.message_ts[index], part, metadata)
                            self._shown[index], self._states[index] = part, state
                            if not final:
                                self._last_update = self.clock()
                    else:
                        ts = await self.slack.post(self.channel, self.thread_ts, part, metadata)
                        self.message_ts.append(ts)
                        self._shown.append(part)
                        self._states.append(state)
                        if not final:
                            self.in_flight.add(ts)
                except Exception as exc:
                    if final:
                        raise
                    log.info("interim update skipped: %s", exc, extra={"channel": self.channel,
                                                                       "thread_ts": self.thread_ts})
                    break
            # The interval counts from Slack's answer, so a slow or jittery call never bunches two updates.
            self._last_flush = self.clock()
            if final:
                self.in_flight.difference_update(self.message_ts)

    async def abandon(self) -> None:
        """Make sure a background placeholder post does not outlive the reply."""
        if self._placeholder is not None and not self._placeholder.done():
            self._placeholder.cancel()
        self.in_flight.difference_update(self.message_ts)

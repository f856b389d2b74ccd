"""A reply streamed with Slack's native text streaming (chat.startStream → chat.appendStream → chat.stopStream, through
slack_sdk's `AsyncChatStream`), and the factory choosing it or the placeholder + `chat.update` stream per settings.

`NativeReplyStream` has `ReplyStream`'s shape (start/append/finish/abandon). The model's standard Markdown goes to
Slack as is (`markdown_text` chunks; Slack renders it). Appends are batched: `buffer_size` characters, or whatever
arrived once `interval` has passed, so slow answers still show progress and fast ones stay under rate limits.
The first text starts the stream at once. No text is lost when Slack says no:
- chat.startStream refused (channel type, missing scope, token type…): this reply goes on as a placeholder +
  `chat.update` reply with the text so far (logged once per channel);
- a failure once the stream runs: the stream is stopped if it can be and the reply goes on by `chat.update` of the
  same message.
A streamed message is kept under `limit` characters; a longer answer goes on in a new streamed message.
What is streamed is made safe first (core/slack_safety.py `safe_markdown`); the end of the text that may still
change meaning (a word or a link being written) waits for the next piece.
"""

import logging
import os
import socket
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream

from h1bot_bot.adapters.slack_api import SlackGateway
from h1bot_bot.adapters.streaming import ReplyStream
from h1bot_bot.core.slack_safety import redact, safe_markdown, stable_length

log = logging.getLogger(__name__)

NATIVE_MESSAGE_LIMIT = 12_000  # Slack's limit of Markdown per payload; a streamed message stays within it
RESERVE = 500  # room kept in a streamed message for a closing code fence and a note or error message
SOFT_MARGIN = 2000  # within this much of the limit, a streamed message ends at the next line break
NO_ANSWER = "_(no answer)_"
_FENCE = "```"
FINISH_MARGIN = 120  # seconds past the answer deadline a reply may take to be written for good


def _why(exc: Exception) -> str:
    return exc.response.get("error", "unknown") if isinstance(exc, SlackApiError) else type(exc).__name__


def _separator(shown: str) -> str:
    """What goes between streamed text and a suffix so the suffix is a paragraph of its own."""
    if not shown.strip():
        return ""
    return "" if shown.endswith("\n\n") else "\n" if shown.endswith("\n") else "\n\n"


class NativeReplyStream:
    def __init__(self, slack: SlackGateway, channel: str, thread_ts: str, *, recipient_user_id: str | None,
                 recipient_team_id: str | None, interval: float = 1.0, buffer_size: int = 256,
                 limit: int = NATIVE_MESSAGE_LIMIT, on_refused: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, allow_user_mentions: bool = False,
                 fallback_options: dict | None = None):
        self.slack = slack
        self.allow_user_mentions = allow_user_mentions
        self.fallback_options = fallback_options or {}  # ReplyStream's owner/until/in_flight for a fallback
        self.channel = channel
        self.thread_ts = thread_ts
        self.recipients = {"recipient_user_id": recipient_user_id, "recipient_team_id": recipient_team_id}
        self.interval = interval
        self.buffer_size = buffer_size
        self.limit = limit
        self.on_refused = on_refused or (lambda channel, why: None)
        self.clock = clock
        self.message_ts: list[str] = []  # the streamed messages of the reply, in order
        self._message = ""  # the Markdown given to the current streamed message (sent or in the helper's buffer)
        self._streamed_any = False
        self._stream: AsyncChatStream | None = None
        self._last_flush = float("-inf")
        self._fallback: ReplyStream | None = None
        self._raw = ""  # the model's Markdown so far, as written
        self._taken = 0  # how much of `_raw` was made safe and passed on

    def start(self) -> None:
        """Nothing to show before the first words: the stream starts with them."""

    async def _open(self) -> AsyncChatStream:
        if self._stream is None:
            self._stream = await self.slack.client.chat_stream(channel=self.channel, thread_ts=self.thread_ts,
                                                         buffer_size=self.buffer_size, **self.recipients)
        return self._stream

    def _safe_piece(self, final: bool = False) -> str:
        """The next part of the model's text that can be shown, made safe."""
        end = len(self._raw) if final else stable_length(self._raw)
        if end <= self._taken:
            return ""
        part, self._taken = self._raw[self._taken:end], end
        return safe_markdown(redact(part, named=False), self.allow_user_mentions)

    async def append(self, piece: str) -> None:
        """Add streamed Markdown; never raises for Slack (a failure switches to `chat.update`)."""
        self._raw += piece
        if self._fallback is None:
            await self._append_safe(self._safe_piece())
        if self._fallback is not None:  # the text not streamed yet goes on as is: the fallback makes it safe
            held, self._taken = self._raw[self._taken:], len(self._raw)
            if held:
                await self._fallback.append(held)

    async def _append_safe(self, piece: str) -> None:
        if self._fallback is not None:
            await self._fallback.append(piece)
            return
        while piece and self._fallback is None:
            cut = self._room_for(piece)
            await self._send(piece[:cut])
            piece = piece[cut:]
            if piece and self._fallback is None:
                await self._next_message()
        if piece and self._fallback is not None:
            await self._fallback.append(piece)

    def _room_for(self, piece: str) -> int:
        """How much of `piece` the current streamed message takes: all of it, up to a line break past the soft
        mark, or (at the hard mark) up to the last space."""
        used, soft, hard = len(self._message), self.limit - SOFT_MARGIN, self.limit - RESERVE
        if used + len(piece) <= soft:
            return len(piece)
        line_break = piece.find("\n", max(0, soft - used))
        if line_break != -1 and used + line_break + 1 <= hard:
            return line_break + 1
        if used + len(piece) <= hard:
            return len(piece)
        room = max(1, hard - used)
        space = piece.rfind(" ", 0, room)
        return space + 1 if space >= room // 2 else room

    async def _send(self, text: str) -> None:
        if not text:
            return
        self._message += text
        self._streamed_any = True
        stream = await self._open()
        force = stream.ts is None or self.clock() - self._last_flush >= self.interval
        try:
            flushed = await stream.append(markdown_text=text, chunks=[] if force else None)
        except Exception as exc:
            await self._give_up(exc)
            return
        if flushed is not None:
            self._last_flush = self.clock()
            if stream.ts and stream.ts not in self.message_ts:
                self.message_ts.append(stream.ts)

    async def _next_message(self) -> None:
        """End the current streamed message (closing an open code block) and go on in a new one."""
        reopen = ""
        if self._message.count(_FENCE) % 2 == 1:
            await self._send("\n" + _FENCE)
            reopen = _FENCE + "\n"
        if self._fallback is not None:
            return
        try:
            await (await self._open()).stop()
        except Exception as exc:
            await self._give_up(exc)
            return
        self._stream, self._message = None, ""
        await self._send(reopen)

    async def _give_up(self, exc: Exception) -> None:
        """Slack refused the stream or it broke: the current message's text goes on with `chat.update`."""
        stream, text = self._stream, self._message
        self._fallback = ReplyStream(self.slack, self.channel, self.thread_ts, interval=self.interval,
                                     allow_user_mentions=self.allow_user_mentions, **self.fallback_options)
        if stream is None or stream.ts is None:
            self.on_refused(self.channel, _why(exc))
            self._fallback.start()
            self._fallback.markdown = text
            return
        log.warning("streamed reply broke (%s); finishing it with chat.update", _why(exc),
                    extra={"channel": self.channel, "thread_ts": self.thread_ts})
        try:  # end the stream if Slack still has it open; chat.update then writes the whole text
            await self.slack.client.chat_stopStream(channel=self.channel, ts=stream.ts)
        except Exception as stop_error:
            log.info("could not stop the broken stream: %s", _why(stop_error))
        self._fallback.adopt(stream.ts, text)

    async def finish(self, suffix: str = "") -> None:
        """End the reply with everything streamed plus `suffix` (a note or an error message)."""
        if self._fallback is None:
            await self._append_safe(self._safe_piece(final=True))
        elif self._taken < len(self._raw):
            await self._fallback.append(self._raw[self._taken:])
            self._taken = len(self._raw)
        suffix = safe_markdown(redact(suffix, named=False), self.allow_user_mentions) if suffix else suffix
        if self._fallback is None and self._message.count(_FENCE) % 2 == 1 and suffix:
            await self._send("\n" + _FENCE)
        if self._fallback is None and len(self._message) + len(suffix) + 2 > self.limit - len(_FENCE):
            await self._next_message()
        if self._fallback is not None:
            await self._fallback.finish(suffix)
            return
        tail = _separator(self._message) + suffix if suffix else ("" if self._streamed_any else NO_ANSWER)
        stream = await self._open()
        try:
            await stream.stop(markdown_text=tail or None)
        except Exception as exc:
            await self._give_up(exc)
            await self._fallback.finish(suffix)
            return
        if stream.ts and stream.ts not in self.message_ts:
            self.message_ts.append(stream.ts)

    async def abandon(self) -> None:
        if self._fallback is not None:
            await self._fallback.abandon()


class ReplyStreams:
    """Opens the stream of each reply in the configured mode (`update` or `native`, see config.STREAMING_MODES)."""

    def __init__(self, slack: SlackGateway, mode: str = "update", interval: float = 1.0, buffer_size: int = 256,
                 answer_deadline: float = 300.0, owner: str | None = None):
        self.slack = slack
        # Replies say in their metadata who writes them and by when: a restarted bot (same host, another pid) or
        # any bot past that time knows a reply left unfinished. The margin covers the final writes.
        self.owner = owner or f"{socket.gethostname()}/{os.getpid()}"
        self.answer_deadline = answer_deadline
        self.in_flight: set[str] = set()  # ts of the reply messages this process is writing now
        self.mode = mode
        self.interval = interval
        self.buffer_size = buffer_size
        self._refused_in: set[str] = set()  # channels where Slack refused a stream (logged once each)

    def open(self, channel: str, thread_ts: str, *, user: str, team: str | None,
             direct: bool, allow_user_mentions: bool = False) -> ReplyStream | NativeReplyStream:
        """`user`/`team`: who asked (the recipients Slack needs for a stream outside a DM); `allow_user_mentions`:
        whether the model's `<@U…>` may notify (`spec.access.allowUserMentions`)."""
        tracking = {"owner": self.owner, "until": time.time() + self.answer_deadline + FINISH_MARGIN,
                    "in_flight": self.in_flight}
        if self.mode != "native":
            return ReplyStream(self.slack, channel, thread_ts, interval=self.interval,
                               allow_user_mentions=allow_user_mentions, **tracking)
        return NativeReplyStream(self.slack, channel, thread_ts, recipient_user_id=None if direct else user,
                                 recipient_team_id=None if direct else team, interval=self.interval,
                                 buffer_size=self.buffer_size, on_refused=self._refused,
                                 allow_user_mentions=allow_user_mentions, fallback_options=tracking)

    def _refused(self, channel: str, why: str) -> None:
        if channel not in self._refused_in:
            self._refused_in.add(channel)
            log.warning("Slack refused to stream a reply in %s (%s); replies there use a placeholder updated with "
                        "chat.update", channel, why, extra={"channel": channel, "error": why})

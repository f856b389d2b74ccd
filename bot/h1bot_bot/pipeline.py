"""From a message addressed to the bot to its reply in the thread.

Order: channel access → command router → empty question → thread → chat → history budget → model (streamed).
Every failure ends as a readable message in the thread; nothing here raises to the Slack listener.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError

from h1bot_api.spec import ConfigError
from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.llm import LLMClient, LLMError, request_params
from h1bot_bot.adapters.native_stream import NativeReplyStream, ReplyStreams
from h1bot_bot.adapters.slack_api import SlackGateway
from h1bot_bot.adapters.streaming import PLACEHOLDER, TYPING_MARK, ReplyStream
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.commands import CommandRequest, CommandRouter, Reply, command_name
from h1bot_bot.core.conversation import (
    BotIdentity,
    ChatMessage,
    authors_to_resolve,
    build_chat,
    interrupted_replies,
    interrupted_text,
    reply_metadata,
    strip_bot_mention,
)
from h1bot_bot.core.effective import ChannelConfig, ConfigHolder, channel_allowed, refusal
from h1bot_bot.core.formatting import SLACK_MESSAGE_LIMIT, ending_note, split_message, to_mrkdwn
from h1bot_bot.core.history import CountTokens, PreparedHistory
from h1bot_bot.core.slack_safety import outside_text, redact
from h1bot_bot.core.tokens import TokenCounter
from h1bot_bot.metrics import Metrics
from h1bot_bot.summarization import Summarization

log = logging.getLogger(__name__)

EMPTY_QUESTION = ("Hi! Mention me with a question and I'll answer in this thread, "
                  "reading the thread so far as context.")
INTERNAL_ERROR = "Sorry, something went wrong on my side while answering. Please try again."
INTERRUPTED = "I was restarted before I could finish this answer. Please ask again."
INTERRUPTED_NOTE = "_:warning: Interrupted: the bot restarted before it finished this answer. Please ask again._"

# (chat, channel config, per-message token counter, thread ts) → the chat to send and a note for the reply.
HistoryStrategy = Callable[[list[ChatMessage], ChannelConfig, CountTokens, str], Awaitable[PreparedHistory]]


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int(micros or 0)


@dataclass(frozen=True)
class Incoming:
    """A message addressed to the bot (mention or DM), as the pipeline needs it."""

    kind: str
    event_id: str
    channel: str
    channel_type: str | None
    user: str
    text: str
    ts: str
    thread_ts: str
    event: dict[str, Any] = field(repr=False, default_factory=dict)


class ReplyPipeline:
    def __init__(self, config: ConfigHolder, slack: SlackGateway, llm: LLMClient, identity: BotIdentity,
                 metrics: Metrics, router: CommandRouter | None = None, update_interval: float = 1.0,
                 history: HistoryStrategy | None = None, streams: ReplyStreams | None = None,
                 tokenizers: Tokenizers | None = None):
        self.config = config
        self.slack = slack
        self.llm = llm
        self.identity = identity
        self.metrics = metrics
        self.router = router or CommandRouter()
        self.update_interval = update_interval
        self.streams = streams or ReplyStreams(slack, interval=update_interval)  # update or native streaming
        self.last_error: str | None = None  # the latest failure, for the `debug` command
        self.tokenizers = tokenizers or Tokenizers()
        self._repairs: set[asyncio.Task] = set()  # edits marking interrupted replies, running
        self.summarization = Summarization(llm, metrics, self.counter)
        self.history = history or self.summarization.prepare

    def counter(self, model: str) -> TokenCounter:
        """The model's real tokenizer (loaded when a count needs it; EncodingUnavailable when it cannot load)."""
        return self.tokenizers.counter(model)

    def count_tokens(self, model: str) -> CountTokens:
        return self.tokenizers.count_tokens(model)

    async def post(self, incoming: Incoming, markdown: str) -> None:
        mentions = self.config.current.spec.access.allow_user_mentions
        for part in split_message(to_mrkdwn(markdown, mentions)):
            await self.slack.post(incoming.channel, incoming.thread_ts, part)

    async def handle(self, incoming: Incoming) -> str:
        """Answer `incoming`; returns the outcome (for the event's log line and metrics)."""
        config = self.config.current
        direct = incoming.kind == "dm"
        if not channel_allowed(config.spec.access, incoming.channel, direct, incoming.user):
            await self.post(incoming, refusal(config.spec.access, direct))
            return "refused"
        question = strip_bot_mention(incoming.text, self.identity.user_id)
        command = self.router.match(question)
        if command is not None:
            return await self._run_command(incoming, command, question)
        if not question and not incoming.event.get("files"):
            await self.post(incoming, EMPTY_QUESTION)
            return "empty"
        try:
            channel = config.for_channel(incoming.channel)
        except ConfigError as exc:
            self.metrics.errors.labels(kind="config").inc()
            self.last_error = redact(f"{now_iso()} configuration: {exc}")
            await self.post(incoming, f":warning: I can't answer: my configuration is invalid: {exc}")
            return "config_error"
        outcome = await self.answer(incoming, channel)
        if outcome.startswith("error:"):
            self.last_error = f"{now_iso()} answer in {incoming.channel}: {outcome}"  # for the `debug` command
        return outcome

    async def _run_command(self, incoming: Incoming, command: Any, text: str) -> str:
        """Run a command (core/commands.py); its reply goes to the thread as mrkdwn, Markdown or Block Kit."""
        request = CommandRequest(command=command, text=text, user=incoming.user, channel=incoming.channel,
                                 thread_ts=incoming.thread_ts, incoming=incoming,
                                 direct=incoming.kind == "dm" or incoming.channel_type == "im")
        reply = await self.router.handler(command)(request)
        if reply is not None and reply.blocks:
            await self.slack.post_blocks(incoming.channel, incoming.thread_ts, reply.text, reply.blocks)
        elif reply is not None and reply.markdown:
            await self.post(incoming, reply.text)
        elif reply is not None:
            for part in split_message(reply.text):
                await self.slack.post(incoming.channel, incoming.thread_ts, part)
        if reply is not None and reply.private is not None:
            await self._post_private(incoming, reply.private)
        return f"command:{command_name(command)}"

    async def _post_private(self, incoming: Incoming, reply: Reply) -> None:
        """An ephemeral message to the asker in the thread; when Slack refuses it, the thread says so (not what)."""
        try:
            await self.slack.post_ephemeral(incoming.channel, incoming.thread_ts, incoming.user, reply.text,
                                            reply.blocks)
        except SlackApiError as exc:
            error = exc.response.get("error") or "unknown error"
            log.warning("chat.postEphemeral failed: %s", error, extra={"channel": incoming.channel})
            await self.slack.post(incoming.channel, incoming.thread_ts,
                                  f":warning: I could not show you the private part of this reply"
                                  f" (Slack said `{outside_text(str(error), 100)}`)."
                                  " Ask me in a direct message instead.")

    async def thread_chat(self, incoming: Incoming, channel: ChannelConfig) -> list[ChatMessage]:
        """The chat the model sees for `incoming`: the thread up to and including the question."""
        messages = await self.slack.thread(incoming.channel, incoming.thread_ts)
        upto = _ts_key(incoming.ts)
        messages = [m for m in messages if m.get("ts") and _ts_key(m["ts"]) <= upto]
        if not any(m.get("ts") == incoming.ts for m in messages):
            messages.append(incoming.event)  # Slack's history can lag the event by a moment
        self._mark_interrupted(incoming, messages)
        names = await self.slack.names.many(authors_to_resolve(messages, self.identity))
        return build_chat(channel.system_prompt, messages, self.identity, names)

    def _mark_interrupted(self, incoming: Incoming, messages: list[dict[str, Any]]) -> None:
        """Replies of the bot's left unfinished by a crash say so (in the background; build_chat leaves them out)."""
        streams = self.streams
        for message in interrupted_replies(messages, self.identity, owner=streams.owner, now=time.time(),
                                           in_flight=streams.in_flight):
            text = interrupted_text(message.get("text", ""), TYPING_MARK, PLACEHOLDER, INTERRUPTED_NOTE,
                                    SLACK_MESSAGE_LIMIT)
            metadata = reply_metadata("interrupted", streams.owner, 0)
            task = asyncio.ensure_future(self.slack.update(incoming.channel, message["ts"], text, metadata))
            self._repairs.add(task)
            task.add_done_callback(self._repaired)

    def _repaired(self, task: asyncio.Task) -> None:
        self._repairs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not mark an interrupted reply: %s", task.exception())

    async def answer(self, incoming: Incoming, channel: ChannelConfig) -> str:
        event = incoming.event
        stream = self.streams.open(incoming.channel, incoming.thread_ts, user=incoming.user,
                                   team=event.get("user_team") or event.get("team") or self.identity.team_id,
                                   direct=incoming.kind == "dm" or incoming.channel_type == "im",
                                   allow_user_mentions=self.config.current.spec.access.allow_user_mentions)
        stream.start()
        try:
            with self.llm.whole_answer():
                return await self._answer(incoming, channel, stream)
        except LLMError as exc:
            self.metrics.errors.labels(kind=exc.kind).inc()
            log.warning("model request failed: %s", exc.user_message,
                        extra={"event_id": incoming.event_id, "kind": exc.kind, "model": channel.model})
            await self._finish_quietly(stream, f":warning: {exc.user_message}")
            return f"error:{exc.kind}"
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            self.metrics.errors.labels(kind="slack").inc()
            log.warning("Slack call failed: %s", error, extra={"event_id": incoming.event_id})
            await self._finish_quietly(stream, f":warning: I couldn't read or write this thread (Slack said "
                                               f"`{error}`). Please try again.")
            return "error:slack"
        except asyncio.CancelledError:
            await asyncio.shield(self._finish_quietly(stream, f":warning: {INTERRUPTED}", within=3))
            raise
        except Exception:
            self.metrics.errors.labels(kind="internal").inc()
            log.exception("reply failed", extra={"event_id": incoming.event_id})
            await self._finish_quietly(stream, f":warning: {INTERNAL_ERROR}")
            return "error:internal"

    async def _answer(self, incoming: Incoming, channel: ChannelConfig,
                      stream: ReplyStream | NativeReplyStream) -> str:
        """History (summarized when long), the answer streamed, its ending note; errors go to `answer`."""
        chat = await self.thread_chat(incoming, channel)
        count = self.count_tokens(channel.model)
        prepared = await self.history(chat, channel, count, incoming.thread_ts)
        if prepared.condensed:
            self.metrics.history_condensed.inc()
        params = request_params(channel.model, channel.limits.info, prepared.messages,
                                channel.limits.max_output_tokens, channel.temperature)
        completion = await self.llm.stream(params, stream.append)
        self._record_completion(channel.model, completion)
        ending = ending_note(completion.finish_reason, max_output_tokens=channel.limits.max_output_tokens,
                             deadline=self.llm.answer_deadline, answered=bool(completion.text.strip()))
        await stream.finish("\n\n".join(note for note in (ending, prepared.note) if note))
        if ending:  # h1bot_replies_total{outcome="cut"}; the log line says why
            return f"cut:{completion.finish_reason}"
        return "answered"

    async def _finish_quietly(self, stream: ReplyStream | NativeReplyStream, suffix: str, within: float = 15) -> None:
        try:
            await asyncio.wait_for(stream.finish(suffix), within)
        except Exception as exc:  # nothing more can be said in the thread: log it, never raise to Slack
            await stream.abandon()
            self.metrics.errors.labels(kind="slack").inc()
            log.error("could not write the reply's final text: %s", exc,
                      extra={"channel": stream.channel, "thread_ts": stream.thread_ts})

    def _record_completion(self, model: str, completion) -> None:
        self.metrics.llm_latency.labels(model=model).observe(completion.duration)
        if completion.time_to_first_token is not None:
            self.metrics.llm_ttft.labels(model=model).observe(completion.time_to_first_token)
        self.metrics.tokens.labels(model=model, direction="in").inc(completion.prompt_tokens)
        self.metrics.tokens.labels(model=model, direction="out").inc(completion.completion_tokens)

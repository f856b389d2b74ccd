"""Answering a question: the thread read into a chat, its history made to fit (summarized when long), the model's
answer streamed to the surface as it is written (looking at the cluster first when spec.tools grants tools:
engine/tool_loop.py), and a note under it (cut short, summarized, what was looked at).

Every failure ends as a readable message in the answer itself; nothing here raises to the surface.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from h1bot_bot.adapters.llm import LLMClient, LLMError, request_params
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.conversation import ChatMessage
from h1bot_bot.core.effective import ChannelConfig
from h1bot_bot.core.formatting import INTERNAL_ERROR, ending_note
from h1bot_bot.core.history import CountTokens, PreparedHistory
from h1bot_bot.core.surface import Incoming, ReplyWriter, Surface
from h1bot_bot.engine.thread_reader import ThreadReader
from h1bot_bot.engine.tool_loop import ToolLoop

log = logging.getLogger(__name__)

INTERRUPTED = "I was restarted before I could finish this answer. Please ask again."

# (chat, channel config, per-message token counter, thread ts) → the chat to send and a note for the reply.
HistoryStrategy = Callable[[list[ChatMessage], ChannelConfig, CountTokens, str], Awaitable[PreparedHistory]]


class SurfaceError(Exception):
    """The surface could not read or write the thread; `reason` is its own short word for why (e.g. Slack's
    error code). Surfaces raise it (or a subclass) so that the answer can say so."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Answerer:
    def __init__(self, surface: Surface, reader: ThreadReader, llm: LLMClient, tokenizers: Tokenizers,
                 history: HistoryStrategy, metrics: Metrics, surface_errors: tuple[type[Exception], ...] = (),
                 tool_loop: ToolLoop | None = None):
        self.surface = surface
        self.reader = reader
        self.llm = llm
        self.tokenizers = tokenizers
        self.history = history
        self.metrics = metrics
        # The exceptions with which the surface says it cannot read or write the thread, and how to name them.
        self.surface_errors = (SurfaceError, *surface_errors)
        self.tool_loop = tool_loop  # None: the bot has no tools (no spec.tools)

    async def answer(self, incoming: Incoming, channel: ChannelConfig, *, allow_user_mentions: bool) -> str:
        """Answer `incoming` in its thread; returns the outcome (for the event's log line and metrics)."""
        writer = self.surface.open_answer(incoming, allow_user_mentions=allow_user_mentions)
        writer.start()
        try:
            chat = await self.reader.chat(incoming, channel.system_prompt)
            # Made ready outside the answer deadline (which is for the model's work): the client's import and,
            # when the history may not fit, the tokenizer, both in worker threads.
            await self.llm.ready()
            await self.tokenizers.load_if_needed(channel.model, chat, channel.limits.threshold_tokens)
            if self.tool_loop is not None and self.tool_loop.offered():
                await self.tokenizers.load(channel.model)  # tool output is counted against spec.tools.limits
            with self.llm.whole_answer():
                return await self._answer(chat, incoming, channel, writer)
        except LLMError as exc:
            self.metrics.errors.labels(kind=exc.kind).inc()
            log.warning("model request failed: %s", exc.user_message,
                        extra={"event_id": incoming.event_id, "kind": exc.kind, "model": channel.model})
            await self._finish_quietly(incoming, writer, f":warning: {exc.user_message}")
            return f"error:{exc.kind}"
        except self.surface_errors as exc:
            reason = _reason(exc)
            self.metrics.errors.labels(kind="slack").inc()
            log.warning("the thread could not be read or written: %s", reason, extra={"event_id": incoming.event_id})
            await self._finish_quietly(incoming, writer, f":warning: I couldn't read or write this thread (Slack said "
                                                         f"`{reason}`). Please try again.")
            return "error:slack"
        except asyncio.CancelledError:
            await asyncio.shield(self._finish_quietly(incoming, writer, f":warning: {INTERRUPTED}", within=3))
            raise
        except Exception:
            self.metrics.errors.labels(kind="internal").inc()
            log.exception("reply failed", extra={"event_id": incoming.event_id})
            await self._finish_quietly(incoming, writer, f":warning: {INTERNAL_ERROR}")
            return "error:internal"

    async def _answer(self, chat: list[ChatMessage], incoming: Incoming, channel: ChannelConfig,
                      writer: ReplyWriter) -> str:
        """History (summarized when long), the answer streamed, its ending note; errors go to `answer`."""
        prepared = await self.history(chat, channel, self.tokenizers.count_tokens(channel.model), incoming.thread_ts)
        if prepared.condensed:
            self.metrics.history_condensed.inc()
        def make_params(messages: list[dict], tools: list[dict] | None = None, tool_choice: str | None = None) -> dict:
            return request_params(channel.model, channel.limits.info, messages, channel.limits.max_output_tokens,
                                  channel.temperature, tools, tool_choice)
        tool_notes: list[str] = []
        if self.tool_loop is not None and self.tool_loop.offered():
            counter = self.tokenizers.counter(channel.model)
            history = counter.count_messages(prepared.messages)  # exact: the tokenizer is loaded for the tools
            run = await self.tool_loop.run(channel.model, prepared.messages, make_params, writer.append, incoming,
                                           counter.count_text, room_tokens=channel.limits.history_tokens - history)
            completion, tool_notes = run.completion, run.notes
            for earlier in run.rounds[:-1]:  # each round's tokens count; the last is recorded below
                self._record_completion(channel.model, earlier)
        else:
            completion = await self.llm.stream(make_params(prepared.messages), writer.append)
        self._record_completion(channel.model, completion)
        ending = ending_note(completion.finish_reason, max_output_tokens=channel.limits.max_output_tokens,
                             deadline=self.llm.answer_deadline, answered=bool(completion.text.strip()))
        await writer.finish("\n\n".join(note for note in (ending, *tool_notes, prepared.note) if note))
        if ending:  # h1bot_replies_total{outcome="cut"}; the log line says why
            return f"cut:{completion.finish_reason}"
        return "answered"

    async def _finish_quietly(self, incoming: Incoming, writer: ReplyWriter, suffix: str, within: float = 15) -> None:
        try:
            await asyncio.wait_for(writer.finish(suffix), within)
        except Exception as exc:  # nothing more can be said in the thread: log it, never raise to the surface
            await writer.abandon()
            self.metrics.errors.labels(kind="slack").inc()
            log.error("could not write the reply's final text: %s", exc,
                      extra={"channel": incoming.channel, "thread_ts": incoming.thread_ts})

    def _record_completion(self, model: str, completion) -> None:
        self.metrics.llm_latency.labels(model=model).observe(completion.duration)
        if completion.time_to_first_token is not None:
            self.metrics.llm_ttft.labels(model=model).observe(completion.time_to_first_token)
        self.metrics.tokens.labels(model=model, direction="in").inc(completion.prompt_tokens)
        self.metrics.tokens.labels(model=model, direction="out").inc(completion.completion_tokens)


def _reason(exc: Exception) -> str:
    """A surface error's short reason: SurfaceError.reason, or Slack's error code (SlackApiError.response)."""
    if isinstance(exc, SurfaceError):
        return exc.reason
    response = getattr(exc, "response", None)
    return (response.get("error") if response is not None else None) or "unknown"

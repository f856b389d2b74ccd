"""Recursive summarization wired into the bot: the history strategy of every answer and the `summarize` command.

The pure core (core/summarize.py) decides what to summarize and when to stop; this module runs its summaries
through the LLM client, keeps the process's one summary cache, and makes every summarization visible to operators
(a log line, metrics) and to users (a short note in the reply).
"""

import logging
import time
from collections.abc import Callable

from h1bot_bot.adapters.llm import DEADLINE, LLMClient, LLMError, request_params
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.core.budget import system_prompt_tokens
from h1bot_bot.core.conversation import ChatMessage
from h1bot_bot.core.effective import ChannelConfig
from h1bot_bot.core.history import CountTokens, PreparedHistory
from h1bot_bot.core.prompts import FINAL_LEVEL, summary_messages
from h1bot_bot.core.summarize import (
    RSFSettings,
    RSFStats,
    Summarizer,
    compress_history,
    describe,
    summarize_all,
)
from h1bot_bot.core.summary_cache import SummaryCache
from h1bot_bot.core.tokens import TokenCounter

log = logging.getLogger(__name__)

SUMMARY_TEMPERATURE = 0.2  # summaries should be faithful, not creative


async def _discard(_: str) -> None:
    """Summaries are not streamed to Slack."""


def split_system(chat: list[ChatMessage]) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """(the persona's system message, if any, as a list; the thread's history)."""
    if chat and chat[0]["role"] == "system":
        return chat[:1], chat[1:]
    return [], chat


class Summarization:
    """One per bot: the summary cache and the LLM calls of recursive summarization."""

    def __init__(self, llm: LLMClient, metrics: Metrics, counter: Callable[[str], TokenCounter],
                 cache: SummaryCache | None = None, concurrency: int = 4):
        self.llm = llm
        self.metrics = metrics
        self.counter = counter
        self.cache = cache if cache is not None else SummaryCache()
        self.concurrency = concurrency

    def settings(self, channel: ChannelConfig, system: list[ChatMessage]) -> RSFSettings:
        """The RSF settings of `channel`: the threshold is what is left once the system prompt is paid for."""
        counter = self.counter(channel.model)
        system_cost = system_prompt_tokens(counter, system[0]["content"]) if system else 0
        if channel.system_prompt_tokens is not None:  # already taken out of history_tokens by for_channel
            system_cost = max(0, system_cost - channel.system_prompt_tokens)
        threshold = min(channel.limits.threshold_tokens, channel.limits.history_tokens - system_cost)
        return RSFSettings.from_spec(channel.summarization, max(threshold, 128), concurrency=self.concurrency)

    def summarizer(self, channel: ChannelConfig, settings: RSFSettings, final_tokens: int | None = None
                   ) -> Summarizer:
        """`summarize(text, level)` through the model of `channel`, with the per-model request quirks."""

        async def summarize(text: str, level: int) -> str:
            cap = final_tokens if level == FINAL_LEVEL and final_tokens else settings.summary_cap
            params = request_params(channel.model, channel.limits.info, summary_messages(text, level, cap), cap,
                                    SUMMARY_TEMPERATURE)
            completion = await self.llm.stream(params, _discard)
            if completion.finish_reason == DEADLINE:  # a cut summary must not be cached as the summary
                raise LLMError("deadline", "Summarizing this thread took longer than the bot's answer deadline "
                               f"({self.llm.answer_deadline:g} seconds, H1BOT_ANSWER_DEADLINE). Please try again.")
            self.metrics.summarize_calls.labels(model=channel.model).inc()
            self.metrics.tokens.labels(model=channel.model, direction="in").inc(completion.prompt_tokens)
            self.metrics.tokens.labels(model=channel.model, direction="out").inc(completion.completion_tokens)
            return completion.text

        return summarize

    def _record(self, what: str, channel: ChannelConfig, stats: RSFStats, seconds: float, thread: str) -> None:
        if not stats.summarize_calls and not stats.cache_hits:
            return
        self.metrics.summarizations.labels(kind=what).inc()
        self.metrics.summary_cache_hits.inc(stats.cache_hits)
        self.metrics.summarized_tokens.labels(model=channel.model).inc(stats.tokens_sent)
        log.info("%s: %d messages (%d tokens) → %d tokens; %d summarize calls, %d cache hits, %d levels%s in "
                 "%.2fs", what, stats.input_messages, stats.input_tokens, stats.output_tokens, stats.summarize_calls,
                 stats.cache_hits, stats.levels, ", oldest left out" if stats.truncated else "", seconds,
                 extra={"thread_ts": thread, "model": channel.model, "summarize_calls": stats.summarize_calls,
                        "cache_hits": stats.cache_hits, "tokens_sent": stats.tokens_sent})

    async def prepare(self, chat: list[ChatMessage], channel: ChannelConfig, count: CountTokens,
                      thread: str = "") -> PreparedHistory:
        """The history strategy of answers: the chat made to fit the channel's threshold (LLMError propagates)."""
        system, history = split_system(chat)
        settings = self.settings(channel, system)
        started = time.perf_counter()
        result = await compress_history(history, self.counter(channel.model), settings,
                                        self.summarizer(channel, settings), self.cache, model=channel.model)
        self._record("history", channel, result.stats, time.perf_counter() - started, thread)
        return PreparedHistory(system + result.messages, describe(result.stats), result.stats.summarized_messages)

    async def summarize_chat(self, chat: list[ChatMessage], channel: ChannelConfig, thread: str = "") -> str:
        """A summary of the whole thread, whatever its length (Markdown)."""
        system, history = split_system(chat)
        if not history:
            return "There is nothing in this thread to summarize yet."
        settings = self.settings(channel, system)
        started = time.perf_counter()
        summary = await summarize_all(history, self.counter(channel.model), settings,
                                      self.summarizer(channel, settings, channel.limits.max_output_tokens),
                                      self.cache, model=channel.model)
        self._record("summarize-command", channel, summary.stats, time.perf_counter() - started, thread)
        return summary.text

    async def plan(self, chat: list[ChatMessage], channel: ChannelConfig, exact: bool = True) -> str:
        """How the thread would be summarized, without calling the model (for the `debug` command); `exact=False`
        lets a history that fits by its byte bound go uncounted."""
        system, history = split_system(chat)
        settings = self.settings(channel, system)
        counter = self.counter(channel.model)

        async def dry_run(text: str, level: int) -> str:
            return counter.truncate(text, settings.summary_cap)

        result = await compress_history(history, counter, settings, dry_run, None, model=channel.model,
                                        exact=exact)
        stats = result.stats
        cached = sum(1 for chunk_text in (c.text for c in result.chunks)
                     if self.cache.key(chunk_text, model=channel.model, level=1,
                                       max_tokens=settings.summary_cap) in self.cache)
        head = (f"{stats.input_tokens} tokens in {stats.input_messages} messages; threshold "
                f"{settings.threshold_tokens} (chunks of {settings.chunk_tokens}, up to {settings.max_depth} levels)")
        if not stats.summarized:
            return head + ": sent as is, no summarization."
        return (head + f": {stats.summarized_messages} older messages would be summarized in "
                f"{len(result.chunks)} chunks ({cached} already cached), {stats.levels} level(s), "
                f"{stats.verbatim_messages} newest kept verbatim" + ("; the oldest would be left out" if
                                                                        stats.truncated else "") + ".")

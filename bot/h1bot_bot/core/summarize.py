"""Recursive summarization of long threads (RSF), pure: the LLM call and the cache are passed in.

`compress_history` turns a thread's chat history into one that fits `threshold_tokens`: the newest messages stay
verbatim, older ones are packed into chunks from the oldest, summarized (concurrently, through the cache), and the
summaries of closed groups merged level by level while they do not fit; each level's newest group is set aside.
Later mentions cost <= 2 summaries (the open chunk, plus a closing chunk or one higher-level change): level k+1 takes
in level k's newest closed summary only once the open level-1 chunk is k/max_depth full, and a level starts on an
estimate (set-aside summaries at their cap) that changes only then. Holds while a mention adds < chunk_tokens/max_depth
tokens to the summarized part and the room for summaries is at most one chunk (a larger room: a new level costs more).
Termination: summaries are clipped to `summary_cap` tokens and `max_depth` bounds the levels; what still does not
fit is dropped, oldest first, with a note.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from h1bot_api.spec import SummarizationSpec
from h1bot_bot.core.chunking import (
    SEPARATOR,
    SEPARATOR_TOKENS,
    Chunk,
    Piece,
    joined_tokens,
    message_pieces,
    pack,
    recent_budget,
    select_recent,
)
from h1bot_bot.core.prompts import FINAL_LEVEL, SUMMARY_HEADER
from h1bot_bot.core.summary_cache import SummaryCache
from h1bot_bot.core.tokens import MIN_SPLIT_TOKENS, TokenCounter

Summarizer = Callable[[str, int], Awaitable[str]]
"""`summarize(text, level)`: level 1 condenses messages, 2+ merges summaries, FINAL_LEVEL (0) writes the
user-facing summary of a whole thread."""

SUMMARIZE_ALL_MAX_DEPTH = 8  # the `summarize` command covers threads of any length
TRUNCATION_NOTE = "[Note: the oldest part of this thread did not fit the model's context and was left out.]"
_RESERVE_SLACK = 16


@dataclass(frozen=True)
class RSFSettings:
    threshold_tokens: int
    chunk_tokens: int = 2000
    max_depth: int = 3
    recent_share: float = 0.5
    concurrency: int = 4
    summary_tokens: int | None = None  # per-summary cap; derived from the other settings when None
    summary_role: str = "system"

    def __post_init__(self) -> None:
        if self.threshold_tokens < 128:
            raise ValueError("threshold_tokens must be at least 128")
        if self.chunk_tokens < 64:
            raise ValueError("chunk_tokens must be at least 64")
        if self.max_depth < 1 or self.concurrency < 1:
            raise ValueError("max_depth and concurrency must be at least 1")
        if not 0 < self.recent_share < 1:
            raise ValueError("recent_share must be between 0 and 1")

    @property
    def summary_cap(self) -> int:
        """Most tokens one summary may have (the LLM's output limit for a summarization call). Well below a chunk,
        so that every level shrinks the text several times over."""
        if self.summary_tokens:
            return max(MIN_SPLIT_TOKENS, min(self.summary_tokens, self.chunk_tokens // 4))
        return max(32, min(self.chunk_tokens // 8, self.threshold_tokens // (2 * (self.max_depth + 1))))

    @classmethod
    def from_spec(cls, spec: SummarizationSpec, threshold_tokens: int, **overrides: Any) -> "RSFSettings":
        """Settings from `spec.summarization`; `threshold_tokens` from the resolved limits (it has a default)."""
        return cls(threshold_tokens=threshold_tokens, chunk_tokens=spec.chunk_tokens, max_depth=spec.max_depth,
                   recent_share=spec.recent_share, **overrides)


@dataclass
class RSFStats:
    input_messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    summarized_messages: int = 0
    verbatim_messages: int = 0
    levels: int = 0
    summarize_calls: int = 0
    cache_hits: int = 0
    tokens_sent: int = 0  # tokens of chunk text sent to the summarizer (instructions not included)
    tokens_received: int = 0
    clipped_summaries: int = 0  # summaries longer than summary_cap, cut
    stalled: bool = False  # a level did not shrink the text
    truncated: bool = False
    dropped_summaries: int = 0
    newest_split: bool = False  # the newest message alone was too long: its beginning was summarized

    @property
    def summarized(self) -> bool:
        return self.summarized_messages > 0


@dataclass(frozen=True)
class RSFResult:
    messages: list[dict[str, Any]]
    stats: RSFStats
    chunks: tuple[Chunk, ...] = ()  # the level-1 chunks (what was summarized first)


@dataclass(frozen=True)
class ThreadSummary:
    text: str
    stats: RSFStats
    chunks: tuple[Chunk, ...] = ()


def describe(stats: RSFStats) -> str:
    """A short note for the reply when the history was condensed; "" when it was sent as is."""
    if not stats.summarized:
        return ""
    if stats.newest_split and stats.summarized_messages == 1:
        return "_This message was too long for the model: I read a summary of its beginning and its end as is._"
    earlier = stats.summarized_messages - stats.newest_split
    note = f"_{earlier} earlier message{'s were' if earlier != 1 else ' was'} summarized to fit the model's context"
    if stats.newest_split:
        note += ", and the beginning of this long message too"
    if stats.truncated:
        note += "; the oldest part of the thread was left out"
    return note + "._"


async def compress_history(messages: Sequence[Mapping[str, Any]], counter: TokenCounter, settings: RSFSettings,
                           summarize: Summarizer, cache: SummaryCache | None = None, *,
                           model: str | None = None, exact: bool = False) -> RSFResult:
    """The history (without the persona's system message) made to fit `settings.threshold_tokens`.

    A history whose byte bound fits is returned without counting (its stats then hold the bound, an upper bound of
    the tokens); `exact` counts it anyway (for `debug`).

    Returned messages: the history unchanged when it fits; otherwise a summary message (marked as a summary of
    earlier conversation) followed by the newest messages verbatim.
    """
    run = _Run(counter, settings, summarize, cache, model)
    stats = run.stats
    if not exact and (bound := sum(counter.bound_message(m) for m in messages)) <= settings.threshold_tokens:
        # Fits even counted by UTF-8 bytes (a token is at least one): sent as is, no tokenizer needed.
        stats.input_messages, stats.input_tokens = len(messages), bound
        stats.output_tokens, stats.verbatim_messages = bound, len(messages)
        return RSFResult([dict(m) for m in messages], stats)
    counts = [counter.count_message(m) for m in messages]
    stats.input_messages, stats.input_tokens = len(messages), sum(counts)
    if stats.input_tokens <= settings.threshold_tokens:
        stats.output_tokens, stats.verbatim_messages = stats.input_tokens, len(messages)
        return RSFResult([dict(m) for m in messages], stats)

    reserve = summary_reserve(counter, settings)
    older, recent = select_recent(messages, counts, counter, settings.threshold_tokens, settings.recent_share,
                                  reserve)
    stats.newest_split = len(older) == len(messages)
    stats.summarized_messages, stats.verbatim_messages = len(older), len(recent) - stats.newest_split
    space = settings.threshold_tokens - sum(counter.count_message(m) for m in recent)
    # The room for summaries, the same at every mention (unless the newest message alone is very long): the
    # levels are chosen against it.
    steady = settings.threshold_tokens - recent_budget(settings.threshold_tokens, settings.recent_share, reserve)
    header = counter.count_message(_summary_message(settings, [], 10**6, dropped=False))

    pieces = message_pieces(older, counter, settings.chunk_tokens)
    summaries = await run.reduce(pieces, min(space, steady) - header - SEPARATOR_TOKENS, settings.max_depth,
                                 hold_back=True)
    summary = _fit_summary(summaries, len(older), space, counter, settings, stats)
    final = [summary, *recent] if summary else recent
    stats.output_tokens = sum(counter.count_message(m) for m in final)
    return RSFResult(final, stats, tuple(run.first_level))


async def summarize_all(messages: Sequence[Mapping[str, Any]], counter: TokenCounter, settings: RSFSettings,
                        summarize: Summarizer, cache: SummaryCache | None = None, *,
                        model: str | None = None) -> ThreadSummary:
    """A summary of the whole thread, any length, for the `summarize` command (one final call at FINAL_LEVEL)."""
    run = _Run(counter, settings, summarize, cache, model)
    stats = run.stats
    stats.input_messages = stats.summarized_messages = len(messages)
    stats.input_tokens = sum(counter.count_message(m) for m in messages)
    pieces = message_pieces(enumerate(messages), counter, settings.chunk_tokens)
    if not pieces:
        return ThreadSummary("", stats)
    reduced = await run.reduce(pieces, settings.chunk_tokens, max(settings.max_depth, SUMMARIZE_ALL_MAX_DEPTH),
                               hold_back=False)
    while joined_tokens(reduced) > settings.chunk_tokens and len(reduced) > 1:  # only if the deepest level overflows
        reduced, stats.truncated, stats.dropped_summaries = reduced[1:], True, stats.dropped_summaries + 1
    [final] = await run.summarize_level(pack(reduced, settings.chunk_tokens)[:1], FINAL_LEVEL, clip=False)
    text = final.text if not stats.truncated else f"{TRUNCATION_NOTE}\n\n{final.text}"
    stats.output_tokens = counter.count_text(text)
    return ThreadSummary(text, stats, tuple(run.first_level))


class _Run:
    """One summarization pass: the settings, the counters and the bounded concurrency it shares."""

    def __init__(self, counter: TokenCounter, settings: RSFSettings, summarize: Summarizer,
                 cache: SummaryCache | None, model: str | None):
        self.counter, self.settings, self.summarize = counter, settings, summarize
        self.cache = cache if cache is not None else SummaryCache()
        self.model = model or counter.model
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.stats = RSFStats()
        self.first_level: list[Chunk] = []

    async def reduce(self, pieces: list[Piece], target: int, max_depth: int, *, hold_back: bool) -> list[Piece]:
        """Summarize level by level until the pieces fit `target` tokens; oldest first on return.

        Level k+1's input is the summaries of level k's groups that were closed when there were as many closed
        level-1 chunks as `ingest_counts` says; level k's other summaries (its newest group, and with `hold_back`
        at most one just-closed group) are set aside into the result."""
        if joined_tokens(pieces) <= target:
            return list(pieces)
        chunk_tokens = self.settings.chunk_tokens
        set_aside = (2 if hold_back else 1) * (self.settings.summary_cap + SEPARATOR_TOKENS)
        inputs: list[list[Piece]] = [list(pieces)]
        outputs: list[list[Piece]] = []
        as_of: list[int] = []
        while True:
            level = len(inputs)
            groups = pack(inputs[-1], chunk_tokens)
            if level == 1:
                self.first_level = groups
                as_of = ingest_counts(groups, chunk_tokens, max_depth, hold_back)
            outputs.append(await self.summarize_level(groups, level))
            self.stats.levels = level
            self.stats.stalled |= len(inputs[-1]) > 1 and joined_tokens(outputs[-1]) >= joined_tokens(inputs[-1])
            if level >= max_depth:
                break
            count = as_of[level - 1]
            for earlier in inputs[1:]:  # level k's closed groups as of that count, level by level
                count = max(0, len(pack(earlier[:count], chunk_tokens)) - 1)
            upward = outputs[-1][:count]
            # Stop here if the result fits even with every set-aside summary at its cap: a decision that can only
            # change when `upward` does, never in a mention where a lower level is busy.
            if not upward or joined_tokens(upward) + level * set_aside <= target:
                break
            inputs.append(upward)
        result = list(outputs[-1])
        for level in range(len(outputs) - 2, -1, -1):
            result += outputs[level][len(inputs[level + 1]):]
        return result

    async def summarize_level(self, chunks: Sequence[Chunk], level: int, clip: bool = True) -> list[Piece]:
        """One summary piece per chunk, in order: from the cache, or by concurrent calls (one per distinct text).

        A chunk no longer than a summary (at compression levels) is kept as it is."""
        cap = self.settings.summary_cap
        results: list[Piece | None] = [None] * len(chunks)
        waiting: dict[Any, list[int]] = {}
        for index, chunk in enumerate(chunks):
            if clip and chunk.tokens <= cap:
                results[index] = Piece(chunk.text, chunk.tokens, chunk.first, chunk.last)
                continue
            key = self.cache.key(chunk.text, model=self.model, level=level, max_tokens=cap if clip else 0)
            if key in waiting:
                waiting[key].append(index)
            elif (cached := self.cache.get(key)) is not None:
                self.stats.cache_hits += 1
                results[index] = Piece(cached, self.counter.count_text(cached), chunk.first, chunk.last)
            else:
                waiting[key] = [index]
        tasks = [asyncio.ensure_future(self._call(chunks[indexes[0]], level, key, clip))
                 for key, indexes in waiting.items()]
        try:
            texts = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        for indexes, text in zip(waiting.values(), texts, strict=True):
            for index in indexes:
                chunk = chunks[index]
                results[index] = Piece(text, self.counter.count_text(text), chunk.first, chunk.last)
        return [piece for piece in results if piece is not None]

    async def _call(self, chunk: Chunk, level: int, key: Any, clip: bool) -> str:
        async with self.semaphore:
            answer = await self.summarize(chunk.text, level)
        self.stats.summarize_calls += 1
        self.stats.tokens_sent += chunk.tokens
        text = (answer if isinstance(answer, str) else "").strip() or "(nothing to summarize)"
        tokens = self.counter.count_text(text)
        self.stats.tokens_received += tokens
        if clip and tokens > self.settings.summary_cap:  # an over-long answer must not stall the recursion
            text = self.counter.truncate(text, self.settings.summary_cap).strip()
            self.stats.clipped_summaries += 1
        self.cache.put(key, text)
        return text


def ingest_counts(chunks: Sequence[Chunk], chunk_tokens: int, max_depth: int, hold_back: bool) -> list[int]:
    """For each level k < max_depth: how many closed level-1 chunks level k+1 is built from.

    With `hold_back`, the newest closed chunk counts for level k+1 only once the open (last) chunk is at least
    k/max_depth full: the closing of a chunk leaves every higher level as it was, and each step of the open chunk's
    fill changes one level at most."""
    closed = len(chunks) - 1
    if not hold_back or closed <= 0:
        return [max(0, closed)] * (max_depth - 1)
    step = min(max_depth - 1, chunks[-1].tokens * max_depth // chunk_tokens)
    return [closed if step >= level else closed - 1 for level in range(1, max_depth)]


def summary_reserve(counter: TokenCounter, settings: RSFSettings) -> int:
    """Tokens kept free for the summary message: the newest message stays whole if it leaves at least this."""
    return counter.count_message(_summary_message(settings, ["x"], 10**6, dropped=True)) + _RESERVE_SLACK


def _summary_message(settings: RSFSettings, texts: list[str], summarized: int, dropped: bool) -> dict[str, str]:
    head = (f"{SUMMARY_HEADER} ({summarized} earlier messages, condensed; the latest messages follow "
            "verbatim):")
    if dropped:
        head += "\n" + TRUNCATION_NOTE
    return {"role": settings.summary_role, "content": SEPARATOR.join([head, *texts])}


def _fit_summary(summaries: list[Piece], summarized: int, space: int, counter: TokenCounter,
                 settings: RSFSettings, stats: RSFStats) -> dict[str, str] | None:
    """The summary message within `space` tokens: the oldest summaries dropped (with a note) if needed."""
    texts = [p.text for p in summaries]
    message = _summary_message(settings, texts, summarized, dropped=False)
    if counter.count_message(message) <= space:
        return message
    stats.truncated = True
    room = space - counter.count_message(_summary_message(settings, [], summarized, dropped=True)) - SEPARATOR_TOKENS
    keep, used = len(summaries), 0
    while keep > 0 and used + summaries[keep - 1].tokens + SEPARATOR_TOKENS <= room:
        keep -= 1
        used += summaries[keep].tokens + SEPARATOR_TOKENS
    kept = texts[keep:]
    if not kept and texts and room > MIN_SPLIT_TOKENS:  # not even the newest summary fits whole: clip it
        kept = [counter.truncate(texts[-1], room - SEPARATOR_TOKENS)]
    while True:
        stats.dropped_summaries = len(texts) - len(kept)
        message = _summary_message(settings, kept, summarized, dropped=True)
        excess = counter.count_message(message) - space
        if excess <= 0:
            return message
        if not kept:
            return None  # not even the note fits; the reserve makes this unreachable
        if len(kept) > 1:
            kept = kept[1:]
        else:
            clipped = counter.truncate(kept[0], max(0, counter.count_text(kept[0]) - excess))
            kept = [clipped] if clipped.strip() and clipped != kept[0] else []


__all__ = ["FINAL_LEVEL", "RSFResult", "RSFSettings", "RSFStats", "Summarizer", "ThreadSummary",
           "compress_history", "describe", "summarize_all", "summary_reserve"]

"""Properties of recursive summarization over random threads and settings (real token counts)."""

import asyncio
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from h1bot_bot.adapters.tokenizers import counter_for
from h1bot_bot.core.chunking import CONTINUED_MARK, render_message
from h1bot_bot.core.summarize import RSFSettings, compress_history, summary_reserve
from h1bot_bot.core.summary_cache import SummaryCache
from tests.bot.test_summarize import VOCAB, Condenser

COUNTER = counter_for("gpt-4o")


@st.composite
def threads(draw) -> list[dict]:
    seed = draw(st.integers(0, 10**6))
    sizes = draw(st.lists(st.one_of(st.integers(0, 80), st.integers(200, 3000)), min_size=1, max_size=60))
    rng = random.Random(seed)
    messages = []
    for n, size in enumerate(sizes):
        text = " ".join(rng.choice(VOCAB) for _ in range(size))
        if size > 1000 and rng.random() < 0.5:  # a pasted log: many short lines
            text = text.replace(" ", "\n", size // 3)
        if rng.random() < 0.3:
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": f"User{n % 3} (U00{n % 3}): {text}"})
    return messages


rsf_settings = st.builds(
    RSFSettings,
    threshold_tokens=st.integers(256, 6000),
    chunk_tokens=st.integers(128, 2500),
    max_depth=st.integers(1, 4),
    recent_share=st.floats(0.05, 0.95),
    concurrency=st.integers(1, 8),
)
summarizers = st.sampled_from([(30, 0), (120, 0), (400, 0), (0, 3)])  # (words, blow_up): short to over-long


def run(messages, config, words, blow_up, cache=None):
    llm = Condenser(words or 10, blow_up=blow_up)
    result = asyncio.run(compress_history(messages, COUNTER, config, llm, cache))
    return result, llm


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=threads(), config=rsf_settings, summarizer=summarizers)
def test_any_thread_fits_keeps_its_newest_message_and_terminates(messages, config, summarizer):
    result, llm = run(messages, config, *summarizer)
    final, stats = result.messages, result.stats
    assert sum(COUNTER.count_message(m) for m in final) <= config.threshold_tokens
    newest = messages[-1]
    if not stats.newest_split:
        assert final[-1] == newest
    else:  # too long to keep whole next to a summary: its end is kept word for word
        assert COUNTER.count_message(newest) > config.threshold_tokens - summary_reserve(COUNTER, config)
        kept = final[-1]["content"].split(CONTINUED_MARK, 1)[1]
        assert kept and newest["content"].endswith(kept)
    if stats.summarized:
        assert final[0]["content"].startswith("Summary of earlier conversation")
    # Bounded work: each level makes at most one call per chunk, levels are bounded by max_depth.
    level_one = len(result.chunks)
    assert stats.summarize_calls == len(llm.calls) <= config.max_depth * max(level_one, config.max_depth)
    assert stats.levels <= config.max_depth


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=threads(), config=rsf_settings)
def test_first_level_chunks_cover_every_older_message_once_in_order(messages, config):
    result, _ = run(messages, config, 60, 0)
    pieces = [piece for chunk in result.chunks for piece in chunk.pieces]
    for chunk in result.chunks:
        assert COUNTER.count_text(chunk.text) <= chunk.tokens <= config.chunk_tokens
    if not result.chunks:
        return
    summarized = result.stats.summarized_messages
    covered = [(p.first, p.part) for p in pieces]
    expected = [(i, part) for i in range(summarized)
                for part in range(1, 1 + next(p.parts for p in pieces if p.first == i))]
    assert covered == expected
    for piece in pieces:
        assert piece.first == piece.last
        whole = piece.parts == 1 and not (result.stats.newest_split and piece.first == len(messages) - 1)
        if whole:
            assert piece.text == render_message(messages[piece.first])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=threads(), more=threads(), config=rsf_settings)
def test_chunk_boundaries_stay_put_as_the_thread_grows(messages, more, config):
    before, _ = run(messages, config, 60, 0)
    after, _ = run(messages + more, config, 60, 0)
    stable = before.chunks[:-1]
    if before.stats.newest_split:  # the newest message's summarized head is not a piece of the longer thread:
        newest = len(messages) - 1  # the chunk it closed and the ones holding it may change
        stable = [c for c, following in zip(stable, before.chunks[1:], strict=True)
                  if newest not in (c.last, following.first)]
    assert [c.text for c in after.chunks[:len(stable)]] == [c.text for c in stable]


@pytest.mark.parametrize("blow_up", [0, 4])
def test_a_repeated_mention_costs_no_new_summaries(blow_up):
    cache = SummaryCache()
    messages = [{"role": "user", "content": f"Alice (U001): {' '.join(VOCAB)} {n}"} for n in range(300)]
    config = RSFSettings(threshold_tokens=2000, chunk_tokens=700)
    first, _ = run(messages, config, 60, blow_up, cache)
    second, llm = run(messages, config, 60, blow_up, cache)
    assert first.stats.summarize_calls > 0 and not llm.calls
    assert second.messages == first.messages and second.stats.cache_hits > 0


@st.composite
def growing_threads(draw):
    """(settings, an initial thread, the sizes it grows to, one per later mention): the settings the bound on later
    mentions is stated for (see compress_history's module docstring), with messages of 1..150 tokens:
    - a mention adds 1..5 messages, so the summarized part grows by at most 6 messages (the new ones and one
      pushed out of the verbatim window): chunk_tokens > max_depth * 6 * (longest message + 2);
    - the room for summaries, threshold * (1 - recent_share), is at most one chunk (so a level that starts merges
      one chunk);
    - every message fits the verbatim share of the threshold (it is never cut in two).
    Chunks only a few messages long, or a threshold of many chunks, are outside the bound: they are left out here."""
    depth = draw(st.integers(1, 4))
    share = draw(st.floats(0.3, 0.7))
    threshold = draw(st.integers(600, 4000))
    longest = draw(st.integers(10, 110))  # words: up to ~150 tokens
    rng = random.Random(draw(st.integers(0, 10**6)))
    initial, mentions = draw(st.integers(1, 1200)), draw(st.integers(30, 80))
    sizes = [initial]
    for _ in range(mentions):
        sizes.append(sizes[-1] + rng.randint(1, 5))
    messages = []
    for n in range(sizes[-1]):
        text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, longest)))
        role = "assistant" if rng.random() < 0.3 else "user"
        messages.append({"role": role, "content": text if role == "assistant" else f"User{n % 3} (U00{n % 3}): {text}"})
    most = max(COUNTER.count_message(m) for m in messages)
    chunk = max(depth * 6 * (most + 2) + 1, int(threshold * (1 - share)) + 1) + draw(st.integers(0, 1500))
    # Summaries as long as a quarter chunk merge only a few per group: deep trees within a short thread.
    summary = draw(st.sampled_from([None, chunk // 4]))
    config = RSFSettings(threshold_tokens=threshold, chunk_tokens=chunk, max_depth=depth, recent_share=share,
                         summary_tokens=summary)
    assume(most <= threshold * share - summary_reserve(COUNTER, config))
    return config, messages, sizes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=growing_threads(), summarizer=summarizers)
def test_every_later_mention_costs_at_most_two_summaries(case, summarizer):
    config, messages, sizes = case
    cache = SummaryCache()
    run(messages[:sizes[0]], config, *summarizer, cache)  # the first mention pays for the whole thread
    for size in sizes[1:]:
        result, llm = run(messages[:size], config, *summarizer, cache)
        assert len(llm.calls) <= 2, f"the mention at {size} messages cost {len(llm.calls)} summaries"
        assert result.messages[-1] == messages[size - 1]
        assert sum(COUNTER.count_message(m) for m in result.messages) <= config.threshold_tokens

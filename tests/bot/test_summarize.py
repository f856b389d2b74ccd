"""Recursive summarization of long threads: scenarios a user of the bot would recognise.

The core is pure: the summarizer is a deterministic function standing in for the LLM, every token count is real.
"""

import asyncio
import random
import time

import pytest

from h1bot_api.spec import ModelSpec, SummarizationSpec
from h1bot_bot.adapters.tokenizers import counter_for
from h1bot_bot.core.budget import history_budget
from h1bot_bot.core.chunking import render_message
from h1bot_bot.core.prompts import FINAL_LEVEL, SUMMARY_HEADER
from h1bot_bot.core.summarize import RSFSettings, compress_history, describe, summarize_all
from h1bot_bot.core.summary_cache import SummaryCache
from h1bot_bot.core.tokens import TokenCounter

VOCAB = ("deploy the pod crashed again after rollout we should check memory limits node cpu logs say OOMKilled "
         "alice bob version 1.42 fix merged PR #812 staging prod helm values replicas 3 thanks ok agreed").split()


class Condenser:
    """A stand-in LLM: keeps every k-th word so that the answer has about `words` words; records every call."""

    def __init__(self, words: int = 60, *, blow_up: int = 0, delay: float = 0.0):
        self.words, self.blow_up, self.delay = words, blow_up, delay
        self.calls: list[tuple[int, str]] = []
        self.in_flight = self.max_in_flight = 0

    async def __call__(self, text: str, level: int) -> str:
        self.calls.append((level, text))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.blow_up:  # a model that ignores the length it was asked for
                return (text + "\n") * self.blow_up
            words = text.split()
            return f"[L{level}] " + " ".join(words[:: max(1, len(words) // self.words)][: self.words])
        finally:
            self.in_flight -= 1


def thread(count: int, seed: int = 7, words: tuple[int, int] = (5, 60), bot_every: int = 4) -> list[dict]:
    """A Slack thread as the bot builds it: users' messages prefixed with who said them, the bot's as assistant."""
    rng = random.Random(seed)
    messages = []
    for n in range(count):
        text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(*words)))
        if n % bot_every == bot_every - 1:
            messages.append({"role": "assistant", "content": text})
        else:
            user = rng.choice(["Alice", "Bob", "Carol"])
            messages.append({"role": "user", "content": f"{user} (U{user[0]}00{n % 7}): {text}"})
    return messages


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return counter_for("gpt-4o")


def tokens(counter: TokenCounter, messages: list[dict]) -> int:
    return sum(counter.count_message(m) for m in messages)


async def test_an_empty_history_costs_nothing(counter):
    llm = Condenser()
    result = await compress_history([], counter, RSFSettings(threshold_tokens=3000), llm)
    assert result.messages == [] and not llm.calls and not result.stats.summarized
    assert describe(result.stats) == ""


async def test_a_short_thread_is_sent_as_it_is(counter):
    llm = Condenser()
    history = thread(10)
    result = await compress_history(history, counter, RSFSettings(threshold_tokens=3000), llm)
    assert result.messages == history and not llm.calls
    assert result.stats.output_tokens >= tokens(counter, history), "fits by its byte bound: an upper bound"
    exact = await compress_history(history, counter, RSFSettings(threshold_tokens=3000), llm, exact=True)
    assert exact.messages == history and exact.stats.output_tokens == tokens(counter, history)


async def test_a_long_thread_is_summarized_before_the_latest_messages(counter):
    llm = Condenser()
    history = thread(300)
    settings = RSFSettings(threshold_tokens=3000, chunk_tokens=1000)
    result = await compress_history(history, counter, settings, llm)
    summary, *recent = result.messages
    assert summary["role"] == "system" and summary["content"].startswith(SUMMARY_HEADER)
    assert recent == history[-len(recent):]  # the latest messages word for word, the question last
    assert result.stats.verbatim_messages == len(recent) >= 2
    assert result.stats.summarized_messages == len(history) - len(recent)
    assert tokens(counter, result.messages) <= 3000 == settings.threshold_tokens
    assert llm.calls and all(level >= 1 for level, _ in llm.calls)
    # What the model was asked to condense first is the older part of the thread, whole messages in order.
    first_level = [text for level, text in llm.calls if level == 1]
    assert first_level[0].startswith(render_message(history[0]))
    assert "earlier messages were summarized" in describe(result.stats)


async def test_one_message_of_30k_tokens_keeps_its_end_and_summarizes_its_beginning(counter):
    log = "\n".join(f"2026-01-0{n % 9 + 1} ERROR pod api-{n} OOMKilled after {n} restarts" for n in range(2300))
    question = "\n\nWhy does the api keep crashing?"
    history = [{"role": "user", "content": f"Alice (U001): {log}{question}"}]
    assert counter.count_message(history[0]) > 30_000
    llm = Condenser()
    settings = RSFSettings(threshold_tokens=3000, chunk_tokens=2000)
    result = await compress_history(history, counter, settings, llm)
    summary, tail = result.messages
    assert result.stats.newest_split and summary["content"].startswith(SUMMARY_HEADER)
    assert tail["content"].startswith("Alice (U001): [… the beginning of this long message is summarized above]")
    assert tail["content"].endswith(question)
    assert history[0]["content"].endswith(tail["content"].split("above] ", 1)[1])  # a verbatim end
    assert tokens(counter, result.messages) <= 3000
    assert all(counter.count_text(chunk.text) <= 2000 for chunk in result.chunks)
    assert len(llm.calls) <= settings.max_depth * len(result.chunks)


async def test_a_30k_token_paste_in_the_middle_is_split_by_lines_and_summarized(counter):
    paste = "\n".join(f"line {n}: kubectl describe pod api-{n} shows exit code 137" for n in range(2500))
    history = [*thread(20, seed=1), {"role": "user", "content": f"Bob (UB001): {paste}"}, *thread(6, seed=2)]
    llm = Condenser()
    settings = RSFSettings(threshold_tokens=4000, chunk_tokens=2000)
    result = await compress_history(history, counter, settings, llm)
    assert result.messages[-1] == history[-1]
    parts = [p for chunk in result.chunks for p in chunk.pieces if p.first == 20]
    assert len(parts) == parts[0].parts > 10
    assert all(p.text.startswith(f"[part {p.part}/{p.parts}]") for p in parts)
    assert all(p.text.rstrip().endswith("137") for p in parts[:-1])  # cut at line ends
    assert tokens(counter, result.messages) <= 4000


async def test_two_thousand_short_messages(counter):
    history = thread(2000, words=(3, 25))
    llm = Condenser()
    settings = RSFSettings(threshold_tokens=3000)
    started = time.perf_counter()
    result = await compress_history(history, counter, settings, llm)
    elapsed = time.perf_counter() - started
    assert result.messages[-1] == history[-1]
    assert tokens(counter, result.messages) <= 3000
    assert result.stats.levels >= 2 and not result.stats.truncated
    assert sum(len(c.pieces) for c in result.chunks) == result.stats.summarized_messages
    assert elapsed < 10  # generous: counting is done once per message, chunks are hashed not re-encoded


async def test_a_threshold_equal_to_the_budget_still_leaves_room_for_the_answer(counter):
    persona = "You are a helpful assistant in a Slack workspace. Answer concisely."
    model = ModelSpec(name="gpt-4o", context_tokens=8000, max_output_tokens=1000)
    budget = history_budget(model, SummarizationSpec(), counter, persona)
    assert budget.threshold_tokens == budget.history_tokens
    history = thread(400)
    result = await compress_history(history, counter, RSFSettings(threshold_tokens=budget.threshold_tokens),
                                    Condenser())
    prompt = counter.count_messages([{"role": "system", "content": persona}, *result.messages])
    assert prompt + budget.max_output_tokens <= budget.context_tokens - budget.safety_margin


async def test_a_model_that_writes_overlong_summaries_cannot_stall_the_recursion(counter):
    llm = Condenser(blow_up=5)  # answers five times longer than what it was given
    history = thread(600)
    settings = RSFSettings(threshold_tokens=3000, chunk_tokens=1500, max_depth=4)
    result = await compress_history(history, counter, settings, llm)
    stats = result.stats
    assert stats.clipped_summaries == stats.summarize_calls > 0
    assert stats.summarize_calls <= settings.max_depth * len(result.chunks)
    assert tokens(counter, result.messages) <= 3000
    assert result.messages[-1] == history[-1]


async def test_too_deep_a_thread_for_max_depth_drops_the_oldest_summaries_with_a_note(counter):
    history = thread(1500)
    settings = RSFSettings(threshold_tokens=1000, chunk_tokens=500, max_depth=1)
    result = await compress_history(history, counter, settings, Condenser())
    assert result.stats.truncated and result.stats.dropped_summaries > 0
    assert "did not fit the model's context and was left out" in result.messages[0]["content"]
    assert "oldest part of the thread was left out" in describe(result.stats)
    assert tokens(counter, result.messages) <= 1000
    assert result.messages[-1] == history[-1]


async def test_summaries_are_requested_concurrently_but_bounded(counter):
    llm = Condenser(delay=0.01)
    settings = RSFSettings(threshold_tokens=2000, chunk_tokens=500, concurrency=3)
    result = await compress_history(thread(400), counter, settings, llm)
    assert result.stats.summarize_calls > 10
    assert llm.max_in_flight == 3


async def test_a_failing_model_fails_the_request_but_keeps_finished_summaries(counter):
    class Flaky(Condenser):
        async def __call__(self, text, level):
            if len(self.calls) == 5:
                self.calls.append((level, text))
                raise TimeoutError("the model timed out")
            return await super().__call__(text, level)

    cache = SummaryCache()
    settings = RSFSettings(threshold_tokens=2000, chunk_tokens=500, concurrency=1)
    with pytest.raises(TimeoutError):
        await compress_history(thread(300), counter, settings, Flaky(), cache)
    assert len(cache) >= 5
    retry = Condenser()
    result = await compress_history(thread(300), counter, settings, retry, cache)
    assert result.stats.cache_hits >= 5
    full = await compress_history(thread(300), counter, settings, Condenser(), SummaryCache())
    assert len(retry.calls) == full.stats.summarize_calls - result.stats.cache_hits


async def test_a_second_mention_after_one_new_message_costs_at_most_two_summaries(counter):
    cache = SummaryCache()
    settings = RSFSettings(threshold_tokens=3000, chunk_tokens=600)
    everything = thread(1600, words=(20, 20))
    first = await compress_history(everything[:1500], counter, settings, Condenser(), cache)
    assert first.stats.levels >= 2 and first.stats.summarize_calls > 50
    again = Condenser()
    same = await compress_history(everything[:1500], counter, settings, again, cache)
    assert not again.calls and same.messages == first.messages
    for size in range(1501, 1600):  # the thread keeps growing, one message per mention
        llm = Condenser()
        result = await compress_history(everything[:size], counter, settings, llm, cache)
        assert len(llm.calls) <= 2, f"mention at {size} messages cost {len(llm.calls)} summaries"
        assert result.messages[-1] == everything[size - 1]
        assert tokens(counter, result.messages) <= 3000


async def test_a_thread_growing_to_three_levels_costs_at_most_two_summaries_per_mention(counter):
    # Messages up to ~90 tokens, 1..5 per mention; chunks of 1700 > max_depth * 6 messages, summaries capped at
    # 150: a chunk that closes leaves more than a summary's worth in the next one (the case that cost 3 calls).
    settings = RSFSettings(threshold_tokens=1200, chunk_tokens=1700, max_depth=3)
    everything = thread(900, seed=3, words=(30, 60))
    rng, cache, size = random.Random(5), SummaryCache(), 30
    costs, levels = [], set()
    while size < len(everything):
        size = min(len(everything), size + rng.randint(1, 5))
        llm = Condenser()
        result = await compress_history(everything[:size], counter, settings, llm, cache)
        costs.append(len(llm.calls))
        levels.add(result.stats.levels)
        assert result.messages[-1] == everything[size - 1]
        assert tokens(counter, result.messages) <= settings.threshold_tokens
    assert max(costs) <= 2, f"mention {costs.index(max(costs))} cost {max(costs)} summaries"
    assert levels == {1, 2, 3} and costs.count(2) > 10


async def test_the_cache_is_per_model(counter):
    cache = SummaryCache()
    settings = RSFSettings(threshold_tokens=2000, chunk_tokens=800)
    history = thread(200)
    await compress_history(history, counter, settings, Condenser(), cache, model="gpt-4o")
    other = Condenser()
    await compress_history(history, counter, settings, other, cache, model="gpt-4o-mini")
    assert other.calls


async def test_the_summarize_command_covers_a_short_thread_in_one_call(counter):
    llm = Condenser()
    history = thread(12)
    summary = await summarize_all(history, counter, RSFSettings(threshold_tokens=3000), llm)
    [(level, text)] = llm.calls
    assert level == FINAL_LEVEL
    assert text == "\n\n".join(render_message(m) for m in history)
    assert summary.text.startswith(f"[L{FINAL_LEVEL}]")


async def test_the_summarize_command_covers_a_thread_of_any_length(counter):
    llm = Condenser()
    cache = SummaryCache()
    history = thread(3000)
    settings = RSFSettings(threshold_tokens=3000, max_depth=1)  # the command ignores the depth limit
    summary = await summarize_all(history, counter, settings, llm, cache)
    final_calls = [text for level, text in llm.calls if level == FINAL_LEVEL]
    assert len(final_calls) == 1 and counter.count_text(final_calls[0]) <= settings.chunk_tokens
    assert not summary.stats.truncated and summary.stats.levels >= 2
    assert sum(len(c.pieces) for c in summary.chunks) == len(history)
    again = Condenser()
    repeated = await summarize_all(history, counter, settings, again, cache)
    assert not again.calls and repeated.text == summary.text


def test_settings_follow_the_spec():
    spec = SummarizationSpec(threshold_tokens=5000, chunk_tokens=1500, max_depth=4, recent_share=0.3)
    settings = RSFSettings.from_spec(spec, threshold_tokens=5000, concurrency=2)
    assert (settings.chunk_tokens, settings.max_depth, settings.recent_share, settings.concurrency) == (
        1500, 4, 0.3, 2)
    assert settings.summary_cap <= settings.chunk_tokens // 4
    with pytest.raises(ValueError, match="recent_share"):
        RSFSettings(threshold_tokens=3000, recent_share=1.0)

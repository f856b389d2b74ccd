"""Benchmark: recursive summarization (RSF with cache) vs the seed's method vs drop-oldest.

Synthetic Slack threads of about 10k, 100k and 1M tokens; threshold 3k tokens, 8k context; an instant, pure fake
summarizer (keeps every k-th word, ~100 words per summary). For each method: summarize calls, tokens sent to the
summarizer and wall time for (a) the first mention in the thread and (b) a later mention after 5 new messages
(b is repeated over 60 successive mentions: mean and max are shown). The last column: tokens the seed's method sends
for a later mention divided by the tokens this method sends.

Run from the repo root: `.venv/bin/python bench/rsf.py`.
"""

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.tiktoken_offline import seed_tiktoken_cache

if "TIKTOKEN_CACHE_DIR" not in os.environ:
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")

from h1bot_api.spec import ModelSpec, SummarizationSpec
from h1bot_bot.adapters.tokenizers import counter_for
from h1bot_bot.core.budget import history_budget
from h1bot_bot.core.chunking import render_message
from h1bot_bot.core.summarize import RSFSettings, compress_history
from h1bot_bot.core.summary_cache import SummaryCache
from h1bot_bot.core.tokens import TokenCounter

THRESHOLD, CONTEXT, MAX_OUTPUT = 3000, 8000, 1000
SIZES = (10_000, 100_000, 1_000_000)
LATER_MENTIONS, NEW_PER_MENTION = 60, 5
VOCAB = ("deploy the pod crashed again after rollout we should check memory limits node cpu logs say OOMKilled "
         "alice bob version 1.42 fix merged PR #812 staging prod helm values replicas 3 thanks ok agreed why "
         "because latency p95 went from 120ms to 900ms on tuesday rollback done ticket OPS-1234").split()
PERSONA = "You are a helpful assistant in a Slack workspace. Answer concisely."


class FakeLLM:
    """Instant, pure summarizer; counts calls and the tokens it was sent."""

    def __init__(self, counter: TokenCounter, words: int = 100):
        self.counter, self.words = counter, words
        self.calls = self.tokens = 0

    def condense(self, text: str, level: int) -> str:
        self.calls += 1
        self.tokens += self.counter.count_text(text)
        words = text.split()
        return f"[L{level}] " + " ".join(words[:: max(1, len(words) // self.words)][: self.words])

    async def __call__(self, text: str, level: int) -> str:
        return self.condense(text, level)


def synthetic_thread(target_tokens: int, extra: int, counter: TokenCounter, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    messages: list[dict] = []
    total = 0
    while total < target_tokens or extra:
        if total >= target_tokens:
            extra -= 1
        n = len(messages)
        text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 90)))
        if n % 4 == 3:
            message = {"role": "assistant", "content": text}
        else:
            user = rng.choice(["Alice", "Bob", "Carol", "Dan"])
            message = {"role": "user", "content": f"{user} (U{user.upper()}1): {text}"}
        messages.append(message)
        total += counter.count_message(message)
    return messages


def copy_thread(messages: list[dict]) -> list[dict]:
    """What the bot gets from Slack on each mention: fresh objects with the same text."""
    return [{"role": m["role"], "content": "".join(m["content"])} for m in messages]


# --- the seed's method: split the whole history text into fixed-size character chunks, recompute every time -----

def seed_method(messages: list[dict], counter: TokenCounter, llm: FakeLLM, chunk_chars: int) -> str:
    text = "\n".join(render_message(m) for m in messages)
    level = 0
    while counter.count_text(text) > THRESHOLD and level < 12:
        level += 1
        chunks = [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]
        text = "\n".join(llm.condense(chunk, level) for chunk in chunks)
    return text


def drop_oldest(messages: list[dict], counter: TokenCounter, budget: int) -> list[dict]:
    kept, used = [], 0
    for message in reversed(messages):
        cost = counter.count_message(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    return kept[::-1]


def measure(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def summarized_tokens(result) -> int:
    """Tokens of the summarized part (the level-1 chunks joined)."""
    return sum(chunk.tokens for chunk in result.chunks) + max(0, len(result.chunks) - 1)


def bench_size(target: int, counter: TokenCounter, settings: RSFSettings) -> list[tuple]:
    full = synthetic_thread(target, LATER_MENTIONS * NEW_PER_MENTION, counter)
    first_len = len(full) - LATER_MENTIONS * NEW_PER_MENTION
    rows = []

    # RSF with the summary cache (one cache and one TokenCounter per bot process, as in the bot).
    cache, llm = SummaryCache(), FakeLLM(counter)
    thread = copy_thread(full[:first_len])
    result, seconds = measure(lambda: asyncio.run(compress_history(thread, counter, settings, llm, cache)))
    first = (llm.calls, llm.tokens, seconds, result.stats.levels, result.stats.output_tokens)
    later, summarized, growth = [], summarized_tokens(result), 0
    for mention in range(1, LATER_MENTIONS + 1):
        llm.calls = llm.tokens = 0
        thread = copy_thread(full[:first_len + mention * NEW_PER_MENTION])
        result, seconds = measure(lambda t=thread: asyncio.run(compress_history(t, counter, settings, llm, cache)))
        later.append((llm.calls, llm.tokens, seconds))
        growth, summarized = max(growth, summarized_tokens(result) - summarized), summarized_tokens(result)
    rows.append((f"RSF + cache (this; +{growth}/mention)", first, later))

    # The seed's method: character chunks of ~chunk_tokens, no cache, everything recomputed at every mention.
    llm = FakeLLM(counter)
    chunk_chars = settings.chunk_tokens * 4
    thread = copy_thread(full[:first_len])
    _, seconds = measure(lambda: seed_method(thread, counter, llm, chunk_chars))
    first_seed = (llm.calls, llm.tokens, seconds, "-", "-")
    later_seed = []
    for mention in range(1, 4):  # identical cost every time; three samples are enough
        llm.calls = llm.tokens = 0
        thread = copy_thread(full[:first_len + mention * NEW_PER_MENTION])
        _, seconds = measure(lambda t=thread: seed_method(t, counter, llm, chunk_chars))
        later_seed.append((llm.calls, llm.tokens, seconds))
    rows.append(("seed: char chunks, recompute", first_seed, later_seed))

    # Drop-oldest: no LLM calls, but everything older than the threshold is lost.
    thread = copy_thread(full[:first_len])
    kept, seconds = measure(lambda: drop_oldest(thread, counter, THRESHOLD))
    rows.append((f"drop-oldest (keeps {len(kept)}/{len(thread)} msgs)", (0, 0, seconds, "-", "-"),
                 [(0, 0, measure(lambda: drop_oldest(copy_thread(full[:first_len + 5]), counter, THRESHOLD))[1])]))
    return rows


def main() -> None:
    counter = counter_for("gpt-4o")
    budget = history_budget(ModelSpec(name="gpt-4o", context_tokens=CONTEXT, max_output_tokens=MAX_OUTPUT),
                            SummarizationSpec(threshold_tokens=THRESHOLD), counter, PERSONA)
    settings = RSFSettings.from_spec(SummarizationSpec(threshold_tokens=THRESHOLD), budget.threshold_tokens)
    print(f"threshold {budget.threshold_tokens}, context {budget.context_tokens}, history budget "
          f"{budget.history_tokens}, chunk {settings.chunk_tokens}, max depth {settings.max_depth}, "
          f"recent share {settings.recent_share}, summary cap {settings.summary_cap}; fake LLM ~100 words/summary")
    print(f"(b): {LATER_MENTIONS} successive mentions, {NEW_PER_MENTION} new messages each; the bound of 2 calls holds "
          f"while a mention adds < chunk/max depth = {settings.chunk_tokens // settings.max_depth} tokens to the "
          "summarized part (+N/mention: the most seen)")
    header = (f"{'thread':>9} | {'method':<34} | {'(a) calls':>9} {'(a) tokens':>10} {'(a) s':>7} {'lvls':>4} | "
              f"{'(b) calls mean/max':>18} {'(b) tokens mean':>15} {'(b) s mean':>10} | {'(b) fewer tokens':>16}")
    print(header)
    print("-" * len(header))
    for target in SIZES:
        rows = bench_size(target, counter, settings)
        recompute = statistics.mean(t for _, t, _ in rows[1][2])  # the seed's cost of a later mention
        for name, first, later in rows:
            calls = [c for c, _, _ in later]
            toks = statistics.mean(t for _, t, _ in later)
            secs = statistics.mean(s for _, _, s in later)
            ratio = f"{recompute / toks:.1f}x" if toks else "-"
            print(f"{target:>9,} | {name:<34} | {first[0]:>9} {first[1]:>10,} {first[2]:>7.2f} {first[3]:>4} | "
                  f"{statistics.mean(calls):>11.2f}/{max(calls):<6} {toks:>15,.0f} {secs:>10.3f} | {ratio:>16}")
        print("-" * len(header))

if __name__ == "__main__":
    main()

"""Bot overhead on loopback: envelope sent → final chat.update, with an instant fake LLM.

The bot runs as a real `h1bot-bot --spec` subprocess (its RSS is its own); the fake Slack and the fake OpenAI run
in this process. Each mention is in its own 200-message thread (199 messages, then the mention), so every reply
reads 200 messages through conversations.replies and counts their tokens.

    .venv/bin/python bench/bot_latency.py [--sequential 200] [--concurrent 50]
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.tiktoken_offline import seed_tiktoken_cache  # noqa: E402

THREAD_LENGTH = 200
PEOPLE = [("UALICE", "Alice"), ("UBOB", "Bob"), ("UCAROL", "Carol"), ("UDAVE", "Dave")]

SPEC = {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "metadata": {"name": "bench"},
        "spec": {"model": {"name": "gpt-4o-mini", "maxOutputTokens": 512},
                 "secrets": {"slackBotToken": {"name": "s", "key": "b"}, "slackAppToken": {"name": "s", "key": "a"},
                             "openAIAPIKey": {"name": "s", "key": "o"}}}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def make_thread(slack: FakeSlack, channel: str, n: int) -> str:
    root = slack.say(channel, "UALICE", "Thread opener: our deploys are failing, let's collect what we know.")
    for i in range(1, n - 1):
        user = PEOPLE[i % len(PEOPLE)][0]
        slack.say(channel, user, f"Message {i}: checked node pool {i % 7}, pods restarted {i} times, "
                                 f"see <https://logs.example/{i}|logs>.", thread_ts=root["ts"])
    return root["ts"]


def bot_files(slack: FakeSlack, llm: FakeOpenAI, manifest: dict = SPEC) -> tuple[Path, dict[str, str]]:
    """The benchmark bot's manifest (in a fresh temporary folder) and its environment, pointed at the fakes."""
    workdir = Path(tempfile.mkdtemp(prefix="h1bot-bench-"))
    spec_path = workdir / "slackbot.yaml"
    spec_path.write_text(yaml.safe_dump(manifest))
    env = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
           "OPENAI_API_KEY": llm.api_key, "SLACK_API_URL": slack.api_url, "OPENAI_BASE_URL": llm.base_url,
           "H1BOT_HTTP_PORT": "0", "LOG_LEVEL": "WARNING"}
    return spec_path, env


class FinalUpdates:
    """Futures resolved by the fake Slack's call hook when a chat.update carries the expected final text."""

    def __init__(self, slack: FakeSlack):
        self.waiting: dict[str, asyncio.Future] = {}
        slack.call_hooks.append(self._on_call)

    def _on_call(self, call) -> None:
        future = self.waiting.get(call.params.get("text", "")) if call.method == "chat.update" else None
        if future is not None and not future.done():
            future.set_result(call)

    def expect(self, text: str) -> asyncio.Future:
        self.waiting[text] = asyncio.get_running_loop().create_future()
        return self.waiting[text]


async def mention_and_wait(slack: FakeSlack, updates: FinalUpdates, channel: str, thread_ts: str,
                           label: str) -> tuple[float, bool]:
    """Latency from envelope sent to the reply's final chat.update, and whether the reply is right."""
    expected = f"Answer to: Alice (UALICE): question {label}"
    final = updates.expect(expected)
    _, envelope_id = await slack.mention(channel, "UALICE", f"question {label}", thread_ts=thread_ts)
    sent = slack.envelopes[envelope_id].sent_at
    try:
        call = await asyncio.wait_for(final, 30)
    except TimeoutError:
        return float("nan"), False
    replies = slack.bot_replies(channel, thread_ts)
    return call.at - sent, len(replies) == 1 and replies[0]["text"] == expected


async def run(sequential: int, concurrent: int) -> None:
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")
    async with FakeSlack() as slack, FakeOpenAI() as llm:
        for user_id, name in PEOPLE:
            slack.add_user(user_id, name)
        spec_path, env = bot_files(slack, llm)
        # BENCH_PROFILE=out.prof runs the bot under cProfile (written when it exits after SIGTERM).
        command = [str(Path(sys.executable).parent / "h1bot-bot")]
        if os.environ.get("BENCH_PROFILE"):
            command = [sys.executable, "-m", "cProfile", "-o", os.environ["BENCH_PROFILE"], command[0]]
        bot = await asyncio.create_subprocess_exec(*command, "--spec", str(spec_path), env=env, cwd=REPO)
        try:
            await slack.wait_for(lambda: slack.connected, timeout=30)
            updates = FinalUpdates(slack)
            threads = [make_thread(slack, f"C{i:04d}", THREAD_LENGTH) for i in range(5 + sequential + concurrent)]
            for i in range(5):  # warm-up: connections, name cache, tokenizer
                await mention_and_wait(slack, updates, f"C{i:04d}", threads[i], f"warmup-{i}")
            rss_idle = psutil.Process(bot.pid).memory_info().rss

            seq = [await mention_and_wait(slack, updates, f"C{i:04d}", threads[i], f"seq-{i}")
                   for i in range(5, 5 + sequential)]
            seq_ms = [latency * 1000 for latency, _ in seq]
            seq_errors = sum(1 for _, ok in seq if not ok)

            start = 5 + sequential
            started = time.perf_counter()
            conc = await asyncio.gather(*(mention_and_wait(slack, updates, f"C{i:04d}", threads[i], f"conc-{i}")
                                          for i in range(start, start + concurrent)))
            wall = time.perf_counter() - started
            conc_ms = [latency * 1000 for latency, _ in conc]
            conc_errors = sum(1 for _, ok in conc if not ok)
            rss_peak = psutil.Process(bot.pid).memory_info().rss
            try:  # the echoes of the last updates are still on their way: give them a moment
                await slack.wait_for(lambda: all(e.acked_at for e in slack.envelopes.values()), timeout=5)
            except TimeoutError:
                pass
            unacked = sum(1 for e in slack.envelopes.values() if e.acked_at is None)
        finally:
            bot.terminate()
            code = await asyncio.wait_for(bot.wait(), 30)

    print(f"bot: h1bot-bot subprocess, {THREAD_LENGTH}-message threads, instant fake LLM, fakes on loopback")
    print(f"sequential ({sequential} mentions): p50 {percentile(seq_ms, 50):.1f} ms, "
          f"p95 {percentile(seq_ms, 95):.1f} ms, max {max(seq_ms):.1f} ms, mean {statistics.mean(seq_ms):.1f} ms, "
          f"errors {seq_errors}")
    print(f"concurrent ({concurrent} threads at once): p50 {percentile(conc_ms, 50):.1f} ms, "
          f"p95 {percentile(conc_ms, 95):.1f} ms, max {max(conc_ms):.1f} ms, wall {wall * 1000:.0f} ms, "
          f"errors {conc_errors}")
    print(f"unacked envelopes: {unacked}; bot RSS idle after warm-up {rss_idle / 2**20:.1f} MiB, "
          f"after the runs {rss_peak / 2**20:.1f} MiB; exit code after SIGTERM {code}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.sequential, args.concurrent))


if __name__ == "__main__":
    main()

"""The bot's memory: resident set when idle after start, and its peak answering in 200-message threads.

The bot runs as a real `h1bot-bot --spec` subprocess against the fake Slack and the fake OpenAI (in this process);
RSS is read from /proc (VmRSS now, VmHWM the high-water mark, reset after the idle reading).
Targets (issue 11): idle <= 75 MB, peak <= 110 MB.

    .venv/bin/python bench/bot_memory.py [--threads 20]
"""

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bot_latency import PEOPLE, THREAD_LENGTH, bot_files, make_thread  # noqa: E402
from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.tiktoken_offline import seed_tiktoken_cache  # noqa: E402


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid`, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> None:
    """Reset VmHWM (Linux's clear_refs), so that the next reading is the peak from now on."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def run(threads: int) -> None:
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")
    async with FakeSlack() as slack, FakeOpenAI() as llm:
        for user_id, name in PEOPLE:
            slack.add_user(user_id, name)
        spec_path, env = bot_files(slack, llm)
        bot = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec",
                                                   str(spec_path), env=env, cwd=spec_path.parent)
        try:
            await slack.wait_for(lambda: slack.connected, timeout=60)
            await asyncio.sleep(1.0)  # let start-up settle (the health check's first run)
            idle = memory(bot.pid)
            reset_peak(bot.pid)
            for i in range(threads):
                channel = f"C{i:04d}"
                root = make_thread(slack, channel, THREAD_LENGTH)
                await slack.mention(channel, "UALICE", f"question {i}", thread_ts=root)
                await slack.wait_for_replies(channel, root, timeout=60)
            answered = memory(bot.pid)
        finally:
            bot.terminate()
            await asyncio.wait_for(bot.wait(), 30)
    print(f"bot: h1bot-bot --spec subprocess, fakes on loopback, {threads} mentions in {THREAD_LENGTH}-message threads")
    print(f"start-up high-water mark (the encoding loaded once to check it and count the prompts, then released): "
          f"{idle['VmHWM']:.1f} MiB")
    print(f"idle after start: RSS {idle['VmRSS']:.1f} MiB (target <= 75 MB); peak while answering (VmHWM) "
          f"{answered['VmHWM']:.1f} MiB (target <= 110 MB); RSS after the answers {answered['VmRSS']:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=20)
    asyncio.run(run(parser.parse_args().threads))


if __name__ == "__main__":
    main()

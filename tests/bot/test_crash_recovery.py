"""Scenario: the bot is killed (SIGKILL) in the middle of a reply; the next bot marks that reply as interrupted
when it next reads the thread, and never passes the cut text to the model as what the bot said."""

import asyncio
import os
import signal
import sys
from pathlib import Path

from h1bot_bot.adapters.streaming import TYPING_MARK
from h1bot_bot.core.conversation import BotIdentity, build_chat, interrupted_replies, reply_metadata
from tests.bot.conftest import write_manifest
from tests.fakes.openai import Reply
from tests.paths import REPO


async def start_bot_process(fake_slack, fake_openai, spec: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
           "OPENAI_API_KEY": fake_openai.api_key, "SLACK_API_URL": fake_slack.api_url,
           "OPENAI_BASE_URL": fake_openai.base_url, "H1BOT_HTTP_PORT": "0", "H1BOT_UPDATE_INTERVAL": "0.1"}
    bot = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec", str(spec),
                                               env=env, stderr=asyncio.subprocess.DEVNULL, cwd=REPO)
    await fake_slack.wait_for(lambda: fake_slack.connected, timeout=20)
    return bot


async def stop(bot: asyncio.subprocess.Process) -> None:
    if bot.returncode is None:
        bot.kill()
        await bot.wait()


async def test_a_reply_cut_by_a_crash_is_marked_and_never_read_as_the_bots_turn(fake_slack, fake_openai, tmp_path):
    spec = write_manifest(tmp_path)
    first = await start_bot_process(fake_slack, fake_openai, spec)
    try:
        fake_openai.script(Reply("step " * 200, chunk_chars=10, chunk_delay=0.05))  # ~5 s of streaming
        question, _ = await fake_slack.mention("C1", "UALICE", "walk me through it")
        [partial] = await fake_slack.wait_for(lambda: [m for m in fake_slack.bot_replies("C1", question["ts"])
                                                       if m["text"].startswith("step") and
                                                       m["text"].endswith(TYPING_MARK)], timeout=10)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    finally:
        await stop(first)
    await fake_slack.wait_for(lambda: not fake_slack.connected)
    assert fake_slack.find("C1", partial["ts"])["text"].endswith(TYPING_MARK)  # what a crash leaves behind

    second = await start_bot_process(fake_slack, fake_openai, spec)
    try:
        fake_openai.script("Here is the whole walk-through.")
        await fake_slack.mention("C1", "UBOB", "so what are the steps?", thread_ts=question["ts"])
        await fake_slack.wait_for(lambda: any(m["text"] == "Here is the whole walk-through."
                                              for m in fake_slack.bot_replies("C1", question["ts"])), timeout=10)
        marked = await fake_slack.wait_for(lambda: [m for m in [fake_slack.find("C1", partial["ts"])]
                                                    if "Interrupted" in m["text"]])
    finally:
        await stop(second)
    assert marked[0]["text"].startswith("step step")
    assert not marked[0]["text"].startswith(TYPING_MARK.strip()) and TYPING_MARK not in marked[0]["text"]
    assert marked[0]["text"].endswith("_:warning: Interrupted: the bot restarted before it finished this answer. "
                                      "Please ask again._")
    assert marked[0]["metadata"]["event_payload"]["state"] == "interrupted"
    seen = fake_openai.chat_requests[-1].messages
    assert [m["role"] for m in seen] == ["system", "user", "user"]  # the cut reply is not the bot's turn
    assert not any("step step" in m["content"] for m in seen)


BOT = BotIdentity("UBOT", "BBOT")


def reply(ts: str, state: str, owner: str, until: float = 2_000_000_000) -> dict:
    return {"ts": ts, "user": "UBOT", "bot_id": "BBOT", "text": "half …",
            "metadata": reply_metadata(state, owner, until)}


def test_only_replies_nobody_will_finish_are_interrupted():
    thread = [{"ts": "1.0", "user": "UALICE", "text": "q"},
              reply("2.0", "streaming", "pod-a/7"),  # this process (a placeholder whose ts is not known yet)
              reply("3.0", "streaming", "pod-a/1"),  # the previous process in this pod
              reply("4.0", "streaming", "pod-b/1"),  # another pod, still within its time: maybe alive
              reply("5.0", "streaming", "pod-c/1", until=100),  # another pod, past its time
              reply("6.0", "done", "pod-a/1"),
              reply("7.0", "streaming", "pod-a/7")]  # being written right now
    found = interrupted_replies(thread, BOT, owner="pod-a/7", now=1000, in_flight={"7.0"})
    assert [m["ts"] for m in found] == ["3.0", "5.0"]
    late = interrupted_replies(thread, BOT, owner="pod-a/7", now=3_000_000_000, in_flight={"7.0"})
    assert [m["ts"] for m in late] == ["2.0", "3.0", "4.0", "5.0"]  # past their time, whoever wrote them
    chat = build_chat("persona", thread, BOT, {})
    assert [m["role"] for m in chat] == ["system", "user", "assistant"]  # only the finished reply

"""Scenarios for operators: health and metrics endpoints, logs, start-up errors, SIGTERM with replies in flight."""

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from h1bot_bot.app import RunningBot, run_bot
from h1bot_bot.logs import JsonFormatter
from tests.bot.conftest import bot_settings, write_manifest
from tests.fakes.openai import Reply
from tests.fakes.waiting import eventually
from tests.paths import REPO


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def metric(text: str, line_start: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


async def test_health_readiness_and_metrics(running_bot, fake_slack, fake_openai):
    port = running_bot.http_port
    assert await get(port, "/healthz") == (200, "ok\n")
    assert await get(port, "/readyz") == (200, "ready\n")
    fake_openai.script(Reply("fine, thanks", first_token_delay=0.05))
    question, _ = await fake_slack.mention("C1", "UALICE", "how are you?")
    assert await fake_slack.wait_for_texts("C1", question["ts"]) == ["fine, thanks"]
    fake_openai.api_key = "sk-wrong"
    failing, _ = await fake_slack.mention("C1", "UALICE", "again?")
    [error] = await fake_slack.wait_for_texts("C1", failing["ts"])
    assert "401" in error
    # The reply's final text is in Slack a moment before the bot counts the reply as done.
    counted = running_bot.metrics.registry.get_sample_value
    await eventually(lambda: (counted("h1bot_replies_total", {"outcome": "answered"}),
                              counted("h1bot_replies_total", {"outcome": "error"})) == (1, 1),
                     message="both replies counted")
    status, text = await get(port, "/metrics")
    assert status == 200
    assert metric(text, 'h1bot_mentions_total{kind="mention"}') == 2
    assert metric(text, 'h1bot_replies_total{outcome="answered"}') == 1
    assert metric(text, 'h1bot_replies_total{outcome="error"}') == 1
    assert metric(text, 'h1bot_errors_total{kind="auth"}') == 1
    assert metric(text, 'h1bot_tokens_total{direction="in",model="gpt-4o-mini"}') > 0
    assert metric(text, 'h1bot_tokens_total{direction="out",model="gpt-4o-mini"}') > 0
    assert metric(text, 'h1bot_llm_time_to_first_token_seconds_count{model="gpt-4o-mini"}') == 1
    assert metric(text, 'h1bot_llm_time_to_first_token_seconds_sum{model="gpt-4o-mini"}') >= 0.05
    assert metric(text, 'h1bot_llm_latency_seconds_count{model="gpt-4o-mini"}') == 1
    await running_bot.slack_app.stop_receiving()
    assert (await get(port, "/readyz"))[0] == 503


async def test_event_log_lines_carry_ids_and_never_secrets(running_bot, fake_slack, fake_openai, caplog):
    caplog.set_level(logging.INFO)
    question, _ = await fake_slack.mention("C1", "UALICE", "hi")
    await fake_slack.wait_for_replies("C1", question["ts"])
    await fake_slack.wait_for(lambda: any(r.getMessage() == "mention handled" for r in caplog.records))
    record = next(r for r in caplog.records if r.getMessage() == "mention handled")
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "mention handled" and line["event_id"].startswith("Ev")
    assert (line["channel"], line["thread_ts"], line["outcome"]) == ("C1", question["ts"], "answered")
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in (fake_slack.bot_token, fake_slack.app_token, fake_openai.api_key):
        assert secret not in everything


async def test_bad_manifest_stops_start_up_with_a_clear_message(fake_slack, fake_openai, tmp_path, caplog):
    path = tmp_path / "slackbot.yaml"
    path.write_text("apiVersion: chatops.h1bot.dev/v1alpha1\nkind: SlackBot\nspec:\n  model: {name: ''}\n")
    code = await run_bot(bot_settings(fake_slack, fake_openai, path), asyncio.Event())
    assert code == 2
    assert "invalid SlackBot in" in caplog.text and "spec.model.name" in caplog.text


async def test_rejected_slack_token_stops_start_up_with_a_clear_message(fake_slack, fake_openai, tmp_path,
                                                                        caplog):
    settings = bot_settings(fake_slack, fake_openai, write_manifest(tmp_path), slack_bot_token="xoxb-revoked")
    assert await run_bot(settings, asyncio.Event()) == 2
    assert "Slack rejected SLACK_BOT_TOKEN (auth.test: invalid_auth)" in caplog.text
    assert "xoxb-revoked" not in caplog.text


async def test_in_process_stop_finishes_replies_in_flight(fake_slack, fake_openai, tmp_path):
    runtime = RunningBot(bot_settings(fake_slack, fake_openai, write_manifest(tmp_path)))
    await runtime.start()
    fake_openai.script(Reply("a careful answer " * 10, chunk_chars=17, chunk_delay=0.05))
    question, _ = await fake_slack.mention("C1", "UALICE", "take your time")
    await fake_slack.wait_for(lambda: fake_slack.bot_replies("C1", question["ts"]))
    cancelled = await runtime.stop()
    assert cancelled == 0
    assert fake_slack.bot_replies("C1", question["ts"])[0]["text"] == ("a careful answer " * 10).strip()
    assert not fake_slack.connected


async def test_drain_is_bounded_and_says_so_in_the_thread(fake_slack, fake_openai, tmp_path):
    runtime = RunningBot(bot_settings(fake_slack, fake_openai, write_manifest(tmp_path), drain_timeout=30))
    await runtime.start()
    fake_openai.script(Reply("never finished", first_token_delay=30))
    question, _ = await fake_slack.mention("C1", "UALICE", "this will take long")
    await fake_slack.wait_for(lambda: fake_slack.bot_replies("C1", question["ts"]))
    started = time.monotonic()
    assert await runtime.stop(drain_timeout=0.2) == 1
    assert time.monotonic() - started < 5  # bounded by the 0.2 s asked for: not the 30 s default nor the answer
    assert "restarted before I could finish" in fake_slack.bot_replies("C1", question["ts"])[0]["text"]


async def test_sigterm_finishes_the_reply_in_flight_and_exits_0(fake_slack, fake_openai, tmp_path):
    spec = write_manifest(tmp_path)
    env = {**os.environ, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
           "OPENAI_API_KEY": fake_openai.api_key, "SLACK_API_URL": fake_slack.api_url,
           "OPENAI_BASE_URL": fake_openai.base_url, "H1BOT_HTTP_PORT": "0", "H1BOT_UPDATE_INTERVAL": "0.1",
           "LOG_FORMAT": "json"}
    bot = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec", str(spec),
                                               env=env, stderr=asyncio.subprocess.PIPE, cwd=REPO)
    try:
        await fake_slack.wait_for(lambda: fake_slack.connected, timeout=15)
        fake_openai.script(Reply("step " * 40, chunk_chars=10, chunk_delay=0.1))  # ~2 s of streaming
        question, _ = await fake_slack.mention("C1", "UALICE", "walk me through it")
        await fake_slack.wait_for(lambda: fake_openai.chat_requests)
        bot.send_signal(signal.SIGTERM)
        await fake_slack.wait_for(lambda: not fake_slack.connected)  # no new events from now on
        code = await asyncio.wait_for(bot.wait(), 15)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    logs = [json.loads(line) for line in (await bot.stderr.read()).decode().splitlines() if line.startswith("{")]
    assert code == 0
    assert fake_slack.bot_replies("C1", question["ts"])[0]["text"] == ("step " * 40).strip()
    messages = [line["message"] for line in logs]
    assert "stopping: no new events; finishing 1 reply in flight" in messages
    assert messages[-1] == "stopped"

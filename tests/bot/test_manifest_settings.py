"""A bot run from a manifest (`h1bot-bot --spec`) takes spec.slack and spec.logging from it, as the operator would
render them in a cluster; the environment wins where it sets a variable. Its JSON logs are Cloud Logging's."""

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest

from h1bot_bot.config import SettingsError, load_settings, parse_args
from tests.bot.conftest import write_manifest
from tests.fakes.openai import Reply
from tests.fakes.proxy import FakeProxy
from tests.paths import REPO

CREDENTIALS = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "OPENAI_API_KEY": "sk-1"}
TYPED = {"slack": {"streaming": "native", "updateIntervalSeconds": 0.25}, "logging": {"format": "json",
                                                                                      "level": "DEBUG"}}


def from_manifest(tmp_path: Path, env: dict[str, str], spec: dict | None = None):
    return load_settings({**CREDENTIALS, **env}, parse_args(["--spec", str(write_manifest(tmp_path, spec))]))


def test_the_manifests_typed_fields_set_the_bot_up(tmp_path):
    settings = from_manifest(tmp_path, {}, TYPED)
    assert (settings.slack_streaming, settings.update_interval) == ("native", 0.25)
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


def test_a_variable_set_in_the_environment_wins_over_the_manifest(tmp_path):
    settings = from_manifest(tmp_path, {"LOG_FORMAT": "text", "H1BOT_SLACK_STREAMING": "update", "LOG_LEVEL": ""},
                             TYPED)
    assert (settings.log_format, settings.slack_streaming) == ("text", "update")
    assert (settings.log_level, settings.update_interval) == ("DEBUG", 0.25), "an empty variable sets nothing"


def test_without_typed_fields_the_bot_keeps_its_defaults(tmp_path):
    settings = from_manifest(tmp_path, {})
    assert (settings.slack_streaming, settings.update_interval, settings.log_format, settings.log_level) == (
        "update", 1.0, "text", "INFO")


def test_a_broken_manifest_leaves_the_settings_alone_for_the_bot_to_report(tmp_path):
    broken = {**TYPED, "model": {"name": ""}}
    assert from_manifest(tmp_path, {}, broken).log_format == "text"
    assert load_settings(CREDENTIALS, parse_args(["--spec", str(tmp_path / "missing.yaml")])).log_format == "text"


def test_an_unknown_log_level_is_refused_with_the_variable_named(tmp_path):
    with pytest.raises(SettingsError, match="LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'loud'"):
        from_manifest(tmp_path, {"LOG_LEVEL": "loud"})


async def test_a_bot_from_a_manifest_asking_for_json_logs_and_native_streaming(fake_slack, fake_openai, tmp_path):
    """`h1bot-bot --spec` as a user runs it, with no LOG_FORMAT or H1BOT_SLACK_STREAMING in its environment."""
    spec = write_manifest(tmp_path, {"slack": {"streaming": "native", "updateIntervalSeconds": 0.1},
                                     "logging": {"format": "json"}})
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "LOG_LEVEL", "H1BOT_SLACK_STREAMING")}
    env |= {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
            "OPENAI_API_KEY": fake_openai.api_key, "SLACK_API_URL": fake_slack.api_url,
            "OPENAI_BASE_URL": fake_openai.base_url, "H1BOT_HTTP_PORT": "0"}
    bot = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec", str(spec),
                                               env=env, stderr=asyncio.subprocess.PIPE, cwd=REPO)
    try:
        await fake_slack.wait_for(lambda: fake_slack.connected, timeout=15)
        fake_openai.script(Reply("**Restart** the pod.", chunk_chars=4))
        question, _ = await fake_slack.mention("C1", "UALICE", "how to fix?")
        replies = await fake_slack.wait_for_replies("C1", question["ts"], timeout=15)
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 15)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert code == 0
    assert [m["text"] for m in replies] == ["**Restart** the pod."]
    assert fake_slack.calls_to("chat.startStream"), "native streaming, as the manifest asked"

    lines = (await bot.stderr.read()).decode().splitlines()
    logs = [json.loads(line) for line in lines]  # every line is JSON: nothing printed as text
    assert logs and all({"severity", "message", "time"} <= line.keys() for line in logs)
    assert {line["severity"] for line in logs} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert all(datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0 for line in logs)
    assert all(line["time"].endswith("Z") for line in logs)
    handled = next(line for line in logs if line["message"] == "mention handled")
    assert handled["severity"] == "INFO" and handled["event_id"].startswith("Ev")
    assert (handled["channel"], handled["thread_ts"], handled["outcome"]) == ("C1", question["ts"], "answered")


async def test_a_bot_behind_a_proxy_reaches_slack_and_openai_through_it(fake_slack, fake_openai, tmp_path):
    """HTTPS_PROXY/HTTP_PROXY as spec.template.env puts them into the bot container: every client honours them."""
    spec = write_manifest(tmp_path)
    async with FakeProxy() as proxy:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
        env |= {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
                "OPENAI_API_KEY": fake_openai.api_key, "SLACK_API_URL": fake_slack.api_url,
                "OPENAI_BASE_URL": fake_openai.base_url, "H1BOT_HTTP_PORT": "0",
                # The fakes speak plain HTTP, for which clients read HTTP_PROXY; Slack's client reads HTTPS_PROXY first.
                "HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url}
        bot = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec",
                                                   str(spec), env=env, stderr=asyncio.subprocess.PIPE, cwd=REPO)
        try:
            await fake_slack.wait_for(lambda: fake_slack.connected, timeout=15)
            fake_openai.script("Through the proxy.")
            question, _ = await fake_slack.mention("C1", "UALICE", "are you behind a proxy?")
            replies = await fake_slack.wait_for_replies("C1", question["ts"], timeout=15)
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), 15) == 0
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
    assert [m["text"] for m in replies] == ["Through the proxy."]
    through = {(method, url.split("?")[0]) for method, url in proxy.requests}
    assert ("POST", fake_slack.api_url + "apps.connections.open") in through
    socket_url = f"ws://127.0.0.1:{fake_slack.port}/socket/"
    assert any(method == "GET" and url.startswith(socket_url) for method, url in through), through
    assert ("POST", f"{fake_openai.base_url.rstrip('/')}/chat/completions") in through
    assert any(url.startswith(fake_slack.api_url + "chat.") for _, url in through), through

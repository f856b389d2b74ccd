"""Fixtures for bot scenarios: a fake Slack, a fake OpenAI, and a real bot (in-process) wired to both on loopback."""

import contextlib
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml

from h1bot_bot.app import RunningBot, load_manifest
from h1bot_bot.config import Settings
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack

BASE_SPEC = {
    "model": {"name": "gpt-4o-mini", "maxOutputTokens": 512, "temperature": 0.3},
    "persona": {"systemPrompt": "You are the platform team's helpdesk bot."},
    "secrets": {"slackBotToken": {"name": "creds", "key": "bot"}, "slackAppToken": {"name": "creds", "key": "app"},
                "openAIAPIKey": {"name": "creds", "key": "openai"}},
}


def manifest(spec_overrides: dict | None = None) -> dict:
    spec = {**BASE_SPEC, **(spec_overrides or {})}
    return {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
            "metadata": {"name": "helpdesk", "namespace": "default"}, "spec": spec}


def write_manifest(directory: Path, spec_overrides: dict | None = None) -> Path:
    path = directory / "slackbot.yaml"
    path.write_text(yaml.safe_dump(manifest(spec_overrides)))
    return path


def bot_settings(slack: FakeSlack, llm: FakeOpenAI, spec_path: Path | None, **overrides) -> Settings:
    """Settings for a bot against the fakes, with timings shrunk for tests (no `spec_path`: from the cluster).
    The model timeout, the drain and the websocket heartbeat (aiohttp drops the socket when a pong is half an
    interval late) stay generous: a loaded machine must not turn a slow answer into a failure."""
    values = dict(slack_bot_token=slack.bot_token, slack_app_token=slack.app_token, openai_api_key=llm.api_key,
                  spec_path=str(spec_path) if spec_path else None, http_host="127.0.0.1", http_port=0,
                  slack_api_url=slack.api_url,
                  openai_base_url=llm.base_url, update_interval=0.05, llm_timeout=10.0, llm_attempts=3,
                  llm_backoff=0.01, llm_backoff_max=0.05, drain_timeout=10.0, socket_ping_interval=5.0)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_user("UALICE", "Alice")
        slack.add_user("UBOB", "Bob", real_name="Robert Builder")
        yield slack



@pytest.fixture
def start_bot(fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path) -> Callable:
    """`async with start_bot(spec_overrides, **settings) as bot:` runs a real bot against the fakes."""

    @contextlib.asynccontextmanager
    async def start(spec_overrides: dict | None = None, **settings_overrides) -> AsyncIterator[RunningBot]:
        path = write_manifest(tmp_path, spec_overrides)
        runtime = RunningBot(bot_settings(fake_slack, fake_openai, path, **settings_overrides))
        async with runtime:
            await fake_slack.wait_for(lambda: fake_slack.connected)
            yield runtime

    return start


@pytest.fixture
async def running_bot(start_bot) -> AsyncIterator[RunningBot]:
    async with start_bot() as bot:
        yield bot


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


__all__ = ["BASE_SPEC", "bot_settings", "dedent", "load_manifest", "manifest", "write_manifest"]

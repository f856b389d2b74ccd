"""Fixtures of the terminal chat's scenarios: a manifest without `secrets`, the environment pointing at the fake."""

import os
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

H1BOT = str(Path(sys.executable).with_name("h1bot"))
ADMIN = "U0123ADMIN"
PERSONA = "You are the platform team's helpdesk bot."


def write_spec(directory: Path, **overrides) -> Path:
    spec = {"model": {"name": "gpt-4o-mini", "maxOutputTokens": 512, "temperature": 0.3},
            "persona": {"systemPrompt": PERSONA}, "access": {"admins": [ADMIN]}, **overrides}
    path = directory / "slackbot.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
                                    "metadata": {"name": "helpdesk"}, "spec": spec}))
    return path


def chat_environment(llm, home: Path) -> dict[str, str]:
    """`h1bot chat`'s environment: this one's, pointed at the fake OpenAI `llm`, with `home` as HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "TIKTOKEN"))}
    env.update(OPENAI_API_KEY=llm.api_key, OPENAI_BASE_URL=llm.base_url, HOME=str(home),
               TIKTOKEN_CACHE_DIR=str(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache"))
    return env


@pytest.fixture
def chat_env(tmp_path, fake_openai):
    return chat_environment(fake_openai, tmp_path)

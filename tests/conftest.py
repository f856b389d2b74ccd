"""Session-wide test setup shared by every component's tests."""

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.tiktoken_offline import seed_tiktoken_cache


def pytest_configure(config):
    # Real tiktoken with OpenAI's encodings, no network: seeded once per session, before any test imports a model.
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """An OpenAI-compatible server on loopback, reached through the real client's base_url."""
    async with FakeOpenAI() as llm:
        yield llm

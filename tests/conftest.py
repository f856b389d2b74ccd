"""Session-wide test setup shared by every component's tests."""

import tempfile
from pathlib import Path

from tests.fakes.tiktoken_offline import seed_tiktoken_cache


def pytest_configure(config):
    # Real tiktoken with OpenAI's encodings, no network: seeded once per session, before any test imports a model.
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")

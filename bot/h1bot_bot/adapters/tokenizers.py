"""The models' real tokenizers (tiktoken), loaded when a count needs them and released when idle.

tiktoken reads an encoding from `TIKTOKEN_CACHE_DIR` (the bot image bakes the files in) or downloads it. An encoding
costs about 45 MB resident (o200k_base), so `Tokenizers` loads it on the first count that no memo and no byte bound
can answer (core/tokens.py), and `release()` drops it: the start-up check loads each encoding once, counts the
system prompts (kept in the memo) and releases it, so an idle bot holds no tokenizer and a thread whose UTF-8
bytes fit the threshold never loads one.
"""

import asyncio
import gc

import tiktoken
import tiktoken.registry

from h1bot_bot.core.history import CountTokens
from h1bot_bot.core.tokens import DEFAULT_ENCODING, Encoding, EncodingUnavailable, TokenCounter


def encoding_name_for(model: str) -> str:
    """tiktoken's encoding for `model`; names tiktoken does not know (new or self-hosted models) get o200k_base."""
    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING


def load_encoding(name: str) -> Encoding:
    """The encoding `name`, loaded now (not kept in tiktoken's registry: the caller decides how long it lives);
    `EncodingUnavailable` when it cannot load."""
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception as exc:  # network errors, hash mismatch, unreadable cache: all mean "cannot count tokens"
        raise EncodingUnavailable(
            f"cannot load the tiktoken encoding {name!r}: {type(exc).__name__}: {exc}. The bot needs the encoding "
            f"file in TIKTOKEN_CACHE_DIR (baked into the image at build time) or network access to download it."
        ) from exc
    finally:
        tiktoken.registry.ENCODINGS.pop(name, None)
    # tiktoken keeps a Python dict of the BPE ranks (~18 MB for o200k_base) only to pickle the encoding
    # (Encoding.__getstate__); the Rust core has its own copy. Nothing here pickles encodings: release it.
    if getattr(encoding, "_mergeable_ranks", None):
        encoding._mergeable_ranks = {}
    return encoding


class Tokenizers:
    """One TokenCounter per model, sharing one lazily loaded encoding per encoding name."""

    def __init__(self) -> None:
        self._counters: dict[str, TokenCounter] = {}
        self._encodings: dict[str, Encoding] = {}
        self.loads = 0  # encodings loaded so far (a test and `debug` can tell whether a tokenizer was needed)

    def counter(self, model: str) -> TokenCounter:
        if model not in self._counters:
            name = encoding_name_for(model)
            self._counters[model] = TokenCounter(model, name, lambda: self._encoding(name))
        return self._counters[model]

    def count_tokens(self, model: str) -> CountTokens:
        return self.counter(model).count_message

    def _encoding(self, name: str) -> Encoding:
        if name not in self._encodings:
            self._encodings[name] = load_encoding(name)
            self.loads += 1
        return self._encodings[name]

    async def load(self, model: str) -> None:
        """Load `model`'s encoding now, in a worker thread (the event loop keeps serving meanwhile)."""
        counter = self.counter(model)
        if not counter.loaded:
            await asyncio.to_thread(lambda: counter.encoding)

    async def load_if_needed(self, model: str, messages: list, threshold_tokens: int) -> None:
        """Load the encoding ahead of counting `messages` when their byte bound does not fit `threshold_tokens`
        (then the history must be counted exactly; otherwise no tokenizer is needed at all)."""
        counter = self.counter(model)
        if not counter.loaded and sum(counter.bound_message(m) for m in messages) > threshold_tokens:
            await self.load(model)

    @property
    def resident(self) -> list[str]:
        """The encodings in memory now."""
        return sorted(self._encodings)

    def release(self) -> None:
        """Drop every loaded encoding (memos stay); the next count that needs one loads it again."""
        for counter in self._counters.values():
            counter.release()
        self._encodings.clear()
        gc.collect()


def counter_for(model: str) -> TokenCounter:
    """A counter of its own for `model` (scripts and tests; the bot shares one `Tokenizers`)."""
    return Tokenizers().counter(model)

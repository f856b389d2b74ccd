"""Chunk summaries kept in memory, so a later mention in the same long thread only summarizes what is new.

Keyed by the sha256 of the chunk's text, the model, the prompt version, the level (levels use different prompts)
and the summary length asked for; bounded LRU with hit/miss counters.
"""

import hashlib
from collections import OrderedDict
from typing import NamedTuple

from h1bot_bot.core.prompts import PROMPT_VERSION


class SummaryKey(NamedTuple):
    content_sha256: str
    model: str
    prompt_version: str
    level: int
    max_tokens: int


class SummaryCache:
    def __init__(self, max_entries: int = 4096):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[SummaryKey, str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str, *, model: str, level: int, max_tokens: int,
            prompt_version: str = PROMPT_VERSION) -> SummaryKey:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return SummaryKey(digest, model, prompt_version, level, max_tokens)

    def get(self, key: SummaryKey) -> str | None:
        summary = self._entries.get(key)
        if summary is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return summary

    def put(self, key: SummaryKey, summary: str) -> None:
        self._entries[key] = summary
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def clear(self) -> None:
        self._entries.clear()

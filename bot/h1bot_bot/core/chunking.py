"""Pieces and chunks for recursive summarization: messages rendered as text, split when too big, packed in order.

Packing always starts from the oldest piece, so as a thread grows every chunk but the last keeps exactly the same
text, and its summary comes from the cache.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from h1bot_bot.core.tokens import MIN_SPLIT_TOKENS, TokenCounter

SEPARATOR = "\n\n"
SEPARATOR_TOKENS = 1  # "\n\n" between two pieces that neither start nor end with whitespace
_PART_MARK_RESERVE = 16
_MIN_TAIL_TOKENS = 64
CONTINUED_MARK = "[… the beginning of this long message is summarized above] "
_ROLE_LABELS = {"assistant": "Assistant", "system": "System", "developer": "System", "tool": "Tool"}
# The "who said it" prefix the bot puts in front of user messages: "Alice (U123): …".
_SPEAKER = re.compile(r"^[^\n:]{1,120}\([A-Z0-9]+\): ")


@dataclass(frozen=True)
class Piece:
    """A unit of text to summarize: a message, part of one, or a summary covering messages first..last."""

    text: str
    tokens: int
    first: int
    last: int
    part: int = 1
    parts: int = 1


@dataclass(frozen=True)
class Chunk:
    """Consecutive pieces sent together in one summarization call."""

    pieces: tuple[Piece, ...]
    text: str
    tokens: int  # sum of piece tokens plus separators: an upper bound of the text's real count

    @property
    def first(self) -> int:
        return self.pieces[0].first

    @property
    def last(self) -> int:
        return self.pieces[-1].last


def render_message(message: Mapping[str, Any]) -> str:
    """A message as a line of a transcript. User content already starts with who said it."""
    content = message.get("content")
    content = content if isinstance(content, str) else "" if content is None else str(content)
    role = str(message.get("role", "user"))
    label = _ROLE_LABELS.get(role)
    text = (f"{label}: {content}" if label else content).strip()
    return text or f"{label or 'User'}: (empty message)"


def speaker_prefix(content: str) -> str:
    """The leading "Name (U123): " of a user message, or ""."""
    match = _SPEAKER.match(content)
    return match.group(0) if match else ""


def message_pieces(messages: Iterable[tuple[int, Mapping[str, Any]]], counter: TokenCounter,
                   chunk_tokens: int) -> list[Piece]:
    """Pieces for (index, message) pairs, oldest first; a message bigger than a chunk becomes several parts."""
    pieces: list[Piece] = []
    for index, message in messages:
        text = render_message(message)
        tokens = counter.count_text(text)
        if tokens <= chunk_tokens:
            pieces.append(Piece(text, tokens, index, index))
            continue
        parts = [p.strip() for p in counter.split_text(text, chunk_tokens - _PART_MARK_RESERVE)]
        parts = [p for p in parts if p]
        for number, part in enumerate(parts, start=1):
            marked = f"[part {number}/{len(parts)}] {part}"
            marked_tokens = counter.count_text(marked)
            if marked_tokens > chunk_tokens:  # never seen; the reserve covers the mark
                marked = counter.truncate(marked, chunk_tokens)
                marked_tokens = counter.count_text(marked)
            pieces.append(Piece(marked, marked_tokens, index, index, number, len(parts)))
    return pieces


def pack(pieces: Sequence[Piece], chunk_tokens: int) -> list[Chunk]:
    """Greedy, in order, from the oldest: each chunk holds whole pieces totalling at most `chunk_tokens`."""
    chunks: list[Chunk] = []
    current: list[Piece] = []
    used = 0
    for piece in pieces:
        if piece.tokens > chunk_tokens:
            raise ValueError(f"a piece of {piece.tokens} tokens does not fit a {chunk_tokens}-token chunk")
        cost = piece.tokens + (SEPARATOR_TOKENS if current else 0)
        if current and used + cost > chunk_tokens:
            chunks.append(_chunk(current, used))
            current, used, cost = [], 0, piece.tokens
        current.append(piece)
        used += cost
    if current:
        chunks.append(_chunk(current, used))
    return chunks


def joined_tokens(pieces: Sequence[Piece]) -> int:
    """Tokens of the pieces joined with separators (upper-bound estimate, no encoding)."""
    return sum(p.tokens for p in pieces) + SEPARATOR_TOKENS * max(0, len(pieces) - 1)


def _chunk(pieces: list[Piece], tokens: int) -> Chunk:
    return Chunk(tuple(pieces), SEPARATOR.join(p.text for p in pieces), tokens)


def recent_budget(threshold_tokens: int, recent_share: float, reserve: int) -> int:
    """Most tokens the verbatim messages take, unless the newest message alone is longer."""
    return min(int(threshold_tokens * recent_share), threshold_tokens - reserve)


def select_recent(messages: Sequence[Mapping[str, Any]], counts: list[int], counter: TokenCounter,
                  threshold_tokens: int, recent_share: float,
                  reserve: int) -> tuple[list[tuple[int, Mapping[str, Any]]], list[dict]]:
    """(older (index, message) pairs to summarize, newest messages kept verbatim).

    The newest message is kept whole when it leaves room for the summary; otherwise its end is kept and its
    beginning summarized. Older messages join it while they fit `recent_share` of the threshold."""
    limit = threshold_tokens - reserve
    budget = recent_budget(threshold_tokens, recent_share, reserve)
    newest = len(messages) - 1
    if counts[newest] > limit:
        head, tail = split_newest(messages[newest], counter, max(budget, _MIN_TAIL_TOKENS))
        return [*enumerate(messages[:newest]), (newest, head)], [tail]
    start, used = newest, counts[newest]
    while start > 0 and used + counts[start - 1] <= budget:
        start -= 1
        used += counts[start]
    return list(enumerate(messages[:start])), [dict(m) for m in messages[start:]]


def split_newest(message: Mapping[str, Any], counter: TokenCounter, limit: int) -> tuple[dict, dict]:
    """The newest message cut in two: a head to summarize, a tail within `limit` tokens to keep verbatim."""
    content = str(message.get("content") or "")
    prefix = speaker_prefix(content)
    body = content[len(prefix):]
    lead = prefix + CONTINUED_MARK
    room = max(MIN_SPLIT_TOKENS, limit - counter.count_message({**message, "content": lead}) - 2)
    while True:
        parts = counter.split_text(body, room) or [""]
        keep, used = len(parts), 0
        while keep > 0 and used + counter.count_text(parts[keep - 1]) <= room:
            keep -= 1
            used += counter.count_text(parts[keep])
        keep = min(keep, len(parts) - 1)  # at least the last part
        tail = {**message, "content": lead + "".join(parts[keep:]).lstrip()}
        excess = counter.count_message(tail) - limit
        if excess <= 0 or room == MIN_SPLIT_TOKENS:
            return {**message, "content": prefix + "".join(parts[:keep])}, tail
        room = max(MIN_SPLIT_TOKENS, room - excess)

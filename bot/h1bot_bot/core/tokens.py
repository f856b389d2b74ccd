"""Token counting: chat-message overhead, splitting text by tokens, over any byte-level BPE `Encoding` (pure).

The encoding comes from adapters/tokenizers.py (tiktoken, the model's real one), loaded only when a count is needed
that no memo and no bound can answer: every token of a byte-level BPE is at least one UTF-8 byte, so
`bound_text`/`bound_message` give an upper bound without a tokenizer, and a thread whose bound fits needs none.
"""

import hashlib
import itertools
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

DEFAULT_ENCODING = "o200k_base"

# Chat-format overhead, as in OpenAI's cookbook ("How to count tokens with tiktoken"): every message costs 3 tokens
# besides its fields, a `name` one more, and the reply is primed with 3 (`<|start|>assistant<|message|>`).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
_COUNTED_FIELDS = ("role", "content", "name")

# Every single character encodes to at most 4 tokens (one per UTF-8 byte), so any limit >= 4 can always be met.
MIN_SPLIT_TOKENS = 8

# Preferred places to split, coarsest first: paragraphs, lines, sentences, words. Zero-width, so no text is lost.
_BOUNDARIES = (
    re.compile(r"(?<=\n\n)(?=[^\n])"),
    re.compile(r"(?<=\n)(?=[^\n])"),
    re.compile(r"(?<=[.!?;:])(?=\s)"),
    re.compile(r"(?<=\S)(?=\s)"),
)
_SOFT_CUTS = ("\n\n", "\n", ". ", "! ", "? ", "; ", " ")


class EncodingUnavailable(RuntimeError):
    """The tokenizer's encoding could not be loaded (no cached file and no network, or a corrupt file)."""


class Encoding(Protocol):
    """What counting needs of a tokenizer (tiktoken.Encoding has it)."""

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, tokens: Sequence[int]) -> str: ...


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class TokenCounter:
    """Counts and splits text the way `model` tokenizes it. Counts are memoized by content (bounded); the encoding
    is asked for (`load`) on the first count the memo cannot answer, and may be `release`d (loaded again if needed).
    """

    def __init__(self, model: str, encoding_name: str, load: Callable[[], Encoding], *, memo_size: int = 200_000):
        self.model = model
        self.encoding_name = encoding_name
        self._load = load
        self._encoding: Encoding | None = None
        self._memo: OrderedDict[bytes | str, int] = OrderedDict()
        self._memo_size = memo_size

    def __repr__(self) -> str:
        return f"TokenCounter(model={self.model!r}, encoding={self.encoding_name!r})"

    @property
    def encoding(self) -> Encoding:
        if self._encoding is None:
            self._encoding = self._load()
        return self._encoding

    @property
    def loaded(self) -> bool:
        return self._encoding is not None

    def release(self) -> None:
        """Drop the encoding (its tables are the bulk of the bot's memory); the memo stays."""
        self._encoding = None

    # --- counting ---------------------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Tokens of `text`; special-token markers in user text are ordinary text, never control tokens."""
        return self.encoding.encode_ordinary(text)

    def decode(self, tokens: Sequence[int]) -> str:
        return self.encoding.decode(tokens)

    def count_text(self, text: str) -> int:
        key: bytes | str = text if len(text) < 64 else hashlib.blake2b(
            text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        count = self._memo.get(key)
        if count is None:
            count = len(self.encode(text))
            self._memo[key] = count
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return count

    def bound_text(self, text: str) -> int:
        """At least `count_text(text)`, without a tokenizer (a token is one UTF-8 byte or more)."""
        return utf8_bytes(text)

    def bound_message(self, message: Mapping[str, Any]) -> int:
        """At least `count_message(message)`, without a tokenizer."""
        tokens = TOKENS_PER_MESSAGE
        for field in _COUNTED_FIELDS:
            value = message.get(field)
            if isinstance(value, str):
                tokens += utf8_bytes(value) + (TOKENS_PER_NAME if field == "name" else 0)
        return tokens

    def count_message(self, message: Mapping[str, Any]) -> int:
        """Tokens one chat message adds to a request (fields plus per-message overhead)."""
        tokens = TOKENS_PER_MESSAGE
        for field in _COUNTED_FIELDS:
            value = message.get(field)
            if isinstance(value, str):
                tokens += self.count_text(value)
                if field == "name":
                    tokens += TOKENS_PER_NAME
        return tokens

    def count_messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        """Prompt tokens of a whole chat request, reply priming included."""
        return sum(self.count_message(m) for m in messages) + REPLY_PRIMING_TOKENS

    # --- splitting --------------------------------------------------------------------------------------------

    def split_text(self, text: str, max_tokens: int) -> list[str]:
        """`text` in consecutive pieces of at most `max_tokens` each; joined, they give back `text` exactly.

        Splits at paragraph, then line, sentence and word boundaries; raw token slices only when a single word is
        longer than `max_tokens`. Pieces are packed greedily, so they are close to the limit.
        """
        if max_tokens < MIN_SPLIT_TOKENS:
            raise ValueError(f"max_tokens must be at least {MIN_SPLIT_TOKENS}, got {max_tokens}")
        if not text:
            return []
        return self._merge_small(self._split(text, len(self.encode(text)), max_tokens, 0), max_tokens)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The beginning of `text` within `max_tokens`, cut at a paragraph, line, sentence or word end if one is
        near the limit."""
        tokens = self.encode(text)
        if len(tokens) <= max_tokens:
            return text
        if max_tokens <= 0:
            return ""
        text, offsets = self._decode_offsets(text, tokens)
        cut = offsets[max_tokens]
        for mark in _SOFT_CUTS:  # prefer a natural end within the last fifth of the allowance
            at = text.rfind(mark, 0, cut)
            if at > cut * 4 // 5:
                cut = at + len(mark.rstrip())
                break
        head = text[:cut]
        while head and len(self.encode(head)) > max_tokens:  # re-encoding a prefix may merge differently
            head = head[: max(0, len(head) - 1 - len(head) // 50)]
        return head

    def _split(self, text: str, tokens: int, max_tokens: int, level: int) -> list[str]:
        if tokens <= max_tokens:
            return [text]
        if level == len(_BOUNDARIES):
            return self._split_by_tokens(text, max_tokens)
        segments = [s for s in _BOUNDARIES[level].split(text) if s]
        if len(segments) == 1:
            return self._split(text, tokens, max_tokens, level + 1)
        groups: list[list[str]] = []  # runs of whole segments, each estimated within max_tokens
        pieces: list[str] = []
        current: list[str] = []
        current_tokens = 0
        for segment in [*segments, ""]:  # the empty sentinel flushes the last run
            count = len(self.encode(segment))
            if current and (not segment or count > max_tokens or current_tokens + count > max_tokens):
                groups.append(current)
                current, current_tokens = [], 0
            if count > max_tokens:
                groups.append([segment])  # too big alone: split finer below
            elif segment:
                current.append(segment)
                current_tokens += count
        for group in groups:
            piece = "".join(group)
            # Token counts are not exactly additive across a join: check each piece for real.
            count = len(self.encode(piece))
            pieces.extend(self._split(piece, count, max_tokens, level + 1) if count > max_tokens else [piece])
        return pieces

    def _merge_small(self, pieces: list[str], max_tokens: int) -> list[str]:
        """Join neighbours left small by a finer split (a short line before a huge one) while they fit."""
        merged: list[str] = []
        merged_tokens = 0
        for piece in pieces:
            count = len(self.encode(piece))
            if merged and merged_tokens + count <= max_tokens:
                candidate = merged[-1] + piece
                candidate_tokens = len(self.encode(candidate))
                if candidate_tokens <= max_tokens:
                    merged[-1], merged_tokens = candidate, candidate_tokens
                    continue
            merged.append(piece)
            merged_tokens = count
        return merged

    def _split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        tokens = self.encode(text)
        text, offsets = self._decode_offsets(text, tokens)
        cuts = [0]
        for index in range(max_tokens, len(tokens), max_tokens):
            if offsets[index] > cuts[-1]:
                cuts.append(offsets[index])
        cuts.append(len(text))
        pieces: list[str] = []
        for start, end in itertools.pairwise(cuts):
            pieces.extend(self._halve_until_fits(text[start:end], max_tokens))
        return pieces

    def _halve_until_fits(self, text: str, max_tokens: int) -> list[str]:
        # A slice re-encoded on its own may take a token or two more than in context: halve it until it fits.
        if len(text) <= 1 or len(self.encode(text)) <= max_tokens:
            return [text]
        middle = len(text) // 2
        return self._halve_until_fits(text[:middle], max_tokens) + self._halve_until_fits(text[middle:], max_tokens)

    def _decode_offsets(self, text: str, tokens: list[int]) -> tuple[str, list[int]]:
        """Character offset where each token starts (text with lone surrogates comes back as tiktoken saw it)."""
        decoded, offsets = self.encoding.decode_with_offsets(tokens)
        return decoded, offsets

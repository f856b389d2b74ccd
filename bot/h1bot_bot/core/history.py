"""Interim history budget: drop the oldest messages until the chat fits (the RSF issue replaces this strategy).

A strategy takes the chat (system message first, the question last), a token limit for the whole history and a
per-message token counter, and returns the chat to send plus a note for the reply (empty when nothing was lost).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from h1bot_bot.core.conversation import ChatMessage

CountTokens = Callable[[ChatMessage], int]

TRUNCATED_MARK = "\n[… message truncated to fit the model's context window]"


@dataclass(frozen=True)
class PreparedHistory:
    messages: list[ChatMessage]
    note: str = ""
    dropped: int = 0


def _truncate_to(message: ChatMessage, max_tokens: int, count: CountTokens) -> ChatMessage:
    """The message cut (by characters, checked in tokens) so that it counts at most `max_tokens`."""
    content = message["content"]
    low, high = 0, len(content)
    while low < high:  # the longest prefix that fits, by bisection: O(log n) token counts
        middle = (low + high + 1) // 2
        if count({**message, "content": content[:middle] + TRUNCATED_MARK}) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return {**message, "content": content[:low] + TRUNCATED_MARK}


def trim_oldest(messages: Sequence[ChatMessage], max_tokens: int, count: CountTokens) -> PreparedHistory:
    """Keep the system message and the newest messages that fit in `max_tokens` (system message excluded);
    the newest message is always kept, truncated if it alone is too large."""
    if not messages:
        return PreparedHistory([])
    system, history = (list(messages[:1]), list(messages[1:])) if messages[0]["role"] == "system" else (
        [], list(messages))
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        cost = count(message)
        if used + cost > max_tokens:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    dropped = len(history) - len(kept)
    if not kept and history:
        kept = [_truncate_to(history[-1], max(max_tokens, 1), count)]
        dropped = len(history) - 1
        return PreparedHistory(system + kept, "_The message was too long for the model; I read only its "
                                              "beginning._", dropped)
    if dropped:
        return PreparedHistory(system + kept, f"_This thread is longer than the model's context: I read only "
                                              f"the last {len(kept)} messages ({dropped} older ones left out)._",
                               dropped)
    return PreparedHistory(system + kept)


"""What a history strategy returns: the chat to send and a note for the reply.

The strategy itself is recursive summarization (engine/summarization.py over core/summarize.py).
"""

from collections.abc import Callable
from dataclasses import dataclass

from h1bot_bot.core.conversation import ChatMessage

CountTokens = Callable[[ChatMessage], int]


@dataclass(frozen=True)
class PreparedHistory:
    messages: list[ChatMessage]
    note: str = ""  # shown under the reply, e.g. that earlier messages were summarized; "" when nothing changed
    condensed: int = 0  # messages that were summarized (or left out) rather than sent verbatim

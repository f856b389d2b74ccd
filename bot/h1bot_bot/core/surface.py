"""Where a conversation happens: the surface the engine reads threads from and answers on.

The engine (reading a thread into a chat, answering, dispatching to commands) knows only these types; a surface
adapter implements them: Slack (adapters/slack_surface.py) and the terminal (adapters/terminal/). Threads are lists
of Slack-shaped message dicts (`user` or `bot_id`, `text`, `ts`, optional `metadata`), which is what
`conversations.replies` returns and what core/conversation.py reads, so a Slack export replays as it is.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from h1bot_bot.core.approvals import PendingAction
from h1bot_bot.core.commands import Reply


@dataclass(frozen=True)
class Incoming:
    """A message addressed to the bot (a mention or a DM), as the engine needs it."""

    kind: str  # "mention" or "dm"
    event_id: str
    channel: str
    channel_type: str | None
    user: str
    text: str
    ts: str
    thread_ts: str
    event: Mapping[str, Any] = field(repr=False, default_factory=dict)

    @property
    def direct(self) -> bool:
        """A one-to-one conversation with the bot: nobody else reads the reply."""
        return self.kind == "dm" or self.channel_type == "im"


class ReplyWriter(Protocol):
    """One answer being written: shown as it grows, then finished with a note, or abandoned."""

    def start(self) -> None: ...

    async def append(self, piece: str) -> None: ...

    async def finish(self, suffix: str = "") -> None: ...

    async def abandon(self) -> None: ...


class Names(Protocol):
    async def many(self, user_ids: set[str]) -> dict[str, str]:
        """Display names by user id; ids without a name are left out (the caller falls back to the id)."""
        ...


class Surface(Protocol):
    """What the engine needs from where it talks: read a thread, resolve names, post, stream an answer."""

    names: Names

    async def thread(self, incoming: Incoming) -> list[dict[str, Any]]:
        """The thread of `incoming` up to and including it, oldest first."""
        ...

    async def post(self, incoming: Incoming, reply: Reply) -> None:
        """A reply in the thread: mrkdwn `text`, Markdown when `reply.markdown`, Block Kit when `reply.blocks`;
        `reply.private` goes to the asker alone (where the surface cannot, it says so in the thread)."""
        ...

    def open_answer(self, incoming: Incoming, *, allow_user_mentions: bool) -> ReplyWriter:
        """The writer of one streamed answer (Markdown pieces) to `incoming`."""
        ...

    async def tell(self, channel: str, thread_ts: str, text: str) -> None:
        """A message (mrkdwn) in a thread the engine is not answering right now (e.g. an approved action's result)."""
        ...

    async def propose_action(self, incoming: Incoming, pending: PendingAction) -> None:
        """Show a proposed action in the thread of `incoming` with a way to approve or deny it (Slack: buttons
        whose value is `pending.id`; the terminal: a prompt after the answer). Raises when it cannot be shown."""
        ...

    async def settle_action(self, pending: PendingAction, outcome_line: str) -> None:
        """The proposal's message now shows `outcome_line` (mrkdwn) instead of the means to decide it."""
        ...

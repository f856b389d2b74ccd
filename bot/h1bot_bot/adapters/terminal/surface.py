"""The terminal as a surface (core/surface.py): one thread kept in memory, shown with the Renderer.

The thread is Slack-shaped message dicts like a Slack thread's (the user's lines, the bot's answers and command
replies, optionally an exported thread before them), so the engine reads it exactly as it reads Slack.

A proposed action is shown framed and kept in the thread (updated with its outcome, as Slack's message is);
`take_proposals` hands the new ones to the chat, which asks the person at the keyboard after the answer.
"""

from collections.abc import Mapping
from typing import Any

from h1bot_bot.adapters.terminal.render import AnswerView, Renderer
from h1bot_bot.core import approvals
from h1bot_bot.core.approvals import PendingAction
from h1bot_bot.core.commands import Reply
from h1bot_bot.core.conversation import BotIdentity, reply_metadata
from h1bot_bot.core.surface import Incoming

TERMINAL_CHANNEL = "DTERMINAL"  # the chat is a direct conversation with the bot: nobody else reads it
TERMINAL_TEAM = "TTERMINAL"
BOT = BotIdentity(user_id="UH1BOT", bot_id="BH1BOT", team_id=TERMINAL_TEAM)
STOPPED_NOTE = "_Stopped (Ctrl-C)._"


class ThreadNames:
    """Display names: the export's, then the person at the keyboard's."""

    def __init__(self, names: Mapping[str, str] | None = None):
        self.known = dict(names or {})

    async def many(self, user_ids: set[str]) -> dict[str, str]:
        return {uid: self.known[uid] for uid in user_ids if uid in self.known}


class TerminalThread:
    """One conversation: its messages, oldest first, with increasing Slack-like timestamps."""

    def __init__(self, messages: list[dict[str, Any]] | None = None, thread_ts: str = ""):
        self.messages = [dict(m) for m in messages or ()]
        last = max((float(m["ts"]) for m in self.messages), default=1_700_000_000.0)
        self._clock = int(last * 1_000_000)
        self.thread_ts = thread_ts or (self.messages[0]["ts"] if self.messages else self._next_ts())

    def _next_ts(self) -> str:
        self._clock += 1
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    def add(self, **message: Any) -> dict[str, Any]:
        message = {"type": "message", "ts": self._next_ts(), "thread_ts": self.thread_ts, **message}
        self.messages.append(message)
        return message


class TerminalReplyWriter:
    """The answer being written: on screen as it streams, added to the thread when finished (or stopped)."""

    def __init__(self, surface: "TerminalSurface"):
        self.surface = surface
        self.view: AnswerView = surface.renderer.answer()
        self.stopped = False  # Ctrl-C: the chat cancels the answer and sets this first

    def start(self) -> None:
        self.surface.current = self
        self.view.start()

    async def append(self, piece: str) -> None:
        self.view.append(piece)

    async def finish(self, suffix: str = "") -> None:
        note = STOPPED_NOTE if self.stopped else suffix
        self.view.finish(note)
        text = "\n\n".join(part for part in (self.view.text.strip(), note) if part)
        state = "interrupted" if self.stopped else "done"
        self.surface.conversation.add(user=BOT.user_id, bot_id=BOT.bot_id, text=text,
                                metadata=reply_metadata(state, "terminal", 0))
        self.surface.last_answer = self.view.text
        self.surface.current = None

    async def abandon(self) -> None:
        self.view.finish()
        self.surface.current = None


class TerminalSurface:
    """Surface (core/surface.py) on a terminal."""

    def __init__(self, renderer: Renderer, thread: TerminalThread, names: ThreadNames):
        self.renderer = renderer
        self.conversation = thread
        self.names = names
        self.current: TerminalReplyWriter | None = None
        self.last_answer = ""
        self.proposed: list[PendingAction] = []  # proposed since `take_proposals`, oldest first
        self._proposal_messages: dict[str, dict[str, Any]] = {}  # proposal id → its message in the thread

    def say(self, user: str, text: str) -> Incoming:
        """A line typed by `user`: a message in the thread, addressed to the bot."""
        message = self.conversation.add(user=user, text=text)
        return Incoming(kind="dm", event_id=f"terminal-{message['ts']}", channel=TERMINAL_CHANNEL,
                        channel_type="im", user=user, text=text, ts=message["ts"],
                        thread_ts=self.conversation.thread_ts, event=message)

    async def thread_messages(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.conversation.messages]

    async def thread(self, incoming: Incoming) -> list[dict[str, Any]]:
        return await self.thread_messages()

    async def post(self, incoming: Incoming | None, reply: Reply) -> None:
        self.show(reply.text, markdown=reply.markdown, blocks=reply.blocks)
        if reply.private is not None:  # the terminal has one reader: the private part is shown too
            self.show(reply.private.text, markdown=reply.private.markdown, blocks=reply.private.blocks)

    def show(self, text: str, *, markdown: bool = False, blocks: list[dict[str, Any]] | None = None) -> None:
        self.renderer.reply(text, markdown=markdown, blocks=blocks)
        self.conversation.add(user=BOT.user_id, bot_id=BOT.bot_id, text=text, **({"blocks": blocks} if blocks else {}))

    def open_answer(self, incoming: Incoming, *, allow_user_mentions: bool) -> TerminalReplyWriter:
        return TerminalReplyWriter(self)

    async def tell(self, channel: str, thread_ts: str, text: str) -> None:
        """A message (mrkdwn) the configuration has for the thread (e.g. an override the spec no longer admits)."""
        self.show(text)

    async def propose_action(self, incoming: Incoming, pending: PendingAction) -> str:
        asker = self.names.known.get(pending.asker, pending.asker)
        when = approvals.clock(pending.expires_at)
        self.renderer.box("Approval needed", f"`{pending.proposal.description()}`\n\nProposed by {asker}; it runs "
                          f"only if an admin approves it (expires at {when}).")
        self._proposal_messages[pending.id] = self.conversation.add(
            user=BOT.user_id, bot_id=BOT.bot_id, text=approvals.proposal_text(pending, when))
        self.proposed.append(pending)
        return ""

    async def claim_decision(self, pending: PendingAction) -> bool:
        return True  # one person at one keyboard

    async def decided_elsewhere(self, pending: PendingAction) -> bool:
        return False

    async def settle_action(self, pending: PendingAction, outcome_line: str) -> None:
        """The proposal in the thread shows its outcome (the chat tells the person at the keyboard)."""
        message = self._proposal_messages.get(pending.id)
        if message is not None:
            message["text"] = approvals.settled_text(pending, outcome_line)

    def take_proposals(self) -> list[PendingAction]:
        """The actions proposed since the last call, oldest first."""
        taken, self.proposed = self.proposed, []
        return taken

    def stop_answer(self) -> bool:
        """Ctrl-C: the answer being written is marked stopped (the caller cancels its task); False when none."""
        if self.current is None:
            return False
        self.current.stopped = True
        return True

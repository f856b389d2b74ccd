"""The fake Slack's ephemeral messages: `chat.postEphemeral` shows a message to one user, in a channel or a thread.

As in Slack, it is not a message of the channel: it is never stored in the thread (`thread_messages`,
`conversations.replies` and `bot_replies` do not see it), no event is sent for it, and the answer carries
`message_ts`, not `ts`. Tests read what each user was shown privately with `ephemerals`.
"""

from collections.abc import Callable
from typing import Any


class EphemeralApi:
    """Mixed into FakeSlack (uses its workspace: `messages`, `next_ts`, `_notify`; it sets `ephemeral = []`)."""

    messages: dict[str, list[dict[str, Any]]]
    ephemeral: list[dict[str, Any]]  # every ephemeral message shown, oldest first
    next_ts: Callable[[], str]
    _notify: Callable[[], None]

    async def _api_chat_postEphemeral(self, params: dict) -> dict:
        channel, user = params.get("channel", ""), params.get("user", "")
        text, blocks = params.get("text") or "", params.get("blocks")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        message = {"channel": channel, "user": user, "text": text, "thread_ts": params.get("thread_ts"),
                   "message_ts": self.next_ts()}
        if blocks:
            message["blocks"] = blocks
        self.ephemeral.append(message)
        self._notify()
        return {"ok": True, "message_ts": message["message_ts"]}

    def ephemerals(self, user: str, channel: str | None = None,
                   thread_ts: str | None = None) -> list[dict[str, Any]]:
        """What `user` alone was shown (in `channel`, in the thread `thread_ts`), oldest first."""
        return [m for m in self.ephemeral if m["user"] == user and (channel is None or m["channel"] == channel)
                and (thread_ts is None or m["thread_ts"] == thread_ts)]

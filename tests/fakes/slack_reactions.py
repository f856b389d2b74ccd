"""The fake Slack's reactions: `reactions.add` is atomic per message, reaction and user, as in Slack.

The second add of the same reaction by the same user is `already_reacted`, whichever connection or process sent it:
what the bot's claim before answering relies on (bot/h1bot_bot/adapters/reply_claim.py).
"""

from collections.abc import Callable
from typing import Any


class ReactionsApi:
    """Mixed into FakeSlack (uses its workspace: `find`, `bot_user_id`, `_notify`)."""

    bot_user_id: str
    find: Callable[[str, str], dict[str, Any] | None]
    _notify: Callable[[], None]

    async def _api_reactions_add(self, params: dict) -> dict:
        """Atomic per (message, reaction, user): the request handled first wins, the next gets already_reacted."""
        message = self.find(params.get("channel", ""), params.get("timestamp", ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        name = params.get("name") or ""
        if not name:
            return {"ok": False, "error": "invalid_name"}
        reaction = next((r for r in message.setdefault("reactions", []) if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            message["reactions"].append(reaction)
        if self.bot_user_id in reaction["users"]:
            return {"ok": False, "error": "already_reacted"}
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        self._notify()
        return {"ok": True}

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        """The reactions on a message as a Slack user sees them: name → users who reacted."""
        message = self.find(channel, ts) or {}
        return {r["name"]: list(r["users"]) for r in message.get("reactions", [])}

"""The fake Slack's chat methods for whole messages: chat.postMessage, chat.update and chat.delete.

The bot's messages are stored in the channel like anyone's (a reply in a thread bumps the parent's `reply_count`);
`metadata` is kept for conversations.replies with `include_all_metadata`, and with `echo_bot_messages` each post or
edit comes back over Socket Mode as Slack sends it (the message, or `message_changed`). Text longer than `MAX_TEXT`
is refused.
"""

import json
from collections.abc import Callable
from typing import Any

MAX_TEXT = 4000  # chat.update refuses longer text; chat.postMessage truncates at 40k in reality — here both refuse


def message_metadata(value: Any) -> dict[str, Any]:
    """Message metadata as Slack stores it: a JSON object (form-encoded calls send it as a JSON string)."""
    return json.loads(value) if isinstance(value, str) else dict(value)


class ChatApi:
    """Mixed into FakeSlack (uses its workspace: `messages`, `find`, `_store`, `next_ts`, `_echo`, `_notify`)."""

    bot_user_id: str
    bot_id: str
    team_id: str
    echo_bot_messages: bool
    messages: dict[str, list[dict[str, Any]]]
    find: Callable[[str, str], dict[str, Any] | None]
    next_ts: Callable[[], str]
    _store: Callable[[str, dict[str, Any]], dict[str, Any]]
    _echo: Callable[[str, dict[str, Any]], None]
    _notify: Callable[[], None]

    def _bot_message(self, params: dict) -> dict[str, Any]:
        return {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "app_id": "AFAKE",
                "text": params.get("text", ""), "team": self.team_id,
                "bot_profile": {"id": self.bot_id, "name": "h1bot", "app_id": "AFAKE"}}

    async def _api_chat_postMessage(self, params: dict) -> dict:
        channel, text = params.get("channel", ""), params.get("text") or ""
        if not text and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        message = {**self._bot_message(params), "ts": self.next_ts()}
        if params.get("metadata"):
            message["metadata"] = message_metadata(params["metadata"])
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if params.get("blocks"):
            message["blocks"] = params["blocks"]
        self._store(channel, message)
        if self.echo_bot_messages:
            self._echo(channel, {**message, "channel": channel, "channel_type": "channel"})
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": dict(message)}

    async def _api_chat_update(self, params: dict) -> dict:
        channel, ts, text = params.get("channel", ""), params.get("ts", ""), params.get("text") or ""
        message = self.find(channel, ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        previous = dict(message)
        message["text"] = text
        if params.get("metadata"):
            message["metadata"] = message_metadata(params["metadata"])
        if "blocks" in params:  # as Slack: given, they replace the message's (`[]` removes them); else they stay
            blocks = json.loads(params["blocks"]) if isinstance(params["blocks"], str) else params["blocks"]
            if blocks:
                message["blocks"] = blocks
            else:
                message.pop("blocks", None)
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        self._notify()
        if self.echo_bot_messages:
            self._echo(channel, {"type": "message", "subtype": "message_changed", "channel": channel,
                                 "hidden": True, "ts": self.next_ts(), "message": dict(message),
                                 "previous_message": previous, "channel_type": "channel"})
        return {"ok": True, "channel": channel, "ts": ts, "text": text}

    async def _api_chat_delete(self, params: dict) -> dict:
        channel, ts = params.get("channel", ""), params.get("ts", "")
        message = self.find(channel, ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        self.messages[channel].remove(message)
        self._notify()
        return {"ok": True, "channel": channel, "ts": ts}

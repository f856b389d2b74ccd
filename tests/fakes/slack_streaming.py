"""The fake Slack's text streaming methods: chat.startStream → chat.appendStream → chat.stopStream.

A stream is a bot reply in a thread whose `text` (standard Markdown) grows with each append and is final at stop,
so `thread_messages`/`bot_replies` show it like any other message. Each call is recorded in `calls` like every Web
API call; `refuse_streams = "<error>"` makes every chat.startStream fail with that Slack error code.
"""

import json
from typing import Any

MAX_MARKDOWN = 12_000  # Slack's documented limit of markdown_text per call; the fake also caps a streamed message


def streamed_text(params: dict[str, Any]) -> str:
    """The Markdown a chat.*Stream call carries: `markdown_text` and the text of its `markdown_text` chunks."""
    chunks = params.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    return (params.get("markdown_text") or "") + "".join(
        c.get("text") or "" for c in chunks if isinstance(c, dict) and c.get("type") == "markdown_text")


class StreamingApi:
    """Mixed into FakeSlack (uses its workspace: `find`, `_store`, `_bot_message`, `_echo`, `_notify`)."""

    refuse_streams: str | None
    streamed: set[tuple[str, str]]

    async def _api_chat_startStream(self, params: dict) -> dict:
        """Outside DMs, Slack needs the recipient user and team of the streamed text."""
        channel, thread_ts = params.get("channel", ""), params.get("thread_ts")
        if self.refuse_streams:
            return {"ok": False, "error": self.refuse_streams}
        if not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):
            if not params.get("recipient_team_id"):
                return {"ok": False, "error": "missing_recipient_team_id"}
            if not params.get("recipient_user_id"):
                return {"ok": False, "error": "missing_recipient_user_id"}
        text = streamed_text(params)
        if len(text) > MAX_MARKDOWN:
            return {"ok": False, "error": "msg_too_long"}
        message = {**self._bot_message({"text": text}), "ts": self.next_ts(), "thread_ts": thread_ts,
                   "streaming": True}
        self._store(channel, message)
        self.streamed.add((channel, message["ts"]))
        if self.echo_bot_messages:
            self._echo(channel, {**message, "channel": channel, "channel_type": "channel"})
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _streaming_message(self, params: dict) -> tuple[dict[str, Any] | None, str | None]:
        message = self.find(params.get("channel", ""), params.get("ts", ""))
        if message is None:
            return None, "message_not_found"
        if message.get("user") != self.bot_user_id:
            return None, "message_not_owned_by_app"
        if not message.get("streaming"):
            return None, "message_not_in_streaming_state"
        text = streamed_text(params)
        if len(text) > MAX_MARKDOWN or len(message["text"]) + len(text) > MAX_MARKDOWN:
            return None, "msg_too_long"
        return message, None

    async def _api_chat_appendStream(self, params: dict) -> dict:
        message, error = self._streaming_message(params)
        if error:
            return {"ok": False, "error": error}
        if not streamed_text(params):
            return {"ok": False, "error": "markdown_text_or_chunks_required"}
        message["text"] += streamed_text(params)
        self._notify()
        return {"ok": True, "channel": params["channel"], "ts": message["ts"]}

    async def _api_chat_stopStream(self, params: dict) -> dict:
        message, error = self._streaming_message(params)
        if error:
            return {"ok": False, "error": error}
        message["text"] += streamed_text(params)
        del message["streaming"]
        self._notify()
        return {"ok": True, "channel": params["channel"], "ts": message["ts"], "message": dict(message)}

    def streamed_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's replies in the thread that were streamed (each still has `streaming` while it is open)."""
        return [m for m in self.bot_replies(channel, thread_ts) if (channel, m["ts"]) in self.streamed]

    def stream_calls(self, channel: str, ts: str) -> list[Any]:
        """The chat.appendStream/chat.stopStream calls that wrote the streamed message `ts`, in order."""
        return [c for c in self.calls if c.method in ("chat.appendStream", "chat.stopStream")
                and c.params.get("channel") == channel and c.params.get("ts") == ts]

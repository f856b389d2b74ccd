"""The fake Slack's interactivity: a person clicks a button of a message, and the app gets a `block_actions` payload
over Socket Mode, as Slack sends it (an `interactive` envelope, acked like any other; no retry when it is not).

`click` finds the button in the message as stored (so a button the bot removed with chat.update cannot be clicked,
as in Slack) and sends its value; `send_interactive` sends any payload, for malformed ones. The payload carries the
message as the clicker saw it, the container (channel, message_ts) and the action, with the fields Slack documents
(docs.slack.dev/reference/interaction-payloads/block_actions-payload).
"""

import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.slack_delivery import Envelope


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of a message's actions blocks, each with its block_id."""
    return [{**element, "block_id": block.get("block_id", "")} for block in message.get("blocks") or ()
            if block.get("type") == "actions" for element in block.get("elements") or ()
            if element.get("type") == "button"]


class InteractiveApi:
    """Mixed into FakeSlack (uses its workspace and sockets: `find`, `users`, `envelopes`, `_pick`, `_sockets`)."""

    team_id: str
    team: str
    users: dict[str, dict[str, Any]]
    envelopes: dict[str, Envelope]
    find: Callable[[str, str], dict[str, Any] | None]
    _pick: Callable[..., str]
    _sockets: dict[str, web.WebSocketResponse]

    def block_actions(self, channel: str, message: dict[str, Any], user: str,
                      actions: list[dict[str, Any]]) -> dict[str, Any]:
        """A `block_actions` payload: `user` clicked `actions` on `message` in `channel`."""
        person = self.users.get(user) or {"name": user.lower()}
        return {"type": "block_actions", "user": {"id": user, "username": person["name"], "name": person["name"],
                                                  "team_id": self.team_id},
                "api_app_id": "AFAKE", "token": "verification-token",
                "container": {"type": "message", "message_ts": message.get("ts", ""), "channel_id": channel,
                              "is_ephemeral": False},
                "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
                "team": {"id": self.team_id, "domain": "fake"}, "enterprise": None, "is_enterprise_install": False,
                "channel": {"id": channel, "name": channel.lower()}, "message": dict(message),
                "state": {"values": {}}, "response_url": "https://hooks.fake.slack.test/actions/T0FAKE/1/x",
                "actions": actions}

    async def click(self, channel: str, message_ts: str, user: str, action_id: str, *, to: str | None = None) -> str:
        """`user` clicks the button `action_id` of the message; returns the envelope id (see `acked`)."""
        message = self.find(channel, message_ts)
        if message is None:
            raise AssertionError(f"no message {message_ts} in {channel} to click on")
        button = next((b for b in buttons(message) if b.get("action_id") == action_id), None)
        if button is None:
            raise AssertionError(f"the message has no {action_id!r} button to click (it has "
                                 f"{[b.get('action_id') for b in buttons(message)]})")
        action = {"action_id": action_id, "block_id": button["block_id"], "value": button.get("value", ""),
                  "type": "button", "text": button.get("text"), "action_ts": f"{time.time():.6f}"}
        if button.get("style"):
            action["style"] = button["style"]
        return await self.send_interactive(self.block_actions(channel, message, user, [action]), to=to)

    async def send_interactive(self, payload: dict[str, Any], *, to: str | None = None) -> str:
        """An `interactive` envelope with `payload` to one connection; returns its envelope id."""
        connection = to or self._pick()
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": "interactive", "accepts_response_payload": False,
                    "payload": payload}
        self.envelopes[envelope_id] = Envelope(envelope_id, envelope, time.perf_counter(), connection=connection)
        await self._sockets[connection].send_json(envelope)
        return envelope_id

    def acked(self, envelope_id: str) -> bool:
        return self.envelopes[envelope_id].acked_at is not None

"""The fake Slack's Socket Mode delivery to one or several connections, with Slack's retries of unacked envelopes.

Slack sends each Events API envelope to ONE of the app's open connections and, when it is not acked in time, sends
it again (retry_attempt + 1, retry_reason "timeout"), possibly on another connection. `delivery` picks the
connection ("newest" or "round_robin"), `ack_timeout` turns Slack's retries on; `deliver_to_all` and `redeliver`
let a test put the same event id on every connection, or its retry on another one.
"""

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Envelope:
    envelope_id: str
    payload: dict[str, Any]
    sent_at: float
    acked_at: float | None = None
    connection: str = ""  # the Socket Mode connection it was sent on


class SocketDelivery:
    """Mixed into FakeSlack (uses its `team_id`, `bot_user_id`, `envelopes` and the sockets it accepts)."""

    team_id: str
    bot_user_id: str
    envelopes: dict[str, Envelope]
    delivery: str
    ack_timeout: float | None
    max_retries: int
    _sockets: dict[str, web.WebSocketResponse]
    _round_robin: itertools.count
    _retries: set[asyncio.Task]

    @property
    def connected(self) -> bool:
        return bool(self.connections)

    @property
    def connections(self) -> list[str]:
        """The open Socket Mode connections, oldest first."""
        return [cid for cid, ws in self._sockets.items() if not ws.closed]

    def _pick(self, avoid: str = "") -> str:
        open_ = self.connections
        if not open_:
            raise RuntimeError("no Socket Mode connection to deliver the event to")
        others = [c for c in open_ if c != avoid] or open_
        if self.delivery == "round_robin":
            return others[next(self._round_robin) % len(others)]
        return others[-1]

    def _payload(self, event: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        return {"type": "event_callback", "token": "verification-token", "team_id": self.team_id,
                "api_app_id": "AFAKE", "event": event, "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()), "event_context": uuid.uuid4().hex,
                "authorizations": [{"enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                                    "is_bot": True, "is_enterprise_install": False}]}

    async def _send(self, payload: dict[str, Any], connection: str, retry_attempt: int, retry_reason: str) -> str:
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
                    "retry_attempt": retry_attempt, "retry_reason": retry_reason, "payload": payload}
        self.envelopes[envelope_id] = Envelope(envelope_id, envelope, time.perf_counter(), connection=connection)
        await self._sockets[connection].send_json(envelope)
        if self.ack_timeout is not None and retry_attempt < self.max_retries:
            task = asyncio.ensure_future(self._retry_unacked(envelope_id))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        return envelope_id

    async def send_event(self, event: dict[str, Any], *, event_id: str | None = None, retry_attempt: int = 0,
                         retry_reason: str = "", to: str | None = None) -> str:
        """Deliver an Events API envelope to one connection (`to`, else by `delivery`); returns the envelope id."""
        return await self._send(self._payload(event, event_id), to or self._pick(), retry_attempt, retry_reason)

    async def deliver_to_all(self, event: dict[str, Any], *, event_id: str | None = None) -> list[str]:
        """The same event (one event id) on every open connection, each in its own envelope."""
        payload = self._payload(event, event_id)
        return [await self._send(payload, connection, 0, "") for connection in self.connections]

    async def redeliver(self, envelope_id: str, *, to: str | None = None, reason: str = "timeout") -> str:
        """Slack's retry of an envelope: the same event, retry_attempt + 1, on `to` (default: another connection)."""
        original = self.envelopes[envelope_id]
        attempt = original.payload["retry_attempt"] + 1
        return await self._send(original.payload["payload"], to or self._pick(avoid=original.connection), attempt,
                                reason)

    async def _retry_unacked(self, envelope_id: str) -> None:
        await asyncio.sleep(self.ack_timeout)
        envelope = self.envelopes[envelope_id]
        if envelope.acked_at is None and self.connections:
            await self.redeliver(envelope_id)

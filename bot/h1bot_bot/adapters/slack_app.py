"""slack-bolt wiring: one listener for every event type (so every envelope is acked), dedupe, in-flight tracking,
and the Approve/Deny buttons of proposed actions.

Bolt acks an event before its listener runs; the listener classifies it (core.events), skips what this process
already saw, claims the message through Slack (adapters/reply_claim.py: one replica of the bot answers it, whichever
connection Slack used) and hands answerable messages to the engine (`handle`). `drain` waits for replies in flight,
bounded, for a clean shutdown.

A button click (a `block_actions` payload over Socket Mode) is acked at once, then handed to `decide(value, user,
approve, channel=, thread_ts=, message_ts=)` (the button's value carries the proposal); its answer is shown to the
clicker alone (chat.postEphemeral). Clicks on other buttons, or without a value, are acked and logged.
"""

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.reply_claim import ReplyClaims
from h1bot_bot.core.approvals import APPROVE_ACTION, DENY_ACTION, NOT_ENABLED_TEXT
from h1bot_bot.core.commands import Reply
from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.events import SeenEvents, classify, thread_root
from h1bot_bot.core.formatting import INTERNAL_ERROR
from h1bot_bot.core.surface import Incoming, Surface

log = logging.getLogger(__name__)

class Decide(Protocol):
    """An Approve (`approve`) or Deny click by `user` on the button carrying `value`; returns the clicker's text."""

    def __call__(self, value: str, user: str, approve: bool, *, channel: str, thread_ts: str,
                 message_ts: str) -> Awaitable[str]: ...


class SlackBotApp:
    def __init__(self, client: AsyncWebClient, app_token: str, identity: BotIdentity,
                 handle: Callable[[Incoming], Awaitable[str]], surface: Surface, answer_bots: Callable[[], bool],
                 metrics: Metrics, dedupe_size: int = 10_000, ping_interval: float = 10.0,
                 decide: Decide | None = None):
        """`handle`: the engine's answer to a message (its outcome); `answer_bots`: spec.access.answerBots, live;
        `decide`: an Approve/Deny click on a proposed action (None: the buttons say actions are not enabled)."""
        self.identity = identity
        self.handle = handle
        self.surface = surface
        self.answer_bots = answer_bots
        self.metrics = metrics
        self.seen = SeenEvents(dedupe_size)
        self.claims = ReplyClaims(client)
        self.decide = decide
        self.in_flight: set[asyncio.Task] = set()
        self.app = AsyncApp(client=client, request_verification_enabled=False, ssl_check_enabled=False,
                            url_verification_enabled=False, logger=logging.getLogger("slack_bolt.AsyncApp"))
        self.app.event(re.compile(".*"))(self._on_event)
        self.app.action(APPROVE_ACTION)(self._on_decision)
        self.app.action(DENY_ACTION)(self._on_decision)
        self.app.action(re.compile(".*"))(self._on_other_action)  # after those: bolt runs the first match
        self.handler = AsyncSocketModeHandler(self.app, app_token, ping_interval=ping_interval)

    async def connect(self) -> None:
        await self.handler.connect_async()

    async def is_connected(self) -> bool:
        return await self.handler.client.is_connected()

    async def stop_receiving(self) -> None:
        """Close the websocket: Slack delivers no more events here (it redelivers unacked ones elsewhere)."""
        await self.handler.close_async()

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` seconds for replies in flight; cancel the rest (they say so in their thread).
        Returns how many had to be cancelled."""
        pending = {t for t in self.in_flight if not t.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        return len(pending)

    async def _on_event(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        event_id = body.get("event_id", "")
        decision = classify(event, self.identity, self.answer_bots())
        if decision.kind is None:
            log.debug("event ignored: %s", decision.reason, extra={"event_id": event_id})
            return
        channel, ts = event.get("channel", ""), event.get("ts", "")
        if not self.seen.first_time(event_id, f"{channel}:{ts}"):
            self.metrics.duplicates.inc()
            log.info("duplicate delivery skipped", extra={"event_id": event_id, "channel": channel})
            return
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)  # a shutdown from here on waits for it (claim included)
        try:
            claim = await self.claims.claim(channel, ts)
        except BaseException:
            self.in_flight.discard(task)
            raise
        self.metrics.claims.labels(outcome=claim.outcome).inc()
        if not claim.answer:
            self.in_flight.discard(task)
            self.metrics.duplicates.inc()
            log.info("answered by another replica", extra={"event_id": event_id, "channel": channel})
            return
        incoming = Incoming(kind=decision.kind, event_id=event_id, channel=channel,
                            channel_type=event.get("channel_type"), user=event.get("user") or event.get("bot_id", ""),
                            text=event.get("text") or "", ts=ts, thread_ts=thread_root(event), event=event)
        self.metrics.mentions.labels(kind=decision.kind).inc()
        self.metrics.in_flight.inc()
        started = time.perf_counter()
        outcome = "failed"
        try:
            outcome = await self.handle(incoming)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            self.metrics.errors.labels(kind="internal").inc()
            log.exception("handling failed", extra={"event_id": event_id})
            try:
                await self.surface.post(incoming, Reply(f":warning: {INTERNAL_ERROR}", markdown=True))
            except Exception as exc:
                log.error("could not tell the thread: %s", exc, extra={"event_id": event_id})
        finally:
            self.in_flight.discard(task)
            self.metrics.in_flight.dec()
            self.metrics.replies.labels(outcome=outcome.partition(":")[0]).inc()
            log.info("%s handled", decision.kind, extra={
                "event_id": event_id, "channel": channel, "thread_ts": incoming.thread_ts, "user": incoming.user,
                "outcome": outcome, "duration_ms": round((time.perf_counter() - started) * 1000)})

    async def _on_decision(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any],
                           client: AsyncWebClient) -> None:
        await ack()  # first: Slack shows the clicker an error when the ack is late
        action = (body.get("actions") or [{}])[0]
        user = (body.get("user") or {}).get("id") or ""
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        message = body.get("message") or {}
        message_ts = (body.get("container") or {}).get("message_ts") or message.get("ts") or ""
        thread_ts = message.get("thread_ts") or message_ts
        value = action.get("value") or ""
        where = {"user": user, "channel": channel, "thread_ts": thread_ts, "message_ts": message_ts}
        if not (user and channel and value):
            log.warning("a malformed %s click was ignored", action.get("action_id"), extra=where)
            return
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)  # a shutdown waits for an approved action to finish
        try:
            if self.decide is None:
                text = NOT_ENABLED_TEXT
            else:
                text = await self.decide(value, user, action.get("action_id") == APPROVE_ACTION, channel=channel,
                                         thread_ts=thread_ts, message_ts=message_ts)
        except Exception:
            log.exception("deciding a proposal failed", extra=where)
            text = f":warning: {INTERNAL_ERROR}"
        finally:
            self.in_flight.discard(task)
        try:
            await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts or None, text=text)
        except Exception as exc:
            log.warning("could not tell %s the outcome of their click: %s", user, exc, extra=where)

    async def _on_other_action(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        log.info("a click on an unknown button was ignored: %s", action.get("action_id"),
                 extra={"user": (body.get("user") or {}).get("id")})

"""Slack as the engine's surface (core/surface.py): threads from conversations.replies, names from users.info, replies
as mrkdwn, Block Kit or ephemeral messages, answers streamed by chat.update or Slack's native streaming, proposed
actions as Block Kit messages with Approve/Deny buttons (their clicks come back through adapters/slack_app.py).

Reading a thread also repairs what a crash left: a reply of this bot's left unfinished (its message metadata says
who was writing it and until when) is marked interrupted, in the background (core/conversation leaves it out).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from h1bot_bot.adapters.native_stream import NativeReplyStream, ReplyStreams
from h1bot_bot.adapters.reply_claim import claims_client
from h1bot_bot.adapters.slack_api import SlackGateway, UserNames
from h1bot_bot.adapters.streaming import PLACEHOLDER, TYPING_MARK, ReplyStream
from h1bot_bot.core import approvals
from h1bot_bot.core.approvals import PendingAction
from h1bot_bot.core.commands import Reply
from h1bot_bot.core.conversation import BotIdentity, interrupted_replies, interrupted_text, reply_metadata
from h1bot_bot.core.events import claim_result
from h1bot_bot.core.formatting import SLACK_MESSAGE_LIMIT, split_message, to_mrkdwn
from h1bot_bot.core.slack_safety import outside_text
from h1bot_bot.core.surface import Incoming

log = logging.getLogger(__name__)

INTERRUPTED_NOTE = "_:warning: Interrupted: the bot restarted before it finished this answer. Please ask again._"


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int(micros or 0)


class SlackSurface:
    def __init__(self, gateway: SlackGateway, streams: ReplyStreams, identity: BotIdentity,
                 allow_user_mentions: Callable[[], bool] = lambda: False):
        self.gateway = gateway
        self.streams = streams
        self.identity = identity
        self.allow_user_mentions = allow_user_mentions  # spec.access.allowUserMentions, live
        self._repairs: set[asyncio.Task] = set()  # edits marking interrupted replies, running
        self._claims: AsyncWebClient | None = None  # for the decided mark on proposals (claim_decision)

    @property
    def names(self) -> UserNames:
        return self.gateway.names

    async def thread(self, incoming: Incoming) -> list[dict[str, Any]]:
        messages = await self.gateway.thread(incoming.channel, incoming.thread_ts)
        upto = _ts_key(incoming.ts)
        messages = [m for m in messages if m.get("ts") and _ts_key(m["ts"]) <= upto]
        if not any(m.get("ts") == incoming.ts for m in messages):
            messages.append(dict(incoming.event))  # Slack's history can lag the event by a moment
        self._mark_interrupted(incoming, messages)
        return messages

    async def post(self, incoming: Incoming, reply: Reply) -> None:
        channel, thread_ts = incoming.channel, incoming.thread_ts
        if reply.blocks:
            await self.gateway.post_blocks(channel, thread_ts, reply.text, reply.blocks)
        else:
            text = to_mrkdwn(reply.text, self.allow_user_mentions()) if reply.markdown else reply.text
            for part in split_message(text):
                await self.gateway.post(channel, thread_ts, part)
        if reply.private is not None:
            await self._post_private(incoming, reply.private)

    async def tell(self, channel: str, thread_ts: str, text: str) -> None:
        """A message (Slack mrkdwn) in a thread the engine is not answering right now (e.g. a dropped override)."""
        await self.gateway.post(channel, thread_ts, text)

    async def propose_action(self, incoming: Incoming, pending: PendingAction) -> str:
        """The proposal in the thread: what would run, who asked, until when, and the Approve and Deny buttons."""
        text = approvals.proposal_text(pending, approvals.slack_clock(pending.expires_at))
        return await self.gateway.post_blocks(pending.channel, pending.thread_ts, text,
                                              approvals.proposal_blocks(pending))

    async def claim_decision(self, pending: PendingAction) -> bool:
        """The bot's :ballot_box_with_check: on the proposal's message: Slack adds it once, so of two clicks that
        reach two replicas at once only one decides. Without the reactions:write scope, or when Slack cannot be
        reached, this click decides (as an unclaimed mention is answered)."""
        if not pending.message_ts:
            return True
        if self._claims is None:
            self._claims = claims_client(self.gateway.client)
        try:
            await self._claims.reactions_add(channel=pending.channel, timestamp=pending.message_ts,
                                             name=approvals.DECIDED_REACTION)
        except SlackApiError as exc:
            claim = claim_result(exc.response.get("error") or "unknown")
            if claim.outcome == "unclaimed":
                log.warning("could not mark the proposal %s decided (reactions.add: %s); deciding it unclaimed",
                            pending.id, claim.error, extra={"channel": pending.channel})
            return claim.answer
        return True

    async def decided_elsewhere(self, pending: PendingAction) -> bool:
        """The bot's :ballot_box_with_check: is on the proposal's message (conversations.replies shows reactions)."""
        if not pending.message_ts:
            return False
        messages = await self.gateway.thread(pending.channel, pending.thread_ts)
        message = next((m for m in messages if m.get("ts") == pending.message_ts), {})
        return any(r.get("name") == approvals.DECIDED_REACTION and self.identity.user_id in (r.get("users") or ())
                   for r in message.get("reactions") or ())

    async def settle_action(self, pending: PendingAction, outcome_line: str) -> None:
        """The proposal's message shows its outcome, without buttons (chat.update)."""
        if not pending.message_ts:
            return
        await self.gateway.update(pending.channel, pending.message_ts, approvals.settled_text(pending, outcome_line),
                                  blocks=approvals.settled_blocks(pending, outcome_line))

    def open_answer(self, incoming: Incoming, *, allow_user_mentions: bool) -> ReplyStream | NativeReplyStream:
        event = incoming.event
        return self.streams.open(incoming.channel, incoming.thread_ts, user=incoming.user,
                                 team=event.get("user_team") or event.get("team") or self.identity.team_id,
                                 direct=incoming.direct, allow_user_mentions=allow_user_mentions)

    async def _post_private(self, incoming: Incoming, reply: Reply) -> None:
        """An ephemeral message to the asker in the thread; when Slack refuses it, the thread says so (not what)."""
        try:
            await self.gateway.post_ephemeral(incoming.channel, incoming.thread_ts, incoming.user, reply.text,
                                              reply.blocks)
        except SlackApiError as exc:
            error = exc.response.get("error") or "unknown error"
            log.warning("chat.postEphemeral failed: %s", error, extra={"channel": incoming.channel})
            await self.gateway.post(incoming.channel, incoming.thread_ts,
                                    f":warning: I could not show you the private part of this reply"
                                    f" (Slack said `{outside_text(str(error), 100)}`)."
                                    " Ask me in a direct message instead.")

    def _mark_interrupted(self, incoming: Incoming, messages: list[dict[str, Any]]) -> None:
        streams = self.streams
        for message in interrupted_replies(messages, self.identity, owner=streams.owner, now=time.time(),
                                           in_flight=streams.in_flight):
            text = interrupted_text(message.get("text", ""), TYPING_MARK, PLACEHOLDER, INTERRUPTED_NOTE,
                                    SLACK_MESSAGE_LIMIT)
            metadata = reply_metadata("interrupted", streams.owner, 0)
            task = asyncio.ensure_future(self.gateway.update(incoming.channel, message["ts"], text, metadata))
            self._repairs.add(task)
            task.add_done_callback(self._repaired)

    def _repaired(self, task: asyncio.Task) -> None:
        self._repairs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not mark an interrupted reply: %s", task.exception())

"""The Slack Web API calls the bot makes: thread history (paginated), display names (cached), post (also to one
user alone: ephemeral) and update."""

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

FALLBACK_TEXT = 3000  # the fallback text of a Block Kit message, cut (the blocks carry it all)
REPLIES_PAGE_SIZE = 1000  # Slack's maximum page; it may return fewer, and the cursor covers the rest


class UserNames:
    """Display names by user id, from `users.info`, cached with a TTL and a bounded size; concurrent lookups of
    the same id share one request. A failed lookup gives None and is not cached."""

    def __init__(self, client: AsyncWebClient, ttl: float = 3600.0, max_size: int = 5000):
        self._client = client
        self._ttl = ttl
        self._max_size = max_size
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    async def get(self, user_id: str) -> str | None:
        hit = self._cache.get(user_id)
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        pending = self._pending.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[user_id] = future
        try:
            name = await self._lookup(user_id)
            future.set_result(name)
            return name
        except BaseException as exc:
            future.set_result(None)
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("users.info failed for %s: %s", user_id, type(exc).__name__)
            return None
        finally:
            del self._pending[user_id]

    async def _lookup(self, user_id: str) -> str | None:
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return None
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or user_id)
        self._cache[user_id] = (time.monotonic(), name)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max_size:
            self._cache.popitem(last=False)
        return name

    async def many(self, user_ids: set[str]) -> dict[str, str]:
        """The names found; ids whose lookup failed are left out (the caller falls back to the id)."""
        ids = sorted(user_ids)
        names = await asyncio.gather(*(self.get(i) for i in ids))
        return {i: name for i, name in zip(ids, names, strict=True) if name}


class SlackGateway:
    def __init__(self, client: AsyncWebClient, user_cache_ttl: float = 3600.0):
        self.client = client
        self.names = UserNames(client, ttl=user_cache_ttl)

    async def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Every message of the thread, oldest first, following `response_metadata.next_cursor`."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            response = await self.client.conversations_replies(channel=channel, ts=thread_ts,
                                                               limit=REPLIES_PAGE_SIZE, cursor=cursor,
                                                               include_all_metadata=True)
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor or not response.get("has_more", True):
                break
        return messages

    async def post(self, channel: str, thread_ts: str, text: str, metadata: dict[str, Any] | None = None) -> str:
        """`metadata`: Slack message metadata (`{"event_type": …, "event_payload": {…}}`), e.g. a reply's state."""
        extra = {"metadata": metadata} if metadata else {}
        response = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                                      unfurl_links=False, unfurl_media=False, **extra)
        return response["ts"]

    async def post_blocks(self, channel: str, thread_ts: str, text: str, blocks: list[dict[str, Any]]) -> str:
        """A Block Kit message; `text` is what notifications and clients without blocks show."""
        response = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text[:FALLBACK_TEXT],
                                                      blocks=blocks, unfurl_links=False, unfurl_media=False)
        return response["ts"]

    async def post_ephemeral(self, channel: str, thread_ts: str, user: str, text: str,
                             blocks: list[dict[str, Any]] | None = None) -> str:
        """A message in the thread only `user` sees (chat.postEphemeral: not stored in the thread); its message_ts."""
        extra = {"blocks": blocks} if blocks else {}
        response = await self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                                        text=text[:FALLBACK_TEXT], **extra)
        return response.get("message_ts", "")

    async def update(self, channel: str, ts: str, text: str, metadata: dict[str, Any] | None = None,
                     blocks: list[dict[str, Any]] | None = None) -> None:
        """`blocks` replace the message's (`[]` removes them); None keeps them, as Slack does."""
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        if blocks is not None:
            extra["blocks"] = blocks
            text = text[:FALLBACK_TEXT]
        await self.client.chat_update(channel=channel, ts=ts, text=text, **extra)

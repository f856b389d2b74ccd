"""Claims a message through Slack before answering it, so that one replica of a bot answers it (core/events.py).

The claim is `reactions.add` (the bot's :eyes: on the message; needs the `reactions:write` scope). It is sent with a
client that retries only 429s (Slack did not apply the request), never a connection error: a retried add whose first
attempt reached Slack would come back `already_reacted` and nobody would answer. A connection error is `unclaimed`
(answered). When Slack says the app cannot react at all (scope missing), the bot answers unclaimed and skips claims
for `pause` seconds; it says what to fix as a warning the first time, then in debug logs.
"""

import logging
import time

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from h1bot_bot.core.events import CLAIM_REACTION, CLAIMS_UNAVAILABLE, Claim, claim_result

log = logging.getLogger(__name__)


def claims_client(client: AsyncWebClient, timeout: float = 10.0) -> AsyncWebClient:
    """`client` for claims by reaction: it retries only 429s (Slack did not apply the request), never a connection
    error, since a retried add whose first attempt reached Slack would come back `already_reacted`."""
    return AsyncWebClient(token=client.token, base_url=client.base_url, session=client.session,
                          timeout=min(client.timeout, timeout),
                          retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)])


class ReplyClaims:
    def __init__(self, client: AsyncWebClient, pause: float = 300.0, timeout: float = 10.0):
        self.client = claims_client(client, timeout)
        self.pause = pause
        self._paused_until = 0.0
        self._told = False

    async def claim(self, channel: str, ts: str) -> Claim:
        if time.monotonic() < self._paused_until:
            return Claim("unclaimed", "paused")
        try:
            await self.client.reactions_add(channel=channel, timestamp=ts, name=CLAIM_REACTION)
            result = claim_result(None)
        except SlackApiError as exc:
            result = claim_result(exc.response.get("error") or "unknown")
        except (aiohttp.ClientError, TimeoutError) as exc:
            result = Claim("unclaimed", type(exc).__name__)
        if result.error in CLAIMS_UNAVAILABLE:
            self._paused_until = time.monotonic() + self.pause
            log.log(logging.DEBUG if self._told else logging.WARNING,
                    "cannot claim messages before answering (reactions.add: %s): add the reactions:write scope to "
                    "the Slack app and reinstall it; until then, with more than one replica a mention may be "
                    "answered twice (retrying in %.0fs)", result.error, self.pause)
            self._told = True
        elif result.outcome == "unclaimed":
            log.warning("could not claim a message before answering (reactions.add: %s); answering it unclaimed",
                        result.error, extra={"channel": channel})
        return result

"""Notices when Slack stops accepting the bot's credentials, so readiness and status.bot can say so.

Two signals, both from slack_sdk's public hooks: every Web API response passes through the client's retry handlers
(an observer that never retries sees `invalid_auth`, `token_revoked`, `token_expired`, `account_inactive`), and
every Socket Mode frame reaches `on_message_listeners` (Slack sends `{"type": "disconnect", "reason":
"link_disabled"}` when the app is uninstalled or Socket Mode is turned off). A later success clears the failure:
an `ok` answer with the same token, or a Socket Mode `hello`.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler

log = logging.getLogger(__name__)

AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "token_expired", "account_inactive"})
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
BOT, APP, LINK = "bot token", "app token", "socket link"
WHAT_TO_FIX = {BOT: "renew the bot token (spec.secrets.slackBotToken) or reinstall the Slack app",
               APP: "renew the app-level token (spec.secrets.slackAppToken)",
               LINK: "reinstall the Slack app and check that Socket Mode is on"}


class SlackAuthMonitor:
    def __init__(self, on_change: Callable[[], Any] | None = None):
        self.on_change = on_change
        self._failures: dict[str, str] = {}  # BOT, APP or LINK → what happened

    @property
    def failure(self) -> str | None:
        """`Slack auth revoked: …` while a credential is refused, else None."""
        if not self._failures:
            return None
        return "Slack auth revoked: " + "; ".join(f"{what} ({WHAT_TO_FIX[kind]})"
                                                   for kind, what in self._failures.items())

    def _set(self, kind: str, what: str | None) -> None:
        if self._failures.get(kind) == what:
            return
        if what is None:
            self._failures.pop(kind, None)
            log.info("Slack accepts the %s again", kind)
        else:
            self._failures[kind] = what
            log.error("Slack auth revoked: %s", what)
        if self.on_change is not None:
            self.on_change()

    # ---- Web API -------------------------------------------------------------------------------------------------
    def observe_response(self, url: str, body: Any) -> None:
        if not isinstance(body, dict):
            return
        method = url.rstrip("/").rsplit("/", 1)[-1]
        kind = APP if method in APP_TOKEN_METHODS else BOT
        error = body.get("error")
        if body.get("ok") is False and error in AUTH_ERRORS:
            self._set(kind, f"{method} answered {error}")
        elif body.get("ok") is True and kind in self._failures:
            self._set(kind, None)

    def retry_handler(self) -> AsyncRetryHandler:
        """Put it first in `AsyncWebClient.retry_handlers`: it sees every response and never asks for a retry."""
        return _Observer(self)

    # ---- Socket Mode ---------------------------------------------------------------------------------------------
    async def on_socket_message(self, message: Any) -> None:
        """For `SocketModeClient.on_message_listeners` (aiohttp): every text frame."""
        try:
            frame = json.loads(message.data)
        except (TypeError, ValueError, AttributeError):
            return
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "disconnect" and frame.get("reason") == "link_disabled":
            self._set(LINK, "Slack disabled the Socket Mode link (link_disabled)")
        elif frame.get("type") == "hello":
            self._set(LINK, None)


class _Observer(AsyncRetryHandler):
    def __init__(self, monitor: SlackAuthMonitor):
        super().__init__(max_retry_count=2**31)  # can_retry_async stops calling handlers past max_retry_count
        self.monitor = monitor

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:
        if response is not None:
            self.monitor.observe_response(request.url, response.body)
        return False

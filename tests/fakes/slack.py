"""A fake Slack on 127.0.0.1: the Web API over HTTP and Socket Mode over a websocket, with a workspace in memory.

Point a real `AsyncWebClient(base_url=fake.api_url)` at it. The fake keeps channels and their messages, so a test
writes what people say (`say`, `mention`, `dm`), delivers the events over Socket Mode like Slack does, and asserts
on what a Slack user sees (`thread_messages`, `thread_texts`). Every Web API call and every envelope/ack is recorded.
chat.postMessage/update/delete live in slack_chat.py; their message metadata is stored and returned by
conversations.replies with `include_all_metadata`. Text streaming (chat.startStream/appendStream/stopStream) lives in
slack_streaming.py; streamed replies are thread messages like any other.

Several bot processes may connect at once, like several Socket Mode connections of one app token: which one gets an
event, and Slack's retries of unacked envelopes, live in slack_delivery.py; `reactions.add` (atomic per user and
reaction, as in Slack) in slack_reactions.py; button clicks (`block_actions` over Socket Mode) in slack_interactive.py.

    async with FakeSlack() as slack:
        slack.add_user("U1", "Alice")
        ...
        message, envelope_id = await slack.mention("C1", "U1", "what is kopf?")
        [reply] = await slack.wait_for_replies("C1", message["ts"])  # once it is final, not while it streams

A bot reply is written in steps (a placeholder, interim updates ending with the typing mark, an open stream): wait
for the final state with `wait_for_replies`/`final_replies`, never for a message that merely appeared
(slack_waiting.py).
"""

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.slack_chat import ChatApi
from tests.fakes.slack_delivery import Envelope, SocketDelivery
from tests.fakes.slack_ephemeral import EphemeralApi
from tests.fakes.slack_interactive import InteractiveApi
from tests.fakes.slack_reactions import ReactionsApi
from tests.fakes.slack_streaming import StreamingApi
from tests.fakes.slack_waiting import Waiting

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.perf_counter)  # when the call arrived
    answered_at: float | None = None  # when the fake answered it


class FakeSlack(SocketDelivery, ReactionsApi, EphemeralApi, InteractiveApi, StreamingApi, ChatApi, Waiting,
                LoopbackServer):
    def __init__(self, *, bot_user_id: str = "UBOT", bot_id: str = "BBOT", team_id: str = "T0FAKE",
                 team: str = "Fake Workspace", bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN,
                 replies_page_limit: int = 1000, echo_bot_messages: bool = True):
        super().__init__()
        self.bot_user_id, self.bot_id, self.team_id, self.team = bot_user_id, bot_id, team_id, team
        self.bot_token, self.app_token = bot_token, app_token
        # Slack caps conversations.replies pages at 1000; a test lowers this to exercise pagination.
        self.replies_page_limit = replies_page_limit
        # Like Slack with message.channels subscribed: the bot's own posts/edits come back as events.
        self.echo_bot_messages = echo_bot_messages
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel → messages, in ts order
        self.calls: list[Call] = []
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral (slack_ephemeral.py): never in a thread
        self.call_hooks: list[Callable[[Call], None]] = []  # called with every Web API call as it arrives
        self.envelopes: dict[str, Envelope] = {}
        self.rate_limits: dict[str, list[int]] = {}  # method → Retry-After values still to serve
        self.failures: dict[str, list[str]] = {}  # method → Slack error codes still to serve
        self.latency: dict[str, float] = {}  # method → seconds Slack takes to answer it (a slow workspace)
        self.hang_ups: dict[str, int] = {}  # method → calls still to answer by dropping the connection
        self.revoked: str | None = None  # every Web API call answers this error (see revoke)
        # A Slack error code every chat.startStream answers (streaming unavailable: channel type, scope, token).
        self.refuse_streams: str | None = None
        self.streamed: set[tuple[str, str]] = set()  # (channel, ts) of every message made by chat.startStream
        self.connections_opened = 0  # apps.connections.open calls
        self.sockets_accepted = 0  # websocket connections made
        self.delivery = "newest"  # which connection gets an event: "newest" or "round_robin"
        # Like Slack: an envelope not acked within this many seconds is sent again (retry_attempt + 1, reason
        # "timeout"), on another connection when there is one, up to `max_retries` times. None: never.
        self.ack_timeout: float | None = None
        self.max_retries = 3
        self._sockets: dict[str, web.WebSocketResponse] = {}  # connection id → websocket, oldest first
        self._round_robin = itertools.count()
        self._retries: set[asyncio.Task] = set()
        self._echoes: set[asyncio.Task] = set()
        self._clock = itertools.count(1)
        self._base_ts = int(time.time())
        self._changed = asyncio.Event()
        self.add_user(bot_user_id, "h1bot", is_bot=True)

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket/{id}", self._socket)

    async def before_stop(self) -> None:
        for task in list(self._retries):
            task.cancel()
        for ws in list(self._sockets.values()):
            await ws.close()

    # ---- the workspace -----------------------------------------------------------------------------------------
    def add_user(self, user_id: str, display_name: str, *, real_name: str | None = None, is_bot: bool = False):
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": display_name.lower(),
                               "real_name": real_name or display_name, "is_bot": is_bot,
                               "profile": {"display_name": display_name, "real_name": real_name or display_name}}

    def next_ts(self) -> str:
        return f"{self._base_ts}.{next(self._clock):06d}"

    def _store(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        self.messages.setdefault(channel, []).append(message)
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self.find(channel, thread_ts)
            if parent is not None:
                parent.setdefault("thread_ts", thread_ts)
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._notify()
        return message

    def say(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
            files: list[dict[str, Any]] | None = None, bot_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """A message someone writes (stored, no event sent)."""
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": self.next_ts(),
                                   "team": self.team_id, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        if files:
            message["files"] = files
            message.setdefault("subtype", "file_share")
        if bot_id:
            message["bot_id"] = bot_id
        return self._store(channel, message)

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The thread as a Slack user sees it now: the parent, then its replies, oldest first."""
        return [m for m in self.messages.get(channel, [])
                if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]

    def thread_texts(self, channel: str, thread_ts: str) -> list[str]:
        return [m["text"] for m in self.thread_messages(channel, thread_ts)]

    def bot_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.thread_messages(channel, thread_ts)
                if m.get("user") == self.bot_user_id and m["ts"] != thread_ts]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # ---- injected trouble --------------------------------------------------------------------------------------
    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 429 with `Retry-After: retry_after`."""
        self.rate_limits.setdefault(method, []).extend([retry_after] * times)

    def hang_up(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` are applied, then the connection drops before the answer (the
        client cannot tell whether Slack did it)."""
        self.hang_ups[method] = self.hang_ups.get(method, 0) + times

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self.failures.setdefault(method, []).extend([error] * times)

    async def revoke(self, error: str = "token_revoked", *, link_disabled: bool = True) -> None:
        """What Slack does when the app is uninstalled or its tokens are revoked: every Web API call answers
        `error` (token_revoked, invalid_auth, account_inactive), and with `link_disabled` each Socket Mode
        connection gets `{"type": "disconnect", "reason": "link_disabled"}` and is closed."""
        self.revoked = error
        self._notify()
        if link_disabled:
            for ws in [ws for ws in self._sockets.values() if not ws.closed]:
                await ws.send_json({"type": "disconnect", "reason": "link_disabled",
                                    "debug_info": {"host": "fake-slack"}})
                await ws.close()

    # ---- Web API -----------------------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                params.update(json.loads(raw or b"{}"))
            else:
                params.update(parse_qsl(raw.decode()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        call = Call(method, params, token)
        self.calls.append(call)
        for hook in self.call_hooks:
            hook(call)
        self._notify()
        if self.latency.get(method):
            await asyncio.sleep(self.latency[method])
        response = await self._answer(call)
        call.answered_at = time.perf_counter()
        if self.hang_ups.get(method):  # applied, but the client never hears it
            self.hang_ups[method] -= 1
            request.transport.close()
            raise ConnectionResetError(f"fake Slack hung up on {method}")
        return response

    async def _answer(self, call: Call) -> web.Response:
        method, params, token = call.method, call.params, call.token
        if self.rate_limits.get(method):
            retry_after = self.rate_limits[method].pop(0)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        if self.failures.get(method):
            return web.json_response({"ok": False, "error": self.failures[method].pop(0)})
        if self.revoked:
            return web.json_response({"ok": False, "error": self.revoked})
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth" if token else "not_authed"})
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(await handler(params))

    async def _api_auth_test(self, params: dict) -> dict:
        return {"ok": True, "url": "https://fake.slack.test/", "team": self.team, "user": "h1bot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    async def _api_apps_connections_open(self, params: dict) -> dict:
        self.connections_opened += 1
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket/{uuid.uuid4().hex}"}

    async def _api_users_info(self, params: dict) -> dict:
        user = self.users.get(params.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    async def _api_conversations_replies(self, params: dict) -> dict:
        channel, ts = params.get("channel", ""), params.get("ts", "")
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        thread = self.thread_messages(channel, ts)
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        limit = min(int(params.get("limit") or 1000), self.replies_page_limit)
        start = int(params.get("cursor") or 0) if str(params.get("cursor") or "0").isdigit() else 0
        page = thread[start:start + limit]
        more = start + limit < len(thread)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        return {"ok": True, "has_more": more,
                "messages": [{k: v for k, v in m.items() if k != "metadata" or with_metadata} for m in page],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    # ---- Socket Mode -------------------------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = request.match_info["id"]
        self._sockets[connection] = ws
        self.sockets_accepted += 1
        self._notify()
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "connection_info": {"app_id": "AFAKE"}, "debug_info": {"host": "fake-slack"}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    envelope = self.envelopes.get(data.get("envelope_id", ""))
                    if envelope is not None and envelope.acked_at is None:
                        envelope.acked_at = time.perf_counter()
                        self._notify()
        finally:
            del self._sockets[connection]
            self._notify()
        return ws

    def _echo(self, channel: str, event: dict[str, Any]) -> None:
        async def deliver() -> None:
            try:
                await self.send_event(event)
            except (RuntimeError, ConnectionError):
                pass  # the app disconnected meanwhile: Slack would drop it too

        if self.connected:
            task = asyncio.ensure_future(deliver())
            self._echoes.add(task)
            task.add_done_callback(self._echoes.discard)

    async def mention(self, channel: str, user: str, text: str | None = None, *, thread_ts: str | None = None,
                      **extra: Any) -> tuple[dict[str, Any], str]:
        """`user` writes `text` (default: just the mention) mentioning the bot; delivers app_mention."""
        text = f"<@{self.bot_user_id}> {text}" if text is not None else f"<@{self.bot_user_id}>"
        message = self.say(channel, user, text, thread_ts=thread_ts, **extra)
        event = {**message, "type": "app_mention", "channel": channel, "event_ts": message["ts"]}
        return message, await self.send_event(event)

    async def dm(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
                 **extra: Any) -> tuple[dict[str, Any], str]:
        """`user` writes `text` in the DM `channel` with the bot; delivers message.im."""
        message = self.say(channel, user, text, thread_ts=thread_ts, **extra)
        event = {**message, "channel": channel, "channel_type": "im", "event_ts": message["ts"]}
        return message, await self.send_event(event)

    async def request_refresh(self) -> None:
        """Slack's `disconnect` (refresh_requested): the client should open a new connection."""
        for ws in [ws for ws in self._sockets.values() if not ws.closed]:
            await ws.send_json({"type": "disconnect", "reason": "refresh_requested",
                                "debug_info": {"host": "fake-slack"}})

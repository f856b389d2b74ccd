"""A fake OpenAI-compatible server on 127.0.0.1: `/v1/models` and `/v1/chat/completions`, plain and streaming.

Reach it with the real `openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key)`. What it answers:
1. the next scripted item, if any (`fake.script(...)`), else
2. `fake.responder(request_body)` (default: a short deterministic answer naming the last user message).
An item or a responder's result is a `str`, a `Reply` (text plus streaming pace), a `Failure` (HTTP error), a
`Hang` (answer late, for client timeouts), or `ToolCalls` (the model calls tools: streamed as OpenAI streams them,
the arguments in pieces, finish reason `tool_calls`). A `Reply` scripts how a stream ends: its `finish_reason`
(`length`, `content_filter`), a dropped connection (`fail_after_chars`), or a clean end without finish reason or
`[DONE]` (`ends_early`); `chunk_delay` drips the pieces.
`fake.refuse_tools = True` answers any request carrying `tools` with HTTP 400, as endpoints without tool support do.
Every request is recorded (`fake.requests`, `fake.chat_requests`) so tests
assert on the roles, names, system prompt, model and token parameters the model saw.

    fake.responder = lambda req: "SUMMARY" if "Summarize" in req["messages"][0]["content"] else "answer"
"""

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.loopback import LoopbackServer

API_KEY = "sk-fake-openai-key"


@dataclass
class Reply:
    text: str
    chunk_chars: int = 16  # streamed in pieces of this many characters
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str = "stop"
    fail_after_chars: int | None = None  # cut the stream (connection dropped) after this much text
    gate: asyncio.Event | None = None  # the first token waits until the test sets it (no wall-clock race)
    ends_early: bool = False  # end the stream cleanly after the text, without a finish reason or [DONE]


@dataclass
class Failure:
    status: int
    message: str = "injected failure"
    code: str | None = None
    retry_after: float | None = None
    type: str = "server_error"


@dataclass
class Hang:
    seconds: float  # wait this long before answering (then answer with `then`)
    then: Any = "late answer"


@dataclass
class ToolCall:
    name: str
    arguments: str | dict[str, Any] = "{}"  # a dict is sent as its JSON; a str as it is (malformed on purpose)
    id: str = ""


@dataclass
class ToolCalls:
    calls: list[ToolCall]
    text: str = ""  # what the model says before calling (streamed first)
    argument_chars: int = 7  # the arguments are streamed in pieces this long


@dataclass
class ReceivedRequest:
    path: str
    body: dict[str, Any]
    headers: CIMultiDict  # case-insensitive, like HTTP
    at: float = field(default_factory=time.perf_counter)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The `tool` messages sent back to the model."""
        return [m for m in self.messages if m.get("role") == "tool"]

    @property
    def tool_names(self) -> list[str]:
        """The tools offered in this request."""
        return [t["function"]["name"] for t in self.body.get("tools") or []]


def rate_limited(retry_after: float | None = None) -> Failure:
    return Failure(429, "Rate limit reached for requests", "rate_limit_exceeded", retry_after, "requests")


def server_error(status: int = 500) -> Failure:
    return Failure(status, "The server had an error while processing your request.", None, None, "server_error")


def default_responder(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = users[-1]["content"] if users else ""
    return f"Answer to: {last[:200]}"


def rough_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


class FakeOpenAI(LoopbackServer):
    max_request_bytes = 32 * 1024 * 1024

    def __init__(self, *, models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "gpt-5-mini", "text-embedding-3-small"),
                 api_key: str = API_KEY, responder: Callable[[dict[str, Any]], Any] = default_responder):
        super().__init__()
        self.models = list(models)
        self.api_key = api_key
        self.responder = responder
        self.queue: deque[Any] = deque()
        self.requests: list[ReceivedRequest] = []
        self.refuse_tools = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def script(self, *items: Any) -> None:
        """Answer the next requests with these items, in order, before falling back to the responder."""
        self.queue.extend(items)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)

    # ---- HTTP --------------------------------------------------------------------------------------------------
    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return _error(Failure(401, "Incorrect API key provided.", "invalid_api_key", None, "invalid_request_error"))

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(ReceivedRequest(request.path, {}, CIMultiDict(request.headers)))
        if (denied := self._unauthorized(request)) is not None:
            return denied
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for m in self.models]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(ReceivedRequest(request.path, body, CIMultiDict(request.headers)))
        if (denied := self._unauthorized(request)) is not None:
            return denied
        model = body.get("model", "")
        if model not in self.models:
            return _error(Failure(404, f"The model `{model}` does not exist or you do not have access to it.",
                                  "model_not_found", None, "invalid_request_error"))
        if self.refuse_tools and body.get("tools"):
            return _error(Failure(400, "tools is not supported with this model", None, None,
                                  "invalid_request_error"))
        item = self.queue.popleft() if self.queue else self.responder(body)
        while isinstance(item, Hang):
            await asyncio.sleep(item.seconds)
            item = item.then
        if isinstance(item, Failure):
            return _error(item)
        if isinstance(item, ToolCalls):
            return await self._tool_calls(request, body, item)
        reply = item if isinstance(item, Reply) else Reply(str(item))
        usage = {"prompt_tokens": sum(rough_tokens(str(m.get("content", ""))) for m in body.get("messages", [])),
                 "completion_tokens": rough_tokens(reply.text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            return await self._stream(request, body, reply, usage)
        await asyncio.sleep(reply.first_token_delay)
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text, "refusal": None},
                         "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": usage})

    async def _stream(self, request: web.Request, body: dict, reply: Reply, usage: dict) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body["model"], "system_fingerprint": "fp_fake"}

        async def send(choices: list, **extra: Any) -> None:
            await response.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())

        def choice(delta: dict, finish: str | None = None) -> list:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        await asyncio.sleep(reply.first_token_delay)
        if reply.gate is not None:
            await reply.gate.wait()
        await send(choice({"role": "assistant", "content": "", "refusal": None}))
        text = reply.text
        sent = 0
        for start in range(0, len(text), max(1, reply.chunk_chars)):
            if reply.fail_after_chars is not None and sent >= reply.fail_after_chars:
                request.transport.close()  # the connection drops in the middle of the answer
                return response
            piece = text[start:start + reply.chunk_chars]
            if start and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            await send(choice({"content": piece}))
            sent += len(piece)
        if reply.ends_early:  # a proxy or endpoint that closes the stream before the end
            await response.write_eof()
            return response
        await send(choice({}, reply.finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


    async def _tool_calls(self, request: web.Request, body: dict, item: ToolCalls) -> web.StreamResponse:
        calls = [{"id": c.id or f"call_{uuid.uuid4().hex[:10]}", "type": "function",
                  "function": {"name": c.name, "arguments": c.arguments if isinstance(c.arguments, str)
                               else json.dumps(c.arguments)}} for c in item.calls]
        usage = {"prompt_tokens": sum(rough_tokens(str(m.get("content", ""))) for m in body.get("messages", [])),
                 "completion_tokens": 10 * len(calls)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return web.json_response({
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": item.text or None, "tool_calls": calls},
                    "finish_reason": "tool_calls"}], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body["model"], "system_fingerprint": "fp_fake"}

        async def send(delta: dict | None, finish: str | None = None, **extra: Any) -> None:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                 "finish_reason": finish}]
            await response.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())

        await send({"role": "assistant", "content": item.text or None})
        for index, call in enumerate(calls):  # as OpenAI streams them: id and name first, then the arguments
            await send({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), max(1, item.argument_chars)):
                await send({"tool_calls": [{"index": index, "function": {
                    "arguments": arguments[start:start + item.argument_chars]}}]})
        await send({}, "tool_calls")
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(None, usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _error(failure: Failure) -> web.Response:
    headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
    return web.json_response({"error": {"message": failure.message, "type": failure.type, "param": None,
                                        "code": failure.code}}, status=failure.status, headers=headers)

"""The OpenAI-compatible chat endpoint: per-model request quirks, bounded retries with backoff, errors as messages.

The openai client's own retries are off (`max_retries=0`): this module decides how often and how long to wait, and
turns every failure into an `LLMError` whose `user_message` says what failed and which setting to fix.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from h1bot_api.models import ModelInfo
from h1bot_bot.adapters.retry import Backoff
from h1bot_bot.core.slack_safety import redact

log = logging.getLogger(__name__)

# When the answer being prepared must be done (the event loop's clock): set by `LLMClient.whole_answer` around all
# the calls of one answer (summaries, then the answer itself); tasks started inside inherit it.
_ANSWER_ENDS: ContextVar[float | None] = ContextVar("h1bot_answer_ends", default=None)

class StreamBroken(Exception):
    """The answer stream ended without a finish reason (no `[DONE]`): the connection or the endpoint cut it."""


def _openai() -> Any:
    """The openai package, imported on the first request: it is ~40 MB resident, which a bot that has not been
    asked anything yet does not need to hold."""
    import openai

    return openai


def _retryable(exc: BaseException) -> bool:
    openai = _openai()
    return isinstance(exc, openai.RateLimitError | openai.InternalServerError | openai.APITimeoutError
                      | openai.APIConnectionError | StreamBroken)


DEADLINE = "deadline"  # `Completion.finish_reason` when the answer deadline cut the answer


class LLMError(Exception):
    """A failed answer: `kind` for metrics and logs, `user_message` for the Slack thread."""

    def __init__(self, kind: str, user_message: str, attempts: int = 1, detail: str = ""):
        super().__init__(f"{kind}: {user_message}")
        self.kind = kind
        self.user_message = user_message
        self.attempts = attempts
        self.detail = detail  # the endpoint's own message, when it sent one


@dataclass
class ToolCall:
    """A tool call the model made (OpenAI tool calling): `arguments` is the JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str = ""

    def as_message_part(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Completion:
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    time_to_first_token: float | None = None
    duration: float = 0.0
    finish_reason: str | None = None
    chunks: list[str] = field(default_factory=list, repr=False)
    tool_calls: list[ToolCall] = field(default_factory=list)

    def restart(self, attempt: int) -> None:
        """Start over for another attempt: nothing received yet."""
        self.__dict__.update(Completion(attempts=attempt).__dict__)


def request_params(model: str, info: ModelInfo, messages: list[dict], max_output_tokens: int,
                   temperature: float, tools: list[dict] | None = None, tool_choice: str | None = None) -> dict:
    """The chat.completions parameters for `model`: the one place that knows the per-model quirks. `tools`:
    the OpenAI tool definitions offered (none: no `tools` parameter at all); `tool_choice` "none" asks for text."""
    params: dict = {"model": model, "messages": messages, info.token_param: max_output_tokens}
    if info.supports_temperature:
        params["temperature"] = temperature
    if tools:
        params["tools"] = tools
        if tool_choice:
            params["tool_choice"] = tool_choice
    return params


def _status_text(exc: Any) -> str:
    """The message of an openai.APIStatusError."""
    message = ""
    body = exc.body if isinstance(exc.body, dict) else None
    if body:
        error = body.get("error", body)
        message = error.get("message", "") if isinstance(error, dict) else str(error)
    return redact((message or exc.message or "").strip())[:300]


def describe_failure(exc: Exception, model: str, endpoint: str, attempts: int, timeout: float) -> LLMError:
    """The `LLMError` for a failure that will not be retried (any more)."""
    openai = _openai()
    tries = f" (tried {attempts} time{'s' if attempts != 1 else ''})"
    if isinstance(exc, openai.AuthenticationError):
        return LLMError("auth", "The model endpoint rejected the bot's API key (HTTP 401). An admin needs to fix "
                                "the OpenAI API key in the Secret named by `spec.secrets.openAIAPIKey`.", attempts)
    if isinstance(exc, openai.PermissionDeniedError):
        return LLMError("permission", "The model endpoint refused access (HTTP 403): "
                        f"{_status_text(exc)}. Check `spec.secrets.openAIOrganization` and the key's permissions "
                        "(`spec.secrets.openAIAPIKey`).", attempts)
    if isinstance(exc, openai.NotFoundError):
        return LLMError("model_not_found", f"The model `{model}` is not available at {endpoint} (HTTP 404). "
                        "An admin needs to set `spec.model.name` to a model this endpoint serves "
                        "(or `spec.model.baseURL` to the right endpoint).", attempts)
    if isinstance(exc, openai.RateLimitError):
        return LLMError("rate_limit", f"The model endpoint is rate-limiting requests (HTTP 429){tries}. "
                        "Please try again in a minute.", attempts)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout", f"The model did not answer within {timeout:g} seconds{tries}. "
                        "Please try again.", attempts)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection", f"I could not reach the model endpoint {endpoint}{tries}. "
                        "Please try again later; if it persists, check `spec.model.baseURL`.", attempts)
    if isinstance(exc, openai.InternalServerError):
        return LLMError("server", f"The model endpoint failed (HTTP {exc.status_code}){tries}. "
                        "Please try again shortly.", attempts, detail=_status_text(exc))
    if isinstance(exc, StreamBroken):
        return LLMError("incomplete", "The model's answer stream broke off before the end. "
                        "Please ask again.", attempts)
    if isinstance(exc, openai.APIStatusError):
        return LLMError("bad_request", f"The model endpoint refused the request (HTTP {exc.status_code}): "
                        f"{_status_text(exc)}", attempts, detail=_status_text(exc))
    return LLMError("llm", f"The model's answer could not be read ({type(exc).__name__}). Please try again.",
                    attempts)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


class LLMClient:
    """Streams chat completions from an OpenAI-compatible endpoint.

    `base_url` is a string or a callable read at every request, so a live change of `spec.model.baseURL` takes
    effect without a restart; one openai client is kept per endpoint.
    """

    def __init__(self, api_key: str, base_url: str | Callable[[], str], organization: str | None = None,
                 timeout: float = 120.0, attempts: int = 3, backoff: float = 1.0, backoff_max: float = 20.0,
                 answer_deadline: float = 300.0):
        self._base_url = base_url if callable(base_url) else (lambda: base_url)
        self._api_key = api_key
        self._organization = organization
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._backoff = Backoff(backoff, backoff_max, jitter=0.25)
        self.answer_deadline = answer_deadline  # for a whole answer, retries included (`timeout` is per read)
        self._clients: dict[str, Any] = {}  # openai.AsyncOpenAI by endpoint
        self._imported = False

    @property
    def base_url(self) -> str:
        return self._base_url()

    @property
    def _client(self) -> Any:
        url = self.base_url
        if url not in self._clients:
            self._clients[url] = _openai().AsyncOpenAI(api_key=self._api_key, base_url=url,
                                                    organization=self._organization, timeout=self.timeout,
                                                    max_retries=0)
        return self._clients[url]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    async def ready(self) -> None:
        """Import the openai package (once, in a worker thread: the event loop keeps serving meanwhile)."""
        if not self._imported:
            await asyncio.to_thread(_openai)
            self._imported = True

    async def list_models(self, request_timeout: float = 10.0) -> list[str]:
        """The model ids the endpoint serves (`GET /models`). Raises the openai client's errors."""
        await self.ready()
        page = await self._client.models.list(timeout=request_timeout)
        return [model.id async for model in page]

    def _delay(self, exc: Exception, attempt: int) -> float:
        hinted = _retry_after(exc)
        return min(self.backoff_max, hinted) if hinted is not None else self._backoff.delay(attempt)

    @contextmanager
    def whole_answer(self) -> Iterator[None]:
        """Every `stream` inside shares one `answer_deadline`, counted from now (an answer's summaries and the
        answer itself); a `whole_answer` inside another keeps the outer one's end."""
        if _ANSWER_ENDS.get() is not None:
            yield
            return
        token = _ANSWER_ENDS.set(asyncio.get_running_loop().time() + self.answer_deadline)
        try:
            yield
        finally:
            _ANSWER_ENDS.reset(token)

    async def stream(self, params: dict, on_text: Callable[[str], Awaitable[None]]) -> Completion:
        """Stream one answer, calling `on_text` with each piece; retries only while nothing was streamed yet.

        Raises LLMError. A failure after text has streamed is not retried (the user already sees a part).
        The whole answer gets `answer_deadline` seconds: then the text so far is the answer, with finish reason
        `DEADLINE` (or, when nothing came, an LLMError of kind `deadline`)."""
        await self.ready()  # the first request imports the client, before the answer's clock starts
        started = time.perf_counter()
        result = Completion()
        ends, shared = asyncio.get_running_loop().time() + self.answer_deadline, _ANSWER_ENDS.get()
        try:
            async with asyncio.timeout_at(ends if shared is None else min(ends, shared)):
                return await self._stream_with_retries(params, on_text, started, result)
        except TimeoutError:
            if not result.chunks:
                raise LLMError("deadline", f"The model did not answer within {self.answer_deadline:g} seconds "
                               "(the bot's answer deadline). Please try again, maybe with a shorter question.",
                               result.attempts) from None
            result.text = "".join(result.chunks)
            result.finish_reason = DEADLINE
            result.duration = time.perf_counter() - started
            return result

    async def _stream_with_retries(self, params: dict, on_text: Callable[[str], Awaitable[None]], started: float,
                                   result: Completion) -> Completion:
        for attempt in range(1, self.attempts + 1):
            result.restart(attempt)  # the same object: the deadline handler reads what arrived
            try:
                async for piece in self._stream_once(params, result, started):
                    await on_text(piece)
                result.duration = time.perf_counter() - started
                return result
            except (asyncio.CancelledError, LLMError):
                raise
            except Exception as exc:
                if _retryable(exc) and not result.chunks and attempt < self.attempts:
                    delay = self._delay(exc, attempt)
                    log.warning("model request failed, retrying in %.2fs: %s", delay, type(exc).__name__,
                                extra={"model": params.get("model"), "error": type(exc).__name__})
                    await asyncio.sleep(delay)
                    continue
                error = describe_failure(exc, params.get("model", "?"), self.base_url, attempt, self.timeout)
                if result.chunks and not isinstance(exc, StreamBroken):
                    error.user_message = "The answer was interrupted: " + error.user_message
                raise error from exc
        raise AssertionError("unreachable")

    async def _stream_once(self, params: dict, result: Completion, started: float) -> AsyncIterator[str]:
        # The messages go in `extra_body`: the client otherwise walks every message through its TypedDict
        # transformer (~0.1 ms per message, 20+ ms for a 200-message thread), which changes nothing for plain
        # role/content string dicts.
        fields = {key: value for key, value in params.items() if key != "messages"}
        stream = await self._client.chat.completions.create(
            **fields, messages=[], extra_body={"messages": params["messages"]}, stream=True,
            stream_options={"include_usage": True})
        calls: dict[int, ToolCall] = {}  # by the stream's index: a call's arguments arrive in pieces
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    result.prompt_tokens = chunk.usage.prompt_tokens or 0
                    result.completion_tokens = chunk.usage.completion_tokens or 0
                for choice in chunk.choices:
                    if choice.finish_reason:
                        result.finish_reason = choice.finish_reason
                    for part in (choice.delta.tool_calls if choice.delta else None) or ():
                        call = calls.setdefault(part.index, ToolCall(id="", name=""))
                        call.id = part.id or call.id
                        if part.function is not None:
                            call.name = call.name or part.function.name or ""  # sent once, first
                            call.arguments += part.function.arguments or ""
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        if result.time_to_first_token is None:
                            result.time_to_first_token = time.perf_counter() - started
                        result.chunks.append(piece)
                        yield piece
        result.text = "".join(result.chunks)
        result.tool_calls = [call for _, call in sorted(calls.items())]
        for number, call in enumerate(result.tool_calls):
            call.id = call.id or f"call_{number}"  # some endpoints send no id; the tool message needs one
        if result.finish_reason is None:
            raise StreamBroken("the stream ended without a finish reason")

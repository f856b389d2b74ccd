"""The tool loop of one answer: the model looks at the cluster through the tools spec.tools grants, then answers.

Each round streams the model's reply; when it calls tools (OpenAI tool calling, parallel calls allowed) each call is
checked against the spec (core/tools.parse_call), counted against spec.tools.limits, and run: lookups through the
assembly's `lookup`, proposed actions through `propose` (they run only after an admin approves them in the thread,
engine/approvals.py). Every outcome, a refusal included, goes back to the model as the tool's result, clipped and
labelled as data. The loop ends when the model answers, or at the limits (calls, deadline): then the model is asked
for a final answer without tools. An endpoint that refuses tool calling gets the question again without tools, and
the answer says tools are unavailable for this model.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from h1bot_api.tools_spec import ToolsSpec
from h1bot_bot.adapters.llm import Completion, LLMClient, LLMError, ToolCall
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.core.surface import Incoming
from h1bot_bot.core.tools import (
    TOOLS_GUIDE,
    ActionProposal,
    ToolBudget,
    ToolRefused,
    ToolResult,
    definitions,
    looked_at,
    parse_call,
    tool_message,
)

log = logging.getLogger(__name__)

Lookups = Callable[[Any], Awaitable[ToolResult]]  # a parsed read request → what it found (never raises)
Propose = Callable[[Incoming, ActionProposal], Awaitable[str]]  # → what the model is told
# (messages, tools or None, tool_choice or None) → the request parameters of one round
MakeParams = Callable[[list[dict], list[dict] | None, str | None], dict]
OnText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ClusterTools:
    """What answers may use when spec.tools is set: built by the assembly (app.py, chat_session.py)."""

    spec: Callable[[], ToolsSpec | None]  # spec.tools now (live: the SlackBot's watch may change it)
    own_namespace: str  # the bot's namespace: where "the bot's own namespace" in spec.tools points
    lookup: Lookups
    propose: Propose | None = None  # None: this surface cannot ask for approval, so actions are refused


@dataclass
class ToolRun:
    """One answer's tool loop, for its note, log line and metrics."""

    completion: Completion  # the last round's: the answer
    rounds: list[Completion] = field(default_factory=list)  # every request's, the last included
    calls: int = 0
    tool_tokens: int = 0  # tokens of tool output sent to the model
    looked_at: str = ""
    clipped: bool = False
    notes: list[str] = field(default_factory=list)


def tools_unavailable(error: LLMError) -> bool:
    """Whether an endpoint's refusal of a request with `tools` is about tool calling (then the question is asked
    again without tools): a 4xx, or a 5xx that says so (llama.cpp without tool templates)."""
    return error.kind == "bad_request" or (error.kind == "server" and "tool" in error.detail.lower())


class ToolLoop:
    def __init__(self, llm: LLMClient, tools: ClusterTools, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic):
        self.llm = llm
        self.tools = tools
        self.metrics = metrics
        self.clock = clock
        self.unsupported: set[tuple[str, str]] = set()  # (endpoint, model) that refused tool calling

    def offered(self) -> list[dict]:
        """The tool definitions for an answer now (none when spec.tools grants nothing)."""
        return definitions(self.tools.spec(), self.tools.own_namespace)

    async def run(self, model: str, messages: list[dict], make_params: MakeParams, on_text: OnText,
                  incoming: Incoming, count_text: Callable[[str], int], room_tokens: int) -> ToolRun:
        """Answer with tools. `room_tokens`: what the context window leaves for tool output beside the history."""
        spec = self.tools.spec()
        defs = self.offered()
        if (self.llm.base_url, model) in self.unsupported:
            return await self._without_tools(model, messages, make_params, on_text)
        assert spec is not None and defs  # the caller checked offered()
        limits = spec.limits.model_copy(update={"max_output_tokens": max(0, min(spec.limits.max_output_tokens,
                                                                                 room_tokens))})
        budget = ToolBudget(limits, count_text)
        chat = [*messages[:1], {"role": "system", "content": TOOLS_GUIDE}, *messages[1:]] \
            if messages and messages[0]["role"] == "system" else [{"role": "system", "content": TOOLS_GUIDE},
                                                                  *messages]
        ends = self.clock() + spec.limits.deadline_seconds
        run = ToolRun(Completion())
        stop_note = ""
        writes = _RoundWriter(on_text)
        while True:
            final = bool(stop_note)
            try:
                completion = await self.llm.stream(make_params(chat, defs, "none" if final else None),
                                                   writes.next_round())
            except LLMError as exc:
                if not run.rounds and tools_unavailable(exc):  # the first request, with tools, refused
                    return await self._without_tools(model, messages, make_params, on_text, refusal=exc)
                raise
            run.completion = completion
            run.rounds.append(completion)
            if final or not completion.tool_calls:
                break
            chat.append({"role": "assistant", "content": completion.text or None,
                         "tool_calls": [call.as_message_part() for call in completion.tool_calls]})
            chat.extend(await self._run_calls(completion.tool_calls, spec, budget, incoming, ends))
            if budget.calls >= limits.max_tool_calls:
                stop_note = (f"_:mag: I stopped looking after {budget.calls} tool calls "
                             "(spec.tools.limits.maxToolCalls)._")
            elif self.clock() >= ends:
                stop_note = (f"_:hourglass: I stopped looking after {spec.limits.deadline_seconds} seconds "
                             "(spec.tools.limits.deadlineSeconds)._")
        run.calls, run.tool_tokens, run.clipped = budget.calls, budget.tokens, budget.clipped
        run.looked_at = looked_at(budget.done)
        if run.looked_at:
            run.notes.append(f"_:mag: {run.looked_at}" + (" (clipped to the tool output limit)" if run.clipped
                                                           else "") + "_")
        if stop_note:
            run.notes.append(stop_note)
        return run

    async def _without_tools(self, model: str, messages: list[dict], make_params: MakeParams, on_text: OnText,
                             refusal: LLMError | None = None) -> ToolRun:
        """The question without tools (`refusal`: the endpoint's refusal of them, now; None: refused earlier)."""
        completion = await self.llm.stream(make_params(messages, None, None), on_text)
        if refusal is not None:  # it answered without tools: tool calling was what it refused
            self.unsupported.add((self.llm.base_url, model))
            log.warning("the model endpoint refused tool calling; answering without tools: %s",
                        refusal.detail or refusal.kind)
        why = f" (the endpoint said: {refusal.detail})" if refusal is not None and refusal.detail else ""
        note = (f"_:wrench: Tools are unavailable for this model at this endpoint{why}, so I answered without "
                "looking at the cluster._")
        return ToolRun(completion, [completion], notes=[note])

    async def _run_calls(self, calls: list[ToolCall], spec: ToolsSpec, budget: ToolBudget, incoming: Incoming,
                         ends: float) -> list[dict]:
        """The tool messages for one round's calls: checked and counted in order, run concurrently, clipped in
        order (so the budget's share is the same whatever finishes first)."""
        checked: list[Any] = []
        for call in calls:
            try:
                budget.take_call()
                checked.append(parse_call(call.name, call.arguments, spec, self.tools.own_namespace))
            except ToolRefused as refusal:
                checked.append(refusal)
        started = time.perf_counter()
        known = {d["function"]["name"] for d in definitions(spec, self.tools.own_namespace)}
        results = await asyncio.gather(*(self._perform(request, incoming, ends) for request in checked))
        messages = []
        for number, (call, request, result) in enumerate(zip(calls, checked, results, strict=True)):
            if isinstance(result, ToolResult):  # a lookup's data (any kind of read request has a description)
                content = tool_message(request, result, budget, room=budget.share(len(calls) - number))
            else:
                content = result
            outcome = _outcome(request, content)
            tool = call.name if call.name in known else "unknown"
            self.metrics.tool_calls.labels(tool=tool, outcome=outcome).inc()
            log.info("tool call %s: %s", tool, outcome, extra={
                "event_id": incoming.event_id, "tool": call.name[:60], "outcome": outcome,
                "arguments": arguments_preview(call.arguments),
                "duration_ms": round((time.perf_counter() - started) * 1000)})
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        return messages

    async def _perform(self, request: Any, incoming: Incoming, ends: float) -> ToolResult | str:
        """A lookup's result, an action's proposal text, or a refusal's message; bounded by the tool deadline."""
        if isinstance(request, ToolRefused):
            return f"refused: {request.message}"
        if isinstance(request, ActionProposal):
            if self.tools.propose is None:
                return ("refused: actions need an admin's approval, which cannot be asked for here; tell the user "
                        f"what you would do instead: {request.description()}")
            return await self.tools.propose(incoming, request)
        try:
            async with asyncio.timeout(max(0.0, ends - self.clock())):
                return await self.tools.lookup(request)
        except TimeoutError:
            return ToolResult(refused=f"reading {request.description()} did not finish before the tool deadline")


class _RoundWriter:
    """The text of every round goes to the answer; a round's text after an earlier round's starts a new paragraph."""

    def __init__(self, on_text: OnText):
        self.on_text = on_text
        self.wrote = False

    def next_round(self) -> OnText:
        first = True

        async def write(piece: str) -> None:
            nonlocal first
            if first and self.wrote:
                piece = "\n\n" + piece.lstrip("\n")
            first = False
            self.wrote = True
            await self.on_text(piece)
        return write


def _outcome(request: Any, content: str) -> str:
    if isinstance(request, ToolRefused) or content.startswith("refused:"):
        return "refused"
    if isinstance(request, ActionProposal):
        return "proposed"
    return "ok"


def arguments_preview(arguments: str) -> str:
    """A tool call's arguments for a log line: compact JSON, or the raw text cut short when it is not JSON."""
    try:
        return json.dumps(json.loads(arguments), separators=(",", ":"))[:200]
    except ValueError:
        return arguments[:200]

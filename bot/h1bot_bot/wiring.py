"""The engine wired to a surface: the one place that connects its parts (used by the Slack bot, app.py, and the
terminal chat, chat_session.py).

    engine = build_engine(surface, identity, live_config, llm, tokenizers, metrics, router)
    outcome = await engine.dispatcher.handle(incoming)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from h1bot_api.tools_spec import ToolsSpec
from h1bot_bot.adapters.clock import now_seconds
from h1bot_bot.adapters.kube_tools import KubeTools
from h1bot_bot.adapters.llm import LLMClient
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.prometheus import PrometheusTools
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.commands import CommandRouter
from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.prom_tools import PromQuery
from h1bot_bot.core.surface import Surface
from h1bot_bot.core.tools import ToolResult, recheck
from h1bot_bot.engine.answering import Answerer
from h1bot_bot.engine.approvals import Approvals
from h1bot_bot.engine.chatops import ChatOps
from h1bot_bot.engine.dispatch import Dispatcher, LastError
from h1bot_bot.engine.live_config import LiveConfig
from h1bot_bot.engine.summarization import Summarization
from h1bot_bot.engine.thread_reader import ThreadReader
from h1bot_bot.engine.tool_loop import ClusterTools, ToolLoop


@dataclass(frozen=True)
class Engine:
    reader: ThreadReader
    summarization: Summarization
    answerer: Answerer
    dispatcher: Dispatcher
    commands: ChatOps
    tool_loop: ToolLoop | None = None


class ToolRunners:
    """The lookups of spec.tools: Kubernetes through `kube`, PromQL through one PrometheusTools per configured
    endpoint (spec.tools.prometheus may change live). `close()` on shutdown."""

    def __init__(self, spec: Callable[[], ToolsSpec | None], kube: KubeTools):
        self.spec, self.kube = spec, kube
        self._prometheus: dict[Any, PrometheusTools] = {}

    async def lookup(self, request: Any) -> ToolResult:
        if not isinstance(request, PromQuery):
            return await self.kube.lookup(request)
        tools = self.spec()
        if tools is None or tools.prometheus is None:
            return ToolResult(refused="Prometheus is not configured for this bot (spec.tools.prometheus)")
        if tools.prometheus not in self._prometheus:
            self._prometheus[tools.prometheus] = PrometheusTools.from_spec(tools.prometheus, now=now_seconds)
        return await self._prometheus[tools.prometheus].lookup(request)

    async def close(self) -> None:
        for prometheus in self._prometheus.values():
            await prometheus.close()


def approvals_for(surface: Any, kube: KubeTools, config: LiveConfig, is_admin: Callable[[str], bool],
                  own_namespace: str) -> Approvals:
    """Proposed actions of the answers on `surface`: posted with Approve/Deny, run by `kube` (the bot's own
    login) only after `is_admin`'s yes and only while spec.tools still allows them, every step audited on the
    SlackBot through `config`."""
    return Approvals(surface, kube.run_action, config.audit, is_admin=is_admin, now=now_seconds,
                     admins=lambda: config.current.spec.access.admins,
                     recheck=lambda proposal: recheck(proposal, config.current.spec.tools, own_namespace))


def build_engine(surface: Surface, identity: BotIdentity, config: LiveConfig, llm: LLMClient, tokenizers: Tokenizers,
                 metrics: Metrics, router: CommandRouter, *, surface_errors: tuple[type[Exception], ...] = (),
                 admin: bool | None = None, tools: ClusterTools | None = None) -> Engine:
    """`surface_errors`: the exceptions with which `surface` says it cannot read or write a thread; `admin`: the
    surface's say on whether its askers are admins (None: spec.access.admins); `tools`: the cluster tools of
    spec.tools (None: answers never look at the cluster)."""
    reader = ThreadReader(surface, identity)
    summarization = Summarization(llm, metrics, tokenizers.counter)
    tool_loop = ToolLoop(llm, tools, metrics) if tools is not None else None
    answerer = Answerer(surface, reader, llm, tokenizers, summarization.prepare, metrics, surface_errors,
                        tool_loop=tool_loop)
    last_error = LastError()
    dispatcher = Dispatcher(config.holder, surface, router, answerer, identity, metrics, last_error)
    commands = ChatOps(config, names=surface.names, reader=reader, llm=llm, tokenizers=tokenizers,
                       summarization=summarization, metrics=metrics, last_error=last_error, admin=admin)
    commands.register(router)
    return Engine(reader, summarization, answerer, dispatcher, commands, tool_loop)

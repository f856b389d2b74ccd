"""The engine wired to a surface: the one place that connects its parts (used by the Slack bot, app.py, and the
terminal chat, chat_session.py).

    engine = build_engine(surface, identity, live_config, llm, tokenizers, metrics, router)
    outcome = await engine.dispatcher.handle(incoming)
"""

from dataclasses import dataclass

from h1bot_bot.adapters.llm import LLMClient
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.commands import CommandRouter
from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.surface import Surface
from h1bot_bot.engine.answering import Answerer
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

"""One `h1bot chat` session: the bot's engine wired to the terminal surface (assembly, like app.py for Slack).

The spec and its overrides come from the manifest and the state file beside it (LiveConfig with a FileStore, as
`h1bot-bot --spec`); each line is a message in the thread, answered by the same pipeline and ChatOps commands as in
Slack. After an answer that summarized the history, a note says how many summarization calls and tokens it cost.

After an answer that proposed actions (`approvals`, set with the tool loop's wiring), each is put to the person at
the keyboard: an admin (--admin, or --as an id in spec.access.admins) answers "Run it? [y/N]" (from a pipe, the
next line; no answer at all is a no); anyone else is told only an admin can approve it, and nothing runs.
"""

import asyncio
import signal
from pathlib import Path
from typing import Any

from h1bot_api.spec import ConfigError
from h1bot_bot.adapters.kube import cluster_login
from h1bot_bot.adapters.kube_tools import KubeTools
from h1bot_bot.adapters.llm import LLMClient
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.state_file import FileStore, StateFile
from h1bot_bot.adapters.terminal.prompt import LineReader
from h1bot_bot.adapters.terminal.render import Renderer, mrkdwn_to_markdown
from h1bot_bot.adapters.terminal.surface import BOT, TerminalSurface, TerminalThread, ThreadNames
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.budget import system_prompt_tokens
from h1bot_bot.core.commands import CommandRouter
from h1bot_bot.core.overrides import is_admin
from h1bot_bot.core.slack_export import ExportedThread
from h1bot_bot.core.tokens import EncodingUnavailable
from h1bot_bot.engine.approvals import Approvals
from h1bot_bot.engine.live_config import LiveConfig
from h1bot_bot.engine.tool_loop import ClusterTools
from h1bot_bot.wiring import Engine, ToolRunners, approvals_for, build_engine

OK, ANSWER_FAILED, ENDPOINT_FAILED = 0, 1, 3
ENDPOINT_ERRORS = frozenset({"auth", "permission", "connection", "model_not_found"})
LEAVE = frozenset({"exit", "quit", "/exit", "/quit"})
RUN_IT = "Run it? [y/N]"
NOT_ADMIN_NOTE = "_Not run: only an admin can approve this (run with --admin or --as an admin id)._"
NO_ANSWER_NOTE = "_No answer (end of input): denied, nothing ran._"


def exit_code(outcome: str) -> int:
    """The process's exit code for a one-shot question's outcome (pipeline.handle's)."""
    if outcome == "answered" or outcome.startswith(("command:", "cut:")):
        return OK
    kind = outcome.removeprefix("error:")
    return ENDPOINT_FAILED if kind in ENDPOINT_ERRORS else ANSWER_FAILED


def _total(metrics: Metrics, name: str) -> float:
    return sum(sample.value for metric in metrics.registry.collect() for sample in metric.samples
               if sample.name == name)


class ChatSession:
    def __init__(self, spec: dict[str, Any], *, spec_path: str, renderer: Renderer, base_url: str, api_key: str,
                 organization: str | None, user: str, user_name: str, exported: ExportedThread | None = None,
                 endpoint: str = "", admin: bool | None = None, namespace: str = "default"):
        self.spec, self.spec_path, self.renderer = spec, spec_path, renderer
        self.base_url, self.api_key, self.organization = base_url, api_key, organization
        self.user, self.user_name, self.exported, self.endpoint = user, user_name, exported, endpoint
        self.admin = admin  # --admin: True (the engine's say for this surface); None: spec.access.admins
        self.namespace = namespace  # the manifest's metadata.namespace: "the bot's own" in spec.tools
        self.kube_tools = KubeTools(cluster_login)  # spec.tools' lookups, as the kubeconfig's user (like kubectl)
        self.tool_runners: ToolRunners | None = None
        self.metrics = Metrics()
        self.tokenizers = Tokenizers()
        self.router = CommandRouter()
        self.llm: LLMClient | None = None
        self.config: LiveConfig | None = None
        self.engine: Engine | None = None
        self.surface: TerminalSurface | None = None
        self.approvals: Approvals | None = None  # actions the answers propose (wired with the tool loop)
        self.reader: LineReader | None = None  # the session's input while `loop` runs

    async def start(self) -> "ChatSession":
        """Raises ConfigError when the spec (with its stored overrides) is invalid."""
        exported = self.exported
        thread = TerminalThread(exported.messages if exported else None, exported.thread_ts if exported else "")
        names = ThreadNames({**(exported.names if exported else {}), self.user: self.user_name})
        self.surface = TerminalSurface(self.renderer, thread, names)
        state = StateFile.beside(self.spec_path)
        loaded = await asyncio.to_thread(state.load)  # a bad state file is moved aside and logged, never fatal
        self.config = LiveConfig(self.spec, loaded.runtime, source=f"file:{self.spec_path}",
                                 store=FileStore(state))
        self.llm = LLMClient(api_key=self.api_key, base_url=self.base_url, organization=self.organization,
                             timeout=120.0, attempts=2, backoff=0.5, backoff_max=2.0)
        self.tool_runners = ToolRunners(lambda: self.config.current.spec.tools, self.kube_tools)
        self.approvals = approvals_for(self.surface, self.kube_tools, self.config, self.is_admin, self.namespace)
        tools = ClusterTools(spec=self.tool_runners.spec, own_namespace=self.namespace,
                             lookup=self.tool_runners.lookup, propose=self.approvals.propose)
        self.engine = build_engine(self.surface, BOT, self.config, self.llm, self.tokenizers, self.metrics,
                                   self.router, admin=self.admin, tools=tools)
        self.config.use_tokenizer(self._count_prompt_tokens)
        for problem in self.config.current.problems():
            self.renderer.note(f"configuration problem: {problem}")
        await self.config.begin(self.surface.tell)
        self._greet()
        return self

    def _count_prompt_tokens(self, model: str, text: str) -> int:
        try:
            return system_prompt_tokens(self.tokenizers.counter(model), text)
        except EncodingUnavailable as exc:
            raise ConfigError(f"cannot load the tokenizer for {model}: {exc}") from None

    def is_admin(self, user: str) -> bool:
        """--admin makes the person at the keyboard one; otherwise spec.access.admins decides."""
        return self.admin if self.admin is not None else is_admin(self.config.current.spec, user)

    def _greet(self) -> None:
        spec = self.config.current.spec
        admin = self.is_admin(self.user)
        lines = [f"_SlackBot from {self.spec_path}; model {spec.model.name} at {self.endpoint}._",
                 f"_You are {self.user_name} ({self.user}){', an admin' if admin else ', not an admin'}._"]
        if spec.tools is not None:
            lines.append(f"_Tools: {spec.tools.summary(self.namespace)}; looked up as your kubeconfig's user, "
                         "like kubectl._")
        if self.exported:
            lines.append(f"_Thread loaded: {len(self.exported.messages)} messages"
                         + (f" (of {self.exported.threads_in_source} threads)" if self.exported.threads_in_source > 1
                            else "") + "._")
        if self.renderer.interactive:
            lines.append("_Type `help` for the commands; Ctrl-C stops an answer, Ctrl-D leaves._")
        for line in lines:
            self.renderer.note(line)

    async def close(self) -> None:
        if self.config is not None:
            await self.config.close()
        if self.llm is not None:
            await self.llm.close()
        if self.tool_runners is not None:
            await self.tool_runners.close()

    async def handle(self, text: str) -> str:
        """One line from the user, answered; returns the outcome. A note tells what summarization cost."""
        incoming = self.surface.say(self.user, text)
        calls, tokens = _total(self.metrics, "h1bot_summarize_calls_total"), \
            _total(self.metrics, "h1bot_summarized_tokens_total")
        outcome = await self.engine.dispatcher.handle(incoming)
        calls = _total(self.metrics, "h1bot_summarize_calls_total") - calls
        tokens = _total(self.metrics, "h1bot_summarized_tokens_total") - tokens
        if calls:
            self.renderer.note(f"_Summarization: {calls:.0f} call{'s' if calls != 1 else ''} to the model, "
                               f"{tokens:.0f} tokens of history sent to be summarized._")
        if outcome.startswith("command:debug"):
            total = _total(self.metrics, "h1bot_summarize_calls_total")
            sent = _total(self.metrics, "h1bot_summarized_tokens_total")
            self.renderer.note(f"_This session: {total:.0f} summarization calls, {sent:.0f} tokens of history "
                               "summarized._")
        await self.settle_proposals()
        return outcome

    async def settle_proposals(self) -> None:
        """Each action proposed since the last answer: an admin approves or denies it (y/N), anyone else is told
        who may; `approvals.decide` runs it (its result goes to the thread) or not."""
        if self.approvals is None or self.surface is None:
            return
        for pending in self.surface.take_proposals():
            if not self.approvals.is_admin(self.user):
                self.renderer.note(NOT_ADMIN_NOTE)
                continue
            reader = self.reader or LineReader("")  # -m: a terminal's prompt, or the next piped line
            if not reader.interactive:
                self.renderer.note(RUN_IT)
            answer = await reader.confirm(f"{RUN_IT} ")
            if answer is None:
                self.renderer.note(NO_ANSWER_NOTE)
            shown = len(self.surface.conversation.messages)
            text = await self.approvals.decide(pending.id, self.user, bool(answer))
            if len(self.surface.conversation.messages) == shown:  # a result posted in the thread says it already
                self.renderer.note(mrkdwn_to_markdown(text))

    async def ask(self, text: str) -> int:
        return exit_code(await self.handle(text))

    async def loop(self, history: Path | None) -> int:
        self.reader = reader = LineReader(f"{self.user_name}> ", history)
        loop = asyncio.get_running_loop()
        while (line := await reader.read()) is not None:
            if not line.strip():
                continue
            if line.strip().lower() in LEAVE:
                break
            task = asyncio.ensure_future(self.handle(line))
            loop.add_signal_handler(signal.SIGINT, self._stop, task)
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
            finally:
                loop.remove_signal_handler(signal.SIGINT)
            self.renderer.rule()
        return OK

    def _stop(self, task: asyncio.Task) -> None:
        """Ctrl-C while answering: that answer stops (what was written stays, marked), the session goes on."""
        self.surface.stop_answer()
        task.cancel()

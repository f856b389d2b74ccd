"""The ChatOps commands: help, config, config set/reset, model, models, debug, summarize.

Parsing is core/command_parser's (deterministic, never the LLM); replies are core/config_view's (the `config` view),
core/config_replies' and core/command_replies'; changes go through LiveConfig (validated, audited, stored). Anyone may
read the settings; only spec.access.admins read prompts (core/config_view says which) and change anything.
"""

import logging
import time
from importlib import metadata

from h1bot_api.models import is_chat_model
from h1bot_api.spec import ConfigError
from h1bot_bot.adapters.llm import LLMClient, LLMError
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.core.command_parser import (
    Debug,
    Help,
    ListModels,
    ParseError,
    ResetConfig,
    SetConfig,
    ShowConfig,
    Summarize,
    SwitchModel,
)
from h1bot_bot.core.command_replies import debug_text, help_text, models_text
from h1bot_bot.core.commands import CommandRequest, CommandRouter, Reply
from h1bot_bot.core.config_replies import refusal_text
from h1bot_bot.core.config_view import people_shown, render_config, render_prompts
from h1bot_bot.core.effective import ChannelConfig
from h1bot_bot.core.overrides import ChangeRejected, is_admin
from h1bot_bot.core.reply_text import LISTED
from h1bot_bot.core.slack_safety import escape, redact
from h1bot_bot.core.surface import Names
from h1bot_bot.engine.dispatch import LastError
from h1bot_bot.engine.live_config import LiveConfig
from h1bot_bot.engine.summarization import Summarization
from h1bot_bot.engine.thread_reader import ThreadReader

log = logging.getLogger(__name__)

MODELS_TIMEOUT = 10.0


def bot_version() -> str:
    try:
        return metadata.version("h1bot")
    except metadata.PackageNotFoundError:
        return "unknown"


class ChatOps:
    """The commands, with what they need: the live config, the surface's names, the thread reader, the model
    client, the tokenizers and summarization, and the latest answer failure (for `debug`)."""

    def __init__(self, config: LiveConfig, *, names: Names, reader: ThreadReader, llm: LLMClient,
                 tokenizers: Tokenizers, summarization: Summarization, metrics: Metrics, last_error: LastError,
                 admin: bool | None = None, version: str | None = None):
        self.config = config
        self.names = names
        self.reader = reader
        self.llm = llm
        self.tokenizers = tokenizers
        self.summarization = summarization
        self.metrics = metrics
        self.last_error = last_error
        # The surface's say on whether its askers are admins (the terminal's --admin); None: spec.access.admins.
        self.admin = admin
        self.version = version or bot_version()
        self.started = time.monotonic()

    def register(self, router: CommandRouter) -> CommandRouter:
        for kind, handler in ((Help, self.help), (ShowConfig, self.show_config), (SetConfig, self.set_config),
                              (ResetConfig, self.reset_config), (SwitchModel, self.switch_model),
                              (ListModels, self.list_models), (Debug, self.debug), (Summarize, self.summarize),
                              (ParseError, self.malformed)):
            router.register(kind, handler)
        return router

    # ---- reading -------------------------------------------------------------------------------------------------
    async def help(self, request: CommandRequest) -> Reply:
        return Reply(help_text())

    async def malformed(self, request: CommandRequest) -> Reply:
        return Reply(refusal_text(request.command))

    async def show_config(self, request: CommandRequest) -> Reply:
        """Everyone reads the view without prompts; an admin reads them in a DM, or privately beside it elsewhere."""
        spec, runtime = self.config.spec, self.config.runtime
        admin = self._is_admin(request.user)
        names = await self.names.many(people_shown(spec, runtime))
        rendered = render_config(spec, runtime, channel=request.channel, admin=admin and request.direct, names=names)
        private = None
        if admin and not request.direct:
            prompts = render_prompts(spec, runtime, channel=request.channel, names=names)
            private = Reply(prompts.text, prompts.blocks)
        return Reply(rendered.text, rendered.blocks, private=private)

    async def list_models(self, request: CommandRequest) -> Reply:
        spec = self.config.current.spec
        try:
            ids, error = await self.llm.list_models(MODELS_TIMEOUT), None
        except Exception as exc:
            ids, error = None, _failure(exc)
            log.warning("could not list the endpoint's models: %s", error, extra={"channel": request.channel})
        return Reply(models_text(ids, self._model_in(request.channel), spec.model.allowed_models, error))

    async def debug(self, request: CommandRequest) -> Reply:
        config = self.config.current
        errors = [e for e in (self.last_error.value, self.config.last_error) if e]
        try:
            channel = config.for_channel(request.channel)
        except ConfigError as exc:
            return Reply(f":warning: My configuration cannot work here: {escape(str(exc))}")
        chat = await self.reader.chat(request.incoming, channel.system_prompt)
        history = [message for message in chat if message["role"] != "system"]
        counter = self.tokenizers.counter(channel.model)
        bound = sum(counter.bound_message(message) for message in history)  # no tokenizer needed when it fits
        bounded = bound <= channel.limits.threshold_tokens
        if not bounded:
            await self.tokenizers.load(channel.model)  # counted exactly (in a worker thread)
        tokens = bound if bounded else sum(counter.count_message(message) for message in history)
        plan = await self.summarization.plan(chat, channel, exact=not bounded)
        return Reply(debug_text(version=self.version, uptime_seconds=time.monotonic() - self.started,
                                model=channel.model, thread_tokens=tokens,
                                threshold_tokens=channel.limits.threshold_tokens, summarization=plan,
                                last_error=max(errors) if errors else None,  # ISO time first: the latest
                                source=config.source, bounded=bounded,
                                tokenizer_exact=channel.limits.info.tokenizer_exact))

    async def summarize(self, request: CommandRequest) -> Reply:
        channel = self._channel(request.channel)
        if isinstance(channel, Reply):
            return channel
        try:
            chat = await self.reader.chat(request.incoming, channel.system_prompt)
            await self.llm.ready()
            await self.tokenizers.load(channel.model)  # a summary counts every message exactly
            with self.llm.whole_answer():  # one answer deadline for all of the summary's calls
                summary = await self.summarization.summarize_chat(chat, channel, request.thread_ts)
                return Reply(summary, markdown=True)
        except LLMError as exc:
            self.metrics.errors.labels(kind=exc.kind).inc()
            return Reply(f":warning: I could not summarize this thread: {escape(exc.user_message)}")

    # ---- changing ------------------------------------------------------------------------------------------------
    async def set_config(self, request: CommandRequest) -> Reply:
        return await self._change(request, request.command.key, request.command.value)

    async def switch_model(self, request: CommandRequest) -> Reply:
        return await self._change(request, "model", request.command.name)

    async def reset_config(self, request: CommandRequest) -> Reply:
        try:
            return Reply(await self.config.reset(request.command.key, actor=request.user, channel=request.channel,
                                                 thread_ts=request.thread_ts, admin=self.admin))
        except ChangeRejected as error:
            return await self._refused(request, error)

    async def _change(self, request: CommandRequest, key: str, value: str) -> Reply:
        served = None
        if key == "model" and self._is_admin(request.user):
            served = await self._served_models()
        try:
            return Reply(await self.config.set(key, value, actor=request.user, channel=request.channel,
                                               thread_ts=request.thread_ts, available_models=served,
                                               admin=self.admin))
        except ChangeRejected as error:
            return await self._refused(request, error)

    async def _refused(self, request: CommandRequest, error: ChangeRejected) -> Reply:
        log.info("configuration change refused: %s", error,
                 extra={"user": request.user, "channel": request.channel, "thread_ts": request.thread_ts})
        admins = set(getattr(error, "admins", ())[:LISTED])
        return Reply(refusal_text(error, await self.names.many(admins) if admins else None))

    async def _served_models(self) -> list[str] | None:
        """The endpoint's chat models, to refuse a model it does not serve; None when it cannot say."""
        try:
            return [m for m in await self.llm.list_models(MODELS_TIMEOUT) if is_chat_model(m)] or None
        except Exception as exc:
            log.info("could not list the endpoint's models (the switch is not checked against them): %s",
                     _failure(exc))
            return None

    # ---- helpers -------------------------------------------------------------------------------------------------
    def _is_admin(self, user: str) -> bool:
        return is_admin(self.config.current.spec, user) if self.admin is None else self.admin

    def _channel(self, channel: str) -> ChannelConfig | Reply:
        try:
            return self.config.current.for_channel(channel)
        except ConfigError as exc:
            return Reply(f":warning: My configuration cannot work here: {escape(str(exc))}")

    def _model_in(self, channel: str) -> str:
        try:
            return self.config.current.for_channel(channel).model
        except ConfigError:
            return self.config.current.spec.model.name


def _failure(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]

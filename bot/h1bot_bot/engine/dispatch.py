"""From a message addressed to the bot to what it does: channel access → command router → empty question →
the channel's config → the answer (engine/answering.py). The same on every surface (Slack, the terminal).

Every failure ends as a readable message in the thread; nothing here raises to the surface.
"""

import logging
from collections.abc import Callable
from typing import Any

from h1bot_api.spec import ConfigError
from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.core.commands import CommandRequest, CommandRouter, Reply, command_name
from h1bot_bot.core.conversation import BotIdentity, strip_bot_mention
from h1bot_bot.core.effective import ConfigHolder, channel_allowed, refusal
from h1bot_bot.core.slack_safety import redact
from h1bot_bot.core.surface import Incoming, Surface
from h1bot_bot.engine.answering import Answerer

log = logging.getLogger(__name__)

EMPTY_QUESTION = ("Hi! Mention me with a question and I'll answer in this thread, "
                  "reading the thread so far as context.")


class LastError:
    """The latest failure of an answer or of the configuration, ISO time first (for the `debug` command)."""

    def __init__(self) -> None:
        self.value: str | None = None


class Dispatcher:
    def __init__(self, config: ConfigHolder, surface: Surface, router: CommandRouter, answerer: Answerer,
                 identity: BotIdentity, metrics: Metrics, last_error: LastError | None = None,
                 now: Callable[[], str] = now_iso):
        self.config = config
        self.surface = surface
        self.router = router
        self.answerer = answerer
        self.identity = identity
        self.metrics = metrics
        self.errors = last_error or LastError()
        self.now = now

    @property
    def last_error(self) -> str | None:
        return self.errors.value

    async def say(self, incoming: Incoming, markdown: str) -> None:
        await self.surface.post(incoming, Reply(markdown, markdown=True))

    async def handle(self, incoming: Incoming) -> str:
        """Answer `incoming`; returns the outcome (for the event's log line and metrics)."""
        config = self.config.current
        if not channel_allowed(config.spec.access, incoming.channel, incoming.kind == "dm", incoming.user):
            await self.say(incoming, refusal(config.spec.access, incoming.kind == "dm"))
            return "refused"
        question = strip_bot_mention(incoming.text, self.identity.user_id)
        command = self.router.match(question)
        if command is not None:
            return await self._run_command(incoming, command, question)
        if not question and not incoming.event.get("files"):
            await self.say(incoming, EMPTY_QUESTION)
            return "empty"
        try:
            channel = config.for_channel(incoming.channel)
        except ConfigError as exc:
            self.metrics.errors.labels(kind="config").inc()
            self.errors.value = redact(f"{self.now()} configuration: {exc}")
            await self.say(incoming, f":warning: I can't answer: my configuration is invalid: {exc}")
            return "config_error"
        outcome = await self.answerer.answer(incoming, channel,
                                             allow_user_mentions=config.spec.access.allow_user_mentions)
        if outcome.startswith("error:"):
            self.errors.value = f"{self.now()} answer in {incoming.channel}: {outcome}"
        return outcome

    async def _run_command(self, incoming: Incoming, command: Any, text: str) -> str:
        """Run a command (core/commands.py); its reply goes to the thread, its private part to the asker alone."""
        request = CommandRequest(command=command, text=text, user=incoming.user, channel=incoming.channel,
                                 thread_ts=incoming.thread_ts, incoming=incoming, direct=incoming.direct)
        reply = await self.router.handler(command)(request)
        if reply is not None:
            await self.surface.post(incoming, reply)
        return f"command:{command_name(command)}"

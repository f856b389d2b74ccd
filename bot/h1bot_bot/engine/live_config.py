"""The live configuration: the SlackBot spec plus the overrides made from Slack, applied at once and written back.

`LiveConfig` holds a `ConfigState` (core/config_state.py: the pure transitions), enters each transition at once
(the next answer uses the new `BotConfig` in `holder`) and hands its effects to `ConfigEffects`
(adapters/config_effects.py), which writes one JSON merge patch of everything not yet stored
(`ConfigState.pending`), records the audit Events and tells the threads, retrying with the shared backoff while the
store is away. Nothing is lost meanwhile: later changes pile onto the state and the next patch carries them all.

The store is the SlackBot's status subresource in a cluster (adapters/kube.SlackBotResource, whose watch feeds
`on_object`), or a state file next to the spec outside one (adapters/state_file.FileStore). A spec change seen by
the watch applies live; an override whose field the spec changed is dropped (the GitOps rule) and the thread it was
made in, an Event and the log say so.
"""

import asyncio
import copy
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.config_effects import ConfigEffects, ConfigStore, Notify
from h1bot_bot.adapters.retry import Backoff
from h1bot_bot.core import config_state
from h1bot_bot.core.config_state import ConfigState, Log, RecordEvent, Transition
from h1bot_bot.core.effective import BotConfig, ConfigHolder, CountPrompt
from h1bot_bot.core.overrides import CountText, effective_spec

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class LiveConfig:
    def __init__(self, spec: Mapping[str, Any], runtime: Mapping[str, Any] | None, *, source: str, store: ConfigStore,
                 count_tokens: CountText | None = None, backoff: float = 1.0, backoff_max: float = 60.0,
                 now: Callable[[], str] = now_iso):
        """Start from the spec and the stored runtime; overrides the spec no longer admits are dropped (and told
        once `begin` runs). Raises ConfigError when the spec itself is invalid."""
        self.source = source
        self.store = store
        self.count_tokens = count_tokens
        self.count_prompt: CountPrompt | None = None  # see use_tokenizer
        self.backoff = Backoff(backoff, backoff_max)
        self.now = now
        started = config_state.start(spec, runtime, count_tokens)
        self.state: ConfigState = started.state
        self._startup_effects = started.effects
        self.holder = ConfigHolder(self._config())
        self.effects = ConfigEffects(store, pending=lambda: self.state.pending, on_stored=self._stored,
                                     backoff=self.backoff, now=now)
        self._tasks: set[asyncio.Task] = set()

    # ---- reading -------------------------------------------------------------------------------------------------
    @property
    def spec(self) -> JsonDict:
        return copy.deepcopy(self.state.spec)

    @property
    def runtime(self) -> JsonDict:
        """status.runtime in effect (some of it maybe not stored yet: see `pending`)."""
        return copy.deepcopy(self.state.local)

    @property
    def rejection(self) -> str | None:
        """Why the SlackBot's latest spec is not in effect (the previous one is kept), or None when it is."""
        return self.state.current_rejection

    @property
    def pending(self) -> JsonDict:
        """The merge patch not yet stored ({} when everything is)."""
        return self.state.pending

    @property
    def current(self) -> BotConfig:
        return self.holder.current

    @property
    def notify(self) -> Notify | None:
        return self.effects.notify

    @property
    def last_error(self) -> str | None:
        """The latest failure to store a change, with its time (for `debug`)."""
        return self.effects.last_error

    def _build(self, spec: Mapping[str, Any], runtime: Mapping[str, Any]) -> BotConfig:
        return BotConfig(effective_spec(spec, runtime), source=self.source, count_prompt=self.count_prompt)

    def _config(self) -> BotConfig:
        return self._build(self.state.spec, self.state.local)

    def use_tokenizer(self, count_prompt: CountPrompt) -> None:
        """Count system prompts from now on: `config set` refuses a persona that leaves no room for history, and
        every channel's limits (BotConfig.for_channel) take its prompt out of the window."""
        self.count_prompt = count_prompt
        self.count_tokens = lambda text: count_prompt(self.current.spec.model.name, text)
        self.holder.replace(self._config())

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    async def begin(self, notify: Notify) -> None:
        """Once Slack is connected: tell what start-up dropped, and store it."""
        self.effects.notify = notify
        effects, self._startup_effects = self._startup_effects, ()
        await self.effects.perform(effects)

    async def close(self, grace: float = 2.0) -> None:
        """A last try at storing what is pending (bounded), then stop the background work."""
        await self.effects.flush(grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- changes from Slack --------------------------------------------------------------------------------------
    async def set(self, key: str, raw_value: str, *, actor: str, channel: str, thread_ts: str,
                  available_models: Collection[str] | None = None, admin: bool | None = None) -> str:
        """`config set` / `model`: applied, audited, stored; returns the thread reply. Raises NotAdmin or
        ChangeRejected (nothing changed). `admin`: None lets spec.access.admins decide."""
        return await self._run(config_state.change(
            self.state, key, raw_value, actor=actor, now=self.now(), channel=channel, thread_ts=thread_ts,
            admin=admin, available_models=available_models, count_tokens=self.count_tokens))

    async def reset(self, key: str | None, *, actor: str, channel: str, thread_ts: str,
                    admin: bool | None = None) -> str:
        """`config reset [key]`: back to the spec, audited and stored; returns the thread reply."""
        return await self._run(config_state.reset_overrides(
            self.state, key, actor=actor, now=self.now(), channel=channel, thread_ts=thread_ts, admin=admin,
            count_tokens=self.count_tokens))

    async def _run(self, transition: Transition) -> str:
        self._enter(transition)
        persisted = await self.effects.perform(transition.effects)
        return transition.reply(persisted) if transition.reply else ""

    def _enter(self, transition: Transition) -> None:
        changed = transition.state.spec is not self.state.spec or transition.state.local is not self.state.local
        self.state = transition.state
        if changed:
            self.holder.replace(self._config())

    async def audit(self, type_: str, reason: str, message: str) -> None:
        """An audit record of something done from a thread (an action proposed, approved, run): a log line and an
        Event on the SlackBot (`type_` Normal or Warning), queued and retried while the API server is away."""
        level = "warning" if type_ == "Warning" else "info"
        await self.effects.perform((Log(level, f"{reason}: {message}", {"reason": reason}),
                                    RecordEvent(type_, reason, message)))

    # ---- changes from the cluster --------------------------------------------------------------------------------
    def on_object(self, obj: Mapping[str, Any]) -> None:
        """The SlackBot as the watch saw it (called in the event loop, in order: its state applies at once)."""
        try:
            transition = config_state.observe(self.state, obj, self._build, self.count_tokens)
        except Exception:
            log.exception("could not apply the SlackBot's new version")
            return
        self._enter(transition)
        if transition.effects:
            task = asyncio.ensure_future(self.effects.perform(transition.effects))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _stored(self, patch: JsonDict, version: str | None) -> None:
        self.state = config_state.stored(self.state, patch, version)

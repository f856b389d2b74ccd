"""The live configuration: the SlackBot spec plus the overrides made from Slack, applied at once and written back.

`LiveConfig` holds a `ConfigState` (core/config_state.py: the pure transitions) and performs the effects each
transition asks for. Every change is applied in memory first (the next answer uses it), then written as one JSON
merge patch of everything not yet stored (`ConfigState.pending`). When the store cannot be reached the thread is
told, and a background task retries with backoff (adapters/retry.py) until the patch and the audit Events are
stored; then the threads that were told are told it is saved. Nothing is lost meanwhile: later changes pile onto
the state and the next patch carries them all.

The store is the SlackBot's status subresource in a cluster (adapters/kube.SlackBotResource, whose watch feeds
`on_object`), or a state file next to the spec outside one (adapters/state_file.FileStore). A spec change seen by
the watch applies live; an override whose field the spec changed is dropped (the GitOps rule) and the thread it was
made in, an Event and the log say so.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.kube import Written, describe_error
from h1bot_bot.adapters.retry import Backoff, retry_until
from h1bot_bot.core import config_state
from h1bot_bot.core.config_state import ConfigState, Effect, Log, RecordEvent, Save, Tell, Transition
from h1bot_bot.core.config_view import saved_text
from h1bot_bot.core.effective import BotConfig, ConfigHolder, CountPrompt
from h1bot_bot.core.overrides import CountTokens, effective_spec

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
# (channel, thread_ts, Slack mrkdwn text): a message in a thread.
Notify = Callable[[str, str, str], Awaitable[Any]]
EVENTS_KEPT = 200  # audit Events waiting for the API server, at most


class Store(Protocol):
    """Where status.runtime and the audit Events go: the SlackBot (adapters/kube.SlackBotResource) or a state file
    (adapters/state_file.FileStore)."""

    description: str

    async def write(self, patch: JsonDict) -> Written: ...

    async def event(self, type_: str, reason: str, message: str) -> None: ...


class LiveConfig:
    def __init__(self, spec: Mapping[str, Any], runtime: Mapping[str, Any] | None, *, source: str, store: Store,
                 count_tokens: CountTokens | None = None, backoff: float = 1.0, backoff_max: float = 60.0,
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
        self.notify: Notify | None = None
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self._event_lock = asyncio.Lock()
        self._events: deque[tuple[str, str, str]] = deque(maxlen=EVENTS_KEPT)
        self._unsaved_threads: dict[tuple[str, str], None] = {}
        self._offline = False
        self._retry: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # ---- reading -------------------------------------------------------------------------------------------------
    @property
    def spec(self) -> JsonDict:
        return config_state.copy.deepcopy(self.state.spec)

    @property
    def runtime(self) -> JsonDict:
        """status.runtime in effect (some of it maybe not stored yet: see `pending`)."""
        return config_state.copy.deepcopy(self.state.local)

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
        self.notify = notify
        effects, self._startup_effects = self._startup_effects, ()
        await self._perform(effects)

    async def close(self, grace: float = 2.0) -> None:
        """A last try at storing what is pending (bounded), then stop the background work."""
        if self.pending:
            try:
                saved = await asyncio.wait_for(self._write_pending(), grace)
            except TimeoutError:
                saved = False
            if not saved:
                log.error("stopping with configuration changes not saved to %s: %s", self.store.description,
                          self.pending)
        for task in [self._retry, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in [self._retry, *self._tasks] if t is not None), return_exceptions=True)

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
        persisted = await self._perform(transition.effects)
        return transition.reply(persisted) if transition.reply else ""

    def _enter(self, transition: Transition) -> None:
        changed = transition.state.spec is not self.state.spec or transition.state.local is not self.state.local
        self.state = transition.state
        if changed:
            self.holder.replace(self._config())

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
            task = asyncio.ensure_future(self._perform(transition.effects))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ---- effects -------------------------------------------------------------------------------------------------
    async def _perform(self, effects: tuple[Effect, ...]) -> bool:
        """Perform `effects` in order; returns whether every Save stored its patch."""
        persisted = True
        for effect in effects:
            if isinstance(effect, Save):
                persisted = await self._save(effect.channel, effect.thread_ts) and persisted
            elif isinstance(effect, RecordEvent):
                await self._record_event(effect.type, effect.reason, effect.message)
            elif isinstance(effect, Tell):
                await self._tell(effect.channel, effect.thread_ts, effect.text)
            elif isinstance(effect, Log):
                extra = {k: v for k, v in effect.extra.items() if v is not None}
                (log.error if effect.level == "error" else log.info)("%s", effect.message, extra=extra)
        return persisted

    async def _save(self, channel: str | None = None, thread_ts: str | None = None) -> bool:
        """Store what is pending now; on failure remember the thread and retry in the background."""
        if await self._write_pending():
            return True
        if channel and thread_ts:
            self._unsaved_threads[channel, thread_ts] = None
        self._go_offline()
        return False

    async def _write_pending(self) -> bool:
        async with self._lock:  # one write at a time; each covers everything pending when it starts
            patch = self.pending
            if not patch:
                return True
            try:
                written = await self.store.write(patch)
            except Exception as exc:
                self.last_error = f"{self.now()} saving to {self.store.description}: {describe_error(exc)}"
                log.warning("could not save the configuration to %s (%s); it applies now and is retried",
                            self.store.description, describe_error(exc))
                return False
            self.state = config_state.stored(self.state, patch, written.version)
            return True

    async def _record_event(self, type_: str, reason: str, message: str) -> None:
        self._events.append((type_, reason, message))
        if self._offline:
            return  # the retry loop sends it once the API server is back
        if not await self._flush_events():
            self._go_offline()

    async def _flush_events(self) -> bool:
        async with self._event_lock:
            while self._events:
                type_, reason, message = self._events[0]
                try:
                    await self.store.event(type_, reason, message)
                except Exception as exc:
                    log.warning("could not record the %s Event (%s); retrying", reason, describe_error(exc))
                    return False
                self._events.popleft()
            return True

    def _go_offline(self) -> None:
        self._offline = True
        if self._retry is None or self._retry.done():
            self._retry = asyncio.ensure_future(self._retry_until_saved())

    async def _retry_until_saved(self) -> None:
        await retry_until(self._store_everything, self.backoff)
        self._offline = False
        log.info("configuration saved to %s", self.store.description)
        threads, self._unsaved_threads = list(self._unsaved_threads), {}
        for channel, thread_ts in threads:
            await self._tell(channel, thread_ts, saved_text(self.store.description))

    async def _store_everything(self) -> bool:
        return await self._write_pending() and await self._flush_events()

    async def _tell(self, channel: str, thread_ts: str, text: str) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(channel, thread_ts, text)
        except Exception as exc:  # the audit trail (log, Event) still has it
            log.warning("could not tell the thread %s/%s: %s", channel, thread_ts, exc)

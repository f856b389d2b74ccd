"""Performs the live configuration's effects (core/config_state.py) against its store: status patches and audit
Events through a `ConfigStore`, messages to threads through `notify`, log lines.

A patch is written at once. When the store cannot be reached the change still applies (it is in the state), the
thread that asked is remembered, and a background task retries with the shared backoff (adapters/retry.py) until
what is pending by then (every change made meanwhile) and the queued audit Events are stored; then the remembered
threads are told it is saved.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from h1bot_bot.adapters.kube import Written, describe_error
from h1bot_bot.adapters.retry import Backoff, retry_until
from h1bot_bot.core.config_replies import saved_text
from h1bot_bot.core.config_state import Effect, Log, RecordEvent, Save, Tell

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
# (channel, thread_ts, Slack mrkdwn text): a message in a thread.
Notify = Callable[[str, str, str], Awaitable[Any]]
EVENTS_KEPT = 200  # audit Events waiting for the API server, at most
LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class ConfigStore(Protocol):
    """Where status.runtime and the audit Events go: the SlackBot (adapters/kube.SlackBotResource) or a state file
    (adapters/state_file.FileStore)."""

    description: str

    async def write(self, patch: JsonDict) -> Written: ...

    async def event(self, type_: str, reason: str, message: str) -> None: ...


class ConfigEffects:
    """`pending()` is the merge patch not stored yet (read at each write, so one write covers every change made
    before it); `on_stored(patch, version)` is told what the store took. `now()` stamps `last_error`."""

    def __init__(self, store: ConfigStore, *, pending: Callable[[], JsonDict],
                 on_stored: Callable[[JsonDict, str | None], None], backoff: Backoff, now: Callable[[], str]):
        self.store = store
        self.pending = pending
        self.on_stored = on_stored
        self.backoff = backoff
        self.now = now
        self.notify: Notify | None = None
        self.last_error: str | None = None  # the latest failure to store, with its time (for `debug`)
        self._lock = asyncio.Lock()
        self._event_lock = asyncio.Lock()
        self._events: deque[tuple[str, str, str]] = deque(maxlen=EVENTS_KEPT)
        self._unsaved_threads: dict[tuple[str, str], None] = {}
        self._offline = False
        self._retry: asyncio.Task | None = None

    async def perform(self, effects: Iterable[Effect]) -> bool:
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
                log.log(LOG_LEVELS.get(effect.level, logging.INFO), "%s", effect.message, extra=extra)
        return persisted

    async def flush(self, grace: float) -> None:
        """A last try at storing what is pending (bounded by `grace` seconds), then stop retrying."""
        if self.pending():
            try:
                saved = await asyncio.wait_for(self._write_pending(), grace)
            except TimeoutError:
                saved = False
            if not saved:
                log.error("stopping with configuration changes not saved to %s: %s", self.store.description,
                          self.pending())
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)

    async def _save(self, channel: str | None, thread_ts: str | None) -> bool:
        """Store what is pending now; on failure remember the thread and retry in the background."""
        if await self._write_pending():
            return True
        if channel and thread_ts:
            self._unsaved_threads[channel, thread_ts] = None
        self._go_offline()
        return False

    async def _write_pending(self) -> bool:
        async with self._lock:  # one write at a time; each covers everything pending when it starts
            patch = self.pending()
            if not patch:
                return True
            try:
                written = await self.store.write(patch)
            except Exception as exc:
                self.last_error = f"{self.now()} saving to {self.store.description}: {describe_error(exc)}"
                log.warning("could not save the configuration to %s (%s); it applies now and is retried",
                            self.store.description, describe_error(exc))
                return False
            self.on_stored(patch, written.version)
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

"""The live configuration: the SlackBot spec plus the overrides made from Slack, applied at once and written back.

`RuntimeConfig` keeps the raw spec, the runtime in effect (`local`) and the runtime the store is known to hold
(`accepted`). Every change is applied in memory first (the next answer uses it), then written as one JSON merge patch
`merge_patch_for(local, accepted)`, which covers every key not yet stored and touches nothing else. When the store
cannot be reached the user is told, and a background task retries with exponential backoff until the patch (and
the audit Events) are stored; then the threads that were told are told it is saved. Nothing is lost meanwhile:
later changes pile onto `local` and the next patch carries them all.

The store is the SlackBot's status subresource in a cluster (adapters/kube.SlackBotResource, whose watch feeds
`on_object`), or a state file next to the spec outside one (`FileStore`). A spec change seen by the watch applies
live; an override whose field the spec changed is dropped (the GitOps rule, core/overrides.reconcile_with_spec) and
the thread it was made in, an Event and the log say so.
"""

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from h1bot_api.spec import ConfigError
from h1bot_api.status import now_iso
from h1bot_bot.adapters.kube import Written, describe_error
from h1bot_bot.adapters.state_file import StateFile
from h1bot_bot.core.config_view import (
    change_text,
    describe_change,
    describe_dropped,
    describe_reset,
    dropped_text,
    reset_text,
    saved_text,
)
from h1bot_bot.core.effective import BotConfig, ConfigHolder, CountPrompt
from h1bot_bot.core.overrides import (
    CountTokens,
    DroppedOverride,
    apply_change,
    apply_merge_patch,
    effective_spec,
    merge_patch_for,
    overrides_of,
    reconcile_with_spec,
    reset,
)

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
# (channel, thread_ts, Slack mrkdwn text): a message in a thread.
Notify = Callable[[str, str, str], Awaitable[Any]]
EVENTS_KEPT = 200  # audit Events waiting for the API server, at most


class Store(Protocol):
    description: str

    async def write(self, patch: JsonDict) -> Written: ...

    async def event(self, type_: str, reason: str, message: str) -> None: ...


class FileStore:
    """status.runtime in a state file beside the spec (`h1bot-bot --spec`); its audit record is the log."""

    def __init__(self, state: StateFile):
        self.state = state
        self.description = f"the state file {state.path}"

    async def write(self, patch: JsonDict) -> Written:
        return Written(await asyncio.to_thread(self.state.apply_patch, patch), None)

    async def event(self, type_: str, reason: str, message: str) -> None:
        return None


def _older(version: str | None, than: str | None) -> bool:
    """Whether resourceVersion `version` precedes `than` (only comparable when both are numbers, as etcd's are)."""
    return bool(version and than and version.isdigit() and than.isdigit() and int(version) < int(than))


class RuntimeConfig:
    def __init__(self, spec: Mapping[str, Any], runtime: Mapping[str, Any] | None, *, source: str, store: Store,
                 count_tokens: CountTokens | None = None, backoff: float = 1.0, backoff_max: float = 60.0):
        """Start from the spec and the stored runtime; overrides the spec no longer admits are dropped (and told
        once `begin` runs). Raises ConfigError when the spec itself is invalid."""
        self.source = source
        self.store = store
        self.count_tokens = count_tokens
        self.count_prompt: CountPrompt | None = None  # see use_tokenizer
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._spec: JsonDict = copy.deepcopy(dict(spec))
        self._accepted: JsonDict = copy.deepcopy(dict(runtime or {}))
        self._made_in = overrides_of(runtime)  # where each override was made, to tell its thread when dropped
        self._local, self._startup_dropped = reconcile_with_spec(None, self._spec, self._accepted, count_tokens)
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
        self._written_version: str | None = None
        self._rejected_spec: JsonDict | None = None
        self._rejection = ""
        self._seen_spec: JsonDict = self._spec  # the spec of the latest version the watch delivered

    # ---- reading -------------------------------------------------------------------------------------------------
    @property
    def spec(self) -> JsonDict:
        return copy.deepcopy(self._spec)

    @property
    def runtime(self) -> JsonDict:
        """status.runtime in effect (some of it maybe not stored yet: see `pending`)."""
        return copy.deepcopy(self._local)

    @property
    def rejection(self) -> str | None:
        """Why the SlackBot's latest spec is not in effect (the previous one is kept), or None when it is."""
        return self._rejection if self._rejected_spec is not None and self._rejected_spec == self._seen_spec else None

    @property
    def pending(self) -> JsonDict:
        """The merge patch not yet stored ({} when everything is)."""
        return merge_patch_for(self._local, self._accepted)

    @property
    def current(self) -> BotConfig:
        return self.holder.current

    def _config(self, spec: Mapping[str, Any] | None = None, runtime: Mapping[str, Any] | None = None) -> BotConfig:
        return BotConfig(effective_spec(self._spec if spec is None else spec,
                                        self._local if runtime is None else runtime), source=self.source,
                         count_prompt=self.count_prompt)

    def use_tokenizer(self, count_prompt: CountPrompt) -> None:
        """Count system prompts from now on: `config set` refuses a persona that leaves no room for history, and
        every channel's limits (BotConfig.for_channel) take its prompt out of the window."""
        self.count_prompt = count_prompt
        self.count_tokens = lambda text: count_prompt(self.current.spec.model.name, text)
        self.holder.replace(self._config())

    def _apply_local(self, runtime: JsonDict) -> None:
        config = self._config(runtime=runtime)
        self._local = runtime
        self._made_in.update(overrides_of(runtime))
        self.holder.replace(config)

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    async def begin(self, notify: Notify) -> None:
        """Once Slack is connected: tell what start-up dropped, and store it."""
        self.notify = notify
        if self._startup_dropped:
            await self._report_dropped(self._startup_dropped)
            await self._save()

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
                  available_models: list[str] | None = None) -> str:
        """`config set` / `model`: applied, audited, stored; returns the thread reply. Raises NotAdmin or
        ChangeRejected (nothing changed)."""
        runtime, change = apply_change(self._spec, self._local, key, raw_value, actor=actor, now=now_iso(),
                                       available_models=available_models, count_tokens=self.count_tokens,
                                       channel=channel, thread_ts=thread_ts)
        if change.outcome == "unchanged":
            return change_text(change)
        self._apply_local(runtime)
        line = describe_change(change)
        log.info("configuration changed from Slack: %s", line,
                 extra={"user": actor, "channel": channel, "thread_ts": thread_ts})
        persisted = await self._save(channel, thread_ts)
        await self._record_event("Normal", "ConfigChanged", line)
        return change_text(change, persisted)

    async def reset(self, key: str | None, *, actor: str, channel: str, thread_ts: str) -> str:
        """`config reset [key]`: back to the spec, audited and stored; returns the thread reply."""
        runtime, resets = reset(self._spec, self._local, key, actor=actor, now=now_iso(),
                                count_tokens=self.count_tokens)
        if not resets:
            return reset_text(resets, key)
        self._apply_local(runtime)
        line = describe_reset(resets, actor)
        log.info("configuration changed from Slack: %s", line,
                 extra={"user": actor, "channel": channel, "thread_ts": thread_ts})
        persisted = await self._save(channel, thread_ts)
        await self._record_event("Normal", "ConfigReset", line)
        return reset_text(resets, key, persisted)

    # ---- changes from the cluster --------------------------------------------------------------------------------
    def on_object(self, obj: Mapping[str, Any]) -> None:
        """The SlackBot as the watch saw it (called in the event loop, in order)."""
        task = asyncio.ensure_future(self._on_object(obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_object(self, obj: Mapping[str, Any]) -> None:
        try:
            dropped, spec_changed = self._adopt(obj)
        except Exception:
            log.exception("could not apply the SlackBot's new version")
            return
        if spec_changed is None:
            await self._record_event("Warning", "InvalidSpec", f"the bot keeps its previous configuration: "
                                                               f"{self._rejection}")
        if dropped:
            await self._report_dropped(dropped)
            await self._save()

    def _adopt(self, obj: Mapping[str, Any]) -> tuple[list[DroppedOverride], bool | None]:
        """Take the object's spec and stored runtime (synchronously: versions apply in the order seen). Returns the
        overrides dropped and whether the spec changed (None: it changed but is invalid, and was not taken)."""
        version = (obj.get("metadata") or {}).get("resourceVersion")
        stored = (obj.get("status") or {}).get("runtime") or {}
        local = self._local
        runtime_changed = not _older(version, self._written_version) and stored != self._accepted
        if runtime_changed:  # changed by someone else (kubectl, another replica): take it, keep what is pending
            pending = (self.pending.get("status") or {}).get("runtime")
            local = apply_merge_patch(stored, pending) if pending else copy.deepcopy(stored)
        new_spec = dict(obj.get("spec") or {})
        self._seen_spec = new_spec
        spec_changed = new_spec != self._spec
        if not (spec_changed or runtime_changed) or (spec_changed and new_spec == self._rejected_spec
                                                     and not runtime_changed):
            return [], False
        try:
            runtime, dropped = reconcile_with_spec(self._spec, new_spec, local, self.count_tokens)
            config = self._config(new_spec, runtime)
        except ConfigError as error:
            if not spec_changed or new_spec == self._rejected_spec:
                return [], False
            self._rejected_spec, self._rejection = copy.deepcopy(new_spec), str(error)
            log.error("the SlackBot's new spec is invalid; keeping the previous configuration: %s", error)
            return [], None
        if runtime_changed:
            self._accepted = copy.deepcopy(stored)
        self._made_in.update(overrides_of(local))
        self._spec, self._local, self._rejected_spec = copy.deepcopy(new_spec), runtime, None
        self.holder.replace(config)
        if spec_changed:
            log.info("the SlackBot's spec changed: applied live (model %s)", config.spec.model.name)
        return dropped, spec_changed

    async def _report_dropped(self, dropped: list[DroppedOverride]) -> None:
        for item in dropped:
            line = describe_dropped(item)
            made_in = self._made_in.get(item.key) or {}
            log.info("%s", line, extra={"channel": made_in.get("channel"), "thread_ts": made_in.get("threadTs")})
            if made_in.get("channel") and made_in.get("threadTs"):
                await self._tell(made_in["channel"], made_in["threadTs"], dropped_text([item]))
            await self._record_event("Normal", "OverrideDropped", line)

    # ---- storing -------------------------------------------------------------------------------------------------
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
                self.last_error = f"{now_iso()} saving to {self.store.description}: {describe_error(exc)}"
                log.warning("could not save the configuration to %s (%s); it applies now and is retried",
                            self.store.description, describe_error(exc))
                return False
            self._accepted = apply_merge_patch(self._accepted, patch["status"]["runtime"])
            if written.version:
                self._written_version = written.version
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
        delay = self.backoff
        while True:
            await asyncio.sleep(delay)
            if await self._write_pending() and await self._flush_events():
                break
            delay = min(delay * 2, self.backoff_max)
        self._offline = False
        log.info("configuration saved to %s", self.store.description)
        threads, self._unsaved_threads = list(self._unsaved_threads), {}
        for channel, thread_ts in threads:
            await self._tell(channel, thread_ts, saved_text(self.store.description))

    async def _tell(self, channel: str, thread_ts: str, text: str) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(channel, thread_ts, text)
        except Exception as exc:  # the audit trail (log, Event) still has it
            log.warning("could not tell the thread %s/%s: %s", channel, thread_ts, exc)

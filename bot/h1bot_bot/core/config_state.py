"""The live configuration as a pure state machine: the spec and Slack's overrides, and what each change must cause.

A `ConfigState` holds the raw spec, the runtime in effect (`local`: status.runtime as the bot applies it) and the
runtime the store is known to hold (`accepted`). Each input — an admin's `config set`/`model`/`config reset`, a new
version of the SlackBot seen by the watch, a write the store took — is a function from the state to a new state
plus the effects to perform, in order: `Save` (store `pending`, telling a thread when it cannot), `RecordEvent`
(an audit Event on the SlackBot), `Tell` (a message in a thread), `Log`. No I/O and no clock here (`now` and
`actor` come in); engine/live_config.py performs the effects.
"""

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from h1bot_api.spec import ConfigError
from h1bot_bot.core.config_replies import (
    change_text,
    describe_change,
    describe_dropped,
    describe_reset,
    dropped_text,
    reset_text,
)
from h1bot_bot.core.effective import BotConfig
from h1bot_bot.core.overrides import (
    CountText,
    DroppedOverride,
    apply_change,
    apply_merge_patch,
    merge_patch_for,
    overrides_of,
    reconcile_with_spec,
    reset,
)

JsonDict = dict[str, Any]
BuildConfig = Callable[[Mapping[str, Any], Mapping[str, Any]], BotConfig]  # (spec, runtime) → config; ConfigError


@dataclass(frozen=True)
class Save:
    """Store what is pending; if it cannot be stored now, tell `channel`/`thread_ts` once it is."""

    channel: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class RecordEvent:
    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class Tell:
    channel: str
    thread_ts: str
    text: str


@dataclass(frozen=True)
class Log:
    level: str  # "info", "warning" or "error"
    message: str
    extra: Mapping[str, Any] = field(default_factory=dict)


Effect = Save | RecordEvent | Tell | Log


@dataclass(frozen=True)
class ConfigState:
    spec: JsonDict
    local: JsonDict  # status.runtime in effect
    accepted: JsonDict  # status.runtime the store is known to hold
    made_in: Mapping[str, JsonDict] = field(default_factory=dict)  # key → its override (where it was made)
    written_version: str | None = None  # the resourceVersion of our latest write
    rejected_spec: JsonDict | None = None  # the latest spec seen that is invalid (the previous one is kept)
    rejection: str = ""
    seen_spec: JsonDict | None = None  # the spec of the latest version the watch delivered

    @property
    def pending(self) -> JsonDict:
        """The merge patch not yet stored ({} when everything is)."""
        return merge_patch_for(self.local, self.accepted)

    @property
    def current_rejection(self) -> str | None:
        """Why the SlackBot's latest spec is not in effect, or None when it is."""
        seen = self.spec if self.seen_spec is None else self.seen_spec
        return self.rejection if self.rejected_spec is not None and self.rejected_spec == seen else None


@dataclass(frozen=True)
class Transition:
    state: ConfigState
    effects: tuple[Effect, ...] = ()
    # The thread's answer to a change from Slack, given whether the Save succeeded.
    reply: Callable[[bool], str] | None = None


def start(spec: Mapping[str, Any], runtime: Mapping[str, Any] | None,
          count_tokens: CountText | None = None) -> Transition:
    """The state at start-up from the spec and the stored runtime. The overrides the spec no longer admits are
    dropped; the effects report them (to perform once the bot can tell threads). Raises ConfigError when the spec
    itself is invalid."""
    spec, accepted = copy.deepcopy(spec), copy.deepcopy(runtime or {})
    local, dropped = reconcile_with_spec(None, spec, accepted, count_tokens)
    state = ConfigState(spec=spec, local=local, accepted=accepted, made_in=overrides_of(runtime), seen_spec=spec)
    return Transition(state, (*_dropped_effects(state, dropped), Save()) if dropped else ())


def with_local(state: ConfigState, local: JsonDict) -> ConfigState:
    return replace(state, local=local, made_in={**state.made_in, **overrides_of(local)})


def change(state: ConfigState, key: str, raw_value: str, *, actor: str, now: str, channel: str, thread_ts: str,
           admin: bool | None = None, available_models: Collection[str] | None = None,
           count_tokens: CountText | None = None) -> Transition:
    """`config set` / `model` by `actor`. Raises NotAdmin or ChangeRejected (nothing changes)."""
    local, made = apply_change(state.spec, state.local, key, raw_value, actor=actor, now=now, admin=admin,
                               available_models=available_models, count_tokens=count_tokens, channel=channel,
                               thread_ts=thread_ts)
    if made.outcome == "unchanged":
        return Transition(state, reply=lambda _persisted: change_text(made))
    line = describe_change(made)
    return Transition(with_local(state, local), (
        Log("info", f"configuration changed from Slack: {line}", _where(actor, channel, thread_ts)),
        Save(channel, thread_ts), RecordEvent("Normal", "ConfigChanged", line)),
        reply=lambda persisted: change_text(made, persisted))


def reset_overrides(state: ConfigState, key: str | None, *, actor: str, now: str, channel: str, thread_ts: str,
                    admin: bool | None = None, count_tokens: CountText | None = None) -> Transition:
    """`config reset [key]` by `actor`: back to the spec. Raises NotAdmin or ChangeRejected."""
    local, resets = reset(state.spec, state.local, key, actor=actor, now=now, admin=admin, count_tokens=count_tokens)
    if not resets:
        return Transition(state, reply=lambda _persisted: reset_text(resets, key))
    line = describe_reset(resets, actor)
    return Transition(with_local(state, local), (
        Log("info", f"configuration changed from Slack: {line}", _where(actor, channel, thread_ts)),
        Save(channel, thread_ts), RecordEvent("Normal", "ConfigReset", line)),
        reply=lambda persisted: reset_text(resets, key, persisted))


def observe(state: ConfigState, obj: Mapping[str, Any], build: BuildConfig,
            count_tokens: CountText | None = None) -> Transition:
    """A version of the SlackBot as the watch saw it: its spec applies live (overrides whose field the spec changed
    are dropped and reported), a runtime someone else stored is taken (keeping what is pending); an invalid new
    spec is refused once (a Warning Event) and the previous configuration kept."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    stored = (obj.get("status") or {}).get("runtime") or {}
    new_spec = dict(obj.get("spec") or {})
    seen = replace(state, seen_spec=new_spec)
    runtime_changed = not _older(version, state.written_version) and stored != state.accepted
    local = state.local
    if runtime_changed:  # changed by someone else (kubectl, another replica): take it, keep what is pending
        pending = (state.pending.get("status") or {}).get("runtime")
        local = apply_merge_patch(stored, pending) if pending else copy.deepcopy(stored)
    spec_changed = new_spec != state.spec
    if not (spec_changed or runtime_changed) or (spec_changed and new_spec == state.rejected_spec
                                                 and not runtime_changed):
        return Transition(seen)
    try:
        runtime, dropped = reconcile_with_spec(state.spec, new_spec, local, count_tokens)
        config = build(new_spec, runtime)
    except ConfigError as error:
        if not spec_changed or new_spec == state.rejected_spec:
            return Transition(seen)
        return Transition(replace(seen, rejected_spec=copy.deepcopy(new_spec), rejection=str(error)), (
            Log("error", f"the SlackBot's new spec is invalid; keeping the previous configuration: {error}"),
            RecordEvent("Warning", "InvalidSpec", f"the bot keeps its previous configuration: {error}")))
    adopted = replace(seen, spec=copy.deepcopy(new_spec), local=runtime, rejected_spec=None,
                      accepted=copy.deepcopy(stored) if runtime_changed else state.accepted,
                      made_in={**state.made_in, **overrides_of(local)})
    effects: list[Effect] = []
    if spec_changed:
        effects.append(Log("info", f"the SlackBot's spec changed: applied live (model {config.spec.model.name})"))
    if dropped:
        effects += [*_dropped_effects(adopted, dropped), Save()]
    return Transition(adopted, tuple(effects))


def stored(state: ConfigState, patch: JsonDict, version: str | None) -> ConfigState:
    """The store took `patch` (a merge patch of `{"status": {"runtime": …}}`), as resourceVersion `version`."""
    return replace(state, accepted=apply_merge_patch(state.accepted, patch["status"]["runtime"]),
                   written_version=version or state.written_version)


def _dropped_effects(state: ConfigState, dropped: list[DroppedOverride]) -> list[Effect]:
    effects: list[Effect] = []
    for item in dropped:
        line = describe_dropped(item)
        made_in = state.made_in.get(item.key) or {}
        channel, thread_ts = made_in.get("channel"), made_in.get("threadTs")
        effects.append(Log("info", line, {"channel": channel, "thread_ts": thread_ts}))
        if channel and thread_ts:
            effects.append(Tell(channel, thread_ts, dropped_text([item])))
        effects.append(RecordEvent("Normal", "OverrideDropped", line))
    return effects


def _where(actor: str, channel: str, thread_ts: str) -> dict[str, str]:
    return {"user": actor, "channel": channel, "thread_ts": thread_ts}


def _older(version: str | None, than: str | None) -> bool:
    """Whether resourceVersion `version` precedes `than` (only comparable when both are numbers, as etcd's are)."""
    return bool(version and than and version.isdigit() and than.isdigit() and int(version) < int(than))

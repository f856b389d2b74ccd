"""The effective configuration: the SlackBot spec plus the overrides made from Slack (status.runtime).

Pure: every function takes the spec as the raw dict (the manifest's `spec`), the runtime as the raw
`status.runtime` dict, and the clock and the actor as arguments; none mutates its inputs.

status.runtime layout (crds/): `overrides.<key> = {value, specValue, previous, by, at, channel, threadTs}` for the
keys of RUNTIME_KEYS (channel/threadTs: the Slack thread it was made in, told when the spec later wins), and
`lastChange`. A field whose value would be null is left out (a JSON merge patch cannot write
null), so an absent `specValue` means the spec had no value for that field (e.g. no thresholdTokens).

GitOps-safe rule (`reconcile_with_spec`): an override is dropped, and reported, when the spec's value for its field
no longer equals the `specValue` it replaced; overrides the new spec makes invalid are dropped too; any other spec
change keeps them. Writes go through `merge_patch_for`, which touches only the override keys that changed, so two
admins changing different settings at once both end up recorded.
"""

import copy
import math
import re
import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from h1bot_api.models import lookup
from h1bot_api.spec import ConfigError, SlackBotSpec, resolve_limits
from h1bot_api.status import RUNTIME_KEYS

JsonDict = dict[str, Any]
CountText = Callable[[str], int]  # tokens of a text (a system prompt); core/history.CountTokens counts a message


class ChangeRejected(ValueError):
    """A change that would not be valid; the message is one line saying why. Nothing was changed."""


class NotAdmin(ChangeRejected):
    """The user is not in spec.access.admins."""

    def __init__(self, user_id: str, admins: tuple[str, ...]):
        super().__init__(f"{user_id} is not an admin of this bot (spec.access.admins)")
        self.user_id = user_id
        self.admins = admins


@dataclass(frozen=True)
class Change:
    """One `config set`/`model` applied: `previous` → `value`; the spec's own value is `spec_value`."""

    key: str
    value: Any
    previous: Any
    spec_value: Any
    by: str
    at: str
    # "set": an override now holds `value`; "spec": `value` is the spec's, so the override was removed;
    # "unchanged": `value` was already in effect, nothing to write.
    outcome: Literal["set", "spec", "unchanged"] = "set"
    note: str = ""  # e.g. "o3 takes no temperature"


@dataclass(frozen=True)
class Reset:
    """An override removed by `config reset`: `value` (set by `by`) gave way to the spec's `spec_value`."""

    key: str
    value: Any
    spec_value: Any
    by: str


@dataclass(frozen=True)
class DroppedOverride:
    """An override the spec won over: `reason` is "spec-changed" (the spec now says `spec_value` where it said
    `replaced`) or "invalid" (`detail` says why it cannot apply to the new spec)."""

    key: str
    value: Any
    replaced: Any
    spec_value: Any
    by: str
    at: str
    reason: Literal["spec-changed", "invalid"]
    detail: str = ""


# ---- reading the spec and the runtime ----------------------------------------------------------------------------


def _section_field(key: str) -> tuple[str, str]:
    section, field = RUNTIME_KEYS[key]
    return section, field


def field_type(key: str) -> type:
    """The Python type of a setting's spec field (int, float or str), from the spec model itself."""
    section, field = _section_field(key)
    section_model = SlackBotSpec.model_fields[section].annotation
    info = next(info for name, info in section_model.model_fields.items() if (info.alias or name) == field)
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def spec_value(spec: SlackBotSpec, key: str) -> Any:
    """The value the spec gives setting `key`, defaults applied; None when it has none (e.g. thresholdTokens)."""
    section, field = _section_field(key)
    return spec.to_dict().get(section, {}).get(field)


def overrides_of(runtime: Mapping[str, Any] | None) -> dict[str, JsonDict]:
    """The well-formed overrides of known settings in `runtime`, in RUNTIME_KEYS order."""
    overrides = (runtime or {}).get("overrides") or {}
    if not isinstance(overrides, Mapping):
        return {}
    return {key: dict(overrides[key]) for key in RUNTIME_KEYS
            if isinstance(overrides.get(key), Mapping) and "value" in overrides[key]}


def is_admin(spec: SlackBotSpec, user_id: str) -> bool:
    """Whether `user_id` may change the configuration: listed in spec.access.admins (nobody when empty)."""
    return bool(user_id) and user_id in spec.access.admins


def _with_values(spec_dict: Mapping[str, Any], values: Mapping[str, Any]) -> JsonDict:
    merged = copy.deepcopy(dict(spec_dict))
    for key, value in values.items():
        section, field = _section_field(key)
        part = merged.get(section)
        merged[section] = part = dict(part) if isinstance(part, Mapping) else {}
        if value is None:
            part.pop(field, None)
        else:
            part[field] = value
    return merged


def _override_values(overrides: Mapping[str, JsonDict]) -> dict[str, Any]:
    return {key: entry["value"] for key, entry in overrides.items()}


def effective_spec(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None) -> SlackBotSpec:
    """The spec with the overrides of `runtime` applied. Raises ConfigError when the result is not valid
    (run `reconcile_with_spec` first: it drops the overrides a spec no longer admits)."""
    return SlackBotSpec.parse(_with_values(spec_dict, _override_values(overrides_of(runtime))))


def validate(spec_dict: Mapping[str, Any], count_tokens: CountText | None = None) -> SlackBotSpec:
    """What the CRD and the bot require of a spec: the schema's types, bounds and rules, and limits that work
    with the model table (a known model or contextTokens; room for history). Raises ConfigError."""
    spec = SlackBotSpec.parse(dict(spec_dict))
    prompt_tokens = count_tokens(spec.persona.system_prompt) if count_tokens else 0
    resolve_limits(spec.model, spec.summarization, system_prompt_tokens=prompt_tokens)
    return spec


# ---- changing -----------------------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"^(\d{1,3})([,_]\d{3})+$")


def coerce(key: str, raw: str) -> Any:
    """The value the user typed, as the setting's type. Raises ChangeRejected when it is not one."""
    kind, text = field_type(key), raw.strip()
    if kind is int:
        number = text.lower().removesuffix("tokens").strip()
        factor = 1000 if number.endswith("k") else 1
        number = number.removesuffix("k")
        if _THOUSANDS.match(number):
            number = re.sub(r"[,_]", "", number)
        try:
            value = float(number) * factor
        except ValueError:
            raise ChangeRejected(f"{key} must be a whole number, not {_shown(raw)}") from None
        if not math.isfinite(value) or value != int(value):
            raise ChangeRejected(f"{key} must be a whole number, not {_shown(raw)}")
        return int(value)
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ChangeRejected(f"{key} must be a number, not {_shown(raw)}") from None
        if not math.isfinite(value):
            raise ChangeRejected(f"{key} must be a finite number, not {_shown(raw)}")
        return value
    if key == "model" and (not text or any(c.isspace() for c in text)):
        raise ChangeRejected(f"a model name is one word, not {_shown(raw)}")
    return text if key == "model" else raw


def _shown(raw: str, limit: int = 40) -> str:
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


def _check_model(spec: SlackBotSpec, name: str, available_models: Collection[str] | None) -> None:
    allowed = spec.model.allowed_models
    if allowed and name not in allowed:
        raise ChangeRejected(f"model {name!r} is not allowed here: spec.model.allowedModels is {', '.join(allowed)}")
    if available_models and name not in available_models:
        raise ChangeRejected(f"model {name!r} is not served by the model endpoint (`models` lists those it serves)")


def _audit(action: str, key: str, value: Any, previous: Any, actor: str, now: str) -> JsonDict:
    entry = {"action": action, "key": key, "value": value, "previous": previous, "by": actor, "at": now}
    return {name: item for name, item in entry.items() if item is not None}


def _runtime_with(runtime: Mapping[str, Any] | None, overrides: Mapping[str, JsonDict],
                  last_change: JsonDict | None) -> JsonDict:
    result = copy.deepcopy(dict(runtime or {}))
    raw = result.get("overrides")
    unknown = {k: v for k, v in raw.items() if k not in RUNTIME_KEYS} if isinstance(raw, Mapping) else {}
    result["overrides"] = {**unknown, **copy.deepcopy(dict(overrides))}
    if last_change is not None:
        result["lastChange"] = last_change
    return result


def apply_change(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None, key: str, raw_value: str, *,
                 actor: str, now: str, admin: bool | None = None, available_models: Collection[str] | None = None,
                 count_tokens: CountText | None = None, channel: str | None = None,
                 thread_ts: str | None = None) -> tuple[JsonDict, Change]:
    """`key` set to `raw_value` (as typed) by `actor` at `now` (ISO 8601): the new runtime and the Change.

    Validated as the CRD would validate the spec with the value in it, plus the model table; a model must be in
    allowedModels and, when `available_models` (from /v1/models) is given, served. `channel`/`thread_ts` (where
    it was asked) are recorded with the override. Raises NotAdmin or ChangeRejected with a one-line reason; the
    runtime is then unchanged.
    """
    if key not in RUNTIME_KEYS:
        raise ChangeRejected(f"{key!r} cannot be changed from Slack: settings are {', '.join(RUNTIME_KEYS)}")
    spec = _admins_spec(spec_dict, actor, admin)
    try:
        current = effective_spec(spec_dict, runtime)
    except ConfigError as error:
        raise ChangeRejected(f"the current overrides do not fit the spec ({error}): `config reset` them") from None
    value = coerce(key, raw_value)
    overrides = overrides_of(runtime)
    previous, from_spec = spec_value(current, key), spec_value(spec, key)
    if key == "model":
        _check_model(current, value, available_models)
    candidate = {k: v for k, v in overrides.items() if k != key}
    if value != from_spec:
        candidate[key] = {"value": value}
    try:
        merged = validate(_with_values(spec_dict, _override_values(candidate)), count_tokens)
    except ConfigError as error:
        raise ChangeRejected(f"{key} {_shown(raw_value.strip())} refused: {error}") from None
    note = (f"{merged.model.name} takes no temperature; it applies to models that do"
            if key == "temperature" and not _takes_temperature(merged.model.name) else "")
    if value == previous:
        return copy.deepcopy(dict(runtime or {})), Change(key, value, previous, from_spec, actor, now, "unchanged",
                                                         note)
    if value == from_spec:
        outcome: Literal["set", "spec"] = "spec"
    else:
        outcome = "set"
        candidate[key] = {name: item for name, item in {"value": value, "specValue": from_spec,
                                                         "previous": previous, "by": actor, "at": now,
                                                         "channel": channel, "threadTs": thread_ts}.items()
                          if item is not None}
    ordered = {k: candidate[k] for k in RUNTIME_KEYS if k in candidate}
    new_runtime = _runtime_with(runtime, ordered, _audit("set", key, value, previous, actor, now))
    return new_runtime, Change(key, value, previous, from_spec, actor, now, outcome, note)


def _takes_temperature(model: str) -> bool:
    info = lookup(model)
    return info.supports_temperature if info else True


def _admins_spec(spec_dict: Mapping[str, Any], actor: str, admin: bool | None = None) -> SlackBotSpec:
    """The parsed spec, once `actor` is known to be one of its admins (NotAdmin otherwise). `admin`: the surface's
    own say (the terminal's `--admin`); None: spec.access.admins decides."""
    try:
        spec = SlackBotSpec.parse(dict(spec_dict))
    except ConfigError as error:
        raise ChangeRejected(f"the spec itself is invalid, fix it first: {error}") from None
    if not (is_admin(spec, actor) if admin is None else admin):
        raise NotAdmin(actor, spec.access.admins)
    return spec


def reset(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None, key: str | None, *, actor: str,
          now: str, admin: bool | None = None, count_tokens: CountText | None = None) -> tuple[JsonDict, list[Reset]]:
    """The overrides of `key` (every key when None) removed by `actor` at `now`: the new runtime and what was
    reset (empty when there was nothing to reset). Raises NotAdmin, or ChangeRejected when the remaining
    overrides would not be valid on their own (say which to reset first)."""
    if key is not None and key not in RUNTIME_KEYS:
        raise ChangeRejected(f"{key!r} cannot be changed from Slack: settings are {', '.join(RUNTIME_KEYS)}")
    spec = _admins_spec(spec_dict, actor, admin)
    overrides = overrides_of(runtime)
    removed = [k for k in overrides if key is None or k == key]
    if not removed:
        return copy.deepcopy(dict(runtime or {})), []
    kept = {k: v for k, v in overrides.items() if k not in removed}
    try:
        validate(_with_values(spec_dict, _override_values(kept)), count_tokens)
    except ConfigError as error:
        advice = "fix the spec" if key is None else "reset everything with `config reset`"
        raise ChangeRejected(f"resetting {key or 'every setting'} leaves an invalid configuration ({error}): "
                             f"{advice}") from None
    resets = [Reset(k, overrides[k]["value"], spec_value(spec, k), overrides[k].get("by", "")) for k in removed]
    audit = _audit("reset", key or "*", None, None, actor, now) | {"keys": removed}
    return _runtime_with(runtime, kept, audit), resets


# ---- the spec changed --------------------------------------------------------------------------------------------


def reconcile_with_spec(old_spec_dict: Mapping[str, Any] | None, new_spec_dict: Mapping[str, Any],
                        runtime: Mapping[str, Any] | None, count_tokens: CountText | None = None,
                        ) -> tuple[JsonDict, list[DroppedOverride]]:
    """The runtime to keep under `new_spec_dict`, and the overrides dropped from it (to report).

    Call it at startup (`old_spec_dict` None) and on every spec change. `old_spec_dict` only stands in for a
    missing `specValue` of an override written by hand. Raises ConfigError when the new spec itself is invalid.
    """
    new_spec = SlackBotSpec.parse(dict(new_spec_dict))
    old_spec = SlackBotSpec.parse(dict(old_spec_dict)) if old_spec_dict is not None else None
    overrides = overrides_of(runtime)
    kept: dict[str, JsonDict] = {}
    dropped: list[DroppedOverride] = []
    for key, entry in overrides.items():
        now_in_spec = spec_value(new_spec, key)
        replaced = entry["specValue"] if "specValue" in entry else (
            spec_value(old_spec, key) if old_spec is not None else None)
        details = (entry["value"], replaced, now_in_spec, entry.get("by", ""), entry.get("at", ""))
        if now_in_spec != replaced:
            dropped.append(DroppedOverride(key, *details, reason="spec-changed"))
            continue
        try:
            validate(_with_values(new_spec_dict, _override_values({**kept, key: entry})), count_tokens)
        except ConfigError as error:
            dropped.append(DroppedOverride(key, *details, reason="invalid", detail=str(error)))
            continue
        kept[key] = entry
    if not dropped:
        return copy.deepcopy(dict(runtime or {})), []
    return _runtime_with(runtime, kept, None), dropped


# ---- writing ------------------------------------------------------------------------------------------------------


def _replacement(old: Any, new: Mapping[str, Any]) -> JsonDict:
    """`new` as a merge-patch value that replaces `old` whole (its other fields nulled)."""
    stale = {name: None for name in old} if isinstance(old, Mapping) else {}
    return {**stale, **copy.deepcopy(dict(new))}


def merge_patch_for(new_runtime: Mapping[str, Any], old_runtime: Mapping[str, Any] | None) -> JsonDict:
    """The JSON merge patch body for the status subresource that turns `old_runtime` into `new_runtime`, touching
    only status.runtime: each changed override key written whole, each removed one nulled, and lastChange.
    Empty ({}) when nothing changed. Patches of different keys commute, so concurrent changes all survive."""
    old_runtime = old_runtime or {}
    old = old_runtime.get("overrides") if isinstance(old_runtime.get("overrides"), Mapping) else {}
    new = new_runtime.get("overrides") if isinstance(new_runtime.get("overrides"), Mapping) else {}
    overrides: JsonDict = {key: None for key in old if key not in new}
    for key, entry in new.items():
        if old.get(key) != entry:
            overrides[key] = _replacement(old.get(key), entry) if isinstance(entry, Mapping) else entry
    body: JsonDict = {"overrides": overrides} if overrides else {}
    if "lastChange" in new_runtime and new_runtime["lastChange"] != old_runtime.get("lastChange"):
        body["lastChange"] = _replacement(old_runtime.get("lastChange"), new_runtime["lastChange"])
    return {"status": {"runtime": body}} if body else {}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: `target` with the JSON merge `patch` applied (a new object; null deletes a member)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result

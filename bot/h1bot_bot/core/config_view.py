"""What the bot says about its configuration: the `config` view (Block Kit), `help`, `models`, `debug`, and the
replies to a change, a refusal, a reset, and overrides the spec won over.

Pure. The configuration view is built from the spec and status.runtime only, never from the process settings, so
no token or key can reach it: credentials appear as the Secret name and key they are read from, nothing more.
Everything a user or a manifest wrote is escaped for Slack (`<!channel>` in a prompt must not ping anyone).

Who sees which prompt (personas can hold internal details): everyone sees the model, limits and access rules;
only spec.access.admins see prompts, and then only the default prompt and the persona of the channel they ask in.
Another channel's persona is never shown outside that channel (not in a DM either, not to admins): the view says
how many channels have their own persona, nothing more. In a channel others read the thread too, so an admin's
prompts go to the admin alone (`render_prompts`, posted ephemeral) and the thread gets the view without them.

People are shown by display name (or their id in code format), never as `<@U…>`: reading `config` or trying a
change must not let anyone make the bot ping the admins.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from h1bot_api.models import is_chat_model
from h1bot_api.spec import ConfigError, SlackBotSpec, resolve_limits
from h1bot_api.status import RUNTIME_KEYS
from h1bot_bot.core.command_parser import USAGE_MODEL, USAGE_RESET, USAGE_SET, ParseError
from h1bot_bot.core.overrides import (
    Change,
    ChangeRejected,
    DroppedOverride,
    NotAdmin,
    Reset,
    effective_spec,
    overrides_of,
    spec_value,
)
from h1bot_bot.core.slack_safety import escape, redact  # one escape, one redaction (chatops imports them here)

SECTION_LIMIT = 2900  # Slack refuses section text over 3,000 characters
PROMPT_PREVIEW = 1500
LISTED = 30  # people or channels listed by name; the rest as a count
PROMPTS_HIDDEN = "_Prompts are shown to this bot's admins only (spec.access.admins)._"
DIRECT_MESSAGES = {"allow": "answered", "admins": "answered for admins only", "deny": "not answered"}

LABELS = {"model": "Model", "temperature": "Temperature", "maxOutputTokens": "Max output tokens",
          "thresholdTokens": "Summarize above", "chunkTokens": "Summary chunk", "systemPrompt": "System prompt"}



@dataclass(frozen=True)
class Rendered:
    """A Slack message: Block Kit `blocks` and the plain `text` Slack shows in notifications and fallbacks."""

    blocks: list[dict[str, Any]]
    text: str


def _code(value: Any) -> str:
    shown = escape(value).replace("`", "'")
    return f"`{shown}`" if shown else "_(empty)_"


def _when(at: str) -> str:
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?Z", at or "")
    return f"{match.group(1)} {match.group(2)} UTC" if match else escape(at or "an unknown time")


def _who(user_id: str) -> str:
    """A mention (it notifies): only for the person who asked, or did what the reply is about."""
    return f"<@{user_id}>" if re.fullmatch(r"[UW][A-Z0-9]+", user_id or "") else escape(user_id or "someone")


def _person(user_id: str, names: Mapping[str, str] | None = None) -> str:
    """Someone named without notifying them: their display name, else their id in code format."""
    name = (names or {}).get(user_id)
    return escape(name) if name else _code(user_id or "someone")


def people_shown(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None) -> set[str]:
    """The user ids `render_config` names (admins, who set an override): the display names to look up."""
    admins = (spec_dict.get("access") or {}).get("admins") or []
    return {str(a) for a in admins[:LISTED]} | {str(e.get("by")) for e in overrides_of(runtime).values()
                                                  if e.get("by")}


def _truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _quoted(text: str, limit: int = PROMPT_PREVIEW) -> str:
    return "\n".join("> " + line for line in escape(_truncated(text, limit)).splitlines() or [""])


def _endpoint(url: str | None) -> str:
    """The endpoint without anything that could be a credential (user:password@, query string)."""
    if not url:
        return "the default OpenAI endpoint"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return _code(f"{parts.scheme}://{host}{port}{parts.path}")


def _setting_line(key: str, shown: str, spec: SlackBotSpec, overrides: Mapping[str, dict],
                  names: Mapping[str, str] | None = None) -> str:
    line = f"*{LABELS[key]}*: {shown}"
    entry = overrides.get(key)
    if entry:
        spec_shown = _value_text(key, spec_value(spec, key))
        line += (f"\n      _set from Slack by {_person(entry.get('by', ''), names)} on {_when(entry.get('at', ''))};"
                 f" the spec says {spec_shown}_")
    return line


def _value_text(key: str, value: Any, auto: int | None = None) -> str:
    if value is None:
        return f"auto ({auto:,} tokens)" if auto else "auto"
    if key in ("maxOutputTokens", "thresholdTokens", "chunkTokens"):
        return f"{int(value):,} tokens"
    if key == "systemPrompt":
        return f"{len(value):,} characters"
    return _code(value)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncated(text, SECTION_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncated(text, SECTION_LIMIT)}]}


def _in_effect(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None):
    """(spec, effective spec, overrides applied, a problem to show): the overrides left out when they do not fit."""
    spec = SlackBotSpec.parse(dict(spec_dict))
    try:
        return spec, effective_spec(spec_dict, runtime), overrides_of(runtime), ""
    except ConfigError as error:
        problem = f":warning: The Slack overrides do not fit the spec and are not applied: {escape(str(error))}"
        return spec, spec, {}, problem


def _persona_blocks(spec: SlackBotSpec, effective: SlackBotSpec, overrides: Mapping[str, dict], channel: str,
                    admin: bool, names: Mapping[str, str] | None) -> list[dict[str, Any]]:
    persona_text = _setting_line("systemPrompt", _value_text("systemPrompt", effective.persona.system_prompt),
                                 spec, overrides, names)
    persona_text += "\n" + (_quoted(effective.persona.system_prompt) if admin else PROMPTS_HIDDEN)
    blocks = [_section(persona_text)]
    if effective.persona.channels:
        blocks.append(_section(_channel_personas(effective, channel, admin)))
    return blocks


def render_config(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None, *, channel: str = "",
                  admin: bool = False, names: Mapping[str, str] | None = None) -> Rendered:
    """The `config` reply in `channel`: every setting in effect, and for a Slack override who set it, when, and the
    spec's value. Prompts only when `admin` (the reader is an admin and nobody else reads it: a DM), and only the
    default one and this channel's. `names`: display names by user id (people_shown), else ids are shown."""
    spec, effective, overrides, problem = _in_effect(spec_dict, runtime)
    try:
        limits = resolve_limits(effective.model, effective.summarization)
        context, auto_threshold = f"{limits.context_tokens:,} tokens", limits.threshold_tokens
    except ConfigError as error:
        context, auto_threshold = f":warning: {escape(str(error))}", None
    model, summarization = effective.model, effective.summarization
    model_lines = [
        _setting_line("model", _code(model.name), spec, overrides, names),
        f"*Context window*: {context}",
        _setting_line("temperature", _code(model.temperature), spec, overrides, names),
        _setting_line("maxOutputTokens", _value_text("maxOutputTokens", model.max_output_tokens), spec, overrides,
                      names),
        f"*Endpoint*: {_endpoint(model.base_url)}",
        "*Allowed models*: " + (", ".join(_code(m) for m in model.allowed_models) or "any"),
    ]
    summary_lines = [
        _setting_line("thresholdTokens", _value_text("thresholdTokens", summarization.threshold_tokens,
                                                     auto_threshold), spec, overrides, names),
        _setting_line("chunkTokens", _value_text("chunkTokens", summarization.chunk_tokens), spec, overrides, names),
        f"*Summary depth*: at most {summarization.max_depth} levels;"
        f" *recent messages kept*: {summarization.recent_share:.0%} of the budget",
    ]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "Configuration"}}]
    if problem:
        blocks.append(_section(problem))
    blocks += [_section("\n".join(model_lines)), _section("\n".join(summary_lines))]
    blocks += _persona_blocks(spec, effective, overrides, channel, admin, names)
    blocks += [_section(_access(effective, names)), _context(_credentials(effective)),
               _context(f"{len(overrides)} setting(s) changed from Slack. Change one with {USAGE_SET};"
                        f" go back to the spec with {USAGE_RESET}.")]
    return Rendered(blocks, "\n\n".join(_block_text(block) for block in blocks))


def render_prompts(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None, *, channel: str = "",
                   names: Mapping[str, str] | None = None) -> Rendered:
    """For an admin alone (an ephemeral message) beside the channel's `config` view: the default prompt and this
    channel's persona, as render_config shows them in an admin's DM."""
    spec, effective, overrides, _ = _in_effect(spec_dict, runtime)
    blocks = [_context(":lock: Only you see this: the prompts in effect here (shown to this bot's admins only).")]
    blocks += _persona_blocks(spec, effective, overrides, channel, True, names)
    return Rendered(blocks, "\n\n".join(_block_text(block) for block in blocks))


def _block_text(block: Mapping[str, Any]) -> str:
    if block["type"] == "header":
        return f"*{block['text']['text']}*"
    if block["type"] == "context":
        return "\n".join(element["text"] for element in block["elements"])
    return block["text"]["text"]


def _channel_personas(spec: SlackBotSpec, channel: str, admin: bool) -> str:
    """This channel's persona (its prompt to admins only); other channels' only as a count."""
    here = next((p for p in spec.persona.channels if p.id == channel), None)
    others = len(spec.persona.channels) - (1 if here else 0)
    lines = []
    if here is not None:
        lines.append(f"*This channel's persona* (<#{escape(here.id)}>): "
                     + (f"model {_code(here.model)}" if here.model else "the default model"))
        if here.system_prompt:
            lines.append(f"*Its system prompt*: {len(here.system_prompt):,} characters\n"
                         + (_quoted(here.system_prompt) if admin else PROMPTS_HIDDEN))
        else:
            lines.append("*Its system prompt*: the default one")
    if others:
        lines.append(f"{others} {'other ' if here else ''}channel{'s' if others != 1 else ''} "
                     f"{'have' if others != 1 else 'has'} a persona of {'their' if others != 1 else 'its'} own,"
                     " shown only in that channel.")
    return "\n".join(lines)


def _listed(items: Sequence[str], limit: int = LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _access(spec: SlackBotSpec, names: Mapping[str, str] | None = None) -> str:
    access = spec.access
    channels = _listed([f"<#{escape(c)}>" for c in access.channels.allow]) or "every channel it is invited to"
    lines = ["*Access*",
             "Admins: " + (_listed([_person(a, names) for a in access.admins])
                           or "none (nobody can change settings from Slack)"),
             f"Answers in: {channels}"]
    if access.channels.deny:
        lines.append("Never in: " + _listed([f"<#{escape(c)}>" for c in access.channels.deny]))
    dm_rule = access.direct_message_rule
    lines.append(f"Direct messages: {DIRECT_MESSAGES[dm_rule]}"
                 + ("" if access.direct_messages else " (spec.access.directMessages unset: it follows the allow list)"))
    lines.append(f"Answers other bots: {'yes' if access.answer_bots else 'no'}")
    if spec.suspend:
        lines.append(":double_vertical_bar: Suspended (spec.suspend)")
    return "\n".join(lines)


def _credentials(spec: SlackBotSpec) -> str:
    if spec.secrets is None:  # a manifest run with --spec: the credentials are the process's environment
        return ":lock: Credentials are never shown. They come from the environment (no spec.secrets)."
    refs = {"Slack bot token": spec.secrets.slack_bot_token, "Slack app token": spec.secrets.slack_app_token,
            "API key": spec.secrets.open_ai_api_key, "organization": spec.secrets.open_ai_organization}
    shown = [f"{label} from Secret {_code(ref.name)} key {_code(ref.key)}" for label, ref in refs.items() if ref]
    return ":lock: Credentials are never shown. " + "; ".join(shown) + "."


# ---- replies --------------------------------------------------------------------------------------------------------

NOT_PERSISTED = (":warning: Applied now, but not saved yet (the cluster cannot be reached): I keep retrying, and "
                 "it is lost only if I restart before then.")


def saved_text(where: str) -> str:
    """Told in a thread whose change could not be saved at first, once it is."""
    return f":floppy_disk: Saved now: the change above is recorded in {escape(where)}."


def help_text() -> str:
    settings = ", ".join(f"`{key}`" for key in RUNTIME_KEYS)
    return "\n".join([
        "*What I can do* (mention me with one of these; anything else is a question for me)",
        "• `help`: this message",
        "• `config`: the settings in effect, and who changed what from Slack",
        f"• {USAGE_SET}: change a setting (admins only). Settings: {settings}"
        " (also `threshold`, `chunk`, `persona`/`prompt`, `max-output-tokens`)",
        "    e.g. `config set model gpt-4o-mini`, `config set threshold 12000`,"
        " `config set persona \"You are a pirate. Answer in rhymes.\"`",
        f"• {USAGE_RESET}: go back to the spec's values (admins only)",
        "• `models`: the models I can use; the current one is marked",
        f"• {USAGE_MODEL}: switch model (admins only)",
        "• `summarize`: summarize this thread",
        "• `debug`: version, model, and how big this thread is for me",
    ])


def _brief(value: Any, limit: int = 60) -> str:
    """A value in a plain one-line log or Event message (an Event message holds 1,024 characters)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + f"…' ({len(str(value))} characters)"


def describe_change(change: Change) -> str:
    """One plain line for the log and the Kubernetes Event."""
    if change.outcome == "unchanged":
        return f"{change.key} left at {_brief(change.value)} by {change.by} (already in effect)"
    where = "back to the spec" if change.outcome == "spec" else f"spec: {_brief(change.spec_value)}"
    return f"{change.key}: {_brief(change.previous)} → {_brief(change.value)} by {change.by} ({where})"


def change_text(change: Change, persisted: bool = True) -> str:
    """The thread reply to an accepted `config set` / `model`."""
    label = f"*{LABELS[change.key]}*"
    if change.outcome == "unchanged":
        text = f"{label} is already {_value_text(change.key, change.value)}: nothing to change."
    elif change.outcome == "spec":
        text = (f":white_check_mark: {label} is back to the spec's {_value_text(change.key, change.value)}"
                f" (was {_value_text(change.key, change.previous)}); the Slack override is gone.")
    else:
        text = (f":white_check_mark: {label} is now {_value_text(change.key, change.value)}"
                f" (was {_value_text(change.key, change.previous)}; the spec says"
                f" {_value_text(change.key, change.spec_value)}). Changed by {_who(change.by)}.")
    if change.note:
        text += f"\n:information_source: {escape(change.note)}"
    if change.outcome != "unchanged" and not persisted:
        text += "\n" + NOT_PERSISTED
    return text


def refusal_text(error: ChangeRejected | ParseError, names: Mapping[str, str] | None = None) -> str:
    """The thread reply to a change that was refused, or a command that could not be parsed. It names the admins
    (by `names`, display names by id) without pinging them."""
    if isinstance(error, ParseError):
        return f":grey_question: {error.message}"
    if isinstance(error, NotAdmin):
        admins = _listed([_person(a, names) for a in error.admins]) or "nobody is listed in spec.access.admins"
        return (f"Sorry {_who(error.user_id)}, only this bot's admins can change its settings ({admins}). "
                "You can still look at them with `config`.")
    return f":x: Not changed: {escape(str(error))}"


def reset_text(resets: Sequence[Reset], key: str | None, persisted: bool = True) -> str:
    if not resets:
        return (f"*{LABELS[key]}* has no Slack override: it already follows the spec." if key
                else "Nothing to reset: every setting already follows the spec.")
    lines = [f":leftwards_arrow_with_hook: *{LABELS[r.key]}* is back to the spec's {_value_text(r.key, r.spec_value)}"
             f" (was {_value_text(r.key, r.value)}, set by {_who(r.by)})." for r in resets]
    if not persisted:
        lines.append(NOT_PERSISTED)
    return "\n".join(lines)


def describe_reset(resets: Sequence[Reset], actor: str) -> str:
    """One plain line for the log and the Kubernetes Event."""
    return f"reset by {actor}: " + ", ".join(f"{r.key} {_brief(r.value)} → {_brief(r.spec_value)} (spec)"
                                             for r in resets)


def dropped_text(dropped: Iterable[DroppedOverride]) -> str:
    """For the thread (and, with Slack markup, the Event): the overrides the spec won over, and why."""
    lines = []
    for d in dropped:
        override = f"the Slack override {_value_text(d.key, d.value)} (set by {_who(d.by)})"
        if d.reason == "spec-changed":
            lines.append(f"The spec now sets *{LABELS[d.key]}* to {_value_text(d.key, d.spec_value)} (it was"
                         f" {_value_text(d.key, d.replaced)}): the spec wins, {override} is dropped.")
        else:
            lines.append(f"{override.capitalize()} of *{LABELS[d.key]}* no longer fits the spec"
                         f" ({escape(d.detail)}), so it is dropped.")
    return "\n".join(lines)


def describe_dropped(dropped: DroppedOverride) -> str:
    """One plain line for the log and the Kubernetes Event."""
    why = (f"the spec changed it from {_brief(dropped.replaced)} to {_brief(dropped.spec_value)}"
           if dropped.reason == "spec-changed" else f"it no longer fits the spec: {dropped.detail}")
    return f"override of {dropped.key} ({_brief(dropped.value)}, by {dropped.by}) dropped: {why}"


def models_text(model_ids: Iterable[str] | None, current: str, allowed: Sequence[str] = (),
                error: str | None = None) -> str:
    """The `models` reply: the endpoint's chat models (only `allowed` ones when set), the current one marked.
    `model_ids` None (with `error`) when the endpoint could not be asked."""
    if model_ids is None:
        listed = sorted(set(allowed) | {current})
        head = f":warning: I could not list the endpoint's models ({escape(redact(error or 'unknown error'))})."
        head += " The allowed models:" if allowed else " The current model:"
    else:
        listed = sorted({m for m in model_ids if is_chat_model(m) and (not allowed or m in allowed)})
        head = "*Models I can use*" + (" (limited to spec.model.allowedModels)" if allowed else "") + ":"
    lines = [head] + [f"• {_code(m)}" + ("  ← current" if m == current else "") for m in listed]
    if current not in listed:
        lines.append(f"• {_code(current)}  ← current (not listed by the endpoint)")
    lines.append(f"Switch with {USAGE_MODEL}.")
    return "\n".join(lines)


def debug_text(*, version: str, uptime_seconds: float, model: str, thread_tokens: int, threshold_tokens: int,
               summarization: str, last_error: str | None, source: str = "", bounded: bool = False,
               tokenizer_exact: bool = True) -> str:
    """The `debug` reply. `summarization` says how this thread would be summarized (from the summarizer).

    `bounded`: `thread_tokens` is the UTF-8 byte bound (the thread is under the threshold even so, and was not
    tokenized); `tokenizer_exact=False`: the model has its own tokenizer, so tiktoken's counts are estimates."""
    minutes, seconds = divmod(int(uptime_seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    uptime = (f"{days}d " if days else "") + f"{hours}h {minutes:02d}m {seconds:02d}s"
    lines = [f"*Version*: {_code(version)}   *Uptime*: {uptime}" + (f"   *Config from*: {_code(source)}"
                                                                     if source else ""),
             f"*Model*: {_code(model)}",
             f"*This thread*: {'at most ' if bounded else ''}{thread_tokens:,} tokens of history; summarized above"
             f" {threshold_tokens:,} ({'over' if thread_tokens > threshold_tokens else 'under'} the threshold)"
             + (" — an upper bound from its UTF-8 bytes: answers load the tokenizer only for threads that could"
                " exceed the threshold" if bounded else "")
             + ("" if tokenizer_exact else f"; counts are estimates: tiktoken, not {_code(model)}'s own tokenizer"),
             f"*Summarization*: {escape(summarization)}",
             "*Last error*: " + (_code(_truncated(redact(last_error), 500)) if last_error else "none")]
    return "\n".join(lines)

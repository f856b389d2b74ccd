"""The `config` view (Block Kit): every setting in effect and who changed what from Slack, and the prompts an admin
may read (`render_prompts`). The replies to a change are core/config_replies.py's.

Pure. The configuration view is built from the spec and status.runtime only, never from the process settings, so
no token or key can reach it: credentials appear as the Secret name and key they are read from, nothing more.
Everything a user or a manifest wrote is escaped for Slack (`<!channel>` in a prompt must not ping anyone).

Who sees which prompt (personas can hold internal details): everyone sees the model, limits and access rules;
only spec.access.admins see prompts, and then only the default prompt and the persona of the channel they ask in.
Another channel's persona is never shown outside that channel (not in a DM either, not to admins): the view says
how many channels have their own persona, nothing more. In a channel others read the thread too, so an admin's
prompts go to the admin alone (`render_prompts`, posted ephemeral) and the thread gets the view without them.

People are named, never pinged (core/reply_text.py's `person`): reading `config` must not ping the admins.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from h1bot_api.spec import ConfigError, SlackBotSpec, resolve_limits
from h1bot_bot.core.command_parser import USAGE_RESET, USAGE_SET
from h1bot_bot.core.overrides import effective_spec, overrides_of, spec_value
from h1bot_bot.core.reply_text import LABELS, LISTED, code, listed, person, truncated, value_text
from h1bot_bot.core.slack_safety import escape

SECTION_LIMIT = 2900  # Slack refuses section text over 3,000 characters
PROMPT_PREVIEW = 1500
PROMPTS_HIDDEN = "_Prompts are shown to this bot's admins only (spec.access.admins)._"
DIRECT_MESSAGES = {"allow": "answered", "admins": "answered for admins only", "deny": "not answered"}


@dataclass(frozen=True)
class Rendered:
    """A Slack message: Block Kit `blocks` and the plain `text` Slack shows in notifications and fallbacks."""

    blocks: list[dict[str, Any]]
    text: str


def _when(at: str) -> str:
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?Z", at or "")
    return f"{match.group(1)} {match.group(2)} UTC" if match else escape(at or "an unknown time")


def people_shown(spec_dict: Mapping[str, Any], runtime: Mapping[str, Any] | None) -> set[str]:
    """The user ids `render_config` names (admins, who set an override): the display names to look up."""
    admins = (spec_dict.get("access") or {}).get("admins") or []
    return {str(a) for a in admins[:LISTED]} | {str(e.get("by")) for e in overrides_of(runtime).values()
                                                  if e.get("by")}


def _quoted(text: str, limit: int = PROMPT_PREVIEW) -> str:
    return "\n".join("> " + line for line in escape(truncated(text, limit)).splitlines() or [""])


def _endpoint(url: str | None) -> str:
    """The endpoint without anything that could be a credential (user:password@, query string)."""
    if not url:
        return "the default OpenAI endpoint"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return code(f"{parts.scheme}://{host}{port}{parts.path}")


def _setting_line(key: str, shown: str, spec: SlackBotSpec, overrides: Mapping[str, dict],
                  names: Mapping[str, str] | None = None) -> str:
    line = f"*{LABELS[key]}*: {shown}"
    entry = overrides.get(key)
    if entry:
        spec_shown = value_text(key, spec_value(spec, key))
        line += (f"\n      _set from Slack by {person(entry.get('by', ''), names)} on {_when(entry.get('at', ''))};"
                 f" the spec says {spec_shown}_")
    return line


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncated(text, SECTION_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncated(text, SECTION_LIMIT)}]}


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
    persona_text = _setting_line("systemPrompt", value_text("systemPrompt", effective.persona.system_prompt),
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
        _setting_line("model", code(model.name), spec, overrides, names),
        f"*Context window*: {context}",
        _setting_line("temperature", code(model.temperature), spec, overrides, names),
        _setting_line("maxOutputTokens", value_text("maxOutputTokens", model.max_output_tokens), spec, overrides,
                      names),
        f"*Endpoint*: {_endpoint(model.base_url)}",
        "*Allowed models*: " + (", ".join(code(m) for m in model.allowed_models) or "any"),
    ]
    summary_lines = [
        _setting_line("thresholdTokens", value_text("thresholdTokens", summarization.threshold_tokens,
                                                    auto_threshold), spec, overrides, names),
        _setting_line("chunkTokens", value_text("chunkTokens", summarization.chunk_tokens), spec, overrides, names),
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
                     + (f"model {code(here.model)}" if here.model else "the default model"))
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


def _access(spec: SlackBotSpec, names: Mapping[str, str] | None = None) -> str:
    access = spec.access
    channels = listed([f"<#{escape(c)}>" for c in access.channels.allow]) or "every channel it is invited to"
    lines = ["*Access*",
             "Admins: " + (listed([person(a, names) for a in access.admins])
                           or "none (nobody can change settings from Slack)"),
             f"Answers in: {channels}"]
    if access.channels.deny:
        lines.append("Never in: " + listed([f"<#{escape(c)}>" for c in access.channels.deny]))
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
    shown = [f"{label} from Secret {code(ref.name)} key {code(ref.key)}" for label, ref in refs.items() if ref]
    return ":lock: Credentials are never shown. " + "; ".join(shown) + "."

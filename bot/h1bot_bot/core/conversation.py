"""A Slack thread as an OpenAI-style chat: who said what, the bot's own turns as `assistant`, Slack markup undone.

Messages are Slack API message dicts (as `conversations.replies` returns them); names map user/bot ids to the
display names the model should see.
"""

import html
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ChatMessage = dict[str, str]
REPLY_EVENT = "h1bot_reply"  # the event_type of the metadata on the bot's replies

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MARKUP = re.compile(r"<([^<>]*)>")  # every Slack markup: <@U1>, <#C1|name>, <!here>, <url|label>

# Subtypes that are not someone saying something in the thread.
_SKIPPED_SUBTYPES = frozenset({"channel_join", "channel_leave", "message_deleted", "message_changed",
                               "thread_broadcast_deleted", "group_join", "group_leave"})


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in its workspace, from `auth.test`."""

    user_id: str
    bot_id: str = ""
    team_id: str = ""


def mentioned_user_ids(text: str) -> set[str]:
    return set(_USER_MENTION.findall(text)) if text and "<@" in text else set()


def strip_bot_mention(text: str, bot_user_id: str) -> str:
    """The text without mentions of the bot (and the space after each), trimmed; everything else verbatim."""
    text = text or ""
    if f"<@{bot_user_id}" not in text:
        return text.strip()
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>[ \t]?", "", text).strip()


def _markup_as_text(inner: str, names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target[:2] in ("@U", "@W"):
        return "@" + names.get(target[1:], label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return "@" + (label or target[1:]).removeprefix("@")
    return f"{label} ({target})" if label and label != target else target


def unslack(text: str, names: Mapping[str, str]) -> str:
    """Slack markup as plain text: `<@U1>` → `@Alice`, `<url|label>` → `label (url)`, entities unescaped."""
    if "<" in text:
        text = _MARKUP.sub(lambda m: _markup_as_text(m.group(1), names), text)
    return html.unescape(text) if "&" in text else text


def is_from_bot(message: Mapping[str, Any], bot: BotIdentity) -> bool:
    return bool((bot.user_id and message.get("user") == bot.user_id) or (bot.bot_id and message.get("bot_id")
                                                                         == bot.bot_id))


def is_from_other_bot(message: Mapping[str, Any], bot: BotIdentity) -> bool:
    return not is_from_bot(message, bot) and bool(message.get("bot_id") or message.get("subtype") == "bot_message")


def author_id(message: Mapping[str, Any]) -> str:
    return message.get("user") or message.get("bot_id") or "unknown"


def authors_to_resolve(messages: Iterable[Mapping[str, Any]], bot: BotIdentity) -> set[str]:
    """User ids whose display names the chat needs: authors of others' messages and users they mention."""
    ids: set[str] = set()
    for message in messages:
        if not is_from_bot(message, bot) and message.get("user"):
            ids.add(message["user"])
        ids |= mentioned_user_ids(message.get("text", ""))
    ids.discard(bot.user_id)
    return ids


def files_note(message: Mapping[str, Any]) -> str:
    """A line telling the model which files were attached (it cannot read them)."""
    files = message.get("files") or []
    if not files:
        return ""
    described = ", ".join(f"{f.get('name') or f.get('title') or 'file'} "
                          f"({f.get('filetype') or f.get('mimetype') or '?'})" for f in files)
    return f"[attached file(s), not readable by the bot: {described}]"


def message_text(message: Mapping[str, Any], bot: BotIdentity, names: Mapping[str, str]) -> str:
    text = unslack(strip_bot_mention(message.get("text", ""), bot.user_id), names)
    note = files_note(message)
    return f"{text}\n{note}".strip() if note else text


def speaker(message: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """`Alice (U123)`: the display name and the id, so the model can tell people apart."""
    who = author_id(message)
    name = names.get(who) or (message.get("bot_profile") or {}).get("name") or message.get("username") or who
    return f"{name} ({who})"


def reply_metadata(state: str, owner: str, until: float) -> dict[str, Any]:
    """Slack message metadata on the bot's reply: `streaming` while it is written (by `owner`, a host/pid, who
    finishes it before `until`, epoch seconds), `done` once written, `interrupted` once marked so."""
    return {"event_type": REPLY_EVENT, "event_payload": {"state": state, "owner": owner, "until": int(until)}}


def _reply_payload(message: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = message.get("metadata") or {}
    return (metadata.get("event_payload") or {}) if metadata.get("event_type") == REPLY_EVENT else {}


def is_unfinished_reply(message: Mapping[str, Any], bot: BotIdentity) -> bool:
    """A reply of the bot's still being written, or whose writer died: never history for the model."""
    return is_from_bot(message, bot) and _reply_payload(message).get("state") == "streaming"


def interrupted_replies(messages: Iterable[Mapping[str, Any]], bot: BotIdentity, *, owner: str, now: float,
                        in_flight: Collection[str]) -> list[Mapping[str, Any]]:
    """The bot's unfinished replies nobody will finish: not written by this process now, and written by an
    earlier process of the same host (pod) or past their `until`."""
    host = owner.partition("/")[0]
    found = []
    for message in messages:
        if not is_unfinished_reply(message, bot) or message.get("ts") in in_flight:
            continue
        payload = _reply_payload(message)
        writer = str(payload.get("owner") or "")
        if (writer != owner and writer.partition("/")[0] == host) or now > float(payload.get("until") or 0):
            found.append(message)
    return found


def interrupted_text(text: str, typing_mark: str, placeholder: str, note: str, limit: int) -> str:
    """An unfinished reply's text, marked as interrupted: the typing mark (or the placeholder) replaced by `note`."""
    shown = "" if text == placeholder else text.removesuffix(typing_mark).rstrip()
    room = limit - len(note) - 2
    if len(shown) > room:
        shown = shown[:room - 1] + "…"
    return f"{shown}\n\n{note}" if shown else note


def build_chat(system_prompt: str, messages: Iterable[Mapping[str, Any]], bot: BotIdentity,
               names: Mapping[str, str]) -> list[ChatMessage]:
    """The chat for the model: the persona, then the thread in order; empty and non-content messages are left
    out, and so are the bot's unfinished replies (a cut text is not what the bot said)."""
    chat: list[ChatMessage] = [{"role": "system", "content": system_prompt}]
    for message in messages:
        if message.get("subtype") in _SKIPPED_SUBTYPES or is_unfinished_reply(message, bot):
            continue
        text = message_text(message, bot, names)
        if not text:
            continue
        if is_from_bot(message, bot):
            chat.append({"role": "assistant", "content": text})
        else:
            chat.append({"role": "user", "content": f"{speaker(message, names)}: {text}"})
    return chat

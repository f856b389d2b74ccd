"""A Slack thread as an OpenAI-style chat: who said what, the bot's own turns as `assistant`, Slack markup undone.

Messages are Slack API message dicts (as `conversations.replies` returns them); names map user/bot ids to the
display names the model should see.
"""

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ChatMessage = dict[str, str]

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


def build_chat(system_prompt: str, messages: Iterable[Mapping[str, Any]], bot: BotIdentity,
               names: Mapping[str, str]) -> list[ChatMessage]:
    """The chat for the model: the persona, then the thread in order; empty and non-content messages are left out."""
    chat: list[ChatMessage] = [{"role": "system", "content": system_prompt}]
    for message in messages:
        if message.get("subtype") in _SKIPPED_SUBTYPES:
            continue
        text = message_text(message, bot, names)
        if not text:
            continue
        if is_from_bot(message, bot):
            chat.append({"role": "assistant", "content": text})
        else:
            chat.append({"role": "user", "content": f"{speaker(message, names)}: {text}"})
    return chat

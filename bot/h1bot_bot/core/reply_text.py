"""The pieces the bot's replies are written with: a value in code format, a setting by its label, a person, lists
and texts cut to size. Pure; everything a user or a manifest wrote is escaped for Slack.

People are shown by display name (or their id in code format), never as `<@U…>`: reading `config` or trying a
change must not let anyone make the bot ping the admins. Only `who` mentions, for the person a reply is about.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from h1bot_bot.core.slack_safety import escape

LISTED = 30  # people or channels listed by name; the rest as a count

LABELS = {"model": "Model", "temperature": "Temperature", "maxOutputTokens": "Max output tokens",
          "thresholdTokens": "Summarize above", "chunkTokens": "Summary chunk", "systemPrompt": "System prompt"}


def code(value: Any) -> str:
    shown = escape(value).replace("`", "'")
    return f"`{shown}`" if shown else "_(empty)_"


def who(user_id: str) -> str:
    """A mention (it notifies): only for the person who asked, or did what the reply is about."""
    return f"<@{user_id}>" if re.fullmatch(r"[UW][A-Z0-9]+", user_id or "") else escape(user_id or "someone")


def person(user_id: str, names: Mapping[str, str] | None = None) -> str:
    """Someone named without notifying them: their display name, else their id in code format."""
    name = (names or {}).get(user_id)
    return escape(name) if name else code(user_id or "someone")


def truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def listed(items: Sequence[str], limit: int = LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def value_text(key: str, value: Any, auto: int | None = None) -> str:
    if value is None:
        return f"auto ({auto:,} tokens)" if auto else "auto"
    if key in ("maxOutputTokens", "thresholdTokens", "chunkTokens"):
        return f"{int(value):,} tokens"
    if key == "systemPrompt":
        return f"{len(value):,} characters"
    return code(value)

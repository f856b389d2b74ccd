"""Credentials taken out of text that did not come from us (pure): for Slack (the bot), status and Events (both).

Shared by the bot (h1bot_bot.core.slack_safety) and the operator (API server and exception messages echo the
values they refuse, and a key pasted in the wrong field would otherwise show in `kubectl describe`).
"""

import re

REDACTED = "[redacted]"

_KEYS = r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]{4,}|\bsk-[A-Za-z0-9_*-]{6,}"  # Slack tokens; OpenAI sk-…, sk-proj-…
_KEYS_ONLY = re.compile(_KEYS)
_SECRETS = re.compile(
    _KEYS + r"|(?i:\bauthorization\s*[:=]\s*(?:(?:bearer|basic|token)\s+)?)[^\s,;\"']+"  # Authorization: Bearer x / x
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{4,}"  # Bearer <token>
    r"|(?i:\b(?:api[_-]?key|access[_-]?token|client[_-]?secret|password|secret|token)\b\"?\s*[:=]\s*\"?)"
    r"[^\s,;&\"'}]{4,}")
_KEEP_NAME = re.compile(r"^(?i:authorization\s*[:=]\s*(?:(?:bearer|basic|token)\s+)?|bearer\s+|"
                        r"(?:api[_-]?key|access[_-]?token|client[_-]?secret|password|secret|token)\"?\s*[:=]\s*\"?)")


def redact(text: str, *, named: bool = True) -> str:
    """`text` with anything that looks like a credential replaced by `[redacted]` (the name before it is kept).

    `named=False` only replaces what is a credential by its shape (keys and tokens), not `password=…`-style
    values: for model answers, whose code examples name such variables."""
    if not text:
        return text
    return (_SECRETS if named else _KEYS_ONLY).sub(_redacted, text)


def _redacted(match: re.Match) -> str:
    name = _KEEP_NAME.match(match.group(0))
    return (name.group(0) if name else "") + REDACTED

"""The bot container's environment contract (pure): which variables the operator owns, and how the typed spec
fields `spec.slack` and `spec.logging` map onto variables the bot reads.

The operator renders every owned variable itself, so `spec.template.env` (and the chart's `bots.env`) may not set
one: the CRD refuses it with OWNED_ENV_MESSAGE and so does SlackBotSpec (tests check the three lists agree).
"""

from collections.abc import Mapping
from typing import Any

from h1bot_api.endpoints import ENV as ALLOWED_BASE_URLS_ENV

# spec.secrets field (python name) → the variable its Secret key is mapped to.
SECRET_ENV = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "open_ai_api_key": "OPENAI_API_KEY",
    "open_ai_organization": "OPENAI_ORG_ID",
}
NAME_ENV, NAMESPACE_ENV, HTTP_PORT_ENV = "H1BOT_NAME", "H1BOT_NAMESPACE", "H1BOT_HTTP_PORT"
STREAMING_ENV, UPDATE_INTERVAL_ENV = "H1BOT_SLACK_STREAMING", "H1BOT_UPDATE_INTERVAL"
LOG_FORMAT_ENV, LOG_LEVEL_ENV = "LOG_FORMAT", "LOG_LEVEL"

# Typed spec field (section, camelCase field) → its variable, and the bot's own default when nothing sets it.
TYPED_ENV: dict[tuple[str, str], str] = {
    ("slack", "streaming"): STREAMING_ENV,
    ("slack", "updateIntervalSeconds"): UPDATE_INTERVAL_ENV,
    ("logging", "format"): LOG_FORMAT_ENV,
    ("logging", "level"): LOG_LEVEL_ENV,
}
BUILTIN_DEFAULTS: dict[str, str] = {STREAMING_ENV: "update", UPDATE_INTERVAL_ENV: "1", LOG_FORMAT_ENV: "text",
                                    LOG_LEVEL_ENV: "INFO"}
STREAMING_MODES = ("update", "native")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

OWNED_ENV: tuple[str, ...] = (*SECRET_ENV.values(), NAME_ENV, NAMESPACE_ENV, HTTP_PORT_ENV, ALLOWED_BASE_URLS_ENV,
                              *TYPED_ENV.values())
OWNED_ENV_MESSAGE = ("spec.template.env must not set a variable the operator sets (" + ", ".join(OWNED_ENV)
                     + "): use spec.secrets, spec.slack and spec.logging")
OWNED_ENV_CEL = "self.all(e, !(e.name in [" + ", ".join(f"'{name}'" for name in OWNED_ENV) + "]))"
RESERVED_VOLUME = "tmp"  # the operator's emptyDir at /tmp (the bot's root filesystem is read-only)
RESERVED_MOUNT_PATH = "/tmp"


def env_value(value: Any) -> str:
    """How a typed field's value is written into the environment (`1.0` → `1`, `0.5` → `0.5`)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def typed_env(sections: Mapping[str, Any]) -> dict[str, str]:
    """The variables set by `{"slack": ..., "logging": ...}` (spec dicts in camelCase, or pydantic models); fields
    left unset set nothing."""
    found: dict[str, str] = {}
    for (section, field), variable in TYPED_ENV.items():
        block = sections.get(section)
        if block is not None and not isinstance(block, Mapping):
            block = block.model_dump(by_alias=True, exclude_none=True)
        if block and block.get(field) is not None:
            found[variable] = env_value(block[field])
    return found

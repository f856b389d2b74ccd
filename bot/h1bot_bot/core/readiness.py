"""Whether the bot can answer, and why not: the verdict behind /readyz and status.bot (pure).

Slack auth revoked beats a broken configuration, which beats a dropped connection: the first is the one to fix
first (a new token rolls the pod), and a broken configuration stays broken across reconnects.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from h1bot_api import status as api
from h1bot_api.spec import ConfigError, PromptTooLarge


@dataclass(frozen=True)
class Health:
    ready: bool
    reason: str  # one of h1bot_api.status.BOT_REASONS
    message: str

    def as_status(self, *, pod: str, now: str) -> dict[str, Any]:
        """The status.bot subtree."""
        return {"ready": self.ready, "reason": self.reason, "message": self.message, "pod": pod, "at": now}

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "reason": self.reason, "message": self.message}


def assess(*, auth_failure: str | None, problems: Sequence[ConfigError], connected: bool,
           rejection: str | None = None) -> Health:
    """The verdict from what the bot knows now: a Slack auth failure (adapters/slack_auth), the configuration's
    problems (BotConfig.problems: the defaults first, then each channel persona), the Socket Mode link, and why the
    SlackBot's latest spec was not taken (LiveConfig.rejection: the bot still answers, with the previous one)."""
    if auth_failure:
        return Health(False, api.SLACK_AUTH_REVOKED, auth_failure)
    if problems:
        first = problems[0]
        reason = api.PROMPT_TOO_LARGE if isinstance(first, PromptTooLarge) else api.CONFIG_INVALID
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        text = str(first) if reason == api.PROMPT_TOO_LARGE else f"configuration invalid: {first}"
        return Health(False, reason, f"{text}{more}")
    if not connected:
        return Health(False, api.SLACK_DISCONNECTED, "not connected to Slack (Socket Mode)")
    if rejection:
        return Health(True, api.SPEC_REJECTED, f"answering with the previous spec; the latest one cannot work: "
                                               f"{rejection}")
    return Health(True, api.BOT_READY, "connected to Slack; the configuration can answer")

"""The SlackBot status layout: who owns which subtree, condition types, phases.

The operator writes `observedGeneration`, `phase`, `conditions`, `deployment`, `secretsChecksum`, `tools`.
The bot writes `runtime` (overrides made from Slack), `slack` (its identity) and `bot` (whether it can answer, the
same verdict as its /readyz); the operator never writes them, and folds `bot` into its Ready condition.
"""

from datetime import UTC, datetime
from typing import Any

OPERATOR_FIELDS = ("observedGeneration", "phase", "conditions", "deployment", "secretsChecksum", "tools")
BOT_FIELDS = ("runtime", "slack", "bot")

# status.bot = {ready, reason, message, pod, at}: the bot's own health, written when it changes.
BOT_HEALTH = "bot"
BOT_READY = "Ready"
CONFIG_INVALID = "ConfigInvalid"  # e.g. an unknown model without spec.model.contextTokens
PROMPT_TOO_LARGE = "PromptTooLarge"  # the system prompt does not fit the model's context window
SLACK_AUTH_REVOKED = "SlackAuthRevoked"  # a token was revoked, the app uninstalled, the Socket Mode link disabled
SLACK_DISCONNECTED = "SlackDisconnected"  # no Socket Mode connection (yet)
STARTUP_FAILED = "StartupFailed"  # the bot could not start (it exits; the message says why)
SPEC_REJECTED = "SpecRejected"  # ready, answering with the previous spec: the latest one cannot work
BOT_REASONS = (BOT_READY, CONFIG_INVALID, PROMPT_TOO_LARGE, SLACK_AUTH_REVOKED, SLACK_DISCONNECTED, STARTUP_FAILED,
               SPEC_REJECTED)

# Condition types.
READY = "Ready"
SECRETS_RESOLVED = "SecretsResolved"
DEPLOYMENT_AVAILABLE = "DeploymentAvailable"
CONDITION_TYPES = (READY, SECRETS_RESOLVED, DEPLOYMENT_AVAILABLE)

# Phases.
PENDING = "Pending"
RUNNING = "Running"
DEGRADED = "Degraded"
SUSPENDED = "Suspended"
FAILED = "Failed"
PHASES = (PENDING, RUNNING, DEGRADED, SUSPENDED, FAILED)

# status.runtime.overrides.<key> = {value, specValue, previous, by, at, channel, threadTs}; keys and the spec field
# each replaces.
RUNTIME_KEYS: dict[str, tuple[str, ...]] = {
    "model": ("model", "name"),
    "temperature": ("model", "temperature"),
    "maxOutputTokens": ("model", "maxOutputTokens"),
    "thresholdTokens": ("summarization", "thresholdTokens"),
    "chunkTokens": ("summarization", "chunkTokens"),
    "systemPrompt": ("persona", "systemPrompt"),
}


def timestamp(seconds: float) -> str:
    """`seconds` since the epoch as Kubernetes writes times: RFC 3339, UTC, to the second. The callers read the
    clock (this module never does)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, ok: bool, reason: str, message: str, generation: int | None,
              previous: list[dict[str, Any]] | None, now: str) -> dict[str, Any]:
    """A standard condition; lastTransitionTime moves only when the status flips (then it is `now`: the caller's
    clock, this module reads none)."""
    status = "True" if ok else "False"
    old = next((c for c in previous or () if c.get("type") == type_), None)
    changed_at = old["lastTransitionTime"] if old and old.get("status") == status and old.get(
        "lastTransitionTime") else now
    result = {"type": type_, "status": status, "reason": reason, "message": message,
              "lastTransitionTime": changed_at}
    if generation is not None:
        result["observedGeneration"] = generation
    return result

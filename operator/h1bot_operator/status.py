"""The operator's part of a SlackBot's status, from what it observed (pure).

Writes only h1bot_api.status.OPERATOR_FIELDS; `runtime`, `slack` and `bot` belong to the bot and are never produced
here. The bot's own verdict (status.bot, the same as its /readyz) is read: a bot that says it cannot answer makes
Ready False (reason BotNotReady, the bot's message) and the phase Degraded.
"""

import dataclasses
from typing import Any

from h1bot_api import status as api
from h1bot_operator.render import child_name
from h1bot_operator.secret_refs import SecretsState

CHILD_REJECTED = "ChildRejected"


@dataclasses.dataclass(frozen=True)
class Observed:
    generation: int | None
    config_error: str | None = None  # the spec does not parse
    conflict: str | None = None  # a child's name is taken by someone else's object
    rejected: str | None = None  # the API server refused a child as rendered (its message)
    secrets: SecretsState | None = None  # None: not checked (e.g. the spec is broken)
    suspended: bool = False
    deployment: dict[str, Any] | None = None  # the bot Deployment as read from the API
    tools: dict[str, Any] | None = None  # status.tools as applied (None: not reached, the previous one stays)


def _ready_replicas(deployment: dict[str, Any] | None) -> int:
    return int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)


def _wanted_replicas(deployment: dict[str, Any] | None) -> int:
    return max(1, int(((deployment or {}).get("spec") or {}).get("replicas") or 1))


def bot_not_ready(previous: dict[str, Any], ready_replicas: int = 0) -> str | None:
    """The bot's own reason it cannot answer (from status.bot), or None when it says it can or has not said.

    With several replicas the latest writer's verdict stands for all; a dropped Socket Mode link is one pod's
    matter, so it counts only when no pod is ready (DeploymentAvailable already says n-1/n)."""
    health = previous.get(api.BOT_HEALTH) or {}
    if health.get("ready") is not False:
        return None
    if health.get("reason") == api.SLACK_DISCONNECTED and ready_replicas >= 1:
        return None
    reason, message = health.get("reason") or "NotReady", health.get("message") or "no detail given"
    return f"the bot cannot answer ({reason}): {message}"


def compute(bot_name: str, observed: Observed, previous: dict[str, Any], now: str) -> dict[str, Any]:
    """The operator fields of the status; conditions keep lastTransitionTime unless their status flips."""
    gen, old = observed.generation, previous.get("conditions") or []
    ready_replicas = _ready_replicas(observed.deployment)
    conditions: list[dict[str, Any]] = []

    if observed.secrets is not None:
        ok = observed.secrets.resolved
        conditions.append(api.condition(api.SECRETS_RESOLVED, ok, observed.secrets.reason,
                                        observed.secrets.message, gen, old, now))
    else:
        conditions += [c for c in old if c.get("type") == api.SECRETS_RESOLVED]

    if observed.suspended:
        available = (False, "Suspended", "spec.suspend is true: the bot is scaled to zero")
    elif observed.conflict:
        available = (False, "Conflict", observed.conflict)
    elif observed.deployment is None:
        available = (False, "NotCreated", f"Deployment {child_name(bot_name)} does not exist (yet)")
    elif ready_replicas >= 1:  # one connected pod answers every mention
        wanted = _wanted_replicas(observed.deployment)
        available = (True, "MinimumReplicasAvailable",
                     f"{ready_replicas}/{wanted} bot pod{'s' if wanted > 1 else ''} ready")
    else:
        available = (False, "Unavailable", f"0/{_wanted_replicas(observed.deployment)} bot pods ready")
    conditions.append(api.condition(api.DEPLOYMENT_AVAILABLE, *available, gen, old, now))

    secrets_ok = observed.secrets is not None and observed.secrets.resolved
    bot_problem = bot_not_ready(previous, ready_replicas)
    if observed.config_error:
        ready, phase = (False, "InvalidSpec", observed.config_error), api.FAILED
    elif observed.conflict:
        ready, phase = (False, "Conflict", observed.conflict), api.FAILED
    elif observed.rejected:
        ready, phase = (False, CHILD_REJECTED, observed.rejected), api.FAILED
    elif observed.suspended:
        ready, phase = (False, "Suspended", "the bot is suspended"), api.SUSPENDED
    elif not secrets_ok:
        message = observed.secrets.message if observed.secrets else "Secrets not checked"
        ready, phase = (False, "SecretsUnresolved", message), _not_running(previous)
    elif bot_problem:  # before DeploymentUnavailable: a failing /readyz also leaves 0 pods ready, this says why
        ready, phase = (False, "BotNotReady", bot_problem), api.DEGRADED
    elif not available[0]:
        ready, phase = (False, "DeploymentUnavailable", available[2]), _not_running(previous)
    else:
        ready, phase = (True, "BotRunning", "the bot is running"), api.RUNNING
    conditions.insert(0, api.condition(api.READY, *ready, gen, old, now))

    result: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "deployment": {"name": child_name(bot_name), "readyReplicas": ready_replicas},
    }
    if gen is not None:
        result["observedGeneration"] = gen
    if observed.secrets is not None and observed.secrets.checksum:
        result["secretsChecksum"] = observed.secrets.checksum
    if observed.tools is not None:
        result["tools"] = observed.tools
    return result


def _not_running(previous: dict[str, Any]) -> str:
    """A bot that was running and is not any more is Degraded; one that never ran is still Pending."""
    return api.DEGRADED if previous.get("phase") in (api.RUNNING, api.DEGRADED) else api.PENDING


def changed(new: dict[str, Any], previous: dict[str, Any]) -> bool:
    return any(previous.get(field) != value for field, value in new.items())

"""One reconcile of one SlackBot: parse, read Secrets, apply the children, write the operator's status fields.

Idempotent: called for create, update and resume, and again when a child or a referenced Secret changes.
Events are returned, not posted, so the caller decides how (kopf posts them in handlers.py).
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from h1bot_api import status as api
from h1bot_api.endpoints import base_url_problem
from h1bot_api.redaction import redact
from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_operator import render, secret_refs, tool_rbac
from h1bot_operator import status as status_mod
from h1bot_operator.kube import ChildConflict, ChildRejected, Kube, object_path
from h1bot_operator.plan import foreign
from h1bot_operator.settings import OperatorSettings

log = logging.getLogger(__name__)
NORMAL, WARNING = "Normal", "Warning"


@dataclasses.dataclass
class Outcome:
    status: dict[str, Any]
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (type, reason, message)
    retry: str | None = None  # why to try again later (missing Secrets); None when done
    kind: str = "ok"  # ok, waiting_for_secrets, invalid_spec, conflict or rejected (for metrics)


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or () if c.get("type") == type_), {})


def _ignore(obj: dict[str, Any]) -> None:
    pass


def reconcile(kube: Kube, settings: OperatorSettings, bot: dict[str, Any],
              on_write: Callable[[dict[str, Any]], None] = _ignore) -> Outcome:
    """`on_write` sees each child as created or patched, at once (its watch echo may arrive before we return)."""
    meta = bot["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    previous = bot.get("status") or {}
    observed = status_mod.Observed(generation=meta.get("generation"))
    outcome = Outcome(status={})
    deployment_ref = {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"namespace": namespace, "name": render.child_name(name),
                                   "ownerReferences": [render.owner_reference(bot)]}}

    def own_deployment() -> dict[str, Any] | None:
        """The bot Deployment as it is now; None when missing or when the name is held by someone else's."""
        found = kube.get(object_path(deployment_ref))
        return found if found is not None and foreign(deployment_ref, found) is None else None
    try:
        spec = SlackBotSpec.from_manifest(bot, require_secrets=True)
    except ConfigError as exc:
        observed = dataclasses.replace(observed, config_error=str(exc), deployment=own_deployment())
        outcome.kind = "invalid_spec"
        return _finish(kube, bot, observed, previous, outcome)

    if problem := _endpoint_problem(spec, settings) or _tools_problem(spec, settings, namespace):
        observed = dataclasses.replace(observed, config_error=problem, deployment=own_deployment())
        outcome.kind = "invalid_spec"
        return _finish(kube, bot, observed, previous, outcome)

    refs = secret_refs.references(spec)
    found = {secret: kube.secret(namespace, secret) for secret in secret_refs.secret_names(spec)}
    data = {name: None if obj is None else dict(obj.get("data") or {}) for name, obj in found.items()}
    unlabelled = {name for name, obj in found.items()
                  if obj is not None and settings.require_secret_label and not secret_refs.opted_in(obj)}
    state = secret_refs.resolve(refs, data, namespace, not_opted_in=unlabelled,
                                pod_secrets=secret_refs.template_secret_names(spec))
    observed = dataclasses.replace(observed, secrets=state, suspended=spec.suspend)
    try:
        for child in render.children(bot, spec):
            _apply(kube, child, outcome, on_write)
        observed = dataclasses.replace(observed, tools=_tool_rbac(kube, bot, spec, previous, outcome, on_write))
        if state.resolved:
            desired = render.deployment(bot, spec, settings, state.checksum or "")
            rollout = state.checksum != previous.get("secretsChecksum")
            deployment = _apply(kube, desired, outcome, on_write, rollout=rollout)
            _disruption_budget(kube, bot, spec, outcome, on_write)
        else:  # leave a running bot on its current credentials until the Secrets are back
            deployment = own_deployment()
            outcome.retry, outcome.kind = state.message, "waiting_for_secrets"
    except ChildConflict as exc:  # retried with backoff: the other object may go away (e.g. garbage collection)
        observed = dataclasses.replace(observed, conflict=str(exc))
        outcome.retry, outcome.kind = str(exc), "conflict"
        deployment = own_deployment()
    except ChildRejected as exc:  # retried with backoff (a webhook or quota may change), one Event per message
        observed = dataclasses.replace(observed, rejected=str(exc))
        outcome.retry, outcome.kind = str(exc), "rejected"
        deployment = own_deployment()
    observed = dataclasses.replace(observed, deployment=deployment)
    return _finish(kube, bot, observed, previous, outcome)


def _endpoint_problem(spec: SlackBotSpec, settings: OperatorSettings) -> str | None:
    """Why the model endpoint the SlackBot names (spec.model.baseURL, or OPENAI_BASE_URL in spec.template.env) is not
    one the operator allows, or None."""
    named = [("spec.model.baseURL", spec.model.base_url)] + [
        ("spec.template.env OPENAI_BASE_URL", e.value) for e in spec.template.env if e.name == "OPENAI_BASE_URL"]
    for field, url in named:
        if url and (problem := base_url_problem(url, settings.allowed_base_urls)):
            return f"{field}: {problem}"
    return None


def _tools_problem(spec: SlackBotSpec, settings: OperatorSettings, namespace: str) -> str | None:
    """Why spec.tools names a namespace the operator does not let tools reach, or None."""
    if "*" in settings.tool_namespaces:
        return None
    outside = [ns for ns in tool_rbac.rules_by_namespace(spec.tools, namespace)
               if ns != namespace and ns not in settings.tool_namespaces]
    if not outside:
        return None
    allowed = ", ".join(settings.tool_namespaces) or "none"
    return (f"spec.tools names namespace{'s' if len(outside) > 1 else ''} {', '.join(outside)} outside the "
            f"SlackBot's own ({namespace}), which the operator does not let tools reach (allowed besides a bot's own: "
            f"{allowed}); remove {'them' if len(outside) > 1 else 'it'} or ask the cluster admin to add "
            f"{'them' if len(outside) > 1 else 'it'} to the chart value tools.namespaces (H1BOT_TOOL_NAMESPACES)")


def _apply(kube: Kube, desired: dict[str, Any], outcome: Outcome, on_write: Callable[[dict[str, Any]], None],
           rollout: bool = False) -> dict[str, Any]:
    applied = kube.apply(desired)
    if applied.action != "unchanged":
        on_write(applied.obj)
    kind, child = desired["kind"], desired["metadata"]["name"]
    if applied.action == "created":
        outcome.events.append((NORMAL, "Created", f"Created {kind} {child}"))
    elif applied.action == "patched":
        why = " (referenced Secret keys changed: rolling the bot)" if rollout else ""
        outcome.events.append((NORMAL, "Updated", f"Updated the fields h1bot manages on {kind} {child}{why}"))
    return applied.obj


def _tool_rbac(kube: Kube, bot: dict[str, Any], spec: SlackBotSpec, previous: dict[str, Any], outcome: Outcome,
               on_write: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Exactly the RBAC spec.tools names: applied where named, deleted where it was granted before and is not now."""
    for child in tool_rbac.tool_rbac(bot, spec):
        _apply(kube, child, outcome, on_write)
    wanted = tool_rbac.tools_status(spec, bot["metadata"]["namespace"])
    granted = ((previous.get("tools") or {}).get("namespaces")) or []
    for stale in tool_rbac.stale_tool_rbac(bot, granted, wanted["namespaces"]):
        if kube.delete_own(stale).action == "deleted":
            outcome.events.append((NORMAL, "Deleted", f"Deleted {stale['kind']} {stale['metadata']['namespace']}/"
                                                      f"{stale['metadata']['name']} (spec.tools no longer names "
                                                      "that namespace)"))
    return wanted


def forget_tools(kube: Kube, bot: dict[str, Any]) -> None:
    """A deleted SlackBot's tool RBAC (where its last status says it was granted), which carries no ownerReference
    for garbage collection to follow. Only ours is deleted (the owner annotation names this uid)."""
    granted = ((bot.get("status") or {}).get("tools") or {}).get("namespaces") or []
    if not bot.get("metadata", {}).get("uid"):
        return
    for stale in tool_rbac.stale_tool_rbac(bot, granted, []):
        try:
            if kube.delete_own(stale).action == "deleted":
                log.info("Deleted %s %s/%s of the deleted SlackBot %s/%s", stale["kind"],
                         stale["metadata"]["namespace"], stale["metadata"]["name"], bot["metadata"]["namespace"],
                         bot["metadata"]["name"])
        except Exception as exc:  # logged: the next deletion or an admin removes it (label managed-by=h1bot-operator)
            log.warning("Could not delete %s %s/%s of the deleted SlackBot: %s", stale["kind"],
                        stale["metadata"]["namespace"], stale["metadata"]["name"], redact(str(exc)))


def _disruption_budget(kube: Kube, bot: dict[str, Any], spec: SlackBotSpec, outcome: Outcome,
                       on_write: Callable[[dict[str, Any]], None]) -> None:
    """Follows the Deployment's replicas: a PodDisruptionBudget from two up; with one, or suspended, ours goes."""
    budget = render.pod_disruption_budget(bot)
    if render.disruption_budget_wanted(spec):
        _apply(kube, budget, outcome, on_write)
    elif kube.delete_own(budget).action == "deleted":
        why = "the bot is suspended" if spec.suspend else "spec.replicas is 1"
        outcome.events.append((NORMAL, "Deleted", f"Deleted PodDisruptionBudget {budget['metadata']['name']} ({why}: "
                                                  "a budget over one pod would block node drains)"))


def _finish(kube: Kube, bot: dict[str, Any], observed: status_mod.Observed, previous: dict[str, Any],
            outcome: Outcome) -> Outcome:
    """Every text that may echo a value (the API server's, pydantic's or the bot's messages) is redacted here, the
    one place status, Events and the retry message (which kopf logs and posts as an Event) come from."""
    meta = bot["metadata"]
    observed = dataclasses.replace(observed, **{field: redact(getattr(observed, field)) for field in
                                                ("config_error", "conflict", "rejected")})
    new = status_mod.compute(meta["name"], observed, previous, now=api.timestamp(time.time()))
    for condition in new.get("conditions", ()):
        if condition.get("message"):
            condition["message"] = redact(condition["message"])
    outcome.events += _transition_events(previous, new, observed)
    outcome.events = [(type_, reason, redact(message)) for type_, reason, message in outcome.events]
    outcome.retry = redact(outcome.retry) if outcome.retry else outcome.retry
    if status_mod.changed(new, previous):
        kube.patch_status(meta["namespace"], meta["name"], new)
    outcome.status = new
    return outcome


def _transition_events(previous: dict[str, Any], new: dict[str, Any],
                       observed: status_mod.Observed) -> list[tuple[str, str, str]]:
    """Events only when something a user should notice changes (no repeats on every retry)."""
    events = []
    old_ready, new_ready = _condition(previous, api.READY), _condition(new, api.READY)
    old_secrets, new_secrets = _condition(previous, api.SECRETS_RESOLVED), _condition(new, api.SECRETS_RESOLVED)
    if observed.config_error and old_ready.get("message") != observed.config_error:
        events.append((WARNING, "InvalidSpec", observed.config_error))
    if observed.conflict and old_ready.get("message") != observed.conflict:
        events.append((WARNING, "Conflict", observed.conflict))
    if observed.rejected and old_ready.get("message") != observed.rejected:
        events.append((WARNING, status_mod.CHILD_REJECTED, observed.rejected))
    if new_secrets.get("status") == "False" and (old_secrets.get("status"), old_secrets.get("message")) != (
            "False", new_secrets.get("message")):
        events.append((WARNING, new_secrets.get("reason") or "SecretMissing", new_secrets["message"]))
    if new_ready.get("reason") == "BotNotReady" and (old_ready.get("reason"), old_ready.get("message")) != (
            "BotNotReady", new_ready.get("message")):
        events.append((WARNING, "BotNotReady", new_ready["message"]))
    if new_secrets.get("status") == "True" and old_secrets.get("status") == "False":
        events.append((NORMAL, "SecretsResolved", new_secrets["message"]))
    if new.get("phase") != previous.get("phase") and new.get("phase") in (api.RUNNING, api.SUSPENDED):
        events.append((NORMAL, new["phase"], new_ready.get("message", "")))
    return events

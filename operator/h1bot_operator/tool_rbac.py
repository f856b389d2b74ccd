"""The RBAC spec.tools grants the bot's ServiceAccount, as plain manifests (pure): in each namespace the tools name,
one Role with exactly the verbs they need and one RoleBinding to the bot's ServiceAccount. Nothing cluster-wide.

Read lookups get get/list/watch on the listed resources (never secrets: spec validation refuses them, and this module
refuses them again), logs get `pods/log`, `rollout-restart` gets get/patch on deployments and `scale` get/patch on
deployments/scale, each only in its own namespaces.

A namespaced owner cannot own objects in another namespace (garbage collection would delete them), so these carry no
ownerReference: ownership is the managed-by label plus the OWNER_ANNOTATION naming the SlackBot and its uid
(plan.foreign checks it), and the operator deletes them itself when the tools no longer name their namespace
(status.tools.namespaces records where it granted).
"""

from typing import Any

from h1bot_api.spec import SlackBotSpec
from h1bot_api.tools_spec import READ_VERBS, READABLE_RESOURCES, ToolsSpec
from h1bot_operator import render
from h1bot_operator.plan import OWNER_ANNOTATION  # "NAMESPACE/NAME/UID" of the SlackBot

RBAC = "rbac.authorization.k8s.io/v1"
ACTION_RULES: dict[str, dict[str, Any]] = {
    "rollout-restart": {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
    "scale": {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
}


def tools_child_name(bot: dict[str, Any]) -> str:
    """`h1bot-tools.NAMESPACE.NAME`: unique across SlackBots of every namespace (namespaces hold no dots)."""
    meta = bot["metadata"]
    return render.child_name(f"tools.{meta['namespace']}.{meta['name']}")


def owner_value(bot: dict[str, Any]) -> str:
    meta = bot["metadata"]
    return f"{meta['namespace']}/{meta['name']}/{meta['uid']}"


def rules_by_namespace(tools: ToolsSpec | None, own_namespace: str) -> dict[str, list[dict[str, Any]]]:
    """The Role rules in each namespace the tools name, in a stable order."""
    if tools is None:
        return {}
    rules: dict[str, list[dict[str, Any]]] = {}
    kube = tools.kubernetes
    if kube is not None:
        groups: dict[str, list[str]] = {}
        for resource in kube.resources:
            if resource == "secrets":  # spec validation refuses it; never rendered whatever the input
                continue
            groups.setdefault(READABLE_RESOURCES[resource], []).append(resource)
        read = [{"apiGroups": [group], "resources": sorted(resources), "verbs": list(READ_VERBS)}
                for group, resources in sorted(groups.items())]
        if kube.logs is not None:
            read.append({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})
        for namespace in tools.read_namespaces(own_namespace):
            rules.setdefault(namespace, []).extend(read)
    for action in tools.actions:
        for namespace in tools.action_namespaces(action, own_namespace):
            rules.setdefault(namespace, []).append(dict(ACTION_RULES[action.name]))
    return {namespace: rules[namespace] for namespace in sorted(rules)}


def _metadata(bot: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {"name": tools_child_name(bot), "namespace": namespace,
            "labels": {**render.labels(bot["metadata"]["name"]), "app.kubernetes.io/component": "bot-tools"}}


def tool_role(bot: dict[str, Any], namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return render._finish({"apiVersion": RBAC, "kind": "Role", "metadata": _metadata(bot, namespace),
                           "rules": rules}, {OWNER_ANNOTATION: owner_value(bot)})


def tool_role_binding(bot: dict[str, Any], namespace: str) -> dict[str, Any]:
    meta = bot["metadata"]
    return render._finish({
        "apiVersion": RBAC, "kind": "RoleBinding", "metadata": _metadata(bot, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": tools_child_name(bot)},
        "subjects": [{"kind": "ServiceAccount", "name": render.child_name(meta["name"]),
                      "namespace": meta["namespace"]}],
    }, {OWNER_ANNOTATION: owner_value(bot)})


def tool_rbac(bot: dict[str, Any], spec: SlackBotSpec) -> list[dict[str, Any]]:
    """Role then RoleBinding, namespace by namespace; empty without spec.tools."""
    objects = []
    for namespace, rules in rules_by_namespace(spec.tools, bot["metadata"]["namespace"]).items():
        objects += [tool_role(bot, namespace, rules), tool_role_binding(bot, namespace)]
    return objects


def stale_tool_rbac(bot: dict[str, Any], granted: list[str] | tuple[str, ...],
                    wanted: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """Role and RoleBinding (as references for Kube.delete_own) in each namespace granted before but not wanted now."""
    gone = [ns for ns in granted if ns not in wanted]
    return [obj for ns in gone for obj in (tool_role(bot, ns, []), tool_role_binding(bot, ns))]


def tools_status(spec: SlackBotSpec, own_namespace: str) -> dict[str, Any]:
    """status.tools: what is enabled (the Tools printer column) and where RBAC was granted."""
    return {"enabled": spec.tools.summary(own_namespace) if spec.tools else "none",
            "namespaces": list(rules_by_namespace(spec.tools, own_namespace))}

"""The h1bot-operator chart's RBAC, rendered offline with Helm's own Go SDK (helm-python-sdk): what the operator
is granted in each mode (all namespaces through one ClusterRole, or a Role per watched namespace), peering, the
permissions it must hold to grant a bot's Role and its tools, and what namespace users get through view/edit/admin.
"""

from typing import Any

import pytest
from kubernetes_validate.utils import validate

from h1bot_api.spec import SlackBotSpec
from h1bot_api.tools_spec import ACTION_NAMES, READABLE_RESOURCES
from h1bot_operator import render as bot_render
from h1bot_operator.tool_rbac import rules_by_namespace
from tests.e2e.chart_cases import BOT, NAMESPACED, env_of, operator_container
from tests.e2e.helm_chart import KUBE_VERSION, NAMESPACE, RELEASE, only, render


def aggregated(role: dict[str, Any]) -> bool:
    return any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in role["metadata"]["labels"])


def operator_cluster_roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's own ClusterRoles (not the ones aggregated into view/edit/admin for SlackBot users)."""
    return [role for role in only(objects, "ClusterRole") if not aggregated(role)]


def grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_default_install_serves_all_namespaces_through_one_cluster_role(chart):
    objects = render(chart)
    assert sorted(o["kind"] for o in objects if not (o["kind"] == "ClusterRole" and aggregated(o))) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
    (role,), (binding,) = operator_cluster_roles(objects), only(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    rules = role["rules"]
    for verb in ("get", "list", "watch", "patch", "update"):
        assert grants(rules, "chatops.h1bot.dev", "slackbots", verb)
        assert grants(rules, "chatops.h1bot.dev", "slackbots/status", verb)
    for group, resource in (("apps", "deployments"), ("", "serviceaccounts"),
                            ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings")):
        for verb in ("create", "get", "list", "watch", "patch", "update", "delete"):
            assert grants(rules, group, resource, verb), (group, resource, verb)
    assert all(grants(rules, "", "secrets", verb) for verb in ("get", "list", "watch"))
    assert not any(grants(rules, "", "secrets", verb) for verb in ("create", "patch", "update", "delete"))
    assert grants(rules, "", "events", "create") and grants(rules, "", "events", "patch")
    assert grants(rules, "apiextensions.k8s.io", "customresourcedefinitions", "watch")
    assert not grants(rules, "kopf.dev", "clusterkopfpeerings", "get"), "no peering rules unless peering is on"
    assert env_of(operator_container(objects))["H1BOT_NAMESPACES"] == ""


def test_watched_namespaces_get_a_role_each_and_the_cluster_sees_only_discovery(chart):
    objects = render(chart, NAMESPACED)
    for namespace in ("team-a", "team-b"):
        (role,), (binding,) = only(objects, "Role", namespace), only(objects, "RoleBinding", namespace)
        assert grants(role["rules"], "apps", "deployments", "create")
        assert grants(role["rules"], "", "secrets", "watch")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    assert not only(objects, "Role", NAMESPACE), "the operator's own namespace is not served unless listed"
    (cluster_role,) = operator_cluster_roles(objects)
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {"customresourcedefinitions",
                                                                                 "namespaces"}
    assert env_of(operator_container(objects))["H1BOT_NAMESPACES"] == "team-a,team-b"


def test_peering_grants_kopf_peering_objects_at_the_scope_the_operator_serves(chart):
    cluster_wide = render(chart, {"peering": {"name": "h1bot"}})
    (role,) = operator_cluster_roles(cluster_wide)
    for group in ("kopf.dev", "zalando.org"):
        assert grants(role["rules"], group, "clusterkopfpeerings", "patch")
    assert env_of(operator_container(cluster_wide))["H1BOT_PEERING"] == "h1bot"

    namespaced = render(chart, {**NAMESPACED, "peering": {"name": "h1bot"}})
    for role in only(namespaced, "Role"):
        assert grants(role["rules"], "kopf.dev", "kopfpeerings", "patch")
    assert env_of(operator_container(render(chart)))["H1BOT_PEERING"] == "", "standalone by default"


def covered(rules: list[dict[str, Any]], needed: dict[str, Any]) -> bool:
    """Whether `rules` grant everything `needed` grants (a rule without resourceNames covers every name)."""
    return all(any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   and (not r.get("resourceNames") or set(needed.get("resourceNames", ())) <= set(r["resourceNames"]))
                   for r in rules)
               for group in needed["apiGroups"] for resource in needed["resources"] for verb in needed["verbs"])


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["team-a"]}], ids=["cluster-wide", "namespaced"])
def test_operator_holds_every_permission_it_grants_to_a_bot(chart, values):
    """RBAC escalation prevention: a Role can only be created by a subject that holds its permissions itself."""
    objects = render(chart, values)
    roles = only(objects, "ClusterRole") if not values else only(objects, "Role", "team-a")
    operator_rules = [rule for role in roles for rule in role["rules"]]
    for rule in bot_render.role(BOT)["rules"]:
        assert covered(operator_rules, rule), f"the operator cannot grant {rule}"


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["team-a"]}], ids=["cluster-wide", "namespaced"])
def test_operator_may_manage_every_child_kind_it_watches(chart, values):
    """Each kind in handlers.CHILDREN (among them policy/v1 PodDisruptionBudgets of replicated bots) is watched,
    created, patched and deleted by the operator: both RBAC modes grant it all."""
    from h1bot_operator.handlers import CHILDREN

    objects = render(chart, values)
    roles = operator_cluster_roles(objects) if not values else only(objects, "Role", "team-a")
    rules = [rule for role in roles for rule in role["rules"]]
    assert ("policy", "v1", "poddisruptionbudgets") in CHILDREN
    for group, _version, plural in CHILDREN:
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert grants(rules, group, plural, verb), (group, plural, verb)


def test_namespace_users_get_slackbots_through_the_built_in_view_edit_and_admin_roles(chart):
    roles = [r for r in only(render(chart), "ClusterRole") if aggregated(r)]
    for role in roles:
        validate(role, KUBE_VERSION, strict=True)

    def aggregated_into(name: str) -> list[dict[str, Any]]:
        return [rule for role in roles if role["metadata"]["labels"].get(
            f"rbac.authorization.k8s.io/aggregate-to-{name}") == "true" for rule in role["rules"]]
    view, edit, admin = aggregated_into("view"), aggregated_into("edit"), aggregated_into("admin")
    for verb in ("get", "list", "watch"):
        assert grants(view, "chatops.h1bot.dev", "slackbots", verb) and grants(view, "chatops.h1bot.dev",
                                                                                "slackbots/status", verb)
    for verb in ("create", "update", "patch", "delete"):
        assert not grants(view, "chatops.h1bot.dev", "slackbots", verb), f"view may {verb}"
        for rules in (edit, admin):
            assert grants(rules, "chatops.h1bot.dev", "slackbots", verb)
            assert not grants(rules, "chatops.h1bot.dev", "slackbots/status", verb), "status is not theirs"
    assert not any(r["resources"] != ["slackbots"] and set(r["verbs"]) - {"get", "list", "watch"}
                   for r in view + edit + admin), "nothing but SlackBots is granted"
    assert not [r for r in only(render(chart, {"aggregateRoles": False}), "ClusterRole") if aggregated(r)]


def test_the_operator_holds_every_permission_a_bots_tools_may_grant(chart):
    """Kubernetes lets a Role be written only with permissions its author holds: every rule spec.tools can render
    (all readable resources, logs, both actions) is one the chart grants the operator, in both RBAC modes."""
    tools = SlackBotSpec.parse({
        "model": {"name": "gpt-4o-mini"},
        "secrets": {k: {"name": "s", "key": k} for k in ("slackBotToken", "slackAppToken", "openAIAPIKey")},
        "tools": {"kubernetes": {"resources": list(READABLE_RESOURCES), "logs": {}},
                  "actions": [{"name": name} for name in ACTION_NAMES]}}).tools
    (wanted,) = rules_by_namespace(tools, NAMESPACE).values()
    for values in ({}, {"watchNamespaces": [NAMESPACE]}):
        objects = render(chart, values)
        rules = [r for role in [*operator_cluster_roles(objects), *only(objects, "Role")] for r in role["rules"]]
        missing = [(group, resource, verb) for rule in wanted for group in rule["apiGroups"]
                   for resource in rule["resources"] for verb in rule["verbs"]
                   if not grants(rules, group, resource, verb)]
        assert missing == [], values
        assert not any(grants(rules, "", "secrets", verb) for verb in ("create", "patch", "delete")), values

"""The RBAC a SlackBot's spec.tools grants, as a cluster admin checks it: exactly the verbs the tools need, in the
namespaces they name, bound to the bot's own ServiceAccount, nothing cluster-wide; gone when the tools are."""

import copy

import yaml

from h1bot_api.spec import SlackBotSpec
from h1bot_operator.plan import foreign
from h1bot_operator.reconcile import _tools_problem
from h1bot_operator.settings import OperatorSettings
from h1bot_operator.tool_rbac import rules_by_namespace, stale_tool_rbac, tool_rbac, tools_status
from tests.paths import EXAMPLES

BOT = yaml.safe_load((EXAMPLES / "tools" / "slackbot.yaml").read_text())
BOT["metadata"]["uid"] = "uid-oncall"


def spec_with(**tools) -> SlackBotSpec:
    bot = copy.deepcopy(BOT)
    bot["spec"]["tools"] = tools
    return SlackBotSpec.from_manifest(bot)


def test_the_example_grants_reads_logs_restart_and_scale_in_payments_only():
    objects = tool_rbac(BOT, SlackBotSpec.from_manifest(BOT))
    assert [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects] == [
        ("Role", "payments", "h1bot-tools.default.oncall"), ("RoleBinding", "payments", "h1bot-tools.default.oncall")]
    role, binding = objects
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["events", "pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "h1bot-oncall", "namespace": "default"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "h1bot-tools.default.oncall"}
    # A namespaced owner cannot own objects elsewhere (garbage collection would delete them): no ownerReference.
    assert all("ownerReferences" not in o["metadata"] for o in objects)
    assert all(o["kind"] in ("Role", "RoleBinding") for o in objects)  # never a ClusterRole


def test_no_secrets_and_no_write_verb_without_an_action():
    rules = rules_by_namespace(spec_with(kubernetes={"resources": ["pods", "configmaps"]}).tools, "team")
    assert list(rules) == ["team"]  # empty namespaces: the bot's own
    verbs = {verb for rule in rules["team"] for verb in rule["verbs"]}
    resources = {res for rule in rules["team"] for res in rule["resources"]}
    assert verbs == {"get", "list", "watch"} and "secrets" not in resources and "pods/log" not in resources


def test_actions_apply_only_where_named_and_reads_are_not_granted_there_unasked():
    tools = spec_with(kubernetes={"namespaces": ["payments"]},
                      actions=[{"name": "scale", "namespaces": ["checkout"], "maxReplicas": 4}]).tools
    rules = rules_by_namespace(tools, "default")
    assert rules["checkout"] == [{"apiGroups": ["apps"], "resources": ["deployments/scale"],
                                  "verbs": ["get", "patch"]}]
    assert all("deployments/scale" not in r["resources"] for r in rules["payments"])


def test_status_names_the_enabled_tools_and_the_namespaces_granted():
    assert tools_status(SlackBotSpec.from_manifest(BOT), "default") == {
        "enabled": "read pods,events,deployments,replicasets in payments; logs (200 lines); rollout-restart in "
                   "payments; scale in payments", "namespaces": ["payments"]}
    bare = copy.deepcopy(BOT)
    bare["spec"].pop("tools")
    assert tools_status(SlackBotSpec.from_manifest(bare), "default") == {"enabled": "none", "namespaces": []}


def test_removing_a_namespace_deletes_its_role_and_binding_and_another_bots_are_never_ours():
    stale = stale_tool_rbac(BOT, ["payments", "checkout"], ["payments"])
    assert [(o["kind"], o["metadata"]["namespace"]) for o in stale] == [("Role", "checkout"),
                                                                        ("RoleBinding", "checkout")]
    ours = tool_rbac(BOT, SlackBotSpec.from_manifest(BOT))[0]
    assert foreign(ours, copy.deepcopy(ours)) is None
    other = copy.deepcopy(BOT)
    other["metadata"]["uid"] = "uid-of-a-recreated-oncall"
    theirs = tool_rbac(other, SlackBotSpec.from_manifest(other))[0]
    assert "belongs to SlackBot default/oncall" in foreign(ours, theirs)
    by_hand = {"metadata": {"name": ours["metadata"]["name"], "namespace": "payments"}}
    assert "no app.kubernetes.io/managed-by label" in foreign(ours, by_hand)


def test_tools_reach_other_namespaces_only_where_the_cluster_admin_allows():
    """Creating a SlackBot must not grant rights in namespaces its author cannot use: other namespaces are refused
    unless the operator lists them (chart value tools.namespaces)."""
    spec = SlackBotSpec.from_manifest(BOT)
    own_only = OperatorSettings(bot_image="x")
    problem = _tools_problem(spec, own_only, "default")
    assert problem.startswith("spec.tools names namespace payments outside the SlackBot's own (default), which the "
                              "operator does not let tools reach (allowed besides a bot's own: none)")
    assert "tools.namespaces (H1BOT_TOOL_NAMESPACES)" in problem
    assert _tools_problem(spec, OperatorSettings.from_env({"H1BOT_TOOL_NAMESPACES": "payments,checkout"}),
                          "default") is None
    assert _tools_problem(spec, OperatorSettings(bot_image="x", tool_namespaces=("*",)), "default") is None
    assert _tools_problem(spec_with(kubernetes={}), own_only, "default") is None  # its own namespace: always

"""Rendering a SlackBot into its children: pure data in, manifests out."""

import copy
import re

import kubernetes_validate
import pytest

from h1bot_api.botenv import OWNED_ENV
from h1bot_api.spec import SlackBotSpec
from h1bot_operator import render
from h1bot_operator.settings import OperatorSettings
from tests.operator.conftest import example_bot, slackbot

SETTINGS = OperatorSettings(bot_image="registry.test/h1bot-bot:1.0")
CHECKSUM = "sha256:abc"


def with_uid(bot: dict) -> dict:
    bot = copy.deepcopy(bot)
    bot["metadata"]["uid"] = "0f0e8f3a-1111-2222-3333-444455556666"
    return bot


def deployment(bot: dict, settings: OperatorSettings = SETTINGS) -> dict:
    return render.deployment(bot, SlackBotSpec.from_manifest(bot), settings, CHECKSUM)


def container(dep: dict) -> dict:
    return dep["spec"]["template"]["spec"]["containers"][0]


BOTS = {"example": with_uid(example_bot("helpdesk")), "minimal": with_uid(slackbot("mini", "mini-creds")),
        "suspended": with_uid(slackbot("zzz", "zzz-creds", suspend=True))}


@pytest.mark.parametrize("bot", BOTS.values(), ids=BOTS.keys())
def test_every_rendered_manifest_passes_kubernetes_validate_strict(bot):
    for manifest in [*render.children(bot), deployment(bot), render.pod_disruption_budget(bot)]:
        kubernetes_validate.validate(manifest, "1.32.0", strict=True)


def test_deployment_runs_the_bot_locked_down_with_secret_env():
    dep = deployment(BOTS["example"])
    bot = container(dep)
    env = {e["name"]: e for e in bot["env"]}
    assert env["H1BOT_NAME"]["value"] == "helpdesk" and env["H1BOT_NAMESPACE"]["value"] == "default"
    assert env["SLACK_BOT_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "h1bot-credentials",
                                                                    "key": "slack-bot-token"}}
    assert env["OPENAI_ORG_ID"]["valueFrom"]["secretKeyRef"]["key"] == "openai-org-id"
    assert bot["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    security = bot["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] == 10001 and security["readOnlyRootFilesystem"]
    assert security["capabilities"] == {"drop": ["ALL"]} and security["allowPrivilegeEscalation"] is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in bot["volumeMounts"]
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert dep["spec"]["replicas"] == 2  # the example's spec.replicas
    assert dep["spec"]["template"]["metadata"]["annotations"][render.CHECKSUM_ANNOTATION] == CHECKSUM
    assert dep["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "name": "helpdesk",
        "uid": "0f0e8f3a-1111-2222-3333-444455556666", "controller": True, "blockOwnerDeletion": True}


def test_minimal_bot_gets_the_default_image_and_no_org_id():
    dep = deployment(BOTS["minimal"])
    assert container(dep)["image"] == "registry.test/h1bot-bot:1.0"
    assert "OPENAI_ORG_ID" not in {e["name"] for e in container(dep)["env"]}
    assert container(dep)["resources"] == render.DEFAULT_RESOURCES


def test_template_passes_through_to_the_pod():
    bot = with_uid(slackbot("t", "t-creds", template={
        "image": "registry.test/custom:2", "resources": {"limits": {"memory": "1Gi"}},
        "nodeSelector": {"pool": "bots"}, "tolerations": [{"key": "bots", "operator": "Exists"}],
        "podLabels": {"team": "x"}, "podAnnotations": {"a": "b"}, "imagePullSecrets": [{"name": "regcred"}]}))
    dep = deployment(bot)
    pod = dep["spec"]["template"]
    assert container(dep)["image"] == "registry.test/custom:2"
    assert container(dep)["resources"] == {"limits": {"memory": "1Gi"}}
    assert pod["spec"]["nodeSelector"] == {"pool": "bots"}
    assert pod["spec"]["tolerations"] == [{"key": "bots", "operator": "Exists"}]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["team"] == "x" and pod["metadata"]["annotations"]["a"] == "b"
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "t", "our labels win over podLabels"


def test_suspended_bot_has_zero_replicas():
    assert deployment(BOTS["suspended"])["spec"]["replicas"] == 0


def test_replicas_spread_over_nodes_and_scaling_does_not_roll_the_pods():
    bot = with_uid(slackbot("ha", "ha-creds", replicas=3))
    dep = deployment(bot)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert dep["spec"]["template"]["spec"]["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": dep["spec"]["selector"]["matchLabels"]}}]
    one = deployment(with_uid(slackbot("ha", "ha-creds")))
    assert one["spec"]["replicas"] == 1 and one["spec"]["template"] == dep["spec"]["template"]
    suspended = deployment(with_uid(slackbot("ha", "ha-creds", replicas=3, suspend=True)))
    assert suspended["spec"]["replicas"] == 0
    kubernetes_validate.validate(dep, "1.32.0", strict=True)


def test_a_disruption_budget_only_while_more_than_one_replica_runs():
    """Two replicas: a node drain evicts one bot pod, waits for its replacement to be ready, then the other; one
    replica or suspended: none (a budget over one pod would block every drain of its node)."""
    def wanted(**spec) -> bool:
        return render.disruption_budget_wanted(SlackBotSpec.from_manifest(slackbot("ha", "ha-creds", **spec)))
    assert wanted(replicas=2) and wanted(replicas=10)
    assert not wanted() and not wanted(replicas=1)
    assert not wanted(replicas=3, suspend=True)

    bot = with_uid(slackbot("ha", "ha-creds", replicas=2))
    pdb, dep = render.pod_disruption_budget(bot), deployment(bot)
    assert pdb["apiVersion"] == "policy/v1" and pdb["kind"] == "PodDisruptionBudget"
    assert pdb["metadata"]["name"] == dep["metadata"]["name"] == "h1bot-ha"
    assert pdb["metadata"]["ownerReferences"] == dep["metadata"]["ownerReferences"]
    assert pdb["metadata"]["labels"] == dep["metadata"]["labels"]
    assert pdb["spec"] == {"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow",
                           "selector": {"matchLabels": render.selector_labels("ha")}}
    assert pdb["spec"]["selector"] == dep["spec"]["selector"], "it selects exactly the bot's pods"
    assert all(dep["spec"]["template"]["metadata"]["labels"][k] == v
               for k, v in pdb["spec"]["selector"]["matchLabels"].items())
    kubernetes_validate.validate(pdb, "1.32.0", strict=True)
    long_name = with_uid(slackbot("x" * 80, "c", replicas=2))
    assert render.pod_disruption_budget(long_name)["metadata"]["name"] == render.child_name("x" * 80)


def test_replicas_need_no_more_rbac_than_one_bot():
    """The claim before answering goes through Slack: the Role stays the same whatever the replicas."""
    assert render.role(with_uid(slackbot("ha", "ha-creds", replicas=3)))["rules"] == \
        render.role(with_uid(slackbot("ha", "ha-creds")))["rules"]


def test_live_settings_do_not_change_the_deployment():
    """model, persona, summarization and access are reloaded by the bot: the pod template must not change."""
    before = BOTS["minimal"]
    after = copy.deepcopy(before)
    after["spec"].update(model={"name": "gpt-4o", "temperature": 0.1, "allowedModels": ["gpt-4o"]},
                         persona={"systemPrompt": "Different."}, summarization={"chunkTokens": 500},
                         access={"admins": ["U1"], "channels": {"deny": ["C1"]}})
    assert deployment(after) == deployment(before)


def test_role_lets_the_bot_see_only_its_own_slackbot():
    role = render.role(BOTS["minimal"])
    rules = {tuple(r["resources"]): r for r in role["rules"]}
    assert rules[("slackbots",)]["resourceNames"] == ["mini"]
    assert rules[("slackbots",)]["verbs"] == ["get", "list", "watch"]
    assert rules[("slackbots/status",)]["resourceNames"] == ["mini"]
    assert rules[("slackbots/status",)]["verbs"] == ["get", "patch"]
    assert rules[("events",)]["verbs"] == ["create"]
    binding = render.role_binding(BOTS["minimal"])
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "h1bot-mini"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "h1bot-mini", "namespace": "default"}]


def test_long_names_keep_label_values_valid():
    bot = with_uid(slackbot("b" * 200, "creds"))
    for manifest in [*render.children(bot), deployment(bot), render.pod_disruption_budget(bot)]:
        kubernetes_validate.validate(manifest, "1.32.0", strict=True)
        assert all(len(v) <= 63 for v in manifest["metadata"]["labels"].values())


# What a bot needs beyond its credentials: typed fields, chart defaults, extra env, volumes, pod placement.

CA_TEMPLATE = {
    "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"},
            {"name": "NO_PROXY", "value": ".svc,10.0.0.0/8"},
            {"name": "SSL_CERT_FILE", "value": "/etc/h1bot/ca/ca.crt"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    "envFrom": [{"configMapRef": {"name": "bot-extra"}}],
    "volumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
    "volumeMounts": [{"name": "corp-ca", "mountPath": "/etc/h1bot/ca", "readOnly": True}],
    "serviceAccountAnnotations": {"iam.gke.io/gcp-service-account": "bots@proj.iam.gserviceaccount.com"},
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["bots"]}]}]}}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "corp"}}}],
    "priorityClassName": "chatops",
}
CORP = with_uid(slackbot("corp", "corp-creds", template=CA_TEMPLATE, slack={"streaming": "native",
                                                                             "updateIntervalSeconds": 0.5},
                         logging={"format": "json", "level": "DEBUG"}))


def env_of(dep: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(dep)["env"]}


def values_of(dep: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(dep)["env"]}


def test_typed_fields_of_the_slackbot_are_the_bots_environment():
    env = values_of(deployment(CORP))
    assert (env["H1BOT_SLACK_STREAMING"], env["H1BOT_UPDATE_INTERVAL"]) == ("native", "0.5")
    assert (env["LOG_FORMAT"], env["LOG_LEVEL"]) == ("json", "DEBUG")


def test_a_bot_that_says_nothing_gets_the_bots_own_defaults_spelled_out():
    env = values_of(deployment(BOTS["minimal"]))
    assert {k: env[k] for k in ("H1BOT_SLACK_STREAMING", "H1BOT_UPDATE_INTERVAL", "LOG_FORMAT", "LOG_LEVEL")} == {
        "H1BOT_SLACK_STREAMING": "update", "H1BOT_UPDATE_INTERVAL": "1", "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}


def test_chart_defaults_apply_to_every_bot_unless_its_slackbot_says_otherwise():
    chart = OperatorSettings.from_env({"H1BOT_BOT_IMAGE": "registry.test/h1bot-bot:1.0",
                                       "H1BOT_BOTS_LOG_FORMAT": "json", "H1BOT_BOTS_STREAMING": "native",
                                       "H1BOT_BOTS_LOG_LEVEL": "warning",
                                       "H1BOT_BOTS_ENV": '[{"name": "HTTPS_PROXY", "value": "http://chart:3128"},'
                                                         ' {"name": "TZ", "value": "UTC"}]'})
    plain = values_of(deployment(BOTS["minimal"], chart))
    assert (plain["LOG_FORMAT"], plain["H1BOT_SLACK_STREAMING"], plain["LOG_LEVEL"]) == ("json", "native", "WARNING")
    assert (plain["HTTPS_PROXY"], plain["TZ"]) == ("http://chart:3128", "UTC")
    own = with_uid(slackbot("own", "own-creds", logging={"format": "text"},
                            template={"env": [{"name": "HTTPS_PROXY", "value": "http://mine:3128"}]}))
    env = values_of(deployment(own, chart))
    assert (env["LOG_FORMAT"], env["H1BOT_SLACK_STREAMING"]) == ("text", "native"), "the SlackBot wins, per field"
    assert (env["HTTPS_PROXY"], env["TZ"]) == ("http://mine:3128", "UTC"), "the SlackBot's entry replaces the chart's"


def test_extra_env_comes_after_the_operators_own_and_never_twice():
    names = [e["name"] for e in container(deployment(CORP))["env"]]
    assert len(names) == len(set(names))
    owned = [n for n in names if n in OWNED_ENV]
    assert names[:len(owned)] == owned, "owned first: $(H1BOT_NAMESPACE) resolves in the extra entries"
    assert names[len(owned):] == ["HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "POD_IP"]
    assert env_of(deployment(CORP))["POD_IP"] == {"name": "POD_IP",
                                                  "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def test_a_ca_bundle_is_mounted_next_to_the_operators_tmp_and_env_from_passes_through():
    dep = deployment(CORP)
    assert container(dep)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"},
                                              {"name": "corp-ca", "mountPath": "/etc/h1bot/ca", "readOnly": True}]
    assert dep["spec"]["template"]["spec"]["volumes"][1] == CA_TEMPLATE["volumes"][0]
    assert container(dep)["envFrom"] == [{"configMapRef": {"name": "bot-extra"}}]
    kubernetes_validate.validate(dep, "1.32.0", strict=True)


def test_pod_placement_and_workload_identity():
    pod = deployment(CORP)["spec"]["template"]["spec"]
    assert pod["affinity"] == CA_TEMPLATE["affinity"]
    assert pod["topologySpreadConstraints"] == CA_TEMPLATE["topologySpreadConstraints"]
    assert pod["priorityClassName"] == "chatops"
    account = render.service_account(CORP, SlackBotSpec.from_manifest(CORP))
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "bots@proj.iam.gserviceaccount.com"
    kubernetes_validate.validate(account, "1.32.0", strict=True)
    for field in ("affinity", "priorityClassName"):
        assert field not in deployment(BOTS["minimal"])["spec"]["template"]["spec"]
    # Without spec.template.topologySpreadConstraints, the replicas spread over nodes (never blocking scheduling).
    assert [c["whenUnsatisfiable"] for c in
            deployment(BOTS["minimal"])["spec"]["template"]["spec"]["topologySpreadConstraints"]] == ["ScheduleAnyway"]


def test_child_names_are_dns_labels_shortened_with_a_stable_hash():
    assert render.child_name("helpdesk") == "h1bot-helpdesk"
    assert render.child_name("a" * 57) == "h1bot-" + "a" * 57  # exactly 63: kept
    first, second = render.child_name("team-" + "x" * 80 + "-one"), render.child_name("team-" + "x" * 80 + "-two")
    assert first != second, "names sharing a long prefix never share children"
    assert first == render.child_name("team-" + "x" * 80 + "-one"), "stable"
    for name in (first, second, render.child_name("a" * 45 + "." + "b" * 200)):
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), name

"""Rendering a SlackBot into its children: pure data in, manifests out."""

import copy

import kubernetes_validate
import pytest

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
    for manifest in [*render.children(bot), deployment(bot)]:
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
    assert dep["spec"]["replicas"] == 1
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
    for manifest in [*render.children(bot), deployment(bot)]:
        kubernetes_validate.validate(manifest, "1.32.0", strict=True)
        assert all(len(v) <= 63 for v in manifest["metadata"]["labels"].values())

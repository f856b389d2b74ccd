"""End to end on loopback: a bot that cannot answer says so in its SlackBot, and the operator shows it where a
cluster user looks (`kubectl get sb`, `kubectl describe sb`, the Ready condition, an Event)."""

import asyncio
import re
import subprocess

import pytest

from h1bot_bot.app import run_bot
from tests.bot.conftest import bot_settings
from tests.bot.live_config_helpers import BOTS, FAST, SPEC, add_people, cluster_bot, events, slackbot
from tests.e2e.conftest import operator_on_emulator
from tests.fakes.kube import KubeAPI, kubectl
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import eventually

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                                 reason="kubectl is not installed")]


@pytest.fixture
async def fake_slack():
    async with FakeSlack() as slack:
        add_people(slack)
        yield slack


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    credentials = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "creds", "namespace": "default", "labels": {"chatops.h1bot.dev/credentials": "true"}},
        "stringData": {"bot": "xoxb-1", "app": "xapp-1", "openai": "sk-1"}}
    with operator_on_emulator(tmp_path, monkeypatch, credentials) as running:
        yield running


def ready_condition(api: KubeAPI) -> dict:
    status = (api.find(BOTS, "default", "helpdesk") or {}).get("status") or {}
    return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})


def bot_health(api: KubeAPI) -> dict:
    return ((api.find(BOTS, "default", "helpdesk") or {}).get("status") or {}).get("bot") or {}


def row(kubeconfig, *args: str) -> dict[str, str]:
    header, line = kubectl(kubeconfig, "get", "sb", "helpdesk", *args).splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return dict(zip(header.split(), cells, strict=True))


async def test_an_unknown_model_shows_as_not_ready_in_kubectl_with_the_field_to_fix(cluster, fake_slack,
                                                                                   fake_openai):
    api, kubeconfig = cluster
    api.apply(slackbot({**SPEC, "model": {"name": "my-finetune", "maxOutputTokens": 512}}))
    async with cluster_bot(fake_slack, fake_openai):
        condition = await eventually(lambda: ready_condition(api).get("reason") == "BotNotReady"
                                     and ready_condition(api), timeout=20, message="Ready=False BotNotReady")
        assert condition["status"] == "False"
        assert condition["message"] == (
            "the bot cannot answer (ConfigInvalid): configuration invalid: model 'my-finetune' is not in the table of"
            " known models: set spec.model.contextTokens to its context window")
        table = await asyncio.to_thread(row, kubeconfig)
        assert (table["READY"], table["PHASE"], table["BOT"]) == ("False", "Degraded", "ConfigInvalid")
        wide = await asyncio.to_thread(row, kubeconfig, "-o", "wide")
        assert wide["MESSAGE"].startswith("the bot cannot answer (ConfigInvalid)")
        described = await asyncio.to_thread(kubectl, kubeconfig, "describe", "sb", "helpdesk")
        assert "set spec.model.contextTokens to its context window" in described
        assert [e["message"] for e in events(api, "BotNotReady")] == [condition["message"]]

        # Fixed live in the spec: the bot re-checks, writes Ready, and the operator's Ready follows.
        api.request("PATCH", "/apis/chatops.h1bot.dev/v1alpha1/namespaces/default/slackbots/helpdesk",
                    {"spec": {"model": {"contextTokens": 32000}}})
        await eventually(lambda: ready_condition(api).get("reason") == "DeploymentUnavailable", timeout=20,
                         message="the bot's problem gone from Ready (no pod is ready in the emulator)")
        assert (await asyncio.to_thread(row, kubeconfig))["BOT"] == "Ready"

        # A live change the bot cannot take (here one the API server's schema would refuse, which the emulator
        # does not check): it keeps answering with the previous spec and says so; the operator says InvalidSpec.
        api.request("PATCH", "/apis/chatops.h1bot.dev/v1alpha1/namespaces/default/slackbots/helpdesk",
                    {"spec": {"model": {"temperature": 5}}})
        health = await eventually(lambda: bot_health(api).get("reason") == "SpecRejected" and bot_health(api),
                                  timeout=20, message="status.bot says the new spec was rejected")
        assert health["ready"] is True and "spec.model.temperature" in health["message"]
        await eventually(lambda: ready_condition(api).get("reason") == "InvalidSpec", timeout=20,
                         message="the operator's InvalidSpec")
        table = await asyncio.to_thread(row, kubeconfig)
        assert (table["READY"], table["PHASE"], table["BOT"]) == ("False", "Failed", "SpecRejected")


async def test_revoked_slack_tokens_show_as_slack_auth_revoked(cluster, fake_slack, fake_openai):
    api, kubeconfig = cluster
    api.apply(slackbot())
    async with cluster_bot(fake_slack, fake_openai):
        await eventually(lambda: bot_health(api).get("reason") == "Ready", timeout=20,
                         message="the bot's first health report")
        await fake_slack.revoke("token_revoked")
        condition = await eventually(lambda: "Slack auth revoked" in ready_condition(api).get("message", "")
                                     and ready_condition(api), timeout=20, message="Ready says Slack auth revoked")
        assert condition["status"] == "False" and condition["reason"] == "BotNotReady"
        table = await asyncio.to_thread(row, kubeconfig)
        assert (table["READY"], table["BOT"]) == ("False", "SlackAuthRevoked")


async def test_a_bot_that_cannot_start_says_why_in_its_slackbot(cluster, fake_slack, fake_openai):
    api, kubeconfig = cluster
    api.apply(slackbot())
    await fake_slack.revoke("invalid_auth", link_disabled=False)  # e.g. the Secret holds an old token
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default", **FAST)
    assert await run_bot(settings, asyncio.Event()) == 2  # it exits (the pod restarts, CrashLoopBackOff) ...
    condition = await eventually(lambda: ready_condition(api).get("reason") == "BotNotReady" and ready_condition(api),
                                 timeout=20, message="Ready=False BotNotReady")  # ... having said why
    assert condition["message"] == (
        "the bot cannot answer (SlackAuthRevoked): Slack auth revoked: auth.test answered invalid_auth (renew the bot"
        " token (spec.secrets.slackBotToken) or reinstall the Slack app)")
    assert (await asyncio.to_thread(row, kubeconfig))["BOT"] == "SlackAuthRevoked"

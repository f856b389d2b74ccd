"""End to end on loopback: the real kopf operator and the real bot share one (emulated) API server. An admin switches
the model from Slack; `kubectl get sb` shows it; the operator keeps reconciling without rolling the bot or touching
what the bot wrote."""

import asyncio

import pytest

from tests.bot.live_config_helpers import (
    ADMIN,
    BOTS,
    USER,
    add_people,
    ask,
    cluster_bot,
    overrides_of,
    patch_spec,
    question,
    runtime_patches,
    slackbot,
)
from tests.e2e.conftest import operator_on_emulator
from tests.fakes.kube import KubeAPI, kubectl
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import eventually
from tests.operator.conftest import DEPLOYMENTS

pytestmark = pytest.mark.timeout(60)




@pytest.fixture
async def fake_slack():
    async with FakeSlack() as slack:
        add_people(slack)
        slack.add_user(USER, "Bob")
        yield slack



@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with operator_on_emulator(tmp_path, monkeypatch) as running:
        yield running


def bot_status(api: KubeAPI) -> dict:
    return (api.find(BOTS, "default", "helpdesk") or {}).get("status") or {}


async def test_a_slack_change_shows_in_kubectl_and_the_operator_neither_rolls_the_bot_nor_touches_it(
        cluster, fake_slack, fake_openai):
    api, kubeconfig = cluster
    api.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "creds", "namespace": "default", "labels": {"chatops.h1bot.dev/credentials": "true"}},
               "stringData": {"bot": "xoxb-1", "app": "xapp-1", "openai": "sk-1"}})
    api.apply(slackbot())
    await eventually(lambda: bot_status(api).get("observedGeneration") == 1, timeout=20,
                     message="the operator's first reconcile")
    deployment = api.find(DEPLOYMENTS, "default", "h1bot-helpdesk")

    async with cluster_bot(fake_slack, fake_openai) as bot:
        _, (reply,) = await ask(fake_slack, ADMIN, "model gpt-4o-mini")
        assert "*Model* is now `gpt-4o-mini`" in reply
        assert overrides_of(api)["model"]["value"] == "gpt-4o-mini"
        assert (await question(fake_slack, fake_openai, USER, "which model?", "C2"))["model"] == "gpt-4o-mini"

        table = await asyncio.to_thread(kubectl, kubeconfig, "get", "sb", "helpdesk")
        header, row = table.splitlines()
        assert header.split()[:3] == ["NAME", "MODEL", "EFFECTIVE"]
        assert row.split()[:3] == ["helpdesk", "gpt-4o", "gpt-4o-mini"]

        # A spec change the bot applies live: the operator reconciles it (after the bot's status write) ...
        patch_spec(api, {"persona": {"systemPrompt": "Reconciled persona."}})
        await eventually(lambda: bot_status(api).get("observedGeneration") == 2, timeout=20,
                         message="the operator's reconcile of generation 2")
        await eventually(lambda: bot.config.current.spec.persona.system_prompt == "Reconciled persona.")
        request = await question(fake_slack, fake_openai, USER, "and now?", "C3")
        assert (request["model"], request["messages"][0]["content"]) == ("gpt-4o-mini", "Reconciled persona.")

    # ... without rolling the bot's pods, and without touching what the bot wrote.
    after = api.find(DEPLOYMENTS, "default", "h1bot-helpdesk")
    assert after["spec"]["template"] == deployment["spec"]["template"]
    assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
    status = bot_status(api)
    assert status["runtime"]["overrides"]["model"]["value"] == "gpt-4o-mini"
    assert len(runtime_patches(api)) == 1  # the bot's one write: no operator status patch carried status.runtime
    assert status["slack"]["botUserId"] == "UBOT"
    assert status["phase"] and any(c["type"] == "Ready" for c in status["conditions"])

"""Scenario: the bot runs against its SlackBot in the cluster (Kubernetes API emulator on loopback)."""

import pytest

from h1bot_bot.app import BotRuntime
from tests.bot.conftest import bot_settings, manifest
from tests.fakes.kube import KubeAPI


@pytest.fixture
def kube(tmp_path, monkeypatch):
    with KubeAPI() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield api


async def test_bot_reads_its_slackbot_and_records_its_slack_identity(kube, fake_slack, fake_openai):
    kube.apply(manifest({"persona": {"systemPrompt": "Persona from the cluster."}}))
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
    async with BotRuntime(settings) as bot:
        assert bot.config.current.source == "cluster:default/helpdesk"
        await fake_slack.mention("C1", "UALICE", "hi")
        await fake_slack.wait_for(lambda: fake_openai.chat_requests)
    assert fake_openai.chat_requests[0].messages[0]["content"] == "Persona from the cluster."
    slack_status = kube.find("chatops.h1bot.dev/v1alpha1/slackbots", "default", "helpdesk")["status"]["slack"]
    assert (slack_status["botUserId"], slack_status["teamId"], slack_status["team"]) == (
        "UBOT", "T0FAKE", "Fake Workspace")
    assert slack_status["connectedAt"].endswith("Z")


async def test_failing_status_write_is_logged_not_fatal(kube, fake_slack, fake_openai, caplog):
    kube.apply(manifest())
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
    runtime = BotRuntime(settings)
    config = await runtime._load_config()  # the read works; then the API goes away before the status write
    assert config.source == "cluster:default/helpdesk"
    kube.stop_server()
    assert await runtime.resource.record_identity("UBOT", "T0FAKE") is False
    assert "could not record the bot's Slack identity in status.slack of default/helpdesk" in caplog.text


async def test_missing_slackbot_stops_start_up_with_a_clear_message(kube, fake_slack, fake_openai):
    settings = bot_settings(fake_slack, fake_openai, None, name="ghost", namespace="default")
    with pytest.raises(Exception, match=r"cannot read SlackBot default/ghost from the cluster: \(404\)"):
        async with BotRuntime(settings):
            pass

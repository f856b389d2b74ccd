"""Scenario: the bot runs against its SlackBot in the cluster (Kubernetes API emulator on loopback)."""

import pytest

from h1bot_bot.app import RunningBot
from tests.bot.conftest import bot_settings, manifest
from tests.bot.live_config_helpers import patch_spec
from tests.fakes.exec_credential import exec_user
from tests.fakes.kube import KubeAPI
from tests.fakes.waiting import eventually


@pytest.fixture
def kube(tmp_path, monkeypatch):
    with KubeAPI() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield api


async def test_bot_reads_its_slackbot_and_records_its_slack_identity(kube, fake_slack, fake_openai):
    kube.apply(manifest({"persona": {"systemPrompt": "Persona from the cluster."}}))
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
    async with RunningBot(settings) as bot:
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
    runtime = RunningBot(settings)
    config = await runtime._load_config()  # the read works; then the API goes away before the status write
    assert config.source == "cluster:default/helpdesk"
    kube.stop_server()
    assert await runtime.resource.record_identity("UBOT", "T0FAKE") is False
    assert "could not record the bot's Slack identity in status.slack of default/helpdesk" in caplog.text


async def test_missing_slackbot_stops_start_up_with_a_clear_message(kube, fake_slack, fake_openai):
    settings = bot_settings(fake_slack, fake_openai, None, name="ghost", namespace="default")
    with pytest.raises(Exception, match=r"cannot read SlackBot default/ghost from the cluster: \(404\)"):
        async with RunningBot(settings):
            pass


@pytest.fixture(params=["exec plugin", "token file"])
def secured_kube(request, tmp_path, monkeypatch):
    """The API server lets in only the bot's token, which comes from an exec plugin or a token file."""
    (tmp_path / "token").write_text("bot-token\n")
    user = exec_user(tmp_path / "token", expires_in=3600) if request.param == "exec plugin" else {
        "tokenFile": str(tmp_path / "token")}
    with KubeAPI() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig", user)))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        api.accept_tokens("bot-token")
        yield api


async def test_the_bot_logs_in_with_its_kubeconfig_reads_watches_and_writes_its_slackbot(
        secured_kube, fake_slack, fake_openai):
    secured_kube.apply(manifest({"persona": {"systemPrompt": "Persona from the cluster."}}))
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
    async with RunningBot(settings) as bot:
        assert bot.config.current.source == "cluster:default/helpdesk"
        patch_spec(secured_kube, {"persona": {"systemPrompt": "Persona from GitOps."}})  # seen through the watch
        await eventually(lambda: bot.config.current.spec.persona.system_prompt == "Persona from GitOps.")
        await eventually(lambda: (secured_kube.find("chatops.h1bot.dev/v1alpha1/slackbots", "default", "helpdesk")
                                  .get("status") or {}).get("slack"), message="status.slack written by the bot")
    assert secured_kube.unauthorized == []


async def test_a_bot_with_a_token_the_cluster_refuses_says_so_at_start_up(kube, fake_slack, fake_openai):
    kube.apply(manifest())
    kube.accept_tokens("someone-else")
    settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
    with pytest.raises(Exception, match=r"cannot read SlackBot default/helpdesk from the cluster: \(401\)"):
        async with RunningBot(settings):
            pass


async def test_a_bot_whose_exec_plugin_is_missing_names_it_at_start_up(tmp_path, monkeypatch, fake_slack,
                                                                       fake_openai):
    with KubeAPI() as api:
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "kubelogin",
                         "args": ["get-token", "--login", "azurecli"],
                         "installHint": "kubelogin is not installed: https://azure.github.io/kubelogin/"}}
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig", user)))
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        settings = bot_settings(fake_slack, fake_openai, None, name="helpdesk", namespace="default")
        with pytest.raises(Exception, match=r"cannot read SlackBot default/helpdesk from the cluster: the exec plugin "
                                            r"'kubelogin' of kubeconfig user 'kmock' was not found on PATH; .*"
                                            r"kubelogin is not installed: https://azure.github.io/kubelogin/"):
            async with RunningBot(settings):
                pass

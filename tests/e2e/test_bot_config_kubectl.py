"""A platform engineer configures a bot from its SlackBot: native streaming, JSON logs, a proxy and Workload Identity,
with chart-wide defaults for every bot; `kubectl get deploy -o json` shows them applied, hand edits are repaired,
and the operator's own JSON log lines are Cloud Logging's."""

import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from h1bot_api import CREDENTIALS_LABEL
from tests.fakes.kube import KubeAPI, OperatorProcess, kubectl, wait_until

pytestmark = pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                                reason="kubectl is not installed")

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "support-creds", "namespace": "default",
                                                        "labels": {CREDENTIALS_LABEL: "true"}},
          "stringData": {"slack-bot-token": "xoxb-1", "slack-app-token": "xapp-1", "openai-api-key": "sk-1"}}
WORKLOAD_IDENTITY = {"iam.gke.io/gcp-service-account": "h1bot-support@my-project.iam.gserviceaccount.com"}


def slackbot(**spec) -> dict:
    refs = {key: {"name": "support-creds", "key": secret_key} for key, secret_key in (
        ("slackBotToken", "slack-bot-token"), ("slackAppToken", "slack-app-token"), ("openAIAPIKey", "openai-api-key"))}
    return {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
            "metadata": {"name": "support", "namespace": "default"},
            "spec": {"model": {"name": "gpt-4o-mini"}, "secrets": refs, **spec}}


CONFIGURED = slackbot(
    slack={"streaming": "native"}, logging={"format": "json"},
    template={"env": [{"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"}],
              "serviceAccountAnnotations": WORKLOAD_IDENTITY, "priorityClassName": "chatops"})


def apply(kubeconfig: Path, tmp_path: Path, *objects: dict) -> None:
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
    kubectl(kubeconfig, "apply", "--validate=false", "-f", str(path))


def get(kubeconfig: Path, *what: str) -> dict:
    return json.loads(kubectl(kubeconfig, "get", *what, "-o", "json"))


def bot_env(kubeconfig: Path) -> dict[str, str | None]:
    (container,) = get(kubeconfig, "deploy", "h1bot-support")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_a_slackbot_turns_on_native_streaming_and_json_logs_for_its_bot(tmp_path: Path):
    chart_defaults = {"H1BOT_BOTS_LOG_LEVEL": "WARNING", "H1BOT_BOTS_STREAMING": "update",
                      "H1BOT_BOTS_ENV": json.dumps([{"name": "NO_PROXY", "value": ".svc.cluster.local"}])}
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        operator = OperatorProcess(kubeconfig, env={"H1BOT_BOT_IMAGE": "registry.test/bot:e2e", "LOG_FORMAT": "json",
                                                    **chart_defaults}, log_path=tmp_path / "operator.log")
        with operator:
            apply(kubeconfig, tmp_path, SECRET, CONFIGURED)
            wait_until(lambda: "h1bot-support" in kubectl(kubeconfig, "get", "deployments"),
                       message="the bot Deployment")
            env = bot_env(kubeconfig)
            assert (env["H1BOT_SLACK_STREAMING"], env["LOG_FORMAT"]) == ("native", "json"), "from the SlackBot"
            assert (env["LOG_LEVEL"], env["NO_PROXY"]) == ("WARNING", ".svc.cluster.local"), "from the chart"
            assert env["HTTPS_PROXY"] == "http://proxy.corp:3128"
            pod = get(kubeconfig, "deploy", "h1bot-support")["spec"]["template"]["spec"]
            assert pod["priorityClassName"] == "chatops"
            account = get(kubeconfig, "serviceaccount", "h1bot-support")
            assert account["metadata"]["annotations"].items() >= WORKLOAD_IDENTITY.items()

            # Someone switches the bot back to text logs by hand and adds a variable: the operator repairs both.
            edited = json.loads(kubectl(kubeconfig, "set", "env", "deployment/h1bot-support", "LOG_FORMAT=text",
                                        "DEBUG_HACK=1", "-o", "json"))  # the Deployment as the API stored the edit
            edited_env = {e["name"]: e.get("value") for e in edited["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert (edited_env["LOG_FORMAT"], edited_env["DEBUG_HACK"]) == ("text", "1")
            wait_until(lambda: bot_env(kubeconfig).get("LOG_FORMAT") == "json"
                       and "DEBUG_HACK" not in bot_env(kubeconfig), message="the repaired Deployment")

            # The SlackBot drops its proxy, priority class and Workload Identity: the children lose them too.
            apply(kubeconfig, tmp_path, slackbot(slack={"streaming": "native"}, logging={"format": "json"}))
            wait_until(lambda: "HTTPS_PROXY" not in bot_env(kubeconfig), message="HTTPS_PROXY removed")
            assert "priorityClassName" not in get(kubeconfig, "deploy", "h1bot-support")["spec"]["template"]["spec"]
            wait_until(lambda: "iam.gke.io/gcp-service-account" not in (
                get(kubeconfig, "serviceaccount", "h1bot-support")["metadata"].get("annotations") or {}),
                timeout=20, message="the Workload Identity annotation removed")
            assert bot_env(kubeconfig)["H1BOT_SLACK_STREAMING"] == "native"

    lines = [line for line in operator.log().splitlines() if line.strip()]
    logs = [json.loads(line) for line in lines]  # every line is JSON
    assert logs and all({"severity", "message", "time"} <= line.keys() for line in logs)
    assert {line["severity"] for line in logs} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert all(datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0 for line in logs)
    about_the_bot = [line for line in logs if (line.get("object") or {}).get("name") == "support"]
    assert about_the_bot, "kopf's object reference is kept"
    assert about_the_bot[0]["object"]["namespace"] == "default" and about_the_bot[0]["object"]["kind"] == "SlackBot"

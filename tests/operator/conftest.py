"""Fixtures for the operator's tests: the API emulator on loopback and the real kopf operator in a thread."""

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from h1bot_api import CREDENTIALS_LABEL
from h1bot_operator.settings import OperatorSettings
from tests.fakes.kube import KubeAPI, OperatorThread
from tests.paths import REPO

BOTS = "chatops.h1bot.dev/v1alpha1/slackbots"
DEPLOYMENTS = "apps/v1/deployments"
TEST_IMAGE = "registry.test/h1bot-bot:test"
EXAMPLE_BOT = yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text())


def operator_settings() -> OperatorSettings:
    return OperatorSettings(bot_image=TEST_IMAGE, liveness_endpoint="", metrics_port=0, retry_delay=0.5,
                            retry_delay_max=2, workers=4,
                            tool_namespaces=("payments",))


def secret(name: str, namespace: str = "default", **values: str) -> dict[str, Any]:
    values = values or {"slack-bot-token": "xoxb-1", "slack-app-token": "xapp-1", "openai-api-key": "sk-1"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace,
                                                               "labels": {CREDENTIALS_LABEL: "true"}},
            "type": "Opaque", "stringData": values}


def slackbot(name: str, secret_name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A SlackBot like a user writes it; `spec` overrides top-level spec fields."""
    refs = {"slackBotToken": {"name": secret_name, "key": "slack-bot-token"},
            "slackAppToken": {"name": secret_name, "key": "slack-app-token"},
            "openAIAPIKey": {"name": secret_name, "key": "openai-api-key"}}
    body = {"model": {"name": "gpt-4o-mini"}, "persona": {"systemPrompt": "Be brief."}, "secrets": refs, **spec}
    return {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}


def example_bot(name: str) -> dict[str, Any]:
    bot = copy.deepcopy(EXAMPLE_BOT)
    bot["metadata"]["name"] = name
    return bot


def decoded(secret_obj: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret_obj["data"][key]).decode()


@pytest.fixture(scope="session")
def kube_api() -> Iterator[KubeAPI]:
    with KubeAPI() as api:
        yield api


@pytest.fixture(scope="session")
def kubeconfig(kube_api: KubeAPI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube_api.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


class OperatorControl:
    """The running operator of a test module; `restart()` stops it and starts a fresh one."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.thread = OperatorThread(kubeconfig, operator_settings()).start()

    def stop(self) -> None:
        self.thread.stop()

    def start(self) -> None:
        self.thread = OperatorThread(self.kubeconfig, operator_settings()).start()


@pytest.fixture(scope="module")
def operator(kubeconfig: Path) -> Iterator[OperatorControl]:
    control = OperatorControl(kubeconfig)
    try:
        yield control
    finally:
        control.stop()


def events_about(api: KubeAPI, name: str, namespace: str = "default") -> list[tuple[str, str, str]]:
    """The Kubernetes Events about a SlackBot, as (type, reason, message), oldest first."""
    return [(e.get("type"), e.get("reason"), e.get("message")) for e in api.find_all("v1/events", namespace)
            if e.get("involvedObject", {}).get("name") == name and e["involvedObject"].get("kind") == "SlackBot"]

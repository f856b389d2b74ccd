"""What the API server refuses in a child reaches the SlackBot's author: a Ready=False condition with the API
server's own message and one Event (not one per retry); and child names are always valid, however long the
SlackBot's name. The emulator validates like the API server (tests/fakes/kube_validation.py)."""

from typing import Any

import pytest

from h1bot_operator.render import child_name
from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, events_about, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "default"
DEPLOYMENTS_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments"


def ready(api: KubeAPI, name: str) -> dict[str, Any]:
    status = (api.find(BOTS, NS, name) or {}).get("status") or {}
    return next((c for c in status.get("conditions", ()) if c["type"] == "Ready"), {})


def rejected_once(api: KubeAPI, name: str) -> dict[str, Any]:
    """Wait for the ChildRejected condition and for the operator to retry; then there must be exactly one Event."""
    condition = wait_until(lambda: (c := ready(api, name)).get("reason") == "ChildRejected" and c,
                           message="Ready=False, reason ChildRejected")
    assert condition["status"] == "False"
    assert api.find(BOTS, NS, name)["status"]["phase"] == "Failed"
    attempts = len(api.received("POST", DEPLOYMENTS_PATH))
    wait_until(lambda: len(api.received("POST", DEPLOYMENTS_PATH)) >= attempts + 2, message="two more retries")
    assert [e for e in events_about(api, name) if e[1] == "ChildRejected"] == [
        ("Warning", "ChildRejected", condition["message"])]
    return condition


def test_a_quantity_the_api_server_cannot_parse_is_reported_and_fixing_it_recovers(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("lots-creds"))
    api.apply(slackbot("lots", "lots-creds", template={"resources": {"requests": {"memory": "lots"}}}))
    condition = rejected_once(api, "lots")
    assert condition["message"].startswith(f"the API server rejected Deployment {NS}/h1bot-lots: ")
    assert "quantities must match the regular expression" in condition["message"]
    assert api.find(DEPLOYMENTS, NS, "h1bot-lots") is None

    api.request("PATCH", f"/apis/chatops.h1bot.dev/v1alpha1/namespaces/{NS}/slackbots/lots",
                {"spec": {"template": {"resources": {"requests": {"memory": "256Mi"}}}}})
    wait_until(lambda: api.find(DEPLOYMENTS, NS, "h1bot-lots"), message="the Deployment once the spec is fixed")
    wait_until(lambda: ready(api, "lots").get("reason") == "DeploymentUnavailable", message="no longer rejected")


def test_an_invalid_pod_label_is_reported_with_the_api_servers_message(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("labels-creds"))
    api.apply(slackbot("labels", "labels-creds", template={"podLabels": {"team": "not valid!"}}))
    condition = rejected_once(api, "labels")
    assert 'spec.template.metadata.labels: Invalid value: "not valid!"' in condition["message"]


def test_a_very_long_slackbot_name_gets_valid_children_that_still_name_it(kube_api: KubeAPI):
    api = kube_api
    name = "support-" + "x" * 240  # a valid SlackBot name (253 at most); "h1bot-" + it would not be
    api.apply(secret("long-creds"))
    api.apply(slackbot(name, "long-creds"))
    short = child_name(name)
    assert len(short) <= 63 and short.startswith("h1bot-support-xxx")
    deployment = wait_until(lambda: api.find(DEPLOYMENTS, NS, short), message="the Deployment, under a short name")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["H1BOT_NAME"] == name
    role = api.find("rbac.authorization.k8s.io/v1/roles", NS, short)
    assert role["rules"][0]["resourceNames"] == [name]
    binding = api.find("rbac.authorization.k8s.io/v1/rolebindings", NS, short)
    assert binding["roleRef"]["name"] == short and binding["subjects"][0]["name"] == short
    wait_until(lambda: (api.find(BOTS, NS, name).get("status") or {}).get("deployment", {}).get("name") == short,
               message="the status names the Deployment")


def test_a_credential_in_the_api_servers_message_is_redacted_in_status_and_events(kube_api: KubeAPI):
    """The API server echoes the value it refuses: a key pasted where it does not belong (here a pod label, too long
    and with a space) must not then be shown to everyone who can read the SlackBot or its Events."""
    api = kube_api
    key = "sk-proj-" + "A1b2C3d4" * 8
    api.apply(secret("leak-creds"))
    api.apply(slackbot("leak", "leak-creds", template={"podLabels": {"auth": f"Bearer {key}"}}))
    condition = rejected_once(api, "leak")
    assert "Invalid value" in condition["message"] and "[redacted]" in condition["message"]
    assert key not in str(api.find(BOTS, NS, "leak")["status"])
    events = [e for e in api.find_all("v1/events", NS) if key in str(e)]
    assert events == []

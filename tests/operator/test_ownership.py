"""The operator writes only the children it made for that very SlackBot: any other object holding a child's name
is a conflict shown in the SlackBot's status, never patched, never adopted (so never garbage-collected with it)."""

from typing import Any

import pytest

from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, events_about, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "h1bot-system"  # the operator's own namespace, where Helm installed release `h1bot-operator`
SA_PATH = f"/api/v1/namespaces/{NS}/serviceaccounts/h1bot-operator"


def ready(api: KubeAPI, name: str) -> dict[str, Any]:
    status = (api.find(BOTS, NS, name) or {}).get("status") or {}
    return next((c for c in status.get("conditions", ()) if c["type"] == "Ready"), {})


def test_a_slackbot_named_operator_cannot_take_over_the_operators_service_account(kube_api: KubeAPI):
    api = kube_api
    api.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "h1bot-operator", "namespace": NS,
        "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "h1bot-operator"},
        "annotations": {"meta.helm.sh/release-name": "h1bot-operator", "meta.helm.sh/release-namespace": NS}}})
    helm_made = api.find("v1/serviceaccounts", NS, "h1bot-operator")
    api.apply(secret("operator-creds", NS))
    api.apply(slackbot("operator", "operator-creds", NS))

    condition = wait_until(lambda: (c := ready(api, "operator")).get("reason") == "Conflict" and c,
                           message="Ready=False, reason Conflict")
    assert condition["status"] == "False"
    assert f"ServiceAccount {NS}/h1bot-operator already exists" in condition["message"]
    assert "managed by 'Helm'" in condition["message"]
    assert api.find(BOTS, NS, "operator")["status"]["phase"] == "Failed"
    # The conflict is retried (the other object may go away); wait for a retry, then there is still one Event.
    wait_until(lambda: len(api.received("GET", SA_PATH)) >= 3, message="the conflict retried")
    conflicts = [e for e in events_about(api, "operator", NS) if e[1] == "Conflict"]
    assert conflicts == [("Warning", "Conflict", condition["message"])]

    assert api.received("PATCH", SA_PATH) == [] and api.received("PUT", SA_PATH) == []
    assert api.received("DELETE", SA_PATH) == []
    assert api.find("v1/serviceaccounts", NS, "h1bot-operator") == helm_made, "untouched"
    assert api.find("apps/v1/deployments", NS, "h1bot-operator") is None

    api.delete(api.find(BOTS, NS, "operator"))
    assert api.find(BOTS, NS, "operator") is None
    assert api.find("v1/serviceaccounts", NS, "h1bot-operator") == helm_made, "not garbage-collected with it"

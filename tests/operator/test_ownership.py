"""The operator writes only the children it made for that very SlackBot: any other object holding a child's name
is a conflict shown in the SlackBot's status, never patched, never adopted (so never garbage-collected with it)."""

from typing import Any

import pytest

from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, events_about, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "h1bot-system"  # the operator's own namespace, where Helm installed release `h1bot-operator`
SA_PATH = f"/api/v1/namespaces/{NS}/serviceaccounts/h1bot-operator"


def ready(api: KubeAPI, name: str, namespace: str = NS) -> dict[str, Any]:
    status = (api.find(BOTS, namespace, name) or {}).get("status") or {}
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


def test_a_slackbot_created_again_waits_for_the_old_children_to_be_collected(kube_api: KubeAPI):
    """Deleted and created again under the same name: until garbage collection removes the old children, they are
    another SlackBot's (another uid), so a conflict; then the new SlackBot gets children of its own."""
    api, ns = kube_api, "recreate"
    api.apply(secret("again-creds", ns))
    api.apply(slackbot("again", "again-creds", ns))
    old = wait_until(lambda: api.find("apps/v1/deployments", ns, "h1bot-again"), message="the first Deployment")
    api.call(lambda: setattr(api.emulator, "garbage_collection", False))  # as if the collector were slow
    try:
        api.delete(api.find(BOTS, ns, "again"))
        api.apply(slackbot("again", "again-creds", ns))
        uid = api.find(BOTS, ns, "again")["metadata"]["uid"]
        condition = wait_until(lambda: (c := ready(api, "again", ns)).get("reason") == "Conflict" and c,
                               message="a conflict with the old children")
        assert f"controlled by SlackBot again (uid {old['metadata']['ownerReferences'][0]['uid']})" in condition[
            "message"]
    finally:
        api.call(lambda: setattr(api.emulator, "garbage_collection", True))
    for res in ("v1/serviceaccounts", "rbac.authorization.k8s.io/v1/roles",
                "rbac.authorization.k8s.io/v1/rolebindings", "apps/v1/deployments"):
        api.delete(api.find(res, ns, "h1bot-again"))  # what the garbage collector does
    new = wait_until(lambda: (d := api.find("apps/v1/deployments", ns, "h1bot-again")) and d["metadata"][
        "ownerReferences"][0]["uid"] == uid and d, message="the new SlackBot's own Deployment")
    assert new["metadata"]["uid"] != old["metadata"]["uid"]

"""A SlackBot with more than one replica gets a PodDisruptionBudget, so a node drain never takes every bot pod at
once; with one replica (or suspended) it has none, since a budget over a single pod would block the drain forever.
The real kopf operator against the API emulator on loopback."""

from typing import Any

import pytest

from h1bot_api import status as api_status
from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, events_about, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "budgets"
PDBS = "policy/v1/poddisruptionbudgets"


def bot_path(name: str) -> str:
    return f"/apis/chatops.h1bot.dev/v1alpha1/namespaces/{NS}/slackbots/{name}"


def pdb_path(name: str) -> str:
    return f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/h1bot-{name}"


def budget(api: KubeAPI, name: str) -> dict[str, Any] | None:
    return api.find(PDBS, NS, f"h1bot-{name}")


def ready(api: KubeAPI, name: str) -> dict[str, Any]:
    status = (api.find(BOTS, NS, name) or {}).get("status") or {}
    return next((c for c in status.get("conditions", ()) if c["type"] == api_status.READY), {})


def reconciled(api: KubeAPI, name: str) -> dict[str, Any]:
    """Wait until the operator has finished a reconcile of the SlackBot's current spec (its status is written last)."""
    def done() -> dict[str, Any] | None:
        bot = api.find(BOTS, NS, name) or {}
        status = bot.get("status") or {}
        return bot if status.get("observedGeneration") == bot["metadata"]["generation"] else None
    return wait_until(done, message=f"SlackBot {name} reconciled at its current generation")


def scale(api: KubeAPI, name: str, replicas: int) -> None:
    api.request("PATCH", bot_path(name), {"spec": {"replicas": replicas}})


def test_scaling_to_two_adds_a_budget_and_back_to_one_removes_it(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("ha-creds", NS))
    api.apply(slackbot("ha", "ha-creds", NS))
    wait_until(lambda: api.find(DEPLOYMENTS, NS, "h1bot-ha"), message="the bot Deployment")
    reconciled(api, "ha")
    assert budget(api, "ha") is None, "one replica: no budget"
    assert api.received("POST", f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets") == []

    scale(api, "ha", 2)
    pdb = wait_until(lambda: budget(api, "ha"), message="the PodDisruptionBudget")
    deployment = api.find(DEPLOYMENTS, NS, "h1bot-ha")
    uid = api.find(BOTS, NS, "ha")["metadata"]["uid"]
    assert pdb["metadata"]["ownerReferences"] == [{
        "apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "name": "ha", "uid": uid,
        "controller": True, "blockOwnerDeletion": True}]
    assert pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "h1bot-operator"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"], "it guards exactly the bot's pods"
    wait_until(lambda: ("Normal", "Created", "Created PodDisruptionBudget h1bot-ha") in events_about(api, "ha", NS),
               message="the Created Event")

    api.request("DELETE", pdb_path("ha"))  # by hand: the operator watches its budgets and puts it back
    again = wait_until(lambda: (p := budget(api, "ha")) and p["metadata"]["uid"] != pdb["metadata"]["uid"] and p,
                       message="the budget recreated")

    scale(api, "ha", 1)
    wait_until(lambda: budget(api, "ha") is None, message="the budget deleted")
    (deleted,) = api.received("DELETE", pdb_path("ha"))[1:]  # after the test's own
    assert deleted.data["preconditions"] == {"uid": again["metadata"]["uid"],
                                             "resourceVersion": again["metadata"]["resourceVersion"]}
    wait_until(lambda: ("Normal", "Deleted", "Deleted PodDisruptionBudget h1bot-ha (spec.replicas is 1: a budget "
                        "over one pod would block node drains)") in events_about(api, "ha", NS),
               message="the Deleted Event")
    assert api.find(DEPLOYMENTS, NS, "h1bot-ha")["spec"]["replicas"] == 1


def test_suspending_a_replicated_bot_removes_its_budget(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("nap-creds", NS))
    api.apply(slackbot("nap", "nap-creds", NS, replicas=3))
    wait_until(lambda: budget(api, "nap"), message="the budget of a 3-replica bot")
    api.request("PATCH", bot_path("nap"), {"spec": {"suspend": True}})
    wait_until(lambda: budget(api, "nap") is None, message="no budget while suspended")
    assert api.find(DEPLOYMENTS, NS, "h1bot-nap")["spec"]["replicas"] == 0
    api.request("PATCH", bot_path("nap"), {"spec": {"suspend": False}})
    wait_until(lambda: budget(api, "nap"), message="the budget back with the replicas")


def test_a_budget_of_the_same_name_that_is_not_ours_is_a_conflict_and_never_touched(kube_api: KubeAPI):
    api = kube_api
    theirs = api.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {
        "name": "h1bot-shared", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "something-else"}}}})
    api.apply(secret("shared-creds", NS))
    api.apply(slackbot("shared", "shared-creds", NS))
    reconciled(api, "shared")
    assert ready(api, "shared").get("reason") != "Conflict", "one replica does not need the name"

    scale(api, "shared", 2)
    condition = wait_until(lambda: (c := ready(api, "shared")).get("reason") == "Conflict" and c,
                           message="Ready=False, reason Conflict")
    assert condition["status"] == "False"
    assert f"PodDisruptionBudget {NS}/h1bot-shared already exists" in condition["message"]
    assert "managed by 'Helm'" in condition["message"]
    wait_until(lambda: ("Warning", "Conflict", condition["message"]) in events_about(api, "shared", NS),
               message="the Conflict Event")

    scale(api, "shared", 1)
    reconciled(api, "shared")
    assert ready(api, "shared").get("reason") != "Conflict", "the conflict cleared at one replica"
    assert api.received("PATCH", pdb_path("shared")) == [] and api.received("PUT", pdb_path("shared")) == []
    assert api.received("DELETE", pdb_path("shared")) == []
    assert budget(api, "shared") == theirs, "untouched"

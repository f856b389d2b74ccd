"""Safety scenarios against a REAL cluster (opt-in, like tests/e2e/test_real_cluster.py): the API server's own
validation and canonical quantities, which the emulator only imitates (tests/fakes/kube_validation.py), and its
garbage collection, which must never take an object the operator did not make."""

import json
from pathlib import Path
from typing import Any

import pytest

from h1bot_operator.render import child_name
from tests.e2e.real_cluster import (
    SLACKBOTS,
    Kubectl,
    Namespace,
    cluster_fixture,  # noqa: F401  (fixture)
    example,
    namespace_fixture,  # noqa: F401  (fixture)
    operator_fixture,  # noqa: F401  (fixture)
    skip_reason,
)
from tests.fakes.kube import OperatorProcess
from tests.fakes.waiting import wait_until
from tests.operator.test_operator_metrics import scrape

pytestmark = [pytest.mark.real_cluster, pytest.mark.timeout(120),
              pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]


def apply_bot(ns: Namespace, name: str, **template: Any) -> dict[str, Any]:
    secret, bot = example("secret.yaml", ns.name), example("slackbot.yaml", ns.name)
    bot["metadata"]["name"] = name
    bot["spec"].setdefault("template", {}).update(template)
    applied = ns.kubectl.apply([secret, bot])
    assert applied.returncode == 0, applied.stderr
    return bot


def ready_condition(kubectl: Kubectl, name: str) -> dict[str, Any]:
    bot = kubectl.get(SLACKBOTS, name) or {}
    return next((c for c in (bot.get("status") or {}).get("conditions") or () if c["type"] == "Ready"), {})


def events(kubectl: Kubectl, name: str, reason: str) -> list[dict[str, Any]]:
    listed = kubectl.json("get", "events", f"--field-selector=involvedObject.name={name},reason={reason}")
    return listed.get("items", [])


def test_a_child_the_api_server_refuses_is_reported_once(namespace: Namespace, operator: OperatorProcess):
    kubectl = namespace.kubectl
    apply_bot(namespace, "lots", resources={"requests": {"memory": "lots"}})
    condition = wait_until(lambda: (c := ready_condition(kubectl, "lots")).get("reason") == "ChildRejected" and c,
                           timeout=60, interval=0.5, message="Ready=False, reason ChildRejected")
    assert "quantities must match the regular expression" in condition["message"], condition
    assert kubectl.get("deployment.apps", child_name("lots")) is None
    assert len(events(kubectl, "lots", "ChildRejected")) == 1


def test_an_object_of_someone_else_is_a_conflict_and_survives_the_slackbot(namespace: Namespace,
                                                                          operator: OperatorProcess):
    kubectl = namespace.kubectl
    helm_made = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": child_name("operator"), "namespace": namespace.name,
        "labels": {"app.kubernetes.io/managed-by": "Helm"}}}
    assert kubectl.apply([helm_made]).returncode == 0
    before = kubectl.get("serviceaccount", child_name("operator"))
    apply_bot(namespace, "operator")
    condition = wait_until(lambda: (c := ready_condition(kubectl, "operator")).get("reason") == "Conflict" and c,
                           timeout=60, interval=0.5, message="Ready=False, reason Conflict")
    assert "managed by 'Helm'" in condition["message"]
    after = kubectl.get("serviceaccount", child_name("operator"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "touched"
    assert not after["metadata"].get("ownerReferences"), "adopted: garbage collection would take it"
    kubectl("delete", SLACKBOTS, "operator", "--wait=true")
    assert kubectl.get("serviceaccount", child_name("operator")) is not None


def test_resyncs_in_steady_state_change_nothing(namespace: Namespace, tmp_path: Path):
    """The real API server stores `cpu: 1` as "1" and `0.5Gi` as "512Mi": resyncs must not see drift there."""
    kubectl = namespace.kubectl
    process = OperatorProcess(namespace.kubeconfig, args=("-n", namespace.name, f"--bot-image={namespace.bot_image}"),
                              env={"H1BOT_PEERING": "", "H1BOT_RESYNC_SECONDS": "0.5"},
                              log_path=tmp_path / "operator.log")
    with process:
        apply_bot(namespace, "steady", resources={"requests": {"cpu": 1, "memory": "0.5Gi"},
                                                  "limits": {"cpu": "1000m", "memory": "1Gi"}})
        created = wait_until(lambda: kubectl.get("deployment.apps", child_name("steady")), timeout=60, interval=0.5,
                             message="the Deployment")

        def rounds() -> float:
            return scrape(process.metrics_url).get('h1bot_operator_reconciles_total{outcome="ok"}', 0)
        start = rounds()
        wait_until(lambda: rounds() >= start + 6, timeout=60, interval=0.5, message="six resync rounds")
        after = kubectl.get("deployment.apps", child_name("steady"))
        assert after["metadata"]["generation"] == created["metadata"]["generation"], json.dumps(after["spec"])
        assert events(kubectl, "steady", "Updated") == []


def test_a_secret_that_has_not_opted_in_and_a_disallowed_endpoint_are_refused(namespace: Namespace,
                                                                               operator: OperatorProcess):
    kubectl = namespace.kubectl
    secret, bot = example("secret.yaml", namespace.name), example("slackbot.yaml", namespace.name)
    secret["metadata"]["labels"] = {}
    assert kubectl.apply([secret, bot]).returncode == 0
    name = bot["metadata"]["name"]

    def secrets_condition() -> dict[str, Any]:
        status = (kubectl.get(SLACKBOTS, name) or {}).get("status") or {}
        return next((c for c in status.get("conditions") or () if c["type"] == "SecretsResolved"), {})
    refused = wait_until(lambda: (c := secrets_condition()).get("reason") == "SecretNotOptedIn" and c, timeout=60,
                         interval=0.5, message="SecretsResolved=False, SecretNotOptedIn")
    assert "kubectl label secret" in refused["message"]
    assert kubectl.get("deployment.apps", child_name(name)) is None

    kubectl("patch", SLACKBOTS, name, "--type=merge", '--patch={"spec": {"model": {"baseURL": "http://x.example/v1"}}}')
    ready = wait_until(lambda: (c := ready_condition(kubectl, name)).get("reason") == "InvalidSpec" and c, timeout=60,
                       interval=0.5, message="Ready=False, InvalidSpec")
    assert "spec.model.baseURL" in ready["message"]

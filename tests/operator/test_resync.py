"""What the watches never told the operator (an event lost in an outage) is caught up by the periodic resync."""

from pathlib import Path

from tests.fakes.kube import KubeAPI, OperatorProcess, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, events_about, secret, slackbot
from tests.operator.test_operator_metrics import scrape


def test_a_deployment_lost_without_a_watch_event_is_restored_by_the_resync(tmp_path: Path):
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        api.apply(secret("creds"))
        api.apply(slackbot("helpdesk", "creds"))
        with OperatorProcess(kubeconfig, env={"H1BOT_RESYNC_SECONDS": "1"}):
            first = wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-helpdesk"), message="the Deployment")
            api.lose(DEPLOYMENTS, "default", "h1bot-helpdesk")
            again = wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-helpdesk"),
                               message="the Deployment, recreated by the resync")
            assert again["metadata"]["uid"] != first["metadata"]["uid"]
            def creations() -> list:
                return [e for e in events_about(api, "helpdesk")
                        if e[1:] == ("Created", "Created Deployment h1bot-helpdesk")]
            wait_until(lambda: len(creations()) == 2, message="an Event for each creation, the resync's too")


def test_resyncs_of_a_bot_in_steady_state_write_nothing_and_post_no_events(tmp_path: Path):
    """The API server stores `cpu: 1` as "1" and `0.5Gi` as "512Mi": reading that back must not look like drift.
    Two replicas, so its PodDisruptionBudget is resynced too."""
    resources = {"requests": {"cpu": 1, "memory": "0.5Gi"}, "limits": {"cpu": "1000m", "memory": 1073741824}}
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        api.apply(secret("creds"))
        api.apply(slackbot("steady", "creds", replicas=2, template={"resources": resources}))
        with OperatorProcess(kubeconfig, env={"H1BOT_RESYNC_SECONDS": "0.2"}) as operator:
            def reconciles() -> float:
                return scrape(operator.metrics_url).get('h1bot_operator_reconciles_total{outcome="ok"}', 0)
            created = wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-steady"), message="the Deployment")
            assert created["spec"]["template"]["spec"]["containers"][0]["resources"] == {
                "requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1073741824"}}
            wait_until(lambda: api.find("policy/v1/poddisruptionbudgets", "default", "h1bot-steady"),
                       message="the PodDisruptionBudget")
            wait_until(lambda: "chatops.h1bot.dev/last-handled-configuration" in (api.find(
                BOTS, "default", "steady")["metadata"].get("annotations") or {}), message="kopf done with the create")
            after_kopf = reconciles()
            wait_until(lambda: reconciles() >= after_kopf + 1, message="a resync round after that")
            start = reconciles()
            def writes() -> list:
                return [*api.received("PATCH", "/"), *api.received("POST", "/"), *api.received("DELETE", "/")]
            writes_before = len(writes())
            wait_until(lambda: reconciles() >= start + 5, timeout=30, message="five more resync rounds")

            assert len(writes()) == writes_before, [f"{r.method.value} {r.url.path}" for r in writes()]
            assert api.received("PATCH", "/apis/apps/v1/namespaces/default/deployments") == []
            assert [e for e in events_about(api, "steady") if e[1] == "Updated"] == []
            assert api.find(DEPLOYMENTS, "default", "h1bot-steady")["metadata"]["resourceVersion"] == created[
                "metadata"]["resourceVersion"]

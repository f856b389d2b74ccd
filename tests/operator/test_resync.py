"""What the watches never told the operator (an event lost in an outage) is caught up by the periodic resync."""

from pathlib import Path

from tests.fakes.kube import KubeAPI, OperatorProcess, wait_until
from tests.operator.conftest import DEPLOYMENTS, events_about, secret, slackbot


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
